package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/natsmux"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node/auth"
	"github.com/rtls-io/rtls/node/busauth"
	"github.com/rtls-io/rtls/node/metrics"
)

// Errors of the Node lifecycle.
var (
	ErrAlreadyStarted = errors.New("node: already started")
	ErrShutdown       = errors.New("node: shut down")
)

// Node is one rtls node: an embedded NATS server with JetStream, the
// LOCATIONS stream, and the WebSocket edge. Create it with New, run it with
// Start, stop it with Shutdown. Its methods are safe for concurrent use.
type Node struct {
	cfg Config
	log *slog.Logger
	// base ends when the node shuts down; every request that waits derives
	// its context from it.
	base       context.Context
	cancelBase context.CancelFunc

	started  atomic.Bool
	stopped  atomic.Bool
	ready    atomic.Bool
	draining atomic.Bool

	srv       *server.Server
	nc        *nats.Conn
	js        jetstream.JetStream
	mux       *natsmux.Mux
	reader    *fixstream.Reader
	pub       *publisher
	hub       *hub
	upgrader  websocket.Upgrader
	httpSrv   *http.Server
	httpLn    net.Listener
	httpDone  chan struct{}
	metrics   *metrics.Metrics
	adminSrv  *http.Server
	adminLn   net.Listener
	adminDone chan struct{}

	connMu   sync.Mutex
	connSet  map[*conn]struct{}
	perID    map[string]int // riders' connections by id
	perAddr  map[string]int // connections by remote address
	nextConn uint64
	conns    sync.WaitGroup // reader and writer goroutines of every conn
	sessions *sessions
	presence *presenceState
	proxies  []netip.Prefix
	certs    *certReloader

	received      atomic.Uint64
	stored        atomic.Uint64
	publishErrors atomic.Uint64
	conflated     atomic.Uint64
	refused       atomic.Uint64 // connections refused by a limit

	bg            sync.WaitGroup // the node's own goroutines (the stream guard)
	epoch         atomic.Pointer[string]
	streamMu      sync.Mutex
	streamProblem string
	streamInfo    atomic.Pointer[streamSnapshot]

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

// New validates cfg, fills its defaults and returns a Node that is not yet
// started. It returns an error wrapping ErrInvalidConfig for a bad config.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:          cfg,
		log:          cfg.Logger.With("node", cfg.Name),
		connSet:      make(map[*conn]struct{}),
		perID:        make(map[string]int),
		perAddr:      make(map[string]int),
		shutdownDone: make(chan struct{}),
	}
	n.base, n.cancelBase = context.WithCancel(context.Background())
	n.metrics = metrics.New(n.metricsSnapshot)
	for _, p := range cfg.TrustedProxies {
		prefix, _ := parsePrefix(p) // validated by setDefaults
		n.proxies = append(n.proxies, prefix)
	}
	if cfg.TLSCertFile != "" {
		var err error
		if n.certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, n.log); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
	}
	n.upgrader = websocket.Upgrader{
		Subprotocols:     []string{Subprotocol},
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      func(*http.Request) bool { return true }, // serveWS checks it, to answer with a close code
		Error:            httpError,
	}
	return n, nil
}

