package mobileproto

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// CloseError is the error of a Client whose connection the node closed.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
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

	slots   chan struct{}
	locs    chan Location
	done    chan struct{}
	ctx     context.Context // cancelled when the client stops
	cancel  context.CancelFunc
	runDone chan struct{}
	once    sync.Once
}

// track is a driver the application tracks.
type track struct {
	opts    TrackOptions
	cursor  uint64 // cursor of the last location put on Locations
	reqID   string // id of the unanswered track-driver sent for it
	retries int    // failed re-tracks in a row
}

// trackOptions is what to send to track t again: after its cursor once it
// has delivered something.
func (t *track) trackOptions() TrackOptions {
	if t.cursor > 0 {
		cur := t.cursor
		return TrackOptions{Since: &cur}
	}
	return t.opts
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
		slots:    make(chan struct{}, o.maxInFlight),
		locs:     make(chan Location, o.locBuffer),
		done:     make(chan struct{}),
		runDone:  make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for _, raw := range strings.Split(rawURL, ",") {
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
	ws, resp, err := c.dialer.DialContext(ctx, u, c.opts.header)
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

// stop records err as the reason, fails everything pending and closes the
// socket. Only the first call has an effect.
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
		c.mu.Unlock()
		close(c.done)
		c.cancel()
		c.wmu.Lock()
		if c.ws != nil {
			c.ws.Close()
		}
		c.wmu.Unlock()
		kind := StateClosed
		if !errors.Is(err, ErrClosed) && c.opts.reconnect != nil {
			kind = StateGaveUp
		}
		c.setState(State{Kind: kind, Err: err})
	})
}

// run owns the connections: it reads until a connection fails, then
// reconnects as the policy says, or stops.
func (c *Client) run(ws *websocket.Conn) {
	defer close(c.runDone)
	defer close(c.locs)
	for {
		err := c.readLoop(ws)
		c.detach(ws)
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			c.stop(ErrClosed)
			return
		}
		var ce *CloseError
		if c.opts.reconnect == nil || (errors.As(err, &ce) && !Reconnectable(ce.Code)) {
			c.stop(err)
			return
		}
		if ws, err = c.reconnect(err); ws == nil {
			c.stop(err)
			return
		}
	}
}

// detach forgets a failed connection; requests that are not a Track waiting
// for its replay are answered with errDisconnected.
func (c *Client) detach(ws *websocket.Conn) {
	ws.Close()
	c.wmu.Lock()
	if c.ws == ws {
		c.ws = nil
	}
	c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := map[string]bool{}
	for _, t := range c.tracks {
		keep[t.reqID] = true
	}
	for id, ch := range c.reqs {
		if !keep[id] {
			ch <- Frame{Type: TypeError, Error: Error{Code: CodeUnavailable, Message: errDisconnected.Error(), ID: id}}
			delete(c.reqs, id)
		}
	}
}

// reconnect tries the URLs in turn, the first at once and then with growing
// jittered backoff, until one welcomes the client, the policy gives up, or
// the client is closed. It returns the new connection, already resumed.
func (c *Client) reconnect(cause error) (*websocket.Conn, error) {
	p := c.opts.reconnect
	start := time.Now()
	backoff := p.MinBackoff
	last := cause
	for attempt := 1; ; attempt++ {
		c.mu.Lock()
		idx := (c.urlIdx + attempt) % len(c.urls)
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return nil, ErrClosed
		}
		if p.GiveUpAfter > 0 && time.Since(start) > p.GiveUpAfter {
			return nil, fmt.Errorf("mobileproto: gave up reconnecting after %v: %w", p.GiveUpAfter, last)
		}
		c.setState(State{Kind: StateReconnecting, URL: c.urls[idx], Attempt: attempt, Err: last})
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.handshakeWait)
		ws, w, err := c.dialOne(ctx, idx)
		cancel()
		if err == nil {
			c.resume(ws, w, idx)
			return ws, nil
		}
		last = err
		var pe *Error
		if errors.As(err, &pe) && pe.Code == CodeUnauthorized {
			return nil, err
		}
		if attempt == 1 {
			continue // the next node, at once
		}
		wait := backoff/2 + rand.N(backoff)
		backoff = min(2*backoff, p.MaxBackoff)
		select {
		case <-time.After(wait):
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// resume attaches a new connection and, before anything else is written to
// it, sends every un-acked fix again in seq order and tracks every driver
// again after the cursor of the last location delivered.
func (c *Client) resume(ws *websocket.Conn, w Welcome, idx int) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws = ws
	c.gen++
	c.mu.Lock()
	c.welcome, c.urlIdx = w, idx
	pend := make([]*Pending, 0, len(c.inflight))
	for _, p := range c.inflight {
		pend = append(pend, p)
	}
	type retrack struct {
		driver, id string
		opts       TrackOptions
	}
	var tracks []retrack
	for d, t := range c.tracks {
		if _, waiting := c.reqs[t.reqID]; !waiting {
			c.reqID++
			t.reqID = "resume" + strconv.FormatUint(c.reqID, 10)
		}
		tracks = append(tracks, retrack{d, t.reqID, t.trackOptions()})
	}
	c.mu.Unlock()
	sort.Slice(pend, func(i, j int) bool { return pend[i].Seq < pend[j].Seq })
	for _, p := range pend {
		if c.writeLocked(p.frame) != nil {
			break
		}
		p.gen = c.gen
	}
	for _, t := range tracks {
		if c.writeLocked(EncodeTrackDriver(t.driver, t.id, t.opts)) != nil {
			break
		}
	}
	c.mu.Lock()
	c.state = State{Kind: StateConnected, URL: c.urls[idx], Node: w.Node}
	s := c.state
	c.mu.Unlock()
	if c.opts.onState != nil {
		c.opts.onState(s)
	}
}

