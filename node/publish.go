package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/natsmux"
)

// The publish path stores drivers' fixes in the stream, each driver's in the
// order the driver sent them, with a bounded number in flight.
//
// Every driver connection has a lane. A lane publishes its fixes pipelined,
// up to a window, in the driver's order: one connection's publishes reach
// the stream leader, and are stored, in that order. What can invert them is
// a retry, so retries are never pipelined: when a fix gets no answer in
// time, or the stream has no leader, the lane takes every fix in flight back
// and publishes them again one at a time, oldest first, each with the
// stream's Nats-Expected-Last-Subject-Sequence set to the driver's newest
// fix the lane knows to be stored. A fix already stored is recognised by its
// Nats-Msg-Id (acked as a duplicate); one that would now land after a newer
// fix of the driver is refused by the engine, and answered out_of_order.
// The same check guards a fix that the driver sends with a seq at or below
// one already stored (a resend, or an application bug): it is published
// expecting the subject to be empty, which can only succeed as a duplicate.
//
// A lane whose oldest fix waits for its answer far longer than the stream's
// recent answers sends no more until it is answered: in a leader change the
// old leader may drop a fix while the new one stores the next, which would
// leave the earlier one a gap (refused out_of_order, the order kept).
//
// Admission: at most maxInFlight fixes are in flight on the node. While the
// stream answers, at most as many again wait for their turn: past that the
// stream cannot keep up, and the node answers overloaded with a retry-after
// hint instead of letting fixes grow late in a queue (a lane with fixes
// waiting keeps only the new one: a location is only worth its newest
// value; a lane with none has the new one refused). While the stream does
// not answer at all (a leader election, seconds long), fixes wait, up to
// maxQueued on the node, and are all stored once it is back: the backlog of
// a silence is not overload. A lane keeps at most laneQueue waiting. A fix
// is retried only when it got no answer, after an attempt time that grows
// with the stream's recent answer time, so a slow stream is not flooded
// with copies; JetStream's own 429 is passed on as overloaded.
//
// Lock order: publisher.mu only; callbacks and publishes run without it.

// A lane keeps at most laneQueue fixes waiting, and has at most laneWindow
// in flight when nothing is in doubt.
const (
	laneQueue  = 1024
	laneWindow = 16
)

// Errors a publish can end with; errors.go maps them to wire codes.
var (
	errPublishTimeout = errors.New("node: fix not stored in time")
	errPublishClosed  = errors.New("node: publisher stopped")
	errBadAck         = errors.New("node: unreadable publish ack")
	errOverloaded     = errors.New("node: overloaded")
	errSuperseded     = errors.New("node: superseded by a newer fix of the driver")
	errOutOfOrder     = errors.New("node: older than a fix of the driver already stored")
)

// JetStream error codes the publish path acts on.
const (
	jsTooManyRequests    = 10167 // the stream's ingest queue is full (429)
	jsWrongLastSeq       = 10071 // expected last subject sequence mismatch
	jsWrongLastSeqInUse  = 10164 // the subject has a publish in process
	jsDuplicateInProcess = 10158 // a publish with this message id is in process
	jsInsufficientRes    = 10023
	jsStorageExceeded    = 10047
	jsStoreFailed        = 10077
	jsStreamOffline      = 10118
	jsStreamNotFound     = 10059
	jsMessageTooLarge    = 10054
	jsStreamNotMatch     = 10060
	jsClusterUnavailable = 10008
)

// jsError is a JetStream API error in a PubAck.
type jsError struct {
	Code        int
	ErrCode     int
	Description string
}

func (e *jsError) Error() string {
	return fmt.Sprintf("jetstream: %s (%d/%d)", e.Description, e.Code, e.ErrCode)
}

// pubAck is JetStream's answer to a publish.
type pubAck struct {
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
}

// pubConfig bounds the publish path.
type pubConfig struct {
	attempt     time.Duration // shortest wait for an answer before a retry
	total       time.Duration // give up after (unavailable)
	maxInFlight int           // fixes in flight on the node
	maxQueued   int           // fixes waiting on the node
	laneQueue   int           // fixes waiting on one lane
	window      int           // fixes in flight on one lane, steady state
}