// Config returns the node's configuration with defaults filled in.
func (n *Node) Config() Config { return n.cfg }

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Start starts the embedded NATS server, connects to it in-process, creates
// or updates the stream and starts the WebSocket edge. It returns once the
// node is ready, or with an error after ReadyTimeout or when ctx ends; the
// HTTP listener (with /healthz and /readyz) is up while it waits. On error
// everything started is stopped again. A Node is started once: Start after
// Shutdown returns ErrShutdown.
func (n *Node) Start(ctx context.Context) (err error) {
	if !n.started.CompareAndSwap(false, true) {
		if n.stopped.Load() {
			return ErrShutdown
		}
		return ErrAlreadyStarted
	}
	defer func() {
		if err != nil {
			n.Shutdown(context.Background())
		}
	}()
	if n.cfg.Storage == FileStorage {
		if err := checkDataDir(n.cfg.DataDir); err != nil {
			return fmt.Errorf("node %s: %w", n.cfg.Name, err)
		}
	}
	opts, nodeOpt, err := n.serverOptions()
	if err != nil {
		return err
	}
	if n.srv, err = server.NewServer(opts); err != nil {
		return fmt.Errorf("node %s: nats server: %w", n.cfg.Name, err)
	}
	n.srv.SetLoggerV2(natsLogger{n.log}, n.cfg.NATSDebug, false, false)
	n.srv.Start()
	if !n.srv.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("node %s: nats server not ready (is a port in use? see the log)", n.cfg.Name)
	}
	n.nc, err = nats.Connect("",
		nats.InProcessServer(n.srv),
		nodeOpt,
		nats.Name("rtls-node-"+n.cfg.Name),
		// Replies to the node come to its own inbox prefix, which no other
		// identity may subscribe to or publish on.
		nats.CustomInboxPrefix("_RTLS."+n.cfg.Name),
		nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			n.log.Warn("nats client error", "subject", subj, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("node %s: connect in-process: %w", n.cfg.Name, err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		return fmt.Errorf("node %s: jetstream: %w", n.cfg.Name, err)
	}
	if n.mux, err = natsmux.New(n.nc); err != nil {
		return fmt.Errorf("node %s: reply subscription: %w", n.cfg.Name, err)
	}
	n.reader, err = fixstream.NewReader(n.nc, fixstream.OnReject(func(driver string, err error) {
		n.log.Warn("dropped an invalid message read from the stream", "driver", driver, "err", err)
	}))
	if err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	// A publish lost while the stream changes leader gets no answer at all; a
	// retry (same message id, so stored once) after half a second recovers it.
	n.pub = newPublisher(n.nc, n.mux, n.reader, n.log, n.cfg.History, pubConfig{
		attempt: 500 * time.Millisecond, total: n.cfg.PublishTimeout,
		maxInFlight: n.cfg.MaxInFlight, maxQueued: n.cfg.MaxQueuedFixes,
		laneQueue: laneQueue, window: laneWindow,
	})
	n.hub = newHub(n.log, n.nc, n.reader, n.clustered(), n.cfg.History)
	n.hub.epoch = n.Epoch
	if n.sessions, err = newSessions(n); err != nil {
		return fmt.Errorf("node %s: sessions: %w", n.cfg.Name, err)
	}
	if err := n.startPresence(); err != nil {
		return fmt.Errorf("node %s: presence: %w", n.cfg.Name, err)
	}
	if err := n.listenAdmin(); err != nil {
		return err
	}
	if err := n.listenHTTP(); err != nil {
		return err
	}

	rctx, cancel := context.WithTimeout(ctx, n.cfg.ReadyTimeout)
	defer cancel()
	if err := n.ensureStream(rctx); err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	if n.clustered() {
		if err := n.waitCaughtUp(rctx); err != nil {
			return fmt.Errorf("node %s: %w", n.cfg.Name, err)
		}
	}
	if auth.IsDevelopment(n.cfg.Authenticator) {
		n.log.Warn("DEVELOPMENT MODE: apps say who they are in the URL and are believed; never expose this node to untrusted clients")
		if !n.busSecured() {
			n.log.Warn("DEVELOPMENT MODE: the NATS client port and routes accept anyone (configure bus identities to close them)")
		}
	}
	if st, err := n.reader.State(rctx); err != nil {
		return fmt.Errorf("node %s: stream state: %w", n.cfg.Name, err)
	} else {
		n.setEpoch(st)
		n.compareEpoch(st)
	}
	n.checkStream(0) // the stream's figures, for /metrics and /v1/status from the start
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.guardStream()
	}()
	n.ready.Store(true)
	n.log.Info("node ready", "http", n.HTTPAddr(), "nats", n.ClientURL(), "replicas", n.cfg.Replicas, "history", n.cfg.History)
	return nil
}

// epochFile, in the data dir, holds the epoch of the stream the node last
// served: a restart that finds another stream says so.
const epochFile = "rtls-epoch"

// compareEpoch logs loudly when the stream is not the one this node served
// before its restart (its store was lost, wiped or unreadable and the
// stream was created again: riders forget their cursors, and fixes the
// store could not read are gone), and notes the current one.
func (n *Node) compareEpoch(st fixstream.StreamState) {
	if n.cfg.Storage != FileStorage {
		return
	}
	path := filepath.Join(n.cfg.DataDir, epochFile)
	now := n.Epoch()
	if was, err := os.ReadFile(path); err == nil && len(was) > 0 && string(was) != now {
		n.log.Error("THE STREAM IS NOT THE ONE THIS NODE SERVED BEFORE: its store was lost, wiped or unreadable and the stream was created again; it holds what the store could still read (first_seq…last_seq), riders are told by the new epoch to forget their cursors",
			"epoch", now, "was", string(was), "first_seq", st.FirstSeq, "last_seq", st.LastSeq, "data_dir", n.cfg.DataDir)
	}
	if err := os.WriteFile(path, []byte(now), 0o640); err != nil {
		n.log.Warn("could not note the stream's epoch in the data dir", "err", err)
	}
}

