package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nuid"
	"golang.org/x/time/rate"

	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node/auth"
)

// conn is one WebSocket client. All per-connection state lives here.
//
// Two goroutines own it: the reader decodes frames, handles requests, and on
// its way out releases everything the connection holds; the writer is the
// only one to write data frames, draining the outbox. Either may end the
// connection; the reader always runs the cleanup.
type conn struct {
	n       *Node
	sid     uint64           // number of the connection on this node (set by admit)
	role    mobileproto.Role // fixed for the connection's life, like who
	who     string           // the driver's or rider's id
	addr    string           // the client's address
	started time.Time        // when it was created
	// expiry carries a new token expiry from the reader (refresh-token) to
	// the writer, which closes the connection when the token expires.
	expiry chan time.Time
	// ctx ends when the connection's reader stops or the node shuts down;
	// requests that wait (track) use it.
	ctx    context.Context
	cancel context.CancelFunc
	id     auth.Identity // the reader's after admission: refresh-token replaces it
	ws     *websocket.Conn
	out    *outbox
	lim    *rate.Limiter
	// live is a driver connection's liveness (liveness.go).
	live liveConn
	// wasReplaced: a newer connection of the driver closed this one.
	wasReplaced atomic.Bool
	// fixes carries a driver's fixes to the stream in its order (nil for a
	// rider until it sends; the publisher owns its state).
	fixes *pubLane

	// watches is touched only by the reader goroutine; mu guards it for
	// readers of statistics.
	mu      sync.Mutex
	watches map[string]*watch

	quitOnce   sync.Once
	quit       chan struct{} // closed to stop the writer
	closeCode  int           // close frame the writer sends on quit (0: none)
	closeText  string
	writerDone chan struct{}
}

func newConn(n *Node, ws *websocket.Conn, id auth.Identity, addr string) *conn {
	cfg := &n.cfg
	ctx, cancel := context.WithCancel(n.base)
	return &conn{
		ctx:        ctx,
		cancel:     cancel,
		n:          n,
		id:         id,
		role:       id.Role,
		who:        id.ID,
		addr:       addr,
		started:    time.Now(),
		expiry:     make(chan time.Time, 1),
		ws:         ws,
		out:        newOutbox(cfg.MaxQueuedFrames, cfg.PendingFixes, &n.conflated),
		lim:        rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.RateBurst),
		watches:    make(map[string]*watch),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

// shutdown asks the writer to send what is queued, then a close frame with
// code (none when code is 0), and stop.
func (c *conn) shutdown(code int, text string) {
	c.quitOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.quit)
	})
}

func (c *conn) sendCtrl(data []byte) {
	if !c.out.pushCtrl(data) {
		c.n.log.Info("client does not read its queue; disconnecting", "client", c.who)
	}
}

func (c *conn) sendError(e *mobileproto.Error) {
	c.n.metrics.ErrorSent(string(e.Code))
	c.sendCtrl(mobileproto.EncodeError(e))
}

// refuseFix answers a fix with e instead of an ack.
func (c *conn) refuseFix(e *mobileproto.Error) {
	c.n.metrics.FixRefused(string(e.Code))
	c.sendError(e)
}

func (c *conn) readLoop() {
	defer c.n.conns.Done()
	defer c.cleanup()
	cfg := &c.n.cfg
	// A refresh-token frame carries a token, which may be longer than
	// other frames may be (a rider's token lists its drivers): with tokens,
	// the socket reads frames up to a token's size, and only refresh-token
	// may exceed MaxFrameBytes.
	limit := cfg.MaxFrameBytes
	if _, ok := cfg.Authenticator.(tokenVerifier); ok {
		limit = max(limit, auth.MaxTokenBytes+256)
	}
	c.ws.SetReadLimit(int64(limit))
	alive := func() { c.ws.SetReadDeadline(time.Now().Add(2 * cfg.PingInterval)) }
	alive()
	c.ws.SetPongHandler(func(string) error { alive(); return nil })
	var buf bytes.Buffer
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.n.log.Info("frame too large; disconnecting", "client", c.who)
			}
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return // ErrReadLimit: gorilla has already sent close 1009
		}
		alive()
		if typ != websocket.TextMessage {
			c.sendError(mobileproto.Errorf(mobileproto.CodeBadRequest, "frames must be text (JSON), not binary"))
			continue
		}
		if buf.Len() > cfg.MaxFrameBytes {
			if req, _ := mobileproto.DecodeRequest(buf.Bytes()); req.Type != mobileproto.TypeRefreshToken {
				c.n.log.Info("frame too large; disconnecting", "client", c.who, "bytes", buf.Len())
				c.shutdown(mobileproto.CloseTooLarge, fmt.Sprintf("frames are limited to %d bytes", cfg.MaxFrameBytes))
				return
			}
		}
		if c.n.draining.Load() {
			continue // not acked: the client sends it again to the next node
		}
		if !c.out.waitRoom(cfg.WriteTimeout) {
			c.n.log.Info("client does not read its answers; disconnecting", "client", c.who)
			c.shutdown(mobileproto.CloseSlowClient, "too many unread frames")
			return
		}
		c.handle(buf.Bytes())
	}
}