// writeLocked writes one frame to the current connection; wmu is held. A
// failed write closes the connection, which the read loop then notices.
func (c *Client) writeLocked(data []byte) error {
	if c.ws == nil {
		return errDisconnected
	}
	c.ws.SetWriteDeadline(time.Now().Add(c.opts.writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.ws.Close()
		return err
	}
	return nil
}

func (c *Client) readLoop(ws *websocket.Conn) error {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return &CloseError{Code: ce.Code, Reason: ce.Text}
			}
			return err
		}
		f, err := DecodeFrame(data)
		if err != nil {
			continue // not JSON: ignore rather than die on a newer node's frame
		}
		switch f.Type {
		case TypeAck:
			c.settle(f.Ack.Seq, f.Ack, nil)
		case TypeError:
			e := f.Error
			if e.Seq != 0 && c.settle(e.Seq, Ack{}, &e) {
				continue
			}
			if e.Driver != "" && c.trackFailed(&e) {
				continue
			}
			if e.ID != "" && c.answer(e.ID, f) {
				continue
			}
			if c.opts.onError != nil {
				c.opts.onError(&e)
			}
		case TypeTracking:
			c.answer(f.Tracking.ID, f)
		case TypeUntracked:
			c.answer(f.Untracked.ID, f)
		case TypeReceiveLocation:
			if !c.accept(&f.Location) {
				continue
			}
			select {
			case c.locs <- f.Location:
			case <-c.done:
				return ErrClosed
			}
		}
	}
}

// accept records l's cursor and reports whether l is new for a tracked driver.
func (c *Client) accept(l *Location) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tracks[l.Driver]
	if !ok || l.Cursor <= t.cursor {
		return false
	}
	t.cursor = l.Cursor
	return true
}

// trackFailed handles a refused track-driver that the client sent by itself
// (after a reconnect): a temporary refusal is retried with backoff, any other
// forgets the track and reports the error. It reports whether e was handled;
// refusals of a Track call are left to its caller.
func (c *Client) trackFailed(e *Error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tracks[e.Driver]
	if !ok || e.ID == "" || t.reqID != e.ID {
		return false
	}
	if _, waiting := c.reqs[e.ID]; waiting {
		return false
	}
	t.reqID = ""
	if !e.Temporary() || c.closing {
		delete(c.tracks, e.Driver)
		return false
	}
	t.retries++
	wait := min(time.Duration(t.retries)*250*time.Millisecond, 5*time.Second)
	time.AfterFunc(wait/2+rand.N(wait), func() { c.retrack(e.Driver, t) })
	return true
}

// retrack sends track-driver again for t if it is still tracked.
func (c *Client) retrack(driver string, t *track) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.closing || c.tracks[driver] != t || t.reqID != "" {
		c.mu.Unlock()
		return
	}
	c.reqID++
	t.reqID = "retrack" + strconv.FormatUint(c.reqID, 10)
	frame := EncodeTrackDriver(driver, t.reqID, t.trackOptions())
	c.mu.Unlock()
	c.writeLocked(frame) // when disconnected, resume sends it again
}

func (c *Client) settle(seq uint64, a Ack, err error) bool {
	c.mu.Lock()
	p, ok := c.inflight[seq]
	delete(c.inflight, seq)
	c.mu.Unlock()
	if ok {
		p.resolve(a, err)
		<-c.slots
	}
	return ok
}

func (c *Client) answer(id string, f Frame) bool {
	c.mu.Lock()
	ch, ok := c.reqs[id]
	delete(c.reqs, id)
	if f.Type == TypeTracking {
		if t, ok := c.tracks[f.Tracking.Driver]; ok && t.reqID == id {
			t.reqID, t.retries = "", 0
		}
	}
	c.mu.Unlock()
	if ok {
		ch <- f
	}
	return ok
}

// Pending is a sent fix waiting for its ack.
type Pending struct {
	// Seq is the fix's seq.
	Seq   uint64
	frame []byte
	gen   uint64 // connection it was last written to; guarded by Client.wmu
	done  chan struct{}
	ack   Ack
	err   error
}