// checkDataDir makes dir if it is missing and checks that the node can
// write in it, so that a bad data directory is a clear error at once
// rather than a JetStream that never comes up.
func checkDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".rtls-write-check-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// busSecured reports whether the bus requires authentication: always in
// production (token authentication), and in development mode when bus
// identities are configured.
func (n *Node) busSecured() bool {
	b := &n.cfg.Bus
	return !auth.IsDevelopment(n.cfg.Authenticator) || len(b.Dispatchers)+len(b.Analytics)+len(b.Operators) > 0 || b.RouteUser != ""
}

// serverOptions returns the embedded server's options and the option that
// authenticates the node's own connection.
func (n *Node) serverOptions() (*server.Options, nats.Option, error) {
	o := &server.Options{
		ServerName: n.cfg.Name,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   n.cfg.DataDir,
	}
	if n.cfg.ClientAddr == "" {
		o.DontListen = true
	} else {
		host, port, err := splitHostPort(n.cfg.ClientAddr)
		if err != nil {
			return nil, nil, err
		}
		o.Host, o.Port = host, port
	}
	bus := n.cfg.Bus
	var err error
	if bus.ClientTLS, err = n.cfg.ClientTLS.config(); err != nil {
		return nil, nil, fmt.Errorf("%w: client port TLS: %v", ErrInvalidConfig, err)
	}
	if bus.RouteTLS, err = n.cfg.RouteTLS.config(); err != nil {
		return nil, nil, fmt.Errorf("%w: route TLS: %v", ErrInvalidConfig, err)
	}
	if n.cfg.ClusterAddr != "" {
		host, port, err := splitHostPort(n.cfg.ClusterAddr)
		if err != nil {
			return nil, nil, err
		}
		o.Cluster = server.ClusterOpts{Name: n.cfg.ClusterName, Host: host, Port: port}
		routes := server.RoutesFromStr(strings.Join(n.cfg.Routes, ","))
		for _, r := range routes {
			if bus.RouteUser != "" {
				r.User = url.UserPassword(bus.RouteUser, bus.RoutePassword)
			}
			if bus.RouteTLS != nil {
				r.Scheme = "tls"
			}
		}
		o.Routes = routes
	}
	nodeOpt := func(*nats.Options) error { return nil }
	if n.busSecured() {
		key, err := busauth.NewNodeKey()
		if err != nil {
			return nil, nil, fmt.Errorf("node %s: %w", n.cfg.Name, err)
		}
		busauth.Apply(o, bus, key)
		nodeOpt = key.Option()
	} else if bus.ClientTLS != nil {
		o.TLSConfig, o.TLS, o.TLSTimeout = bus.ClientTLS, true, 2
	}
	return o, nodeOpt, nil
}

// splitHostPort maps port 0 to the NATS server's "random port".
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w: address %q: %v", ErrInvalidConfig, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%w: address %q: bad port", ErrInvalidConfig, addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