func (c *conn) handle(data []byte) {
	req, perr := mobileproto.DecodeRequest(data)
	if !c.lim.Allow() {
		e := mobileproto.Errorf(mobileproto.CodeRateLimited, "more than %v frames per second; frame dropped", c.n.cfg.RateLimit)
		if perr != nil {
			e.ID, e.Seq, e.Driver = perr.ID, perr.Seq, perr.Driver
		} else {
			e.ID, e.Seq, e.Driver = req.ID, req.Fix.Seq, req.Driver
		}
		if req.Type == mobileproto.TypeSendLocation {
			c.n.metrics.FixRefused(string(e.Code))
		}
		c.sendError(e)
		return
	}
	if perr != nil {
		if req.Type == mobileproto.TypeSendLocation {
			c.n.metrics.FixRefused(string(perr.Code))
		}
		c.sendError(perr)
		return
	}
	switch req.Type {
	case mobileproto.TypeSendLocation:
		c.sendLocation(&req)
	case mobileproto.TypeTrackDriver:
		c.track(&req)
	case mobileproto.TypeUntrackDriver:
		c.untrack(&req)
	case mobileproto.TypeRefreshToken:
		c.refresh(&req)
	}
}

// tokenVerifier is an Authenticator that can check a token on its own, for
// refresh-token (auth.Tokens).
type tokenVerifier interface {
	Verify(token string) (auth.Identity, error)
}

// refresh replaces the connection's token with a fresh one of the same
// identity, so that it outlives the old token's expiry.
func (c *conn) refresh(req *mobileproto.Request) {
	v, ok := c.n.cfg.Authenticator.(tokenVerifier)
	if !ok {
		c.sendError(&mobileproto.Error{Code: mobileproto.CodeBadRequest, Message: "this node does not use tokens; nothing to refresh", ID: req.ID})
		return
	}
	id, err := v.Verify(req.Token)
	if err != nil {
		e, _ := c.n.authRefusal(err)
		e.ID = req.ID
		c.sendError(e)
		return
	}
	if id.Role != c.role || id.ID != c.who {
		c.sendError(&mobileproto.Error{Code: mobileproto.CodeForbidden, Message: "the new token is for another identity; reconnect to change identity", ID: req.ID})
		return
	}
	c.id = id
	select { // the writer's pending value, if any, is older
	case <-c.expiry:
	default:
	}
	c.expiry <- id.Expires
	c.sendCtrl(mobileproto.EncodeRefreshed(mobileproto.Refreshed{ID: req.ID, Expires: id.Expires.UnixMilli()}))
}

// maxClockAhead is how far in the future of the node's clock a fix's device
// time may lie.
const maxClockAhead = 24 * time.Hour

// fixID is the Nats-Msg-Id of a fix: a retry of the same fix (same seq and
// device time) gets the same id and is stored once.
func fixID(driver string, f *mobileproto.Fix) string {
	if f.Seq == 0 {
		return driver + ":n:" + nuid.Next()
	}
	b := make([]byte, 0, len(driver)+40)
	b = append(b, driver...)
	b = append(b, ':')
	b = strconv.AppendUint(b, f.Seq, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, f.TS, 10)
	return string(b)
}

