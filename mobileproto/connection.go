package mobileproto

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

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
		if c.opts.reconnect == nil || (errors.As(err, &ce) && (!Reconnectable(ce.Code) || (ce.Code == CloseTokenExpired && !c.opts.tokenRenews))) {
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
			ch <- Frame{Type: TypeError, Error: Error{Code: CodeUnavailable, Message: errDisconnected.Error(), ID: id, cause: errDisconnected}}
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
		if errors.As(err, &pe) && (pe.Code == CodeUnauthorized || pe.Code == CodeSessionReplaced || (pe.Code == CodeTokenExpired && !c.opts.tokenRenews)) {
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
		if t.epoch != "" && w.Epoch != "" && t.epoch != w.Epoch {
			t.forget() // the node's stream is not the one the cursor came from
		}
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
		case TypeRefreshed:
			c.answer(f.Refreshed.ID, f)
		case TypeDriverStatus:
			if c.opts.onStatus != nil {
				c.opts.onStatus(f.Status)
			}
		case TypeSetInterval:
			if f.Interval.IntervalMs > 0 {
				c.interval.Store(f.Interval.IntervalMs)
				if c.opts.onInterval != nil {
					c.opts.onInterval(f.Interval)
				}
			}
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
