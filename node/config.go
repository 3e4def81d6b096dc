package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node/auth"
	"github.com/rtls-io/rtls/node/busauth"
	"github.com/rtls-io/rtls/node/web"
)

// Storage selects where the LOCATIONS stream keeps its messages.
type Storage string

// The storage kinds.
const (
	FileStorage   Storage = "file"
	MemoryStorage Storage = "memory"
)

// Config configures a Node. A zero field means the default in its comment;
// New fills the defaults and validates the rest.
type Config struct {
	// Name is the node's name, unique in its cluster: ASCII letters, digits,
	// '-' and '_'. Zero value means the host name (made valid).
	Name string
	// DataDir holds the JetStream store. Zero value means "rtls-data/<Name>"
	// in the working directory.
	DataDir string
	// Storage of the stream. Zero value means FileStorage.
	Storage Storage

	// HTTPAddr is the listen address of the WebSocket edge and /healthz,
	// /readyz. Zero value means "127.0.0.1:8080"; use ":0" for a free port.
	HTTPAddr string
	// ClientAddr is the listen address of the embedded NATS server's client
	// port, for the dashboard and other back-ends. Zero value means no client
	// port; "127.0.0.1:0" picks a free one.
	ClientAddr string

	// AdminAddr is the listen address of the admin endpoints: Prometheus
	// metrics at /metrics, the node's status at /v1/status, and /healthz,
	// /readyz. They are apart from the edge because the edge faces the
	// internet and these do not: they show the cluster's inner state.
	// Zero value means no admin listener; "127.0.0.1:0" picks a free port.
	// In production (token authentication) an address other than loopback
	// needs AdminToken.
	AdminAddr string
	// AdminToken, when set, is the bearer token every admin request must
	// carry ("Authorization: Bearer <token>"; Prometheus's
	// authorization.credentials_file).
	AdminToken string

	// ClusterName names the NATS cluster. Zero value means "rtls".
	ClusterName string
	// ClusterAddr is the listen address for routes from the other nodes.
	// Zero value means no cluster (a single node).
	ClusterAddr string
	// Routes are the route URLs of the other nodes of the cluster
	// ("nats://10.0.0.2:6222", …). A route to this node's own ClusterAddr is
	// ignored, so every node may be given the same list.
	Routes []string

	// History is how many fixes per driver the stream keeps
	// (MaxMsgsPerSubject) and the most a rider can replay. Zero value means 100.
	History int
	// MaxAge is how long a fix is kept. Zero value means 24 hours.
	MaxAge time.Duration
	// DuplicateWindow is how long a fix's id (driver, seq, ts) is remembered
	// so that a retry is stored once. Zero value means 30 seconds. Every
	// replica keeps every id of the window in memory (at 10,000 fixes/s, a
	// 2-minute window held ~1.2 million ids per node); a retry of a fix
	// older than the window is still recognised, from the driver's stored
	// fixes, by the publish path's order check.
	DuplicateWindow time.Duration
	// Replicas of the stream. Zero value means min(3, number of nodes).
	Replicas int

	// Authenticator establishes the identity of each WebSocket connection:
	// auth.NewTokens verifies signed tokens (production), auth.Dev() is the
	// development mode that believes the URL. Required.
	Authenticator auth.Authenticator

	// Bus says who besides the node may use its NATS bus (the client port)
	// and how routes authenticate. With a token Authenticator (production)
	// the client port always requires authentication, routes must have a
	// user and password, and a client port on a non-loopback address must
	// have TLS: a node refuses to start otherwise. In the development mode
	// an empty Bus leaves the bus open.
	Bus busauth.Config
	// ClientTLS and RouteTLS are the certificate files of the client port
	// and of the routes (with CA and Verify: mutual TLS).
	ClientTLS, RouteTLS TLSFiles

	// TLSCertFile and TLSKeyFile, when both are set, serve the edge over TLS
	// (wss://, https://). The files are read again when they change, so a
	// renewed certificate is used without a restart.
	TLSCertFile, TLSKeyFile string

	// MaxConnections bounds the node's WebSocket connections (close 1013
	// beyond it: try another node). MaxConnectionsPerIdentity bounds those
	// of one rider or driver id, MaxConnectionsPerAddress those from one
	// remote address (close 4029 beyond them). Zero values mean 10,000, 8
	// and 1,000; -1 means no limit.
	MaxConnections            int
	MaxConnectionsPerIdentity int
	MaxConnectionsPerAddress  int
	// TrustedProxies lists the addresses or networks ("10.0.0.0/8") of
	// reverse proxies in front of the node: for a connection from one of
	// them, the client's address is the last one in X-Forwarded-For.
	TrustedProxies []string
	// IdleTimeout closes HTTP keep-alive connections idle this long, and
	// HeaderTimeout those that do not send their request headers in time.
	// Zero values mean 60 and 10 seconds.
	IdleTimeout, HeaderTimeout time.Duration

	// AllowedOrigins lists the web origins ("https://app.example.com") whose
	// pages may open WebSockets to this node; "*" allows any. Clients that
	// send no Origin (mobile apps) and same-origin pages are always allowed.
	AllowedOrigins []string

	// Web configures the browser demo served at "/" (its map tiles; whether
	// the page asks for a token follows the Authenticator). Zero value means the development-mode page
	// with OpenStreetMap tiles; see package web.
	Web web.Config

	// MaxFrameBytes is the largest frame a client may send. Zero value means 4096.
	MaxFrameBytes int
	// MaxTracked is how many drivers one connection may track. Zero value means 100.
	MaxTracked int
	// RateLimit is how many frames per second a connection may send on
	// average, with bursts of RateBurst. Zero values mean 200 and 400.
	RateLimit float64
	RateBurst int
	// PendingFixes bounds the undelivered live fixes of one driver queued
	// for one connection; beyond it the oldest is dropped. It is a memory
	// bound for absurd rates: a reader that falls behind (a frame waited
	// more than 250 ms) already gets only the newest fix of each driver, and
	// a reader that keeps up must never lose a fix to a burst (a shard that
	// was not scheduled for a while delivers its backlog at once). Zero value
	// means 4096.
	PendingFixes int
	// MaxQueuedFrames bounds a connection's queue of acks and errors: while
	// it is full the node reads no more frames from the client, and a client
	// that reads nothing for WriteTimeout is disconnected (4008). Zero value
	// means 1024.
	MaxQueuedFrames int
	// WriteTimeout bounds each socket write. Zero value means 10 seconds.
	WriteTimeout time.Duration
	// PingInterval is how often the node pings each client; a client that
	// does not answer within two intervals is disconnected. Zero value
	// means 25 seconds.
	PingInterval time.Duration
	// Liveness tunes when a connected driver is stale or taken for gone
	// (see package liveness). Zero values mean 15 seconds and 2 minutes.
	Liveness liveness.Thresholds
	// FastInterval and SlowInterval are what a driver's app is asked to
	// send a fix every (set-interval) while someone watches the driver and
	// while nobody does. Zero values mean 1 and 15 seconds.
	FastInterval, SlowInterval time.Duration
	// PresenceEvery is how often the node evaluates its drivers' liveness
	// and says it is alive; a node silent for three times as long is lost,
	// and its drivers offline. Zero value means 1 second.
	PresenceEvery time.Duration

	// MaxInFlight bounds the fixes the node has published and not yet had
	// an answer for, and, while the stream answers, those waiting for their
	// turn: beyond them a driver is answered overloaded with a retry-after
	// hint (on the project's VM, 512 is ~150 ms of a node's work, so that an
	// admitted fix is not late). While the stream does not answer at all
	// (a leader election), up to MaxQueuedFixes wait and are stored when it
	// is back. Zero values mean 512 and 65,536.
	MaxInFlight, MaxQueuedFixes int
	// PublishTimeout is how long the node keeps trying to store a fix
	// (through leader elections) before it answers unavailable. Zero value
	// means 10 seconds.
	PublishTimeout time.Duration
	// ReadyTimeout bounds how long Start waits for JetStream and the stream.
	// Zero value means 60 seconds.
	ReadyTimeout time.Duration

	// Logger receives the node's and the embedded NATS server's logs. Zero
	// value means no logging.
	Logger *slog.Logger
	// NATSDebug turns on the NATS server's debug logging.
	NATSDebug bool
}