// lastReader reads a driver's newest stored fix and its stored fixes.
type lastReader interface {
	Last(ctx context.Context, driver string) (fixstream.Fix, bool, error)
	After(ctx context.Context, driver string, after uint64, limit int) ([]fixstream.Fix, error)
}

type publisher struct {
	depth  int // fixes kept per driver: how far back a resolution reads
	nc     *nats.Conn
	mux    *natsmux.Mux
	reader lastReader
	log    *slog.Logger
	cfg    pubConfig

	mu       sync.Mutex
	lanes    map[*pubLane]struct{}
	waiting  []*pubLane // lanes with fixes waiting for an in-flight slot
	inflight int
	queued   int
	answer   time.Duration // recent answer time (EWMA)
	answered time.Time     // when the stream last answered a publish
	wait     time.Duration // recent wait of new fixes for an in-flight slot (moving average over waitOver)
	waitAt   time.Time     // when wait was last updated
	// catchUp is until when the node stores the backlog of a silence (a
	// leader election): fixes that waited through it are late, but that
	// is not overload, and none is given up for a newer one. Once it is
	// over, the wait of fixes queued from countFrom on counts again.
	catchUp   time.Time
	countFrom time.Time
	idle      *sync.Cond // signalled when nothing is pending
	stopped   bool

	overloaded atomic.Uint64 // fixes answered overloaded (superseded included)
	outOfOrder atomic.Uint64 // fixes answered out_of_order
	retries    atomic.Uint64 // fixes published again

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// pubLane is one driver connection's fixes on their way to the stream.
type pubLane struct {
	driver, subject string
	queue           []*pubReq // waiting, in the driver's order
	flight          []*pubReq // published, not answered, in order
	waiting         bool      // in publisher.waiting
	serial          int       // fixes to publish one at a time, with the check
	known           bool      // lastStored and lastSeq were read from the stream
	reading         bool      // that read runs
	lastStored      uint64    // stream sequence of the driver's newest stored fix
	lastSeq         uint64    // that fix's seq
	maxSeq          uint64    // highest seq given to this lane
	resumeAt        time.Time // no publish before (backoff after a leaderless stream)
	closed          bool
	// held: the lane was last seen held back by itself (its first read, a
	// backoff, a fix to publish alone, a stalled answer);
	// readyAt: when it was last seen going again. A fix waits for an
	// in-flight slot from when it was queued or its lane was ready,
	// whichever is later: what it waited for its own lane is not overload.
	held    bool
	readyAt time.Time
	// toSend are the fixes taken into flight and not yet published, in
	// order. Whoever holds sendMu publishes them: fixes taken by several
	// goroutines (a driver's reader, the answers, the sweep) reach the
	// stream in the order they were taken, whichever goroutine runs first.
	toSend []*pubReq
	sendMu sync.Mutex
}

// check is how a publish is guarded.
type check uint8

const (
	checkNone   check = iota // pipelined, no expectation
	checkLatest              // expect the lane's lastStored: a retry
	checkEmpty               // expect an empty subject: can only succeed as a duplicate
)

type pubReq struct {
	lane     *pubLane
	queuedAt time.Time
	seq      uint64 // the driver's seq, 0 for none
	ts       int64  // the fix's device time
	msgID    string
	data     []byte
	check    check
	token    uint64
	sentAt   time.Time
	deadline time.Time
	attempts int
	// storedAt is the stream sequence an earlier copy of the fix was
	// stored at, learnt from an answer that came after the fix was taken
	// back for a retry (0: not known to be stored).
	storedAt uint64
	done     func(pubAck, error)
}

func newPublisher(nc *nats.Conn, mux *natsmux.Mux, reader lastReader, log *slog.Logger, depth int, cfg pubConfig) *publisher {
	p := &publisher{nc: nc, mux: mux, reader: reader, log: log, depth: depth, cfg: cfg, lanes: make(map[*pubLane]struct{})}
	p.idle = sync.NewCond(&p.mu)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.sweep()
	return p
}

// newLane returns a lane for one driver connection.
func (p *publisher) newLane(driver string) *pubLane {
	l := &pubLane{driver: driver, subject: LocationSubject(driver)}
	p.mu.Lock()
	p.lanes[l] = struct{}{}
	p.mu.Unlock()
	return l
}

// closeLane drops what the lane still has waiting: its connection is gone,
// and the driver sends it again elsewhere. Fixes in flight are answered
// when their answer comes, but not retried.
func (p *publisher) closeLane(l *pubLane) {
	p.mu.Lock()
	l.closed = true
	p.queued -= len(l.queue)
	l.queue = nil
	p.signalIdle()
	if len(l.flight) == 0 {
		delete(p.lanes, l)
	}
	p.mu.Unlock()
}

// publish stores data, the record of one fix with the driver's seq, on l.
// done is called exactly once, without the publisher's lock, with the ack
// or an error; it must not block.
func (p *publisher) publish(l *pubLane, seq uint64, ts int64, msgID string, data []byte, done func(pubAck, error)) {
	now := time.Now()
	r := &pubReq{lane: l, seq: seq, ts: ts, msgID: msgID, data: data, deadline: now.Add(p.cfg.total), done: done}
	p.mu.Lock()
	if p.stopped || l.closed {
		p.mu.Unlock()
		done(pubAck{}, errPublishClosed)
		return
	}
	send, dropped, admitted := p.admitLocked(r, now)
	p.mu.Unlock()
	if !admitted {
		p.overloaded.Add(1)
		done(pubAck{}, errOverloaded)
		return
	}
	for _, d := range dropped {
		switch {
		case d.storedAt != 0: // stored by an earlier copy after all
			d.done(pubAck{Seq: d.storedAt, Duplicate: true}, nil)
		case d.attempts > 0:
			p.overloaded.Add(1)
			d.done(pubAck{}, errPublishTimeout)
		default:
			p.overloaded.Add(1)
			d.done(pubAck{}, errSuperseded)
		}
	}
	p.send(send)
}

// admitLocked takes r into its lane's queue, or refuses it (admitted
// false) while the node is full and the lane has nothing waiting. It
// returns what may be published now and the fixes r replaced, to be
// answered by the caller.
func (p *publisher) admitLocked(r *pubReq, now time.Time) (send, dropped []*pubReq, admitted bool) {
	l, seq := r.lane, r.seq
	full := p.fullLocked(now)
	if full && len(l.queue) == 0 {
		return nil, nil, false
	}
	if seq != 0 {
		if seq <= l.maxSeq || (l.known && seq <= l.lastSeq) {
			r.check = checkEmpty
		}
		l.maxSeq = max(l.maxSeq, seq)
	}
	// Latest wins. A lane that is full gives up its oldest waiting fix for
	// the new one; while the node is overloaded, a lane keeps only its
	// newest fix waiting (a backlog would only reach riders late: what a
	// rider wants is where the driver is now). A fix never published is
	// answered "not stored"; one taken back for a retry may be stored
	// already, and is answered "not stored in time, send it again" (a
	// resend is then acked as a duplicate, or stored), or as a duplicate
	// when an answer said it is stored.
	drop := 0
	switch {
	case full:
		drop = len(l.queue)
	case len(l.queue) >= p.cfg.laneQueue:
		drop = 1
	}
	for _, d := range l.queue[:drop] {
		dropped = append(dropped, d)
		p.queued--
		if d.check != checkNone {
			l.serial--
		}
	}
	l.queue = slices.Delete(l.queue, 0, drop)
	r.queuedAt = now
	l.queue = append(l.queue, r)
	p.queued++
	if r.check != checkNone {
		l.serial++
	}
	return p.pumpLocked(l, now), dropped, true
}

// fullLocked reports whether the node takes no more fixes: it is
// overloaded (for a while now, fixes wait longer than maxWait for an
// in-flight slot although the stream answers: it does not keep up, and more
// would only make them later) and at least maxInFlight wait, or maxQueued
// wait. A burst that drains in time (drivers resending after a failover) is
// not overload, nor is a stream that does not answer at all (an election:
// what waits is stored once it is back), nor a lane held back by itself (a
// backoff, a stalled answer in a leader change).
func (p *publisher) fullLocked(now time.Time) bool {
	if p.queued >= p.cfg.maxQueued {
		return true
	}
	if !p.catchUp.IsZero() {
		if now.Before(p.catchUp) && p.queued >= p.cfg.maxInFlight {
			return false
		}
		// The backlog is stored, or has had its time. What is still
		// queued waited behind it: waiting counts from the fixes queued
		// from now on.
		p.catchUp, p.countFrom, p.wait = time.Time{}, now, 0
	}
	if p.queued == 0 {
		p.wait = 0 // a new fix waits for nothing
	}
	silent := p.inflight+p.queued > 0 && now.Sub(p.answered) > silentAfter
	overloaded := p.wait > maxWait
	return overloaded && !silent && p.queued >= p.cfg.maxInFlight
}

// The publish path's overload detection: the stream is silent when it has
// not answered for silentAfter; the node is overloaded when new fixes have
// lately waited longer than maxWait for an in-flight slot.
const (
	silentAfter = 500 * time.Millisecond
	maxWait     = 100 * time.Millisecond
	waitOver    = 100 * time.Millisecond
)

// pumpLocked takes from l's queue what may be published now and returns
// it, registered and counted in flight; the caller publishes it after
// unlocking. A lane whose driver's newest stored fix is not known yet first
// reads it.
func (p *publisher) pumpLocked(l *pubLane, now time.Time) []*pubReq {
	var out []*pubReq
	for len(l.queue) > 0 && !l.closed {
		if !l.known {
			if !l.reading {
				l.reading = true
				p.wg.Add(1)
				go p.readLast(l)
			}
			l.held = true
			break
		}
		if now.Before(l.resumeAt) {
			l.held = true
			break
		}
		head := l.queue[0]
		serial := head.check != checkNone || l.serial > 0
		if serial && len(l.flight) > 0 {
			l.held = true
			break
		}
		if len(l.flight) >= p.cfg.window {
			// Not held by itself: a full window is the stream answering
			// slowly (overload, measured: the lanes of 200 drivers at
			// twice the capacity fill theirs), and the wait counts.
			break
		}
		if len(l.flight) > 0 && now.Sub(l.flight[0].sentAt) > p.stalledAfterLocked() {
			// The lane's oldest fix waits for its answer far longer than
			// the stream's recent answers: the stream may be changing
			// leader, and the old one may have dropped it. A later fix
			// stored by the new leader meanwhile would make it a gap
			// (out_of_order); the lane sends more once it is answered.
			l.held = true
			break
		}
		if l.held {
			l.held, l.readyAt = false, now
		}
		if p.inflight >= p.cfg.maxInFlight {
			if !l.waiting {
				l.waiting = true
				p.waiting = append(p.waiting, l)
			}
			break
		}
		l.queue = l.queue[1:]
		p.queued--
		if head.check != checkNone {
			l.serial--
		}
		if head.attempts == 0 && p.catchUp.IsZero() && !head.queuedAt.Before(p.countFrom) {
			// How long new fixes wait for an in-flight slot (not for their
			// own lane, nor through a silence and its backlog), averaged
			// over time: a burst of a few milliseconds is not overload.
			from := head.queuedAt
			if l.readyAt.After(from) {
				from = l.readyAt
			}
			w := min(now.Sub(p.waitAt), waitOver)
			p.wait += time.Duration(float64(now.Sub(from)-p.wait) * float64(w) / float64(waitOver))
			p.waitAt = now
		}
		head.sentAt = now
		head.attempts++
		l.flight = append(l.flight, head)
		l.toSend = append(l.toSend, head)
		p.inflight++
		out = append(out, head)
		if serial {
			break
		}
	}
	return out
}

// refillLocked fills the in-flight slots that l's answer (or its fixes
// taken back) freed: the lanes waiting in line first, then l. A lane that
// took its freed slot straight back starved the line.
func (p *publisher) refillLocked(l *pubLane, now time.Time) []*pubReq {
	return append(p.pumpWaitingLocked(now), p.pumpLocked(l, now)...)
}

// pumpWaitingLocked gives freed in-flight slots to the lanes waiting for
// them, in turn.
func (p *publisher) pumpWaitingLocked(now time.Time) []*pubReq {
	var out []*pubReq
	for len(p.waiting) > 0 && p.inflight < p.cfg.maxInFlight {
		l := p.waiting[0]
		p.waiting = p.waiting[1:]
		l.waiting = false
		out = append(out, p.pumpLocked(l, now)...)
	}
	return out
}

// send publishes what the lanes of reqs (fixes just taken into flight)
// have to send, each lane's in the order taken, each fix with its check.
func (p *publisher) send(reqs []*pubReq) {
	for len(reqs) > 0 {
		var lanes []*pubLane
		for _, r := range reqs {
			if !slices.Contains(lanes, r.lane) {
				lanes = append(lanes, r.lane)
			}
		}
		reqs = nil
		for _, l := range lanes {
			reqs = append(reqs, p.sendLane(l)...)
		}
	}
}

// sendLane publishes l.toSend. The messages, their expectations and their
// reply registrations are made under the publisher's lock, the publishing
// under the lane's send lock alone. A fix known to be stored already (an
// answer came after it was taken back) is answered as a duplicate instead,
// and the slots it frees are filled at once: the lane's in this call, the
// other lanes' returned, to be sent in turn.
func (p *publisher) sendLane(l *pubLane) (others []*pubReq) {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	for {
		p.mu.Lock()
		batch := make([]*nats.Msg, 0, len(l.toSend))
		var known []*pubReq
		retries := 0
		for _, r := range l.toSend {
			if r.storedAt != 0 {
				p.takeLocked(r)
				known = append(known, r)
				continue
			}
			m := &nats.Msg{Subject: l.subject, Data: r.data, Header: nats.Header{nats.MsgIdHdr: []string{r.msgID}}}
			switch r.check {
			case checkLatest:
				last := l.lastStored
				if r.seq != 0 && r.seq <= l.lastSeq {
					// A fix of the driver as new as r is stored already
					// (say, the first copies of fixes sent after r, stored
					// while r's answer was lost): expecting the newest one
					// would store r after them. Expecting none fails, and
					// resolve then finds r among the stored fixes (a
					// duplicate) or refuses it (out of order).
					last = 0
				}
				m.Header.Set(nats.ExpectedLastSubjSeqHdr, strconv.FormatUint(last, 10))
			case checkEmpty:
				m.Header.Set(nats.ExpectedLastSubjSeqHdr, "0")
			}
			m.Reply, r.token = p.mux.Register(func(reply *nats.Msg) { p.onReply(r, reply) })
			if r.attempts > 1 {
				retries++
			}
			batch = append(batch, m)
		}
		clear(l.toSend)
		l.toSend = l.toSend[:0]
		if len(known) > 0 {
			now := time.Now()
			// refillLocked's order, but l's own fixes are not returned:
			// pumpLocked put them in l.toSend, sent in the next round.
			others = append(others, p.pumpWaitingLocked(now)...)
			p.pumpLocked(l, now)
		}
		p.mu.Unlock()
		for _, r := range known {
			r.done(pubAck{Seq: r.storedAt, Duplicate: true}, nil)
		}
		p.retries.Add(uint64(retries))
		for _, m := range batch {
			// A failed publish (connection closed) is noticed as a missing answer.
			p.nc.PublishMsg(m)
		}
		if len(known) == 0 {
			return others
		}
	}
}

// readLast reads the driver's newest stored fix, so that the lane can tell
// a new fix from an old one, and a retry knows what to expect.
func (p *publisher) readLast(l *pubLane) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	f, ok, err := p.reader.Last(ctx, l.driver)
	cancel()
	if err != nil && p.ctx.Err() == nil {
		p.log.Warn("could not read a driver's newest fix; its fixes are published without the check", "driver", l.driver, "err", err)
	}
	now := time.Now()
	p.mu.Lock()
	l.reading, l.known = false, true
	if ok {
		l.lastStored, l.lastSeq = f.Seq, f.Record.Seq
		for _, r := range l.queue {
			if r.seq != 0 && r.seq <= l.lastSeq && r.check == checkNone {
				r.check = checkEmpty
				l.serial++
			}
		}
	}
	send := p.pumpLocked(l, now)
	p.mu.Unlock()
	p.send(send)
}

