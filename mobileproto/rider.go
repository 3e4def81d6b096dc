package mobileproto

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"
)

// track is a driver the application tracks.
type track struct {
	opts    TrackOptions
	cursor  uint64 // cursor of the last location put on Locations
	epoch   string // the stream epoch cursor belongs to
	reqID   string // id of the unanswered track-driver sent for it
	retries int    // failed re-tracks in a row
}

// forget drops the track's cursor, which means nothing in the node's
// stream (another epoch, or beyond its end): it is tracked again as at
// first, with history instead of since.
func (t *track) forget() {
	t.cursor, t.epoch = 0, ""
	t.opts.Since = nil
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
	if e.Code == CodeInvalidCursor && !c.closing && t.retries == 0 {
		t.forget() // from another epoch of the stream: start again, once
	} else if !e.Temporary() || c.closing {
		delete(c.tracks, e.Driver)
		return false
	}
	t.retries++
	wait := min(time.Duration(t.retries)*250*time.Millisecond, 5*time.Second)
	c.bg.Add(1)
	var timer *time.Timer
	timer = time.AfterFunc(wait/2+rand.N(wait), func() {
		defer c.bg.Done()
		c.mu.Lock()
		delete(c.timers, timer)
		c.mu.Unlock()
		c.retrack(e.Driver, t)
	})
	c.timers[timer] = struct{}{}
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

func (c *Client) answer(id string, f Frame) bool {
	c.mu.Lock()
	ch, ok := c.reqs[id]
	delete(c.reqs, id)
	own := false // a track-driver the client sent by itself
	if f.Type == TypeTracking {
		if t, tracked := c.tracks[f.Tracking.Driver]; tracked && t.reqID == id {
			t.reqID, t.retries, t.epoch = "", 0, f.Tracking.Epoch
			own = !ok
		}
	}
	c.mu.Unlock()
	if ok {
		ch <- f
	}
	if own && c.opts.onResume != nil {
		c.opts.onResume(f.Tracking)
	}
	return ok || own
}

// request registers a waiter for a fresh request id, lets prepare record it
// (under the client's lock), sends the frame and waits for the answer.
func (c *Client) request(ctx context.Context, prepare func(id string), build func(id string) []byte) (Frame, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
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
	if errors.Is(err, errDisconnected) {
		return nil // the next connection does not track it anyway
	}
	return err
}