// TLSFiles names the files of a TLS listener: its certificate and key, and
// the CA that client (or peer) certificates must be signed by when Verify.
type TLSFiles struct {
	Cert, Key, CA string
	Verify        bool
}

func (f TLSFiles) set() bool { return f.Cert != "" || f.Key != "" }

// config loads the files into a tls.Config (nil when none are set).
func (f TLSFiles) config() (*tls.Config, error) {
	if !f.set() {
		return nil, nil
	}
	c, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: f.Cert, KeyFile: f.Key, CaFile: f.CA, Verify: f.Verify})
	if err != nil {
		return nil, err
	}
	// A route is a client of its peer too: it checks the peer's
	// certificate against the same CA.
	c.RootCAs = c.ClientCAs
	return c, nil
}

// Errors returned by New for an invalid Config. ErrInsecure (which also
// matches ErrInvalidConfig) is a production configuration that would leave
// a port open.
var (
	ErrInvalidConfig   = errors.New("node: invalid config")
	ErrInsecure        = fmt.Errorf("%w: insecure", ErrInvalidConfig)
	ErrNoAuthenticator = fmt.Errorf("%w: no Authenticator (use auth.NewTokens, or auth.Dev() for development)", ErrInvalidConfig)
)

func (c *Config) setDefaults() error {
	if c.Name == "" {
		h, _ := os.Hostname()
		c.Name = sanitizeName(h)
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join("rtls-data", c.Name)
	}
	if c.Storage == "" {
		c.Storage = FileStorage
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.ClusterName == "" {
		c.ClusterName = "rtls"
	}
	if c.History == 0 {
		c.History = 100
	}
	if c.MaxAge == 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 30 * time.Second
	}
	if c.Replicas == 0 {
		c.Replicas = min(3, c.clusterSize())
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 10000
	}
	if c.MaxConnectionsPerIdentity == 0 {
		c.MaxConnectionsPerIdentity = 8
	}
	if c.MaxConnectionsPerAddress == 0 {
		c.MaxConnectionsPerAddress = 1000
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = 4096
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = 100
	}
	if c.RateLimit == 0 {
		c.RateLimit = 200
	}
	if c.RateBurst == 0 {
		c.RateBurst = 400
	}
	if c.PendingFixes == 0 {
		c.PendingFixes = 4096
	}
	if c.MaxQueuedFrames == 0 {
		c.MaxQueuedFrames = 1024
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	var err error
	if c.Liveness, err = c.Liveness.WithDefaults(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if c.FastInterval == 0 {
		c.FastInterval = time.Second
	}
	if c.SlowInterval == 0 {
		c.SlowInterval = 15 * time.Second
	}
	if c.PresenceEvery == 0 {
		c.PresenceEvery = time.Second
	}
	if c.FastInterval < 0 || c.SlowInterval < c.FastInterval || c.PresenceEvery < 0 {
		return fmt.Errorf("%w: intervals must be positive, the slow one no shorter than the fast one", ErrInvalidConfig)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 512
	}
	if c.MaxQueuedFixes == 0 {
		c.MaxQueuedFixes = 65536
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := c.Bus.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if err := c.validate(); err != nil {
		return err
	}
	return c.secureByDefault()
}

// secureByDefault refuses a production configuration (token
// authentication) that leaves the bus open to its network.
func (c *Config) secureByDefault() error {
	if auth.IsDevelopment(c.Authenticator) {
		return nil
	}
	if c.ClusterAddr != "" && c.Bus.RouteUser == "" {
		return fmt.Errorf("%w: the routes would accept any server that knows the cluster name: give every node the same route user and password (bus { routes { user, password } })", ErrInsecure)
	}
	if c.AdminAddr != "" && !loopback(c.AdminAddr) && c.AdminToken == "" {
		return fmt.Errorf("%w: the admin endpoints on %s would show the cluster's state to anyone who can reach them: give them a token (admin { token_file }) or listen on 127.0.0.1", ErrInsecure, c.AdminAddr)
	}
	if c.ClientAddr != "" && !loopback(c.ClientAddr) && !c.ClientTLS.set() {
		return fmt.Errorf("%w: the NATS client port %s would carry fixes and credentials in clear text: give it a certificate (bus { tls { cert, key } }) or listen on 127.0.0.1", ErrInsecure, c.ClientAddr)
	}
	return nil
}

// loopback reports whether a listen address is on the loopback interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !mobileproto.ValidID(c.Name) {
		return bad("name %q: use 1-%d ASCII letters, digits, '-' or '_'", c.Name, mobileproto.MaxIDLength)
	}
	if c.Storage != FileStorage && c.Storage != MemoryStorage {
		return bad("storage %q: use %q or %q", c.Storage, FileStorage, MemoryStorage)
	}
	for _, a := range []struct{ name, addr string }{{"http addr", c.HTTPAddr}, {"admin addr", c.AdminAddr}, {"client addr", c.ClientAddr}, {"cluster addr", c.ClusterAddr}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return bad("%s %q: %v", a.name, a.addr, err)
		}
	}
	if len(c.Routes) > 0 && c.ClusterAddr == "" {
		return bad("routes need a cluster addr")
	}
	for _, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			return bad("trusted proxy %q: %v", p, err)
		}
	}
	switch {
	case c.History < 1 || c.History > 10000:
		return bad("history %d: must be within [1, 10000]", c.History)
	case c.MaxAge < time.Second:
		return bad("max age %v: must be at least 1s", c.MaxAge)
	case c.DuplicateWindow < 0 || c.DuplicateWindow > c.MaxAge:
		return bad("duplicate window %v: must be within [0, max age]", c.DuplicateWindow)
	case c.Replicas < 1 || c.Replicas > 5:
		return bad("replicas %d: must be within [1, 5]", c.Replicas)
	case c.Replicas > c.clusterSize():
		return bad("replicas %d: more than the %d nodes configured", c.Replicas, c.clusterSize())
	case c.Authenticator == nil:
		return ErrNoAuthenticator
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return bad("TLS needs both a certificate file and a key file")
	case c.ClientTLS.set() && (c.ClientTLS.Cert == "" || c.ClientTLS.Key == ""), c.RouteTLS.set() && (c.RouteTLS.Cert == "" || c.RouteTLS.Key == ""):
		return bad("client port and route TLS need both a certificate file and a key file")
	case c.MaxConnections < -1 || c.MaxConnectionsPerIdentity < -1 || c.MaxConnectionsPerAddress < -1:
		return bad("connection limits must be positive, or -1 for none")
	case c.IdleTimeout < 0 || c.HeaderTimeout < 0:
		return bad("HTTP timeouts must be positive")
	case c.AdminToken != "" && len(c.AdminToken) < 16:
		return bad("admin token: at least 16 characters, so that it cannot be guessed")
	case c.MaxFrameBytes < 256:
		return bad("max frame bytes %d: must be at least 256", c.MaxFrameBytes)
	case c.MaxTracked < 1:
		return bad("max tracked %d: must be at least 1", c.MaxTracked)
	case c.RateLimit < 0 || c.RateBurst < 1:
		return bad("rate limit %v burst %d: must be positive", c.RateLimit, c.RateBurst)
	case c.PendingFixes < 1:
		return bad("pending fixes %d: must be at least 1", c.PendingFixes)
	case c.MaxInFlight < 1 || c.MaxQueuedFixes < 1:
		return bad("max in flight %d and max queued fixes %d must be at least 1", c.MaxInFlight, c.MaxQueuedFixes)
	case c.MaxQueuedFrames < 16:
		return bad("max queued frames %d: must be at least 16", c.MaxQueuedFrames)
	case c.WriteTimeout <= 0 || c.PingInterval <= 0 || c.PublishTimeout <= 0 || c.ReadyTimeout <= 0:
		return bad("timeouts and intervals must be positive")
	}
	if err := c.Web.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// clusterSize is the number of nodes the routes describe: this one plus
// every route that is not its own cluster address.
func (c *Config) clusterSize() int {
	if c.ClusterAddr == "" {
		return 1
	}
	n := 1
	seen := map[string]bool{}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == c.ClusterAddr || seen[u.Host] {
			continue
		}
		seen[u.Host] = true
		n++
	}
	return n
}

// sanitizeName turns a host name into a valid node name.
func sanitizeName(h string) string {
	b := make([]byte, 0, len(h))
	for i := 0; i < len(h) && len(b) < mobileproto.MaxIDLength; i++ {
		c := h[i]
		if mobileproto.ValidID(string(c)) {
			b = append(b, c)
		} else {
			b = append(b, '-')
		}
	}
	if len(b) == 0 {
		return "rtls"
	}
	return string(b)
}
