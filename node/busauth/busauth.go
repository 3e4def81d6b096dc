// Package busauth says who may do what on a node's NATS bus: the node's own
// connection, the dispatchers' read-only back-ends (the dashboard), the
// analytics consumers, and operators, each a NATS nkey user with least
// privilege; and how routes between nodes authenticate. It builds the
// embedded server's options from a Config; everything is NATS's own
// mechanism (nkeys, permissions, route authorization, TLS).
//
// Identities:
//   - the node: an nkey made at start that never leaves the process,
//     allowed only in-process; the only publisher of rtls.loc.> and
//     rtls.session.>, the only manager of the LOCATIONS stream;
//   - dispatcher: subscribes to rtls.live.>, rtls.status.> and
//     rtls.node.>, reads the streams (direct gets, stream info, ordered
//     consumers), and says which driver it watches (rtls.watch.<driver>);
//   - analytics: creates and reads its own durable consumer (a name given
//     in the configuration) and nothing else;
//   - operator (none unless configured): everything, including purging,
//     deleting and reconfiguring the stream.
package busauth

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// ErrInvalidConfig is wrapped by the errors of Check.
var ErrInvalidConfig = errors.New("busauth: invalid config")

// Analytics is one analytics identity and the one durable consumer it may
// create and read.
type Analytics struct {
	NKey     string // public nkey ("U…")
	Consumer string // durable consumer name
}

// Config is who may use the bus besides the node itself.
type Config struct {
	// Dispatchers, Operators: public user nkeys ("U…").
	Dispatchers []string
	Analytics   []Analytics
	Operators   []string
	// RouteUser and RoutePassword authenticate the routes between nodes:
	// every node of a cluster has the same.
	RouteUser, RoutePassword string
	// ClientTLS, when set, serves the client port over TLS. RouteTLS, when
	// set, secures routes; it should verify peers (mutual TLS).
	ClientTLS *tls.Config
	RouteTLS  *tls.Config
}

// Check validates the configuration.
func (c *Config) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	seen := map[string]bool{}
	check := func(role, k string) error {
		if !nkeys.IsValidPublicUserKey(k) {
			return bad("%s %q is not a public user nkey (U…): make one with rtls-token -gen-nkey", role, k)
		}
		if seen[k] {
			return bad("nkey %s is given twice", k)
		}
		seen[k] = true
		return nil
	}
	for _, k := range c.Dispatchers {
		if err := check("dispatcher", k); err != nil {
			return err
		}
	}
	for _, k := range c.Operators {
		if err := check("operator", k); err != nil {
			return err
		}
	}
	for _, a := range c.Analytics {
		if err := check("analytics", a.NKey); err != nil {
			return err
		}
		if !location.ValidID(a.Consumer) {
			return bad("analytics consumer %q: use 1-%d ASCII letters, digits, '-' or '_'", a.Consumer, location.MaxIDLength)
		}
	}
	if (c.RouteUser == "") != (c.RoutePassword == "") {
		return bad("routes need both a user and a password")
	}
	return nil
}

// NodeKey is the node's own identity on its bus: an nkey made at start.
type NodeKey struct {
	kp     nkeys.KeyPair
	Public string
}

// NewNodeKey makes a node's key.
func NewNodeKey() (NodeKey, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return NodeKey{}, err
	}
	pub, err := kp.PublicKey()
	return NodeKey{kp: kp, Public: pub}, err
}

// Option is the nats.go option that authenticates a connection as the node.
func (k NodeKey) Option() nats.Option { return nats.Nkey(k.Public, k.kp.Sign) }

