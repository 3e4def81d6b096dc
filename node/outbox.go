package node

import (
	"sync"
	"sync/atomic"
	"time"
)

// stallAfter is how long a frame may wait in a lane before its reader counts
// as slow and only the newest fix of the driver is kept for it. It is far
// above scheduling delays, far below the interval between a driver's fixes.
const stallAfter = 250 * time.Millisecond

// frame is one queued WebSocket text message. A live fix's bytes are encoded
// once and shared by every watcher's frame; they are never modified.
//
// (gorilla's PreparedMessage would also share the WebSocket framing, but it
// allocates a scratch connection with a 4 KiB buffer per message: 40 % of a
// node's allocations at 5,000 fixes/s in the benchmark, where most rooms
// have one rider. Framing ~200 bytes per write is nothing beside the write.)
type frame struct {
	data []byte
	live bool  // a live fix: may be dropped for a newer one of the same driver
	at   int64 // a live fix: when it arrived on the bus (mono), for the delivery latency
}

// lane queues the frames of one tracked driver for one connection, in order.
type lane struct {
	frames []frame
	live   int       // live frames in frames
	ready  bool      // in outbox.ready
	since  time.Time // when the oldest frame in frames was queued
}

// outbox is a connection's bounded send queue, drained by its single writer.
//
// Control frames (welcome, acks, errors) are kept in order and bounded by
// maxCtrl: overflowing it means the client does not read, and the connection
// is closed. Location frames are kept per driver, in order. Latest wins for a
// slow reader: once a driver's oldest undelivered frame has waited longer
// than stallAfter (the writer is blocked on a full socket), a new live fix
// replaces every older live fix of that driver. Bursts of a reader that keeps
// up are absorbed up to maxLive live fixes per driver, beyond which the
// oldest is dropped. So the queue never grows without bound and the fan-out
// never blocks. Replayed fixes and a lane's tracking frame are never dropped;
// they are bounded by the history depth.
type outbox struct {
	maxCtrl int
	maxLive int

	mu        sync.Mutex
	ctrl      []frame
	ready     []*lane
	queued    int // frames waiting, control and location
	overflow  bool
	closed    bool
	conflated uint64
	accepted  uint64 // location frames accepted

	wake  chan struct{}
	space chan struct{} // signalled when the writer takes frames
	// conflatedTotal, if set, also counts dropped live frames (node-wide).
	conflatedTotal *atomic.Uint64
}

func newOutbox(maxCtrl, maxLive int, conflatedTotal *atomic.Uint64) *outbox {
	return &outbox{maxCtrl: maxCtrl, maxLive: maxLive, wake: make(chan struct{}, 1), space: make(chan struct{}, 1), conflatedTotal: conflatedTotal}
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// pushCtrl queues a control frame. It never blocks: the reader keeps the
// queue below maxCtrl with waitRoom, and asynchronous frames (acks) may take
// it up to twice that. It reports false when this frame overflowed that
// bound because the client does not read; the writer then closes the
// connection and later frames are dropped.
func (o *outbox) pushCtrl(data []byte) bool {
	o.mu.Lock()
	if o.closed || o.overflow {
		o.mu.Unlock()
		return true
	}
	if len(o.ctrl) >= 2*o.maxCtrl {
		o.overflow = true
		o.mu.Unlock()
		o.signal()
		return false
	}
	o.ctrl = append(o.ctrl, frame{data: data})
	o.queued++
	o.mu.Unlock()
	o.signal()
	return true
}

// waitRoom waits until fewer than maxCtrl frames of any kind are queued, so
// that a client sending requests faster than it reads the answers (acks,
// errors, replayed history) is slowed down by TCP rather than let the queue
// grow. It reports false after timeout.
func (o *outbox) waitRoom(timeout time.Duration) bool {
	var t *time.Timer
	for {
		o.mu.Lock()
		ok := o.queued < o.maxCtrl || o.closed
		o.mu.Unlock()
		if ok {
			return true
		}
		if t == nil {
			t = time.NewTimer(timeout)
			defer t.Stop()
		}
		select {
		case <-o.space:
		case <-t.C:
			return false
		}
	}
}

// push queues frames on a driver's lane; live frames beyond maxLive replace
// the oldest live frame. The caller holds no outbox lock.
func (o *outbox) push(l *lane, fs ...frame) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	now := time.Now()
	if len(l.frames) == 0 {
		l.since = now
	}
	for _, f := range fs {
		if f.live {
			limit := o.maxLive
			if l.live > 0 && now.Sub(l.since) > stallAfter {
				limit = 1 // behind: only the newest fix is worth sending
			}
			for l.live >= limit {
				l.dropOldestLive()
				l.live--
				o.queued--
				o.conflated++
				if o.conflatedTotal != nil {
					o.conflatedTotal.Add(1)
				}
			}
			l.live++
		}
		l.frames = append(l.frames, f)
		o.queued++
		o.accepted++
	}
	if !l.ready && len(l.frames) > 0 {
		l.ready = true
		o.ready = append(o.ready, l)
	}
	o.mu.Unlock()
	o.signal()
}

func (l *lane) dropOldestLive() {
	for i, f := range l.frames {
		if f.live {
			copy(l.frames[i:], l.frames[i+1:])
			l.frames[len(l.frames)-1] = frame{}
			l.frames = l.frames[:len(l.frames)-1]
			return
		}
	}
}

// take moves every queued frame into buf, control frames first, and reports
// whether the control queue overflowed.
func (o *outbox) take(buf []frame) ([]frame, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	buf = append(buf, o.ctrl...)
	clear(o.ctrl)
	o.ctrl = o.ctrl[:0]
	for _, l := range o.ready {
		buf = append(buf, l.frames...)
		clear(l.frames)
		l.frames = l.frames[:0]
		l.live = 0
		l.ready = false
	}
	clear(o.ready)
	o.ready = o.ready[:0]
	o.queued = 0
	select {
	case o.space <- struct{}{}:
	default:
	}
	return buf, o.overflow
}

// discard drops the frames queued on a lane that is no longer tracked.
func (o *outbox) discard(l *lane) {
	o.mu.Lock()
	o.queued -= len(l.frames)
	clear(l.frames)
	l.frames = l.frames[:0]
	l.live = 0
	o.mu.Unlock()
}

// close drops everything queued and refuses new frames.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.ctrl = nil
	for _, l := range o.ready {
		l.frames = nil
	}
	o.ready = nil
	o.queued = 0
	o.mu.Unlock()
	o.signal()
}

// size is the number of frames waiting to be written.
func (o *outbox) size() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued
}

func (o *outbox) stats() (queued, conflated uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.accepted, o.conflated
}
