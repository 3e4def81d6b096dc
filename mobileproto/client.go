package mobileproto

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtls-io/rtls/internal/commalist"
)

// CloseError is the error of a Client whose connection the node closed.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Code == websocket.CloseAbnormalClosure {
		// 1006 is never sent: the connection ended without a close frame.
		return "mobileproto: connection lost without a close frame (1006)"
	}
	return fmt.Sprintf("mobileproto: connection closed by node: %d %s", e.Code, e.Reason)
}

// StateKind is the state of a Client's connection.
type StateKind string

// The connection states.
const (
	StateConnected    StateKind = "connected"
	StateReconnecting StateKind = "reconnecting"
	StateGaveUp       StateKind = "gave-up"
	StateClosed       StateKind = "closed"
)

// State describes a Client's connection.
type State struct {
	Kind StateKind
	// URL is the node the client is connected to, or last tried.
	URL string
	// Node is the connected node's name (from its welcome).
	Node string
	// Attempt counts reconnection attempts since the connection was lost.
	Attempt int
	// Err is why the connection was lost, or the last attempt's error.
	Err error
}

// errDisconnected resolves requests whose answer was lost with the connection.
var errDisconnected = errors.New("mobileproto: connection lost")

// Client is a connection to a node's WebSocket edge, as a driver or a rider,
// optionally reconnecting to other nodes (WithReconnect). All methods are
// safe for concurrent use.
type Client struct {
	opts   options
	urls   []string
	dialer *websocket.Dialer

	// Lock order: wmu, then mu.
	wmu sync.Mutex      // serialises writes; guards ws and gen
	ws  *websocket.Conn // nil while reconnecting
	gen uint64          // connection generation

	mu       sync.Mutex
	welcome  Welcome
	state    State
	urlIdx   int
	nextSeq  uint64
	inflight map[uint64]*Pending
	reqs     map[string]chan Frame
	reqID    uint64
	tracks   map[string]*track
	closing  bool
	err      error
	timers   map[*time.Timer]struct{} // pending retracks; each counted in bg
	bg       sync.WaitGroup           // retrack functions scheduled or running

	interval atomic.Int64 // ms the node asked a driver to send at (0: not asked)

	slots   chan struct{}
	locs    chan Location
	done    chan struct{}
	ctx     context.Context // cancelled when the client stops
	cancel  context.CancelFunc
	runDone chan struct{}
	once    sync.Once
}

// bounded gives ctx the client's request timeout when it has no deadline.
func (c *Client) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.opts.reqTimeout)
}

// Dial connects to a node's WebSocket endpoint, for example
// "ws://127.0.0.1:8080/v1/ws", and waits for its welcome frame. rawURL may
// list several nodes separated by commas; they are tried in order, and in
// turn when reconnecting. ctx bounds the first connection only.
func Dial(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	o := options{
		locBuffer:     1024,
		maxInFlight:   1024,
		writeTimeout:  10 * time.Second,
		reqTimeout:    30 * time.Second,
		handshakeWait: 10 * time.Second,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.startSeq == 0 {
		o.startSeq = uint64(time.Now().UnixMilli())
	}
	c := &Client{
		opts:     o,
		dialer:   o.dialer,
		nextSeq:  o.startSeq,
		inflight: make(map[uint64]*Pending),
		reqs:     make(map[string]chan Frame),
		tracks:   make(map[string]*track),
		timers:   make(map[*time.Timer]struct{}),
		slots:    make(chan struct{}, o.maxInFlight),
		locs:     make(chan Location, o.locBuffer),
		done:     make(chan struct{}),
		runDone:  make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for _, raw := range commalist.Split(rawURL) {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return nil, fmt.Errorf("%w: url %q: want ws://host/v1/ws or wss://…", ErrInvalidOption, raw)
		}
		if o.role != "" {
			q := u.Query()
			q.Set("role", string(o.role))
			q.Set("id", o.id)
			u.RawQuery = q.Encode()
		}
		c.urls = append(c.urls, u.String())
	}
	if c.dialer == nil {
		c.dialer = &websocket.Dialer{HandshakeTimeout: o.handshakeWait, ReadBufferSize: 4096, WriteBufferSize: 1024}
	}
	var ws *websocket.Conn
	var err error
	for i := range c.urls {
		var w Welcome
		if ws, w, err = c.dialOne(ctx, i); err == nil {
			c.attach(ws, w, i)
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if ws == nil {
		c.cancel()
		return nil, err
	}
	go c.run(ws)
	return c, nil
}

// dialOne connects to urls[i] and reads its welcome.
func (c *Client) dialOne(ctx context.Context, i int) (*websocket.Conn, Welcome, error) {
	u := c.urls[i]
	redacted := u
	if pu, err := url.Parse(u); err == nil {
		redacted = pu.Redacted()
	}
	header := c.opts.header
	if c.opts.token != nil {
		tok, err := c.opts.token(ctx)
		if err != nil {
			return nil, Welcome{}, fmt.Errorf("%w: token: %w", ErrHandshake, err)
		}
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set("Authorization", "Bearer "+tok)
	}
	ws, resp, err := c.dialer.DialContext(ctx, u, header)
	if err != nil {
		if resp != nil {
			return nil, Welcome{}, fmt.Errorf("%w: %s: HTTP %d", ErrHandshake, redacted, resp.StatusCode)
		}
		return nil, Welcome{}, fmt.Errorf("%w: %s: %v", ErrHandshake, redacted, err)
	}
	w, err := awaitWelcome(ctx, ws, c.opts.handshakeWait)
	if err != nil {
		ws.Close()
		return nil, Welcome{}, err
	}
	return ws, w, nil
}

func awaitWelcome(ctx context.Context, ws *websocket.Conn, wait time.Duration) (Welcome, error) {
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ws.SetReadDeadline(deadline)
	defer ws.SetReadDeadline(time.Time{})
	_, data, err := ws.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return Welcome{}, fmt.Errorf("%w: %w", ErrHandshake, &CloseError{Code: ce.Code, Reason: ce.Text})
		}
		return Welcome{}, fmt.Errorf("%w: waiting for welcome: %v", ErrHandshake, err)
	}
	f, err := DecodeFrame(data)
	if err != nil {
		return Welcome{}, fmt.Errorf("%w: bad first frame: %v", ErrHandshake, err)
	}
	switch f.Type {
	case TypeWelcome:
		return f.Welcome, nil
	case TypeError:
		return Welcome{}, fmt.Errorf("%w: %w", ErrHandshake, &f.Error)
	default:
		return Welcome{}, fmt.Errorf("%w: first frame is %q, not welcome", ErrHandshake, f.Type)
	}
}

// attach makes ws the current connection. Only the connection goroutine
// (or Dial, before it starts) calls it.
func (c *Client) attach(ws *websocket.Conn, w Welcome, idx int) {
	c.wmu.Lock()
	c.ws = ws
	c.gen++
	c.mu.Lock()
	c.welcome, c.urlIdx = w, idx
	c.mu.Unlock()
	c.wmu.Unlock()
	c.setState(State{Kind: StateConnected, URL: c.urls[idx], Node: w.Node})
}

func (c *Client) setState(s State) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
	if c.opts.onState != nil {
		c.opts.onState(s)
	}
}