// onReply handles the answer to one publish.
func (p *publisher) onReply(r *pubReq, m *nats.Msg) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		// No responders: the stream has no leader now. Ask again soon.
		p.retry(r)
		return
	}
	var ack pubAck
	err := json.Unmarshal(m.Data, &ack)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", errBadAck, err)
	case ack.Error != nil:
		je := &jsError{Code: ack.Error.Code, ErrCode: ack.Error.ErrCode, Description: ack.Error.Description}
		p.log.Debug("the stream refused a fix", "driver", r.lane.driver, "seq", r.seq, "code", je.Code, "err_code", je.ErrCode, "description", je.Description)
		switch {
		case je.ErrCode == jsWrongLastSeqInUse, je.ErrCode == jsDuplicateInProcess, je.Code == 503 && je.ErrCode != jsStoreFailed:
			// Busy (an earlier copy of this fix, or another fix of the
			// driver, is being stored) or leaderless: ask again soon.
			p.retry(r)
			return
		case je.ErrCode == jsWrongLastSeq:
			p.resolve(r)
			return
		case je.ErrCode == jsTooManyRequests:
			err = errOverloaded
		default:
			err = je
		}
	}
	now := time.Now()
	p.mu.Lock()
	p.answeredLocked(now)
	l := r.lane
	if !p.takeLocked(r) {
		if err == nil && r.seq != 0 {
			// Taken back for a retry, but stored all the same: what the
			// lane knows of the driver's stored fixes grows, and the retry
			// is answered without being published again.
			l.lastStored, l.lastSeq = max(l.lastStored, ack.Seq), max(l.lastSeq, r.seq)
			r.storedAt = ack.Seq
		}
		p.mu.Unlock()
		return // answered already, or taken back for a retry
	}
	if err == nil {
		if !ack.Duplicate {
			if p.answer == 0 {
				p.answer = now.Sub(r.sentAt)
			} else {
				p.answer += (now.Sub(r.sentAt) - p.answer) / 8
			}
		}
		l.lastStored = max(l.lastStored, ack.Seq)
		l.lastSeq = max(l.lastSeq, r.seq)
	}
	send := p.refillLocked(l, now)
	p.mu.Unlock()
	switch {
	case errors.Is(err, errOverloaded):
		p.overloaded.Add(1)
	case errors.Is(err, errOutOfOrder):
		p.outOfOrder.Add(1)
	}
	r.done(ack, err)
	p.send(send)
}

