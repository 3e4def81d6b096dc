package mobileproto

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Option configures a Client. Options validate themselves; Dial returns an
// error wrapping ErrInvalidOption for a bad one.
type Option func(*options) error

type options struct {
	role          Role
	id            string
	header        http.Header
	dialer        *websocket.Dialer
	locBuffer     int
	maxInFlight   int
	writeTimeout  time.Duration
	handshakeWait time.Duration
	startSeq      uint64
	onError       func(*Error)
}

// WithIdentity sets the development-mode identity sent in the URL query
// (role=…&id=…). A node in development mode requires it.
func WithIdentity(role Role, id string) Option {
	return func(o *options) error {
		if !role.Valid() {
			return fmt.Errorf("%w: unknown role %q", ErrInvalidOption, role)
		}
		if !ValidID(id) {
			return fmt.Errorf("%w: invalid id %q", ErrInvalidOption, id)
		}
		o.role, o.id = role, id
		return nil
	}
}

// WithHeader adds HTTP headers to the WebSocket handshake (for example an
// Authorization header).
func WithHeader(h http.Header) Option {
	return func(o *options) error {
		o.header = h.Clone()
		return nil
	}
}

// WithDialer replaces the WebSocket dialer.
func WithDialer(d *websocket.Dialer) Option {
	return func(o *options) error {
		if d == nil {
			return fmt.Errorf("%w: nil dialer", ErrInvalidOption)
		}
		o.dialer = d
		return nil
	}
}

// WithLocationBuffer sets how many received locations the client buffers
// for Locations before it stops reading from the socket (default 1024). When
// the application reads too slowly the node then keeps only the newest fix
// of each driver for it.
func WithLocationBuffer(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: location buffer must be >= 0", ErrInvalidOption)
		}
		o.locBuffer = n
		return nil
	}
}

// WithMaxInFlight bounds how many fixes may wait for their ack (default
// 1024); SendLocationAsync blocks while the bound is reached.
func WithMaxInFlight(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: max in-flight must be > 0", ErrInvalidOption)
		}
		o.maxInFlight = n
		return nil
	}
}

// WithWriteTimeout bounds each frame write when the context has no earlier
// deadline (default 10 s).
func WithWriteTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: write timeout must be > 0", ErrInvalidOption)
		}
		o.writeTimeout = d
		return nil
	}
}

// WithStartSeq sets the seq of the first fix sent without one. The default
// is the current Unix time in milliseconds, so a restarted app keeps
// increasing its seqs.
func WithStartSeq(seq uint64) Option {
	return func(o *options) error {
		if seq == 0 || seq > MaxSeq {
			return fmt.Errorf("%w: start seq must be within [1, %d]", ErrInvalidOption, uint64(MaxSeq))
		}
		o.startSeq = seq
		return nil
	}
}

// OnError sets a function called with error frames that answer no pending
// call. It runs on the client's read goroutine and must not block.
func OnError(f func(*Error)) Option {
	return func(o *options) error {
		o.onError = f
		return nil
	}
}

// CloseError is the error of a Client whose connection the node closed.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("mobileproto: connection closed by node: %d %s", e.Code, e.Reason)
}

// Client is a connection to a node's WebSocket edge, as a driver or a rider.
// All methods are safe for concurrent use.
type Client struct {
	opts    options
	ws      *websocket.Conn
	welcome Welcome

	wmu sync.Mutex // serialises writes to ws

	mu       sync.Mutex
	nextSeq  uint64
	inflight map[uint64]*Pending
	reqs     map[string]chan Frame
	reqID    uint64
	cursors  map[string]uint64 // tracked driver → cursor of the last location delivered
	err      error

	slots chan struct{}
	locs  chan Location
	done  chan struct{}
	read  chan struct{} // closed when the read loop has returned
	once  sync.Once
}

// Dial connects to a node's WebSocket endpoint, for example
// "ws://127.0.0.1:8080/v1/ws", and waits for its welcome frame. ctx bounds the
// handshake only.
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
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: url %q: %v", ErrInvalidOption, rawURL, err)
	}
	if o.role != "" {
		q := u.Query()
		q.Set("role", string(o.role))
		q.Set("id", o.id)
		u.RawQuery = q.Encode()
	}
	d := o.dialer
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: o.handshakeWait, ReadBufferSize: 4096, WriteBufferSize: 1024}
	}
	ws, resp, err := d.DialContext(ctx, u.String(), o.header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: %s: HTTP %d", ErrHandshake, u.Redacted(), resp.StatusCode)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrHandshake, u.Redacted(), err)
	}
	c := &Client{
		opts:     o,
		ws:       ws,
		nextSeq:  o.startSeq,
		inflight: make(map[uint64]*Pending),
		reqs:     make(map[string]chan Frame),
		cursors:  make(map[string]uint64),
		slots:    make(chan struct{}, o.maxInFlight),
		locs:     make(chan Location, o.locBuffer),
		done:     make(chan struct{}),
		read:     make(chan struct{}),
	}
	if err := c.awaitWelcome(ctx); err != nil {
		ws.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

func (c *Client) awaitWelcome(ctx context.Context) error {
	deadline := time.Now().Add(c.opts.handshakeWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.ws.SetReadDeadline(deadline)
	defer c.ws.SetReadDeadline(time.Time{})
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return fmt.Errorf("%w: %w", ErrHandshake, &CloseError{Code: ce.Code, Reason: ce.Text})
		}
		return fmt.Errorf("%w: waiting for welcome: %v", ErrHandshake, err)
	}
	f, err := DecodeFrame(data)
	if err != nil {
		return fmt.Errorf("%w: bad first frame: %v", ErrHandshake, err)
	}
	switch f.Type {
	case TypeWelcome:
		c.welcome = f.Welcome
		return nil
	case TypeError:
		return fmt.Errorf("%w: %w", ErrHandshake, &f.Error)
	default:
		return fmt.Errorf("%w: first frame is %q, not welcome", ErrHandshake, f.Type)
	}
}

