package dashboard

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/commalist"
)

// DefaultURL is the NATS client URL of a single development node.
const DefaultURL = "nats://127.0.0.1:4222"

// ErrInvalidConfig is wrapped by the errors of an invalid configuration.
var ErrInvalidConfig = errors.New("dashboard: invalid config")

// ConnConfig says how to reach the cluster. A zero field means the default
// in its comment.
type ConnConfig struct {
	// URLs are the client URLs of the cluster's nodes; the client connects
	// to one and fails over to the others. Zero value means DefaultURL.
	URLs []string
	// CredsFile is a NATS credentials file (JWT and nkey seed).
	CredsFile string
	// NKeySeedFile is a file holding an nkey seed ("SU…"): how the
	// cluster's read-only dispatcher identity signs in (see package
	// node/busauth; rtls-token -gen-nkey makes one).
	NKeySeedFile string
	// CAFile is the CA certificate of the cluster's client ports, when they
	// use TLS (tls:// URLs).
	CAFile string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token. At most one of CredsFile, User and
	// Token may be set.
	Token string
	// Name is the client name the servers show. Zero value means "rtls-dashboard".
	Name string
	// ReconnectWait is the pause between reconnection rounds. Zero value
	// means 1 second.
	ReconnectWait time.Duration
}

// SplitURLs splits a comma-separated list of URLs, dropping empty items.
func SplitURLs(s string) []string { return commalist.Split(s) }

func (c *ConnConfig) setDefaults() error {
	if len(c.URLs) == 0 {
		c.URLs = []string{DefaultURL}
	}
	if c.Name == "" {
		c.Name = "rtls-dashboard"
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = time.Second
	}
	if c.ReconnectWait < 0 {
		return fmt.Errorf("%w: negative ReconnectWait", ErrInvalidConfig)
	}
	n := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeySeedFile != "", c.User != "", c.Token != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: use one of credentials file, nkey seed file, user and password, or token", ErrInvalidConfig)
	}
	if c.Password != "" && c.User == "" {
		return fmt.Errorf("%w: a password needs a user", ErrInvalidConfig)
	}
	return nil
}

// natsOptions are the nats.go options for c; handlers are added by the Feed.
func (c *ConnConfig) natsOptions() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(c.ReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// Start even while no node answers: the banner says so and the
		// client keeps trying.
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("%w: nkey seed file: %v", ErrInvalidConfig, err)
		}
		opts = append(opts, o)
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	return opts, nil
}

// ConnState is the state of the connection to the cluster.
type ConnState uint8

// The connection states.
const (
	// Connecting: no node has answered yet.
	Connecting ConnState = iota
	// Connected to a node.
	Connected
	// Reconnecting: the connection was lost; the client is trying every URL.
	Reconnecting
	// Closed: the feed was closed, or the servers refused it for good
	// (for example bad credentials).
	Closed
)

func (s ConnState) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("ConnState(%d)", uint8(s))
}