// answeredLocked notes that the stream answered a publish at now. After a
// silence (a leader election), what waited through it is stored first, for
// up to twice as long as it lasted, before the node calls waiting overload
// again.
func (p *publisher) answeredLocked(now time.Time) {
	if silence := now.Sub(p.answered); !p.answered.IsZero() && silence > silentAfter && p.queued > 0 {
		p.catchUp = now.Add(2 * silence)
		p.wait = 0
		p.log.Info("the stream answers again; storing what waited", "silence", silence.Round(time.Millisecond), "waiting", p.queued)
	}
	p.answered = now
}

// takeLocked removes r from its lane's flight, releasing its token and its
// slot; it reports false when r was not in flight.
func (p *publisher) takeLocked(r *pubReq) bool {
	l := r.lane
	for i, f := range l.flight {
		if f == r {
			l.flight = append(l.flight[:i], l.flight[i+1:]...)
			p.inflight--
			p.mux.Release(r.token)
			if l.closed && len(l.flight) == 0 {
				delete(p.lanes, l)
			}
			p.signalIdle()
			return true
		}
	}
	return false
}

// retry takes every fix of r's lane in flight back, to be published again
// one at a time after a wait that grows with r's attempts, oldest first,
// each expecting the driver's newest stored fix: a retry never overtakes a
// fix the driver sent before.
func (p *publisher) retry(r *pubReq) {
	now := time.Now()
	p.mu.Lock()
	l := r.lane
	if !p.inFlightLocked(r) {
		p.mu.Unlock()
		return
	}
	wait := min(time.Duration(r.attempts)*100*time.Millisecond, time.Second)
	p.recoverLocked(l, now.Add(wait))
	send := p.refillLocked(l, now)
	p.mu.Unlock()
	p.send(send)
}

