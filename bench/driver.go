package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// Loop is how a workload paces its drivers.
type Loop string

const (
	// LoopOpen: every driver takes a fix every interval whatever happened
	// to the earlier ones, as a phone's timer does. The generator never
	// waits for the cluster; a fix the client cannot take is dropped from
	// the phone's outbox and counted (StepResult.NotSent).
	LoopOpen Loop = "open"
	// LoopClosed: the generator sends on a ticker but waits whenever the
	// client's in-flight bound is full, and a tick missed meanwhile is never
	// offered: the offered load falls to what the cluster takes. This was
	// the only mode before open loop, and suits loads far below capacity.
	LoopClosed Loop = "closed"
)

// ParseLoop reads "open" or "closed".
func ParseLoop(s string) (Loop, error) {
	switch l := Loop(s); l {
	case LoopOpen, LoopClosed:
		return l, nil
	}
	return "", fmt.Errorf("bench: loop %q: want open or closed", s)
}

// benchDriver is one simulated phone sending fixes.
type benchDriver struct {
	id     string
	c      *mobileproto.Client
	sentAt []atomic.Int64 // unix ns by seq: when the fix was taken
	out    *outbox        // open loop only

	mu      sync.Mutex
	frozen  bool // set when the drain ended: later outcomes are not counted
	offered int
	notSent int // closed loop, and fixes a sender gave up on at the deadline
	sent    int
	acked   []Stored
	ackLat  []time.Duration
	errs    map[string]int
	lagMax  time.Duration
	// asks are the set-interval frames received, in order.
	asks []ask

	// asked is signalled (capacity 1) on every set-interval.
	asked chan struct{}
}

// ask is one set-interval a driver received, and when.
type ask struct {
	at       time.Time
	interval time.Duration
	reason   string
}

func newBenchDriver(id string, maxSeq int) *benchDriver {
	return &benchDriver{id: id, sentAt: make([]atomic.Int64, maxSeq+1), errs: map[string]int{}, asked: make(chan struct{}, 1)}
}

// onSetInterval records a set-interval and wakes the timer. It runs on the
// client's read goroutine and does not block.
func (d *benchDriver) onSetInterval(s mobileproto.SetInterval) {
	now := time.Now()
	d.mu.Lock()
	d.asks = append(d.asks, ask{at: now, interval: time.Duration(s.IntervalMs) * time.Millisecond, reason: s.Reason})
	d.mu.Unlock()
	select {
	case d.asked <- struct{}{}:
	default:
	}
}

// lastAsk returns the newest set-interval received (ok false: none yet).
func (d *benchDriver) lastAsk() (ask, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.asks) == 0 {
		return ask{}, false
	}
	return d.asks[len(d.asks)-1], true
}

// answered returns when the driver first received a set-interval for
// reason at or after t (ok false: never).
func (d *benchDriver) answered(t time.Time, reason string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.asks {
		if !a.at.Before(t) && a.reason == reason {
			return a.at, true
		}
	}
	return time.Time{}, false
}

// fix is the fix a driver sends as seq, taken at unix ns at.
func fix(seq uint64, at int64) mobileproto.Fix {
	return mobileproto.Fix{
		Latitude:  12.9716 + float64(seq%1000)*1e-5,
		Longitude: 77.5946 - float64(seq%1000)*1e-5,
		Seq:       seq,
		TS:        at / int64(time.Millisecond),
		Accuracy:  mobileproto.Float64(4.5),
		Speed:     mobileproto.Float64(8.3),
		Heading:   mobileproto.Float64(271),
	}
}

func (d *benchDriver) fail(key string) {
	d.mu.Lock()
	if !d.frozen {
		d.errs[key]++
	}
	d.mu.Unlock()
}

// settle waits for each sent fix's answer, in send order, and records it.
// The ack latency of an ack that overtook an earlier unanswered fix is
// therefore read a little late; answers mostly come in order.
func (d *benchDriver) settle(acks <-chan *mobileproto.Pending) {
	for p := range acks {
		a, err := p.Result()
		now := time.Now().UnixNano()
		d.mu.Lock()
		if !d.frozen {
			if err != nil {
				d.errs[errorKey(err)]++
			} else {
				d.acked = append(d.acked, Stored{Seq: a.Seq, Cursor: a.Cursor})
				if a.Seq < uint64(len(d.sentAt)) {
					d.ackLat = append(d.ackLat, time.Duration(now-d.sentAt[a.Seq].Load()))
				}
			}
		}
		d.mu.Unlock()
	}
}

