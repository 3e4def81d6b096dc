package bench

import "sync"

// outbox is a simulated phone's queue of fixes taken but not yet handed to
// its client. In open loop the timer puts a fix every interval and never
// waits; a sender takes fixes and hands them to the client, which may block
// (its in-flight bound is full, or the socket does not drain). When the
// outbox is full the oldest fix is dropped, as a phone that keeps its
// freshest positions would: for live tracking a new position makes an old
// unsent one worthless. Dropped fixes are counted as not sent ("client
// backlog"), never silently.
//
// An outbox is safe for one putter and one taker at a time.
type outbox struct {
	mu      sync.Mutex
	buf     []queued // ring of len(buf) slots
	head, n int
	dropped int
	ready   chan struct{} // signalled (capacity 1) when a fix is put
}

// queued is a fix in an outbox: its seq and when it was taken (unix ns).
type queued struct {
	seq uint64
	at  int64
}

func newOutbox(size int) *outbox {
	return &outbox{buf: make([]queued, max(size, 1)), ready: make(chan struct{}, 1)}
}

// put appends q, dropping the oldest fix when the outbox is full; it
// reports whether one was dropped. It never blocks.
func (o *outbox) put(q queued) (dropped bool) {
	o.mu.Lock()
	if o.n == len(o.buf) {
		o.head = (o.head + 1) % len(o.buf)
		o.n--
		o.dropped++
		dropped = true
	}
	o.buf[(o.head+o.n)%len(o.buf)] = q
	o.n++
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
	return dropped
}

// take removes and returns the oldest fix, if any.
func (o *outbox) take() (queued, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == 0 {
		return queued{}, false
	}
	q := o.buf[o.head]
	o.head = (o.head + 1) % len(o.buf)
	o.n--
	return q, true
}

// counts returns how many fixes wait and how many were dropped so far.
func (o *outbox) counts() (waiting, dropped int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n, o.dropped
}