func (p *publisher) inFlightLocked(r *pubReq) bool {
	for _, f := range r.lane.flight {
		if f == r {
			return true
		}
	}
	return false
}

// recoverLocked moves l's fixes in flight back to the head of its queue,
// marked to be published one at a time with the check, from resume on.
func (p *publisher) recoverLocked(l *pubLane, resume time.Time) {
	back := l.flight
	l.flight = nil
	clear(l.toSend)
	l.toSend = l.toSend[:0] // not published yet: they are back in the queue
	for _, f := range back {
		p.mux.Release(f.token)
		if f.check == checkNone {
			f.check = checkLatest
		}
		l.serial++
	}
	p.inflight -= len(back)
	p.queued += len(back)
	l.queue = append(back, l.queue...)
	l.resumeAt = resume
	if l.closed {
		// Nobody to answer: forget them.
		p.queued -= len(l.queue)
		l.queue, l.serial = nil, 0
		delete(p.lanes, l)
		p.signalIdle()
	}
}

// resolve finds out what became of a checked fix the stream refused
// because the driver's newest stored fix is not the one expected. Its stored
// fixes are read: r among them (same seq and device time) is a duplicate,
// acked with its cursor (a single-node stream checks the expectation before
// duplicates); a newer one than r means r would land out of the driver's
// order, and it is refused; otherwise the newest one becomes what the lane
// expects, and r is published again.
func (p *publisher) resolve(r *pubReq) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		fixes, err := p.reader.After(ctx, r.lane.driver, 0, p.depth)
		cancel()
		now := time.Now()
		p.mu.Lock()
		l := r.lane
		if !p.inFlightLocked(r) {
			p.mu.Unlock()
			return
		}
		var ack pubAck
		var outcome error
		switch {
		case err != nil:
			// Cannot tell now: publish it again later, still expecting.
			p.recoverLocked(l, now.Add(100*time.Millisecond))
		case len(fixes) == 0:
			// Nothing of the driver is stored (the stream was purged or
			// created again): r goes first.
			l.lastStored, l.lastSeq = 0, 0
			if r.check == checkEmpty {
				r.check = checkLatest
			}
			p.recoverLocked(l, now)
		default:
			newest := fixes[len(fixes)-1]
			found := false
			for _, f := range fixes {
				if r.seq != 0 && f.Record.Seq == r.seq && f.Record.TS == r.ts {
					ack, found = pubAck{Seq: f.Seq, Duplicate: true}, true
				}
			}
			switch {
			case found:
				p.takeLocked(r)
			case r.seq != 0 && newest.Record.Seq >= r.seq:
				p.takeLocked(r)
				outcome = errOutOfOrder
			default:
				l.lastStored, l.lastSeq = max(l.lastStored, newest.Seq), max(l.lastSeq, newest.Record.Seq)
				if r.check == checkEmpty {
					r.check = checkLatest // not a resend: a new fix after the ones read
				}
				p.recoverLocked(l, now)
			}
			if found || outcome != nil {
				l.lastStored, l.lastSeq = max(l.lastStored, newest.Seq), max(l.lastSeq, newest.Record.Seq)
			}
		}
		p.log.Debug("resolved a refused fix", "driver", l.driver, "seq", r.seq, "read", len(fixes), "read_err", err, "duplicate", ack.Duplicate, "cursor", ack.Seq, "outcome", outcome, "last_stored", l.lastStored, "last_seq", l.lastSeq)
		send := p.refillLocked(l, now)
		p.mu.Unlock()
		switch {
		case outcome != nil:
			p.outOfOrder.Add(1)
			r.done(pubAck{}, outcome)
		case ack.Duplicate:
			r.done(ack, nil)
		}
		p.send(send)
	}()
}