// State returns the connection's current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Welcome returns the welcome frame of the node the client is connected to
// (or was last).
func (c *Client) Welcome() Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Interval is how often the node last asked this driver to send a fix (0
// when it has not asked): fast while someone watches the driver, slow
// while nobody does. A driver app should send at this interval.
func (c *Client) Interval() time.Duration { return time.Duration(c.interval.Load()) * time.Millisecond }

// Locations returns the channel of received locations, live and replayed,
// in the order the node sent them, each at most once. It is closed when the
// client stops.
func (c *Client) Locations() <-chan Location { return c.locs }

// Done is closed when the client has stopped; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped (ErrClosed after Close, a *CloseError
// when the node closed the connection, the last error when it gave up
// reconnecting), or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection normally and waits for the client to stop.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.cancel() // ends a reconnection attempt or backoff at once
	c.wmu.Lock()
	if c.ws != nil {
		c.ws.SetWriteDeadline(time.Now().Add(time.Second))
		c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(CloseNormal, ""))
	}
	c.wmu.Unlock()
	select {
	case <-c.runDone:
	case <-time.After(2 * time.Second):
	}
	c.stop(ErrClosed)
	<-c.runDone
	return nil
}

// stop records err as the reason, fails everything pending, stops the
// retrack timers and closes the socket; it reports the final state to
// OnStateChange before Done is closed. Only the first call has an effect.
func (c *Client) stop(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.closing = true
		for seq, p := range c.inflight {
			p.resolve(Ack{}, err)
			delete(c.inflight, seq)
		}
		for id, ch := range c.reqs {
			close(ch)
			delete(c.reqs, id)
		}
		for t := range c.timers {
			if t.Stop() {
				c.bg.Done() // its function will not run
			}
			delete(c.timers, t)
		}
		c.mu.Unlock()
		c.cancel()
		c.wmu.Lock()
		if c.ws != nil {
			c.ws.Close()
		}
		c.wmu.Unlock()
		c.bg.Wait()
		kind := StateClosed
		if !errors.Is(err, ErrClosed) && c.opts.reconnect != nil {
			kind = StateGaveUp
		}
		c.setState(State{Kind: kind, Err: err})
		close(c.done)
	})
}

// RefreshToken gives the connection a fresh token of the same identity
// before its token expires (see Welcome.Expires), and returns the new
// expiry. A client that reconnects later uses its WithToken or
// WithTokenSource token, not this one.
func (c *Client) RefreshToken(ctx context.Context, token string) (Refreshed, error) {
	f, err := c.request(ctx, nil, func(id string) []byte { return EncodeRefreshToken(token, id) })
	if err != nil {
		return Refreshed{}, err
	}
	return f.Refreshed, nil
}