// pending is how many offered fixes have no outcome yet (including those
// still in the outbox).
func (d *benchDriver) pending() int {
	dropped := 0
	if d.out != nil {
		_, dropped = d.out.counts()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.offered - d.notSent - dropped - len(d.acked)
	for _, e := range d.errs {
		n -= e
	}
	return n
}

// freeze stops the counting and returns the driver's tally, its acked fixes
// and ack latencies.
func (d *benchDriver) freeze() (tally, []Stored, []time.Duration) {
	waiting, dropped := 0, 0
	if d.out != nil {
		waiting, dropped = d.out.counts()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.frozen = true
	t := tally{offered: d.offered, notSent: d.notSent + dropped + waiting, sent: d.sent, acked: len(d.acked), errors: d.errs}
	return t, d.acked, d.ackLat
}

// generate is an open-loop driver's timer: it takes a fix at start + phase
// and then every interval() after the previous one while that falls before
// end, and puts each in the outbox without ever waiting. When the goroutine
// was not scheduled in time it takes every fix that fell due at once, so the
// offered load is exactly the schedule; the lateness is recorded. A signal
// on asked (the node asked for another interval) moves the next fix to the
// new interval after the previous one, as a phone's location timer would:
// due at once if that is past, never in a burst; before the first fix the
// phase keeps its share of the new interval. Only ctx (the run's
// cancellation) ends it early.
func (d *benchDriver) generate(ctx context.Context, start, end time.Time, interval func() time.Duration, asked <-chan struct{}, phase float64, maxSeq int) {
	iv := interval()
	first := func() time.Time { return start.Add(time.Duration(phase * float64(iv))) }
	next, seq := first(), uint64(0)
	var last time.Time // when the previous fix was due
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	var lagMax time.Duration
	defer func() {
		d.mu.Lock()
		d.lagMax = lagMax
		d.mu.Unlock()
	}()
	for next.Before(end) {
		select {
		case <-ctx.Done():
			return
		case <-asked:
			iv = interval()
			if last.IsZero() {
				next = first()
			} else {
				next = last.Add(iv)
			}
			if now := time.Now(); next.Before(now) {
				next = now
			}
			t.Reset(time.Until(next))
			continue
		case <-t.C:
		}
		now := time.Now()
		lagMax = max(lagMax, now.Sub(next))
		for ; !next.After(now) && next.Before(end); next = next.Add(iv) {
			if int(seq)+1 >= maxSeq {
				return
			}
			seq++
			at := now.UnixNano()
			d.sentAt[seq].Store(at)
			d.mu.Lock()
			d.offered++
			d.mu.Unlock()
			d.out.put(queued{seq: seq, at: at})
			last = next
		}
		t.Reset(time.Until(next))
	}
}

// send is an open-loop phone's sender: it hands the outbox's fixes to the
// client, which may block it (in-flight bound, socket), and passes each
// sent fix to settle. It returns once generation is over and the outbox is
// empty, or when ctx ends (what is left then is counted as not sent).
func (d *benchDriver) send(ctx context.Context, generated <-chan struct{}, acks chan<- *mobileproto.Pending) {
	for {
		q, ok := d.out.take()
		if !ok {
			select {
			case <-d.out.ready:
				continue
			case <-generated:
				if q, ok = d.out.take(); !ok {
					return
				}
			case <-ctx.Done():
				return
			}
		}
		p, err := d.c.SendLocationAsync(ctx, fix(q.seq, q.at))
		if err != nil {
			if ctx.Err() != nil {
				d.mu.Lock()
				if !d.frozen {
					d.notSent++
				}
				d.mu.Unlock()
				return
			}
			d.fail(errorKey(err))
			continue
		}
		d.mu.Lock()
		if !d.frozen {
			d.sent++
		}
		d.mu.Unlock()
		select {
		case acks <- p:
		case <-ctx.Done():
			return // sent, and never settled: unanswered
		}
	}
}

// driveOpen runs an open-loop driver: it takes fixes from a random phase
// within the first interval after start (so that drivers do not send at
// once) until end, and sends them until its outbox is flushed or ctx ends.
// The interval is fixed, or with obey what the node last asked for (no
// shorter than fixed, the fastest the step is sized for) once it asked.
// generated is called once the last fix is taken.
func (d *benchDriver) driveOpen(ctx context.Context, start, end time.Time, fixed time.Duration, obey bool, maxSeq, backlog, maxInFlight int, generated func()) {
	d.out = newOutbox(backlog)
	acks := make(chan *mobileproto.Pending, 2*maxInFlight)
	genDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.settle(acks)
	}()
	go func() {
		defer wg.Done()
		defer close(acks)
		d.send(ctx, genDone, acks)
	}()
	interval := func() time.Duration { return fixed }
	var asked <-chan struct{} // nil: the node's requests are ignored
	if obey {
		asked = d.asked
		interval = func() time.Duration {
			if iv := d.c.Interval(); iv > 0 {
				return max(iv, fixed)
			}
			return fixed
		}
	}
	d.generate(ctx, start, end, interval, asked, rand.Float64(), maxSeq)
	generated()
	close(genDone)
	wg.Wait()
}

// driveClosed sends fixes every interval until ctx ends, waiting whenever
// the client's in-flight bound is full; ticks missed meanwhile are dropped
// by the ticker and never offered. Acks are collected in order.
func (d *benchDriver) driveClosed(ctx context.Context, interval time.Duration, maxSeq int) {
	acks := make(chan *mobileproto.Pending, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.settle(acks)
	}()
	defer func() {
		close(acks)
		<-done
	}()
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(rand.Int64N(int64(interval)))):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for seq := uint64(1); int(seq) < maxSeq; seq++ {
		now := time.Now().UnixNano()
		d.sentAt[seq].Store(now)
		p, err := d.c.SendLocationAsync(ctx, fix(seq, now))
		if err != nil && ctx.Err() != nil {
			return // not offered: the window closed while waiting
		}
		d.mu.Lock()
		d.offered++
		d.mu.Unlock()
		if err != nil {
			d.fail(errorKey(err))
		} else {
			d.mu.Lock()
			d.sent++
			d.mu.Unlock()
			acks <- p
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