func (c *conn) sendLocation(req *mobileproto.Request) {
	if !c.id.CanPublish(c.who) {
		c.refuseFix(&mobileproto.Error{Code: mobileproto.CodeForbidden, Message: "only a driver connection may send locations", Seq: req.Fix.Seq, ID: req.ID})
		return
	}
	n := c.n
	now := time.Now()
	if e := req.Fix.CheckClock(now, maxClockAhead); e != nil {
		c.refuseFix(&mobileproto.Error{Code: mobileproto.CodeInvalidLocation, Message: e.Msg, Seq: req.Fix.Seq, ID: req.ID})
		return
	}
	c.fixed(now, req.Fix.TS)
	rec := location.Record{Driver: c.who, Fix: req.Fix, Time: now.UnixMilli(), Node: n.cfg.Name}
	data := location.AppendJSON(make([]byte, 0, 192), &rec)
	seq, id := req.Fix.Seq, req.ID
	n.received.Add(1)
	if c.fixes == nil {
		c.fixes = n.pub.newLane(c.who)
	}
	n.pub.publish(c.fixes, seq, req.Fix.TS, fixID(c.who, &req.Fix), data, func(a pubAck, err error) {
		n.metrics.AckLatency.Observe(time.Since(now).Seconds())
		if err != nil {
			n.publishErrors.Add(1)
			e := n.wireError(err, "storing a fix of "+c.who)
			e.Seq, e.ID = seq, id
			c.refuseFix(e)
			return
		}
		n.stored.Add(1)
		n.hub.observe(a.Seq)
		if seq != 0 {
			n.metrics.Acked()
			c.sendCtrl(mobileproto.AppendAck(make([]byte, 0, 64), mobileproto.Ack{Seq: seq, Cursor: a.Seq, Duplicate: a.Duplicate}))
		}
	})
}