// attemptLocked is how long a publish waits for its answer before it is
// taken for lost: several times the stream's recent answer time (a slow
// stream is not a lost publish), at least cfg.attempt, longer each attempt.
func (p *publisher) attemptLocked(attempts int) time.Duration {
	d := max(p.cfg.attempt, 4*p.answer)
	for i := 1; i < attempts && d < 4*time.Second; i++ {
		d *= 2
	}
	return min(d, max(4*time.Second, p.cfg.attempt))
}

// stalledAfterLocked is how long a lane's oldest fix in flight may wait
// for its answer before the lane stops sending more: several times the
// stream's recent answer time, at least stalledMin.
func (p *publisher) stalledAfterLocked() time.Duration {
	return max(stalledMin, 4*p.answer)
}

// stalledMin is the shortest wait stalledAfterLocked gives: answers take
// 1-5 ms on the project's VM while the stream is healthy.
const stalledMin = 20 * time.Millisecond

// retryAfter is the wait an overloaded driver is told to observe.
func (p *publisher) retryAfter() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := max(500*time.Millisecond, 4*p.answer)
	return min(d.Round(100*time.Millisecond), 10*time.Second)
}

// sweep takes lanes whose oldest fix in flight got no answer in time into
// recovery, answers fixes past their total time with errPublishTimeout, and
// resumes lanes after their backoff.
func (p *publisher) sweep() {
	defer p.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-t.C:
			var expired []*pubReq
			var send []*pubReq
			p.mu.Lock()
			for l := range p.lanes {
				if len(l.flight) > 0 {
					oldest := l.flight[0]
					if wait := p.attemptLocked(oldest.attempts); now.Sub(oldest.sentAt) > wait {
						p.log.Debug("no answer in time; publishing the lane's fixes in flight again, in order", "driver", l.driver, "oldest_seq", oldest.seq, "in_flight", len(l.flight), "waited", now.Sub(oldest.sentAt), "attempt_wait", wait)
						p.recoverLocked(l, now)
					}
				}
				keep := l.queue[:0]
				for _, r := range l.queue {
					if now.After(r.deadline) {
						expired = append(expired, r)
						p.queued--
						if r.check != checkNone {
							l.serial--
						}
						continue
					}
					keep = append(keep, r)
				}
				clear(l.queue[len(keep):])
				l.queue = keep
			}
			// The lanes waiting for slots first, in turn; then those
			// whose backoff is over.
			send = append(send, p.pumpWaitingLocked(now)...)
			for l := range p.lanes {
				send = append(send, p.pumpLocked(l, now)...)
			}
			p.signalIdle()
			p.mu.Unlock()
			for _, r := range expired {
				r.done(pubAck{}, errPublishTimeout)
			}
			p.send(send)
		}
	}
}