func (p *Pending) resolve(a Ack, err error) {
	p.ack, p.err = a, err
	close(p.done)
}

// Done is closed when the ack or an error has arrived.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result returns the ack, or the *Error the node answered with, once Done is
// closed.
func (p *Pending) Result() (Ack, error) {
	<-p.done
	return p.ack, p.err
}

// Wait waits for the ack or ctx.
func (p *Pending) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
		return Ack{}, ctx.Err()
	}
}

// SendLocationAsync sends a fix and returns without waiting for its ack. A
// fix without Seq gets the client's next seq, and one without TS the current
// time. It blocks while WithMaxInFlight fixes wait for acks. With
// WithReconnect, a fix that cannot be written now is sent after reconnecting.
func (c *Client) SendLocationAsync(ctx context.Context, f Fix) (*Pending, error) {
	if c.Welcome().Role != RoleDriver {
		return nil, ErrNotDriver
	}
	if f.TS == 0 {
		f.TS = time.Now().UnixMilli()
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.Err()
	}
	p := &Pending{done: make(chan struct{})}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.slots
		return nil, ErrClosed
	}
	if f.Seq == 0 {
		f.Seq = c.nextSeq
	}
	if f.Seq >= c.nextSeq {
		c.nextSeq = f.Seq + 1
	}
	p.Seq = f.Seq
	if _, dup := c.inflight[f.Seq]; dup {
		c.mu.Unlock()
		<-c.slots
		return nil, fmt.Errorf("%w: seq %d is already waiting for its ack", ErrInvalidOption, f.Seq)
	}
	p.frame = AppendSendLocation(make([]byte, 0, 160), &f)
	c.inflight[f.Seq] = p
	c.mu.Unlock()

	c.wmu.Lock()
	var err error
	if p.gen != c.gen || c.ws == nil { // resume may already have sent it
		if err = c.writeLocked(p.frame); err == nil {
			p.gen = c.gen
		}
	}
	c.wmu.Unlock()
	if err != nil && c.opts.reconnect == nil {
		c.settle(f.Seq, Ack{}, err)
		return nil, err
	}
	return p, nil
}

// SendLocation sends a fix and waits for its ack. It returns the node's
// *Error when the fix was refused.
func (c *Client) SendLocation(ctx context.Context, f Fix) (Ack, error) {
	p, err := c.SendLocationAsync(ctx, f)
	if err != nil {
		return Ack{}, err
	}
	return p.Wait(ctx)
}

// request registers a waiter for a fresh request id, lets prepare record it
// (under the client's lock), sends the frame and waits for the answer.
func (c *Client) request(ctx context.Context, prepare func(id string), build func(id string) []byte) (Frame, error) {
	ch := make(chan Frame, 1)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return Frame{}, ErrClosed
	}
	c.reqID++
	id := "r" + strconv.FormatUint(c.reqID, 10)
	c.reqs[id] = ch
	if prepare != nil {
		prepare(id)
	}
	c.mu.Unlock()
	c.wmu.Lock()
	err := c.writeLocked(build(id))
	c.wmu.Unlock()
	if err != nil && c.opts.reconnect == nil {
		c.mu.Lock()
		delete(c.reqs, id)
		c.mu.Unlock()
		return Frame{}, err
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return Frame{}, c.Err()
		}
		if f.Type == TypeError {
			return Frame{}, &f.Error
		}
		return f, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.reqs, id)
		c.mu.Unlock()
		return Frame{}, ctx.Err()
	}
}

// Track starts tracking a driver: the node replays its recent fixes (see
// TrackOptions) and then sends every new one to Locations. It returns once
// the replayed fixes are in Locations' queue; on an error the driver is not
// tracked. With WithReconnect the client keeps tracking the driver across
// reconnects until Untrack, retrying by itself while a node answers with a
// temporary error.
func (c *Client) Track(ctx context.Context, driver string, o TrackOptions) (Tracking, error) {
	if err := CheckID("driver", driver); err != nil {
		return Tracking{}, err
	}
	t := &track{opts: o}
	if o.Since != nil {
		t.cursor = *o.Since
	}
	f, err := c.request(ctx, func(id string) {
		t.reqID = id
		c.tracks[driver] = t
	}, func(id string) []byte { return EncodeTrackDriver(driver, id, o) })
	if err != nil {
		c.mu.Lock()
		if c.tracks[driver] == t {
			delete(c.tracks, driver)
		}
		c.mu.Unlock()
		return Tracking{}, err
	}
	return f.Tracking, nil
}

// Untrack stops tracking a driver.
func (c *Client) Untrack(ctx context.Context, driver string) error {
	if err := CheckID("driver", driver); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.tracks, driver)
	c.mu.Unlock()
	_, err := c.request(ctx, nil, func(id string) []byte { return EncodeUntrackDriver(driver, id) })
	var pe *Error
	if errors.As(err, &pe) && pe.Message == errDisconnected.Error() {
		return nil // the next connection does not track it anyway
	}
	return err
}