func (c *conn) track(req *mobileproto.Request) {
	driver := req.Driver
	if !c.id.CanTrack(driver) {
		c.sendError(&mobileproto.Error{Code: mobileproto.CodeForbidden, Message: "this connection may not track driver " + driver, ID: req.ID, Driver: driver})
		return
	}
	if w := c.watches[driver]; w != nil {
		// Tracking again replaces the watch, replaying as now asked; what
		// the old one still had queued is dropped.
		c.n.hub.untrack(w)
		c.setWatch(driver, nil)
		c.out.discard(&w.lane)
	} else if len(c.watches) >= c.n.cfg.MaxTracked {
		c.sendError(&mobileproto.Error{Code: mobileproto.CodeLimitExceeded, Message: "this connection already tracks " + strconv.Itoa(c.n.cfg.MaxTracked) + " drivers", ID: req.ID, Driver: driver})
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	w, err := c.n.hub.track(ctx, c, driver, req.ID, req.Track)
	if err == nil {
		// Whether the driver is still coming, at once: a late joiner
		// need not wait for the next change.
		c.out.push(&w.lane, frame{data: c.n.currentStatus(ctx, driver)})
	}
	if err != nil {
		c.n.log.Warn("track failed", "driver", driver, "err", err)
		e := c.n.wireError(err, "tracking "+driver)
		e.ID, e.Driver = req.ID, driver
		c.sendError(e)
		return
	}
	c.setWatch(driver, w)
}

func (c *conn) untrack(req *mobileproto.Request) {
	if w := c.watches[req.Driver]; w != nil {
		c.n.hub.untrack(w)
		c.setWatch(req.Driver, nil)
		c.out.discard(&w.lane)
	}
	c.sendCtrl(mobileproto.EncodeUntracked(mobileproto.Untracked{Driver: req.Driver, ID: req.ID}))
}

func (c *conn) setWatch(driver string, w *watch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w == nil {
		delete(c.watches, driver)
	} else {
		c.watches[driver] = w
	}
}

// cleanup releases everything the connection holds. It runs on the reader.
func (c *conn) cleanup() {
	c.cancel()
	if c.fixes != nil {
		c.n.pub.closeLane(c.fixes)
	}
	if c.role == mobileproto.RoleDriver {
		c.disconnected(time.Now(), c.wasReplaced.Load())
	}
	for d, w := range c.watches {
		c.n.hub.untrack(w)
		c.setWatch(d, nil)
	}
	c.shutdown(0, "")
	if c.closeCode != 0 {
		// The connection is closed with a code (too large, slow reader…):
		// the writer sends the close frame, when the socket takes it, in a
		// second at most.
		select {
		case <-c.writerDone:
		case <-time.After(1500 * time.Millisecond):
		}
	}
	c.out.close()
	c.ws.Close() // unblocks a writer stuck on a slow socket
	<-c.writerDone
	c.n.removeConn(c)
}

func (c *conn) writeLoop() {
	defer c.n.conns.Done()
	defer close(c.writerDone)
	cfg := &c.n.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	// The token's expiry (sent by serveWS and by refresh-token) closes the
	// connection.
	expire := time.NewTimer(time.Hour)
	expire.Stop()
	defer expire.Stop()
	var batch []frame
	var wire []byte
	var ats []int64 // when each live frame of the batch became deliverable
	write := func() bool {
		var overflow bool
		batch, overflow = c.out.take(batch[:0])
		if overflow {
			// The client does not read: what is queued would not get
			// through, but the close frame may, while the socket has room.
			clear(batch)
			c.closeWith(mobileproto.CloseSlowClient, "too many unread frames")
			return false
		}
		// Every frame taken goes out in one write: acks, errors and fixes
		// that queued up while the last write ran cost one system call.
		wire = wire[:0]
		ats = ats[:0]
		for i := range batch {
			wire = appendTextFrame(wire, batch[i].data)
			if batch[i].at != 0 {
				ats = append(ats, batch[i].at)
			}
		}
		clear(batch)
		if len(wire) == 0 {
			return true
		}
		nc := c.ws.NetConn()
		nc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if _, err := nc.Write(wire); err != nil {
			c.ws.Close() // wakes the reader, which cleans up
			return false
		}
		if len(ats) > 0 {
			now := mono()
			for _, at := range ats {
				c.n.metrics.DeliveryLatency.Observe(float64(now-at) / 1e9)
			}
		}
		if cap(wire) > 64<<10 {
			wire = nil // a burst's buffer is not kept
		}
		return true
	}
	for {
		select {
		case <-c.out.wake:
			if !write() {
				return
			}
		case exp := <-c.expiry:
			expire.Reset(time.Until(exp))
		case <-expire.C:
			c.writeFrame(&frame{data: mobileproto.EncodeError(mobileproto.Errorf(mobileproto.CodeTokenExpired, "the connection's token has expired: reconnect with a fresh one, or send refresh-token before it expires"))})
			c.closeWith(mobileproto.CloseTokenExpired, "token expired")
			c.ws.Close()
			return
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				c.ws.Close()
				return
			}
		case <-c.quit:
			switch {
			case c.closeCode == mobileproto.CloseSlowClient:
				c.closeWith(c.closeCode, c.closeText) // its backlog would not get through
			case c.closeCode != 0 && write():
				c.closeWith(c.closeCode, c.closeText)
			}
			return
		}
	}
}

// writeFrame writes one frame on its own (the token expiry's error).
func (c *conn) writeFrame(f *frame) error {
	c.ws.SetWriteDeadline(time.Now().Add(c.n.cfg.WriteTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, f.data)
}

// appendTextFrame appends a WebSocket text frame carrying data to dst: a
// final frame, unmasked (a server's frames are not masked), no extensions
// (the node negotiates none). The writer writes such frames to the
// connection directly, several per system call; each Write of a net.Conn
// is whole, so gorilla's own control frames (pongs from the reader) fall
// between them, never inside.
func appendTextFrame(dst, data []byte) []byte {
	n := len(data)
	switch {
	case n < 126:
		dst = append(dst, 0x81, byte(n))
	case n < 1<<16:
		dst = append(dst, 0x81, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, data...)
}

// closeWith sends a close frame and gives the client a moment to answer it
// before the reader gives up on the socket.
func (c *conn) closeWith(code int, text string) {
	deadline := time.Now().Add(time.Second)
	c.ws.WriteControl(websocket.CloseMessage, closeMessage(code, text), deadline)
	c.ws.SetReadDeadline(deadline)
}