func (n *Node) listenHTTP() error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("node %s: listen %s: %w", n.cfg.Name, n.cfg.HTTPAddr, err)
	}
	handler, err := n.routes()
	if err != nil {
		ln.Close()
		return err
	}
	if n.certs != nil {
		ln = tls.NewListener(ln, &tls.Config{GetCertificate: n.certs.get, MinVersion: tls.VersionTLS12})
	}
	n.httpLn = ln
	n.httpSrv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: n.cfg.HeaderTimeout,
		IdleTimeout:       n.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.httpDone = make(chan struct{})
	go func() {
		defer close(n.httpDone)
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// HTTPAddr returns the address the WebSocket edge listens on, or "" before Start.
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// WebSocketURL returns the ws:// (or, with TLS, wss://) URL of the edge's
// endpoint.
func (n *Node) WebSocketURL() string {
	if n.certs != nil {
		return "wss://" + n.HTTPAddr() + mobileproto.Path
	}
	return "ws://" + n.HTTPAddr() + mobileproto.Path
}

// ClientURL returns the nats:// URL of the client port, or "" when there is none.
func (n *Node) ClientURL() string {
	if n.srv == nil || n.cfg.ClientAddr == "" {
		return ""
	}
	return n.srv.ClientURL()
}

// ClusterURL returns the nats:// URL other nodes route to, or "" without a cluster.
func (n *Node) ClusterURL() string {
	if n.srv == nil || n.cfg.ClusterAddr == "" {
		return ""
	}
	if a := n.srv.ClusterAddr(); a != nil {
		return "nats://" + a.String()
	}
	return ""
}

// Server returns the embedded NATS server (for tests and operators' tools).
func (n *Node) Server() *server.Server { return n.srv }

// Epoch names the stream's incarnation: cursors mean something only within
// one epoch (see mobileproto.Tracking.Epoch).
func (n *Node) Epoch() string {
	if e := n.epoch.Load(); e != nil {
		return *e
	}
	return ""
}

func (n *Node) setEpoch(st fixstream.StreamState) {
	e := st.Epoch()
	if old := n.epoch.Swap(&e); old != nil && *old != e {
		n.log.Warn("the stream was created again: cursors start again (new epoch); every client is asked to reconnect", "epoch", e, "was", *old)
		n.newEpoch(st)
	}
}

// newEpoch starts afresh after the stream was created again: sequences
// known from the old stream mean nothing in the new one, so the hub forgets
// them, and every client is closed with 1001 to reconnect: riders then
// learn the new epoch from the welcome and track again without their old
// cursors, drivers' publish lanes start again from the new stream.
func (n *Node) newEpoch(st fixstream.StreamState) {
	n.hub.reset(st.LastSeq)
	n.connMu.Lock()
	defer n.connMu.Unlock()
	for c := range n.connSet {
		c.shutdown(mobileproto.CloseGoingAway, "the stream was created again (new epoch): reconnect")
	}
}

// Ready reports whether the node serves clients: started, not draining, and
// its stream as it should be.
func (n *Node) Ready() bool { return n.ready.Load() && !n.draining.Load() && n.StreamProblem() == "" }

// Stats are a node's counters. Fixes are counted per node: a fix received
// on one node and delivered on another counts as received on the first and
// delivered on the second.
type Stats struct {
	Connections int
	Drivers     int
	Riders      int
	// TrackedDrivers is how many drivers at least one local client tracks.
	TrackedDrivers int
	// LiveSubscriptions is the number of NATS subscriptions on live
	// subjects: one per tracked driver, however many riders watch it.
	LiveSubscriptions int64
	FixesReceived     uint64
	FixesStored       uint64
	PublishErrors     uint64
	PendingPublishes  int
	// FixesOverloaded counts fixes answered overloaded (not stored: the
	// node was at capacity); FixesOutOfOrder those answered out_of_order;
	// PublishRetries the fixes published again after an answer was lost.
	FixesOverloaded uint64
	FixesOutOfOrder uint64
	PublishRetries  uint64
	// FixesDelivered counts live location frames queued to riders.
	FixesDelivered uint64
	FixesReplayed  uint64
	// FixesConflated counts live frames dropped for a newer fix of the same
	// driver because the rider read too slowly.
	FixesConflated uint64
	// ConnectionsRefused counts connections refused by a connection limit.
	ConnectionsRefused uint64
	GapsFilled         uint64
	GapsLost           uint64
	// BusRejected counts live messages dropped because they were not valid
	// republished fixes, or not what the stream holds (forged).
	BusRejected uint64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	s := Stats{
		FixesReceived:      n.received.Load(),
		FixesStored:        n.stored.Load(),
		PublishErrors:      n.publishErrors.Load(),
		FixesConflated:     n.conflated.Load(),
		ConnectionsRefused: n.refused.Load(),
	}
	n.connMu.Lock()
	for c := range n.connSet {
		s.Connections++
		if c.role == mobileproto.RoleDriver {
			s.Drivers++
		} else {
			s.Riders++
		}
	}
	n.connMu.Unlock()
	if n.pub != nil {
		s.PendingPublishes = n.pub.pendingCount()
		s.FixesOverloaded = n.pub.overloaded.Load()
		s.FixesOutOfOrder = n.pub.outOfOrder.Load()
		s.PublishRetries = n.pub.retries.Load()
	}
	if h := n.hub; h != nil {
		s.TrackedDrivers = h.rooms()
		s.LiveSubscriptions = h.subs.Load()
		s.FixesDelivered = h.delivered.Load()
		s.FixesReplayed = h.replayed.Load()
		s.GapsFilled = h.gapFills.Load()
		s.GapsLost = h.gapsLost.Load()
		s.BusRejected = h.rejected.Load()
	}
	if p := n.presence; p != nil {
		s.BusRejected += p.rejected.Load()
	}
	return s
}

// admit registers c under the connection limits, or says why not.
func (n *Node) admit(c *conn) (*mobileproto.Error, int) {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	cfg := &n.cfg
	switch {
	case n.draining.Load():
		return mobileproto.Errorf(mobileproto.CodeUnavailable, "node %s is shutting down", cfg.Name), mobileproto.CloseGoingAway
	case cfg.MaxConnections > 0 && len(n.connSet) >= cfg.MaxConnections:
		return mobileproto.Errorf(mobileproto.CodeUnavailable, "node %s has its maximum of %d connections; try another node", cfg.Name, cfg.MaxConnections), mobileproto.CloseTryAgainLater
	case c.role == mobileproto.RoleRider && cfg.MaxConnectionsPerIdentity > 0 && n.perID[c.who] >= cfg.MaxConnectionsPerIdentity:
		return mobileproto.Errorf(mobileproto.CodeTooManyConnections, "rider %s already has %d connections to this node", c.who, cfg.MaxConnectionsPerIdentity), mobileproto.CloseTooManyConnections
	case cfg.MaxConnectionsPerAddress > 0 && n.perAddr[c.addr] >= cfg.MaxConnectionsPerAddress:
		return mobileproto.Errorf(mobileproto.CodeTooManyConnections, "your address already has %d connections to this node", cfg.MaxConnectionsPerAddress), mobileproto.CloseTooManyConnections
	}
	n.nextConn++
	c.sid = n.nextConn
	n.connSet[c] = struct{}{}
	if c.role == mobileproto.RoleRider {
		n.perID[c.who]++
	}
	n.perAddr[c.addr]++
	n.conns.Add(2)
	return nil, 0
}

func (n *Node) removeConn(c *conn) {
	n.connMu.Lock()
	if _, ok := n.connSet[c]; ok {
		delete(n.connSet, c)
		if c.role == mobileproto.RoleRider {
			if n.perID[c.who]--; n.perID[c.who] == 0 {
				delete(n.perID, c.who)
			}
		}
		if n.perAddr[c.addr]--; n.perAddr[c.addr] == 0 {
			delete(n.perAddr, c.addr)
		}
	}
	n.connMu.Unlock()
	if c.role == mobileproto.RoleDriver {
		n.sessions.release(c)
	}
}

// Shutdown stops the node gracefully: it stops accepting connections and
// fixes, hands the stream's leadership to another node if it has it (lame
// duck), lets fixes in flight be stored and acked, closes every client with
// CloseGoingAway (reconnect elsewhere), then stops NATS. It is bounded by ctx
// (connections still open then are cut) and idempotent: later calls wait for
// the first and return its result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() {
		n.stopped.Store(true)
		n.started.Store(true) // a node is not started after Shutdown
		n.shutdownErr = n.stopAll(ctx)
		close(n.shutdownDone)
	})
	select {
	case <-n.shutdownDone:
		return n.shutdownErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) stopAll(ctx context.Context) error {
	n.connMu.Lock()
	n.draining.Store(true)
	n.connMu.Unlock()
	n.ready.Store(false)
	var errs []error

	if n.httpSrv != nil {
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		<-n.httpDone
	}
	if n.clustered() && n.js != nil && n.srv != nil && n.srv.Running() {
		n.stepDown(ctx)
	}
	if n.pub != nil {
		deadline := time.Now().Add(5 * time.Second)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		n.pub.waitIdle(deadline)
	}
	n.connMu.Lock()
	for c := range n.connSet {
		c.shutdown(mobileproto.CloseGoingAway, "node shutting down")
	}
	n.connMu.Unlock()
	if err := waitGroup(ctx, &n.conns); err != nil {
		n.connMu.Lock()
		for c := range n.connSet {
			c.ws.Close()
		}
		n.connMu.Unlock()
		n.conns.Wait()
		errs = append(errs, fmt.Errorf("closing connections: %w", err))
	}
	n.cancelBase()
	n.bg.Wait()
	n.presence.stop()
	n.sessions.stop()
	if n.hub != nil {
		n.hub.stop()
	}
	if n.pub != nil {
		n.pub.stop()
	}
	if n.reader != nil {
		n.reader.Close()
	}
	if n.mux != nil {
		n.mux.Close()
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
	// The admin listener goes last: /metrics and /v1/status answer while
	// the node drains.
	if n.adminSrv != nil {
		if err := n.adminSrv.Shutdown(ctx); err != nil {
			n.adminSrv.Close()
			errs = append(errs, fmt.Errorf("admin shutdown: %w", err))
		}
		<-n.adminDone
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// waitGroup waits for wg or ctx.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