// Welcome returns the node's welcome frame.
func (c *Client) Welcome() Welcome { return c.welcome }

// Locations returns the channel of received locations, live and replayed,
// in the order the node sent them. It is closed when the client stops.
func (c *Client) Locations() <-chan Location { return c.locs }

// Done is closed when the client has stopped; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped (ErrClosed after Close, a *CloseError
// when the node closed the connection), or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection normally and waits for the read loop to end.
func (c *Client) Close() error {
	c.wmu.Lock()
	c.ws.SetWriteDeadline(time.Now().Add(time.Second))
	c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(CloseNormal, ""))
	c.wmu.Unlock()
	select {
	case <-c.read:
	case <-time.After(2 * time.Second):
	}
	c.stop(ErrClosed)
	<-c.read
	return nil
}

// stop records err as the reason, fails everything pending and closes the
// socket. Only the first call has an effect.
func (c *Client) stop(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
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
		c.ws.Close()
	})
}

func (c *Client) readLoop() {
	defer close(c.read)
	defer close(c.locs)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				err = &CloseError{Code: ce.Code, Reason: ce.Text}
			}
			c.stop(err)
			return
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
				return
			}
		}
	}
}

// accept records l's cursor and reports whether l is new for a tracked driver.
func (c *Client) accept(l *Location) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.cursors[l.Driver]
	if !ok || l.Cursor <= last {
		return false
	}
	c.cursors[l.Driver] = l.Cursor
	return true
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
	c.mu.Unlock()
	if ok {
		ch <- f
	}
	return ok
}

func (c *Client) write(ctx context.Context, data []byte) error {
	deadline := time.Now().Add(c.opts.writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return c.Err()
	default:
	}
	c.ws.SetWriteDeadline(deadline)
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.stop(err)
		return err
	}
	return nil
}

// Pending is a sent fix waiting for its ack.
type Pending struct {
	// Seq is the fix's seq.
	Seq  uint64
	done chan struct{}
	ack  Ack
	err  error
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
// time. It blocks while WithMaxInFlight fixes wait for acks.
func (c *Client) SendLocationAsync(ctx context.Context, f Fix) (*Pending, error) {
	if c.welcome.Role != RoleDriver {
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
	c.inflight[f.Seq] = p
	c.mu.Unlock()
	if err := c.write(ctx, AppendSendLocation(make([]byte, 0, 160), &f)); err != nil {
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

// request sends a frame carrying a fresh request id and waits for its answer.
func (c *Client) request(ctx context.Context, build func(id string) []byte) (Frame, error) {
	ch := make(chan Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return Frame{}, err
	}
	c.reqID++
	id := "r" + strconv.FormatUint(c.reqID, 10)
	c.reqs[id] = ch
	c.mu.Unlock()
	if err := c.write(ctx, build(id)); err != nil {
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
// the replayed fixes are in Locations' queue.
func (c *Client) Track(ctx context.Context, driver string, o TrackOptions) (Tracking, error) {
	if err := CheckID("driver", driver); err != nil {
		return Tracking{}, err
	}
	c.mu.Lock()
	c.cursors[driver] = 0
	if o.Since != nil {
		c.cursors[driver] = *o.Since
	}
	c.mu.Unlock()
	f, err := c.request(ctx, func(id string) []byte { return EncodeTrackDriver(driver, id, o) })
	if err != nil {
		return Tracking{}, err
	}
	return f.Tracking, nil
}

// Untrack stops tracking a driver.
func (c *Client) Untrack(ctx context.Context, driver string) error {
	if err := CheckID("driver", driver); err != nil {
		return err
	}
	_, err := c.request(ctx, func(id string) []byte { return EncodeUntrackDriver(driver, id) })
	c.mu.Lock()
	delete(c.cursors, driver)
	c.mu.Unlock()
	return err
}