func (p *publisher) signalIdle() {
	if p.inflight == 0 && p.queued == 0 {
		p.idle.Broadcast()
	}
}

// pendingCount is the number of fixes waiting or in flight.
func (p *publisher) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight + p.queued
}

// waitIdle waits until no fix is pending or until the deadline.
func (p *publisher) waitIdle(deadline time.Time) bool {
	t := time.AfterFunc(time.Until(deadline), func() {
		p.mu.Lock()
		p.idle.Broadcast()
		p.mu.Unlock()
	})
	defer t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.inflight+p.queued > 0 && time.Now().Before(deadline) {
		p.idle.Wait()
	}
	return p.inflight+p.queued == 0
}

// stop answers every pending fix with errPublishClosed and stops the
// publisher's goroutines.
func (p *publisher) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	var left []*pubReq
	for l := range p.lanes {
		left = append(left, l.flight...)
		left = append(left, l.queue...)
		for _, r := range l.flight {
			p.mux.Release(r.token)
		}
		l.flight, l.queue, l.closed = nil, nil, true
	}
	p.lanes = map[*pubLane]struct{}{}
	p.inflight, p.queued = 0, 0
	p.idle.Broadcast()
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	for _, r := range left {
		r.done(pubAck{}, errPublishClosed)
	}
}