// Apply installs the users, route authorization and TLS of c on opts. With
// users installed, every client connection must authenticate.
func Apply(opts *server.Options, c Config, node NodeKey) {
	opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{
		Nkey:                   node.Public,
		AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeInProcess: {}},
	})
	var taps []string
	for _, a := range c.Analytics {
		taps = append(taps, a.Consumer)
	}
	for _, k := range c.Dispatchers {
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: k, Permissions: DispatcherPermissions(taps...)})
	}
	for _, a := range c.Analytics {
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: a.NKey, Permissions: AnalyticsPermissions(a.Consumer)})
	}
	for _, k := range c.Operators {
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: k}) // no permissions: everything
	}
	if c.RouteUser != "" {
		opts.Cluster.Username, opts.Cluster.Password = c.RouteUser, c.RoutePassword
	}
	if c.ClientTLS != nil {
		opts.TLSConfig = c.ClientTLS
		opts.TLS = true
		opts.TLSVerify = c.ClientTLS.ClientAuth == tls.RequireAndVerifyClientCert
		opts.TLSTimeout = 2
	}
	if c.RouteTLS != nil {
		opts.Cluster.TLSConfig = c.RouteTLS
		opts.Cluster.TLSTimeout = 2
	}
}

// stream is the LOCATIONS stream's API subjects.
var stream = fixstream.StreamName

// readStream are the JetStream API subjects that read the stream and
// nothing else: account and stream info, direct and leader gets, and
// ephemeral ordered consumers (created, read, asked about).
func readStream() []string {
	p := fixstream.PresenceStream
	return []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO." + p,
		"$JS.API.DIRECT.GET." + p,
		"$JS.API.DIRECT.GET." + p + ".>",
		"$JS.API.CONSUMER.CREATE." + p + ".*",
		"$JS.API.CONSUMER.CREATE." + p + ".*.>",
		"$JS.API.CONSUMER.INFO." + p + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + p + ".*",
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
		"$JS.API.CONSUMER.CREATE." + stream + ".*",
		"$JS.API.CONSUMER.CREATE." + stream + ".*.>",
		"$JS.API.CONSUMER.INFO." + stream + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
	}
}

// DispatcherPermissions: live fixes, drivers' statuses and nodes'
// heartbeats, reads of the streams, and watching a driver (a selected
// driver is asked to send fast). No other publish, no stream management,
// no consumer deletion (an ordered consumer is ephemeral and goes away by
// itself). The analytics consumers are out of its reach: it can neither
// create, change, ask about nor read them, so it cannot steal a tap's
// fixes or slow it down (an ack wait of an hour, say).
func DispatcherPermissions(analyticsConsumers ...string) *server.Permissions {
	deny := []string{"$JS.API.CONSUMER.DURABLE.>"}
	for _, c := range analyticsConsumers {
		c = stream + "." + c
		deny = append(deny,
			"$JS.API.CONSUMER.CREATE."+c,
			"$JS.API.CONSUMER.CREATE."+c+".>",
			"$JS.API.CONSUMER.INFO."+c,
			"$JS.API.CONSUMER.MSG.NEXT."+c,
		)
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: append(readStream(), fixstream.WatchPrefix+"*"), Deny: deny},
		Subscribe: &server.SubjectPermission{Allow: []string{
			fixstream.LivePrefix + ">", fixstream.StatusPrefix + ">", fixstream.NodePrefix + ">", "_INBOX.>",
		}},
	}
}

// AnalyticsPermissions: create, read and acknowledge the durable consumer
// named consumer on the stream, and nothing else.
func AnalyticsPermissions(consumer string) *server.Permissions {
	c := stream + "." + consumer
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"$JS.API.INFO",
			"$JS.API.STREAM.INFO." + stream,
			"$JS.API.CONSUMER.CREATE." + c,
			"$JS.API.CONSUMER.CREATE." + c + ".>",
			"$JS.API.CONSUMER.DURABLE.CREATE." + c,
			"$JS.API.CONSUMER.INFO." + c,
			"$JS.API.CONSUMER.MSG.NEXT." + c,
			"$JS.ACK." + c + ".>",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

// Roles lists the identities of c, for logs: "2 dispatchers, 1 analytics, 0 operators".
func (c *Config) Roles() string {
	return fmt.Sprintf("%d dispatchers, %d analytics, %d operators", len(c.Dispatchers), len(c.Analytics), len(c.Operators))
}
