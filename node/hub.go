package node

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
)

// The hub is the room model of the edge. A room is one tracked driver on this
// node: one core NATS subscription to the driver's live subject, however many
// local connections watch it. Each fix is encoded once per room and the same
// frame bytes are queued to every watcher.
//
// Rooms are spread over shards by driver id. Each shard's subscriptions
// deliver into one channel drained by one goroutine, so a driver's fixes are
// handled in order, no subscription gets a goroutine of its own, and nothing
// ever blocks the NATS connection's reader (a full channel drops the message
// and the gap is then filled from the stream).
//
// The bus is input like any other: a live message whose headers are out of
// range or whose payload is not a valid record of the subject's driver is
// dropped and counted, and frames are encoded from the decoded record, never
// from the bytes received.
//
// Gap-free, duplicate-free delivery rests on the stream sequence. Every
// watcher remembers the cursor of the newest fix queued to it; a fix at or
// below it is skipped, and a fix whose Nats-Last-Sequence (the previous fix of
// the same driver) is above it reveals a gap. A gap is filled from the stream
// by a goroutine of its own, outside every lock: while it runs, the room's
// later live fixes wait in the room's backlog, so a slow or failing stream
// read delays only the riders of that one driver. A live fix whose sequence
// lies implausibly far beyond what the stream is known to hold is checked
// against the stream the same way before anyone gets it.
//
// Lock order: shard.mu, then outbox.mu.
const (
	hubShards     = 8
	shardChanSize = 8192
	// maxBacklog bounds the live fixes a room holds while a fill runs;
	// beyond it the newest sequence is remembered and read from the stream.
	maxBacklog = 1024
	// fillWait bounds how long a fill waits for a lagging replica to reach
	// a fix the stream is known to hold.
	fillWait = 2 * time.Second
)

// errRoomClosed ends a track whose room went away (the node is stopping).
var errRoomClosed = errors.New("node: the driver's room was closed")

// streamReader is what the hub reads from the stream: a *fixstream.Reader,
// or in benchmarks one that is slow for some drivers.
type streamReader interface {
	After(ctx context.Context, driver string, after uint64, limit int) ([]fixstream.Fix, error)
	Last(ctx context.Context, driver string) (fixstream.Fix, bool, error)
	LeaderLast(ctx context.Context, driver string) (uint64, error)
	At(ctx context.Context, driver string, f fixstream.Fix) (bool, error)
	State(ctx context.Context) (fixstream.StreamState, error)
}

var _ streamReader = (*fixstream.Reader)(nil)

type hub struct {
	// epoch names the stream's incarnation (see fixstream.StreamState.Epoch).
	epoch func() string
	// onRoom, if set, is told when the node starts or stops having riders
	// of a driver (so that the driver's app is asked to send faster).
	onRoom    func(driver string, on bool)
	log       *slog.Logger
	nc        *nats.Conn
	reader    streamReader
	clustered bool
	depth     int // fixes kept per driver (Config.History)
	seed      maphash.Seed
	shards    [hubShards]*shard

	// known is the newest stream sequence known from trusted sources (acks
	// of our own publishes, stream reads, the stream's state); rate is its
	// recent growth per second. Together they bound a plausible live fix.
	known     atomic.Uint64
	rateMu    sync.Mutex
	rateAt    time.Time
	rateSeq   uint64
	ratePerS  atomic.Uint64
	subs      atomic.Int64  // live subscriptions
	delivered atomic.Uint64 // location frames queued to watchers
	replayed  atomic.Uint64 // replayed frames queued
	gapFills  atomic.Uint64 // gaps filled from the stream
	gapsLost  atomic.Uint64 // gaps that could not be filled in time
	rejected  atomic.Uint64 // live messages dropped as invalid or forged

	ctx    context.Context // ends when the hub stops
	cancel context.CancelFunc
	mu     sync.Mutex // guards stopped and wg.Add
	closed bool
	wg     sync.WaitGroup
}

type shard struct {
	h       *hub
	mu      sync.Mutex
	rooms   map[string]*room
	ch      chan *nats.Msg
	pending map[*room]struct{} // rooms with a driver-status waiting for its turn
}

type room struct {
	driver  string
	sub     *nats.Subscription
	ready   chan struct{} // closed once the server (and the stream leader) has the subscription
	err     error         // subscription failure, set before ready is closed
	watches []*watch
	refs    int    // watches plus joins in progress
	lastSeq uint64 // newest fix fanned out through this room
	// leaderSeq is the driver's newest fix according to the stream leader
	// when the room's subscription was made (clustered nodes only).
	leaderSeq uint64

	statusAt      time.Time // when the last driver-status went to the watchers
	statusPending []byte    // a driver-status waiting for its turn (newest wins)

	filling    bool      // a fill goroutine owns the backlog
	backlog    []liveFix // live fixes that arrived during the fill, in order
	overflow   uint64    // newest sequence dropped from a full backlog
	overflowAt int64     // when the first of them arrived (mono)
	closed     bool      // released: a running fill stops
}

// liveFix is a validated fix from the live subject or the stream.
type liveFix struct {
	seq, prev uint64 // prev: previous fix of the driver, 0 when unknown
	rec       location.Record
	at        int64 // when it (or the live fix that revealed it) arrived on the bus (mono)
}

// watch is one connection tracking one driver. Its lane holds the frames
// queued for it in the connection's outbox.
type watch struct {
	c       *conn
	room    *room
	idx     int
	lastSeq uint64
	lane    lane
}

func newHub(log *slog.Logger, nc *nats.Conn, reader streamReader, clustered bool, depth int) *hub {
	h := &hub{log: log, nc: nc, reader: reader, clustered: clustered, depth: depth, seed: maphash.MakeSeed()}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for i := range h.shards {
		sh := &shard{h: h, rooms: make(map[string]*room), ch: make(chan *nats.Msg, shardChanSize), pending: map[*room]struct{}{}}
		h.shards[i] = sh
		h.goroutine(sh.run)
	}
	h.goroutine(h.statusLoop)
	return h
}

// goroutine runs f on a goroutine the hub waits for when it stops; it
// reports false (and does not run f) once the hub is stopping.
func (h *hub) goroutine(f func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f()
	}()
	return true
}

func (h *hub) shard(driver string) *shard {
	return h.shards[maphash.String(h.seed, driver)%hubShards]
}

// stop unsubscribes every room, cancels room setups and fills, and waits for
// every goroutine of the hub.
func (h *hub) stop() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	for _, sh := range h.shards {
		sh.mu.Lock()
		for d, r := range sh.rooms {
			r.closed = true
			if r.sub != nil {
				r.sub.Unsubscribe()
				h.subs.Add(-1)
			}
			delete(sh.rooms, d)
		}
		sh.mu.Unlock()
	}
	h.wg.Wait()
}

func (h *hub) rooms() int {
	n := 0
	for _, sh := range h.shards {
		sh.mu.Lock()
		n += len(sh.rooms)
		sh.mu.Unlock()
	}
	return n
}

// observe records a stream sequence known from a trusted source.
func (h *hub) observe(seq uint64) {
	for {
		k := h.known.Load()
		if seq <= k || h.known.CompareAndSwap(k, seq) {
			break
		}
	}
	now := time.Now()
	h.rateMu.Lock()
	if h.rateAt.IsZero() {
		h.rateAt, h.rateSeq = now, seq
	} else if d := now.Sub(h.rateAt); d >= time.Second {
		k := h.known.Load()
		h.ratePerS.Store(uint64(float64(k-min(k, h.rateSeq)) / d.Seconds()))
		h.rateAt, h.rateSeq = now, k
	}
	h.rateMu.Unlock()
}

// reset forgets the sequences of an old stream: the stream was created
// again and holds up to seq.
func (h *hub) reset(seq uint64) {
	h.known.Store(seq)
	h.rateMu.Lock()
	h.rateAt, h.rateSeq = time.Time{}, 0
	h.rateMu.Unlock()
}

// plausible reports whether a live fix's sequence is within what the stream
// can hold: at most a few seconds of its recent growth beyond the newest
// sequence known from trusted sources.
func (h *hub) plausible(seq uint64) bool {
	slack := max(10_000, 5*h.ratePerS.Load())
	return seq <= h.known.Load()+slack
}

func (sh *shard) run() {
	for {
		select {
		case m := <-sh.ch:
			sh.deliver(m)
		case <-sh.h.ctx.Done():
			return
		}
	}
}

// acquire returns the driver's room, creating it and its subscription if
// needed, with one more reference held for the caller.
func (sh *shard) acquire(driver string) *room {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[driver]
	if r == nil {
		r = &room{driver: driver, ready: make(chan struct{})}
		sh.rooms[driver] = r
		sub, err := sh.h.nc.ChanSubscribe(LiveSubject(driver), sh.ch)
		if err != nil {
			r.err = err
			close(r.ready)
		} else {
			if sh.h.onRoom != nil {
				sh.h.onRoom(driver, true)
			}
			r.sub = sub
			sh.h.subs.Add(1)
			if !sh.h.goroutine(func() { sh.h.prepare(r) }) {
				r.err = errRoomClosed
				close(r.ready)
			}
		}
	}
	r.refs++
	return r
}

// prepare makes sure the server has a new room's subscription before history
// is read, or a fix stored in between would be neither read nor received. In
// a cluster the stream leader, which republishes, must have it too: a round
// trip to the leader ensures that, and tells the driver's newest fix.
func (h *hub) prepare(r *room) {
	defer close(r.ready)
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if err := h.nc.FlushWithContext(ctx); err != nil {
		r.err = fmt.Errorf("subscribe to %s: %w", LiveSubject(r.driver), err)
		return
	}
	if h.clustered {
		seq, err := h.reader.LeaderLast(ctx, r.driver)
		if err != nil {
			r.err = err
			return
		}
		r.leaderSeq = seq
		h.observe(seq)
	}
}

// release drops one reference; the last one removes the room. The shard's
// lock is held.
func (sh *shard) release(r *room) {
	r.refs--
	if r.refs > 0 {
		return
	}
	r.closed = true
	if sh.rooms[r.driver] == r {
		delete(sh.rooms, r.driver)
	}
	if r.sub != nil {
		r.sub.Unsubscribe()
		sh.h.subs.Add(-1)
		if sh.h.onRoom != nil {
			sh.h.onRoom(r.driver, false)
		}
	}
	delete(sh.pending, r)
}

// status tells the watchers of driver its driver-status frame: at once, or
// when statusEvery has passed since the last one (the newest waiting wins).
func (h *hub) status(driver string, data []byte) {
	sh := h.shard(driver)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[driver]
	if r == nil || r.closed {
		return
	}
	now := time.Now()
	if now.Sub(r.statusAt) >= statusEvery {
		r.sendStatus(data, now)
		return
	}
	r.statusPending = data
	sh.pending[r] = struct{}{}
}

// sendStatus queues a driver-status to every watcher. The shard's lock is
// held.
func (r *room) sendStatus(data []byte, now time.Time) {
	for _, w := range r.watches {
		w.c.out.push(&w.lane, frame{data: data})
	}
	r.statusAt, r.statusPending = now, nil
}

// statusLoop sends the driver-status frames that waited for their turn.
func (h *hub) statusLoop() {
	t := time.NewTicker(statusEvery / 4)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			for _, sh := range h.shards {
				sh.mu.Lock()
				for r := range sh.pending {
					if now.Sub(r.statusAt) >= statusEvery {
						if !r.closed && r.statusPending != nil {
							r.sendStatus(r.statusPending, now)
						}
						delete(sh.pending, r)
					}
				}
				sh.mu.Unlock()
			}
		}
	}
}

// track starts a watch of driver for c: it replays history as the options
// ask, queues the tracking frame, and from then on the watch gets every live
// fix. The returned watch must be passed to untrack.
func (h *hub) track(ctx context.Context, c *conn, driver, reqID string, o mobileproto.TrackOptions) (*watch, error) {
	sh := h.shard(driver)
	r := sh.acquire(driver)
	fail := func(err error) (*watch, error) {
		sh.mu.Lock()
		sh.release(r)
		sh.mu.Unlock()
		return nil, err
	}
	select {
	case <-r.ready:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if r.err != nil {
		return fail(r.err)
	}

	// The newest fix known now: from the live path, the stream leader (when
	// the room is new in a cluster) and the local replica.
	sh.mu.Lock()
	newest := max(r.lastSeq, r.leaderSeq)
	sh.mu.Unlock()
	if last, ok, err := h.reader.Last(ctx, driver); err != nil {
		return fail(err)
	} else if ok {
		h.observe(last.Seq)
		newest = max(newest, last.Seq)
	}

	// History is read until it reaches newest: a lagging replica, or one
	// whose node is shutting down (its store closed, it answers "not
	// found"), must not make fixes look absent. A watcher's cursor never
	// moves past what it was given, except to skip history it did not ask
	// for. A resume at the head reads nothing.
	w := &watch{c: c, room: r}
	var replay []fixstream.Fix
	var err error
	var complete *bool
	var oldest uint64
	if o.Since != nil {
		since := *o.Since
		if since > newest && since > h.known.Load() {
			// Beyond the driver's newest fix is fine (a cursor is global),
			// beyond the stream's end is not: the cursor is from a stream
			// that was reset, or from no stream at all.
			if st, err := h.reader.State(ctx); err == nil && since > st.LastSeq {
				return fail(&cursorError{since: since, last: st.LastSeq})
			}
		}
		w.lastSeq = min(since, newest) // a cursor from elsewhere must not hide live fixes
		yes := true
		complete = &yes
		if w.lastSeq < newest {
			// Everything kept of the driver, to tell whether fixes after
			// since were lost as well as to replay them.
			var all []fixstream.Fix
			all, err = h.readUntil(ctx, newest, func() ([]fixstream.Fix, error) { return h.reader.After(ctx, driver, 0, h.depth) })
			if err == nil && len(all) > 0 && since < all[0].Seq {
				*complete = len(all) < h.depth && !h.expiredAfter(ctx, since)
				if !*complete {
					oldest = all[0].Seq
				}
			}
			for i, f := range all {
				if f.Seq > since {
					replay = all[i:]
					break
				}
			}
		}
	} else {
		k := 1
		if o.History != nil {
			k = min(*o.History, h.depth)
		}
		w.lastSeq = newest
		if k > 0 && newest > 0 {
			replay, err = h.readUntil(ctx, newest, func() ([]fixstream.Fix, error) { return h.historyUpTo(ctx, driver, k, newest) })
		}
	}
	if err != nil {
		return fail(err)
	}
	// What was stored after newest is live, not history: the room delivers it.
	for len(replay) > 0 && replay[len(replay)-1].Seq > newest {
		replay = replay[:len(replay)-1]
	}
	if len(replay) > 0 {
		h.observe(replay[len(replay)-1].Seq)
		w.lastSeq = max(w.lastSeq, replay[len(replay)-1].Seq)
	}
	frames := appendFrames(make([]frame, 0, len(replay)+2), replay, true)
	replayed := len(frames)

	// Fixes the room delivered live while history was read are fetched too.
	var caughtUp []fixstream.Fix
	sh.mu.Lock()
	for r.lastSeq > w.lastSeq && !r.closed {
		target, after := r.lastSeq, w.lastSeq
		sh.mu.Unlock()
		more, err := h.readUntil(ctx, target, func() ([]fixstream.Fix, error) { return h.reader.After(ctx, driver, after, h.depth) })
		if err != nil {
			return fail(err)
		}
		for _, f := range more {
			if f.Seq <= target {
				caughtUp = append(caughtUp, f)
				w.lastSeq = f.Seq
			}
		}
		if w.lastSeq < target { // a replica lagging for longer than readUntil waits
			h.gapsLost.Add(1)
			w.lastSeq = target
		}
		sh.mu.Lock()
	}
	if r.closed {
		sh.mu.Unlock()
		return fail(errRoomClosed)
	}
	frames = appendFrames(frames, caughtUp, false)
	frames = append(frames, frame{data: mobileproto.EncodeTracking(mobileproto.Tracking{
		Driver: driver, ID: reqID, Replayed: replayed, Cursor: w.lastSeq,
		Complete: complete, Oldest: oldest, Epoch: h.epoch(),
	})})
	c.out.push(&w.lane, frames...)
	w.idx = len(r.watches)
	r.watches = append(r.watches, w)
	sh.mu.Unlock()
	h.replayed.Add(uint64(replayed))
	h.delivered.Add(uint64(len(caughtUp)))
	return w, nil
}

// expiredAfter reports whether the stream no longer holds some of what was
// stored after since (its first sequence is beyond since+1: messages were
// removed by age), so that a driver's fixes there may be gone.
func (h *hub) expiredAfter(ctx context.Context, since uint64) bool {
	st, err := h.reader.State(ctx)
	return err != nil || st.FirstSeq > since+1
}

// cursorError is a since beyond the stream's newest cursor.
type cursorError struct{ since, last uint64 }

func (e *cursorError) Error() string {
	return fmt.Sprintf("since %d is beyond the newest cursor of the stream (%d)", e.since, e.last)
}

// appendFrames appends the receive-location frames of stored fixes.
func appendFrames(frames []frame, fixes []fixstream.Fix, replay bool) []frame {
	for i := range fixes {
		l := mobileproto.Location{Record: fixes[i].Record, Cursor: fixes[i].Seq, Replay: replay}
		frames = append(frames, frame{data: mobileproto.AppendReceiveLocation(make([]byte, 0, 224), &l)})
	}
	return frames
}

// readUntil calls read until its last fix reaches newest, for up to
// fillWait, and returns the most complete answer. Every read from the stream
// that must reach a sequence known to exist (history, catching up with the
// live path, filling a gap) goes through it: a lagging replica, or one whose
// node is stopping, may answer with less.
func (h *hub) readUntil(ctx context.Context, newest uint64, read func() ([]fixstream.Fix, error)) ([]fixstream.Fix, error) {
	return fixstream.ReadUntil(ctx, fillWait, read, func(fixes []fixstream.Fix) bool { return fixstream.Reaches(fixes, newest) })
}

// historyUpTo reads the newest k fixes of driver stored up to newest,
// oldest first. Fixes stored after newest are live (the room delivers
// them), so they must not take the place of history: a driver sending
// fast stores several while a long history is read.
func (h *hub) historyUpTo(ctx context.Context, driver string, k int, newest uint64) ([]fixstream.Fix, error) {
	if k == 1 {
		f, ok, err := h.reader.Last(ctx, driver)
		switch {
		case err != nil || !ok:
			return nil, err
		case f.Seq <= newest:
			return []fixstream.Fix{f}, nil
		}
	}
	all, err := h.reader.After(ctx, driver, 0, h.depth)
	for len(all) > 0 && all[len(all)-1].Seq > newest {
		all = all[:len(all)-1]
	}
	if len(all) > k {
		all = all[len(all)-k:]
	}
	return all, err
}

// untrack ends a watch.
func (h *hub) untrack(w *watch) {
	sh := h.shard(w.room.driver)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := w.room
	if w.idx >= 0 && w.idx < len(r.watches) && r.watches[w.idx] == w {
		last := len(r.watches) - 1
		r.watches[w.idx] = r.watches[last]
		r.watches[w.idx].idx = w.idx
		r.watches[last] = nil
		r.watches = r.watches[:last]
		w.idx = -1
	}
	sh.release(r)
}

// deliver handles one message from the shard's channel: it validates it
// outside the lock, then fans it out, or queues it behind a running fill, or
// starts a fill.
func (sh *shard) deliver(m *nats.Msg) {
	h := sh.h
	driver := fixstream.DriverOf(m.Subject)
	lf, err := parseLive(driver, m)
	if err != nil {
		h.reject(driver, err)
		return
	}
	lf.at = mono()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[driver]
	if r == nil || r.sub != m.Sub {
		return
	}
	if r.filling {
		r.queue(lf)
		return
	}
	sh.process(r, lf)
}

// parseLive validates a live message: a republished fix of driver with its
// sequence, the sequence of the driver's previous fix below it, and a valid
// record of that driver.
func parseLive(driver string, m *nats.Msg) (liveFix, error) {
	if driver == "" {
		return liveFix{}, fmt.Errorf("subject %q names no valid driver", m.Subject)
	}
	seq, err := strconv.ParseUint(m.Header.Get(fixstream.SequenceHeader), 10, 64)
	if err != nil || seq == 0 {
		return liveFix{}, fmt.Errorf("bad %s header %.40q", fixstream.SequenceHeader, m.Header.Get(fixstream.SequenceHeader))
	}
	var prev uint64
	if v := m.Header.Get(fixstream.LastSequenceHeader); v != "" {
		if prev, err = strconv.ParseUint(v, 10, 64); err != nil || prev >= seq {
			return liveFix{}, fmt.Errorf("bad %s header %.40q for sequence %d", fixstream.LastSequenceHeader, v, seq)
		}
	}
	rec, err := location.Decode(m.Data)
	if err != nil {
		return liveFix{}, err
	}
	if rec.Driver != driver {
		return liveFix{}, fmt.Errorf("record of driver %q on %s", rec.Driver, m.Subject)
	}
	return liveFix{seq: seq, prev: prev, rec: rec}, nil
}

// reject counts a message dropped from the bus and logs the first ten and
// then every thousandth, so a flood cannot flood the log too.
func (h *hub) reject(driver string, err error) {
	n := h.rejected.Add(1)
	if n <= 10 || n%1000 == 0 {
		h.log.Warn("dropped an invalid message from the bus", "driver", driver, "err", err, "dropped_total", n)
	}
}

// process fans lf out, or starts a fill first when it reveals a gap or its
// sequence needs checking. The shard's lock is held and no fill runs.
func (sh *shard) process(r *room, lf liveFix) {
	if !sh.needsFill(r, lf) {
		r.fanout(sh.h, lf)
		return
	}
	r.filling = true
	r.backlog = append(r.backlog[:0], lf)
	if !sh.h.goroutine(func() { sh.fill(r) }) {
		r.filling = false
		r.backlog = r.backlog[:0]
	}
}

// needsFill says whether lf must wait for a read of the stream: when some
// watcher has not had the driver's previous fix (a gap), or when lf's
// sequence is beyond what the stream is known to hold (it is checked
// against the stream before anyone gets it).
func (sh *shard) needsFill(r *room, lf liveFix) bool {
	if !sh.h.plausible(lf.seq) {
		return true
	}
	for _, w := range r.watches {
		if w.lastSeq < lf.seq && lf.prev > w.lastSeq {
			return true
		}
	}
	return false
}

// queue keeps lf until the running fill has finished; a full backlog drops
// it, and the fill then reads it from the stream.
func (r *room) queue(lf liveFix) {
	if len(r.backlog) < maxBacklog {
		r.backlog = append(r.backlog, lf)
		return
	}
	r.overflow = max(r.overflow, lf.seq)
	if r.overflowAt == 0 {
		r.overflowAt = lf.at
	}
}

// fill resolves the fix at the head of the backlog (the trigger) outside
// every lock: it reads the driver's stored fixes the watchers miss before
// it, or checks it against the stream, fans out what it found, and then
// works through the backlog that gathered meanwhile, resolving the next
// trigger the same way.
func (sh *shard) fill(r *room) {
	h := sh.h
	sh.mu.Lock()
	for !r.closed {
		// Fixes dropped from a full backlog are read from the stream first.
		if r.overflow > 0 {
			from, upTo, at := r.readFrom(), r.overflow, r.overflowAt
			r.overflow, r.overflowAt = 0, 0
			sh.mu.Unlock()
			fixes, _ := h.readUntilCtx(r.driver, from, upTo)
			sh.mu.Lock()
			r.fanoutStored(h, fixes, upTo, at)
			continue
		}
		// Fixes that need nothing are fanned out at once.
		for len(r.backlog) > 0 && !sh.needsFill(r, r.backlog[0]) {
			r.fanout(h, r.backlog[0])
			r.backlog = r.backlog[1:]
		}
		if len(r.backlog) == 0 {
			break
		}
		trigger, from := r.backlog[0], r.readFrom()
		sh.mu.Unlock()
		fixes, genuine, err := h.resolve(r.driver, trigger, from)
		sh.mu.Lock()
		if r.closed {
			break
		}
		if len(r.backlog) == 0 || r.backlog[0].seq != trigger.seq {
			continue // cannot happen: only this goroutine takes from the backlog
		}
		r.backlog = r.backlog[1:]
		r.fanoutStored(h, fixes, trigger.seq, trigger.at)
		switch {
		case !genuine:
			h.reject(r.driver, fmt.Errorf("live fix at sequence %d is not what the stream holds there: %v", trigger.seq, err))
		case trigger.prev > r.readFrom():
			// Genuine, but the fixes before it are gone from the stream
			// (expired) or could not be read in time: its prev tells the
			// riders that fixes were skipped.
			h.gapsLost.Add(1)
			h.log.Warn("could not fill a gap in a driver's fixes", "driver", r.driver, "after", r.readFrom(), "upto", trigger.prev, "err", err)
			r.fanout(h, trigger)
		default:
			if trigger.prev > from {
				h.gapFills.Add(1)
			}
			r.fanout(h, trigger)
		}
	}
	r.filling = false
	r.backlog = r.backlog[:0]
	sh.mu.Unlock()
}

// readFrom is where a read for the room's watchers starts: after the oldest
// fix one of them has had. The shard's lock is held.
func (r *room) readFrom() uint64 {
	from := r.lastSeq
	for _, w := range r.watches {
		from = min(from, w.lastSeq)
	}
	return from
}

// fanoutStored fans out fixes read from the stream, up to and including upTo.
func (r *room) fanoutStored(h *hub, fixes []fixstream.Fix, upTo uint64, at int64) {
	for i, f := range fixes {
		if f.Seq > upTo {
			break
		}
		// Read in order, each fix's predecessor is the one before it (the
		// first one's is unknown here), so a rider that latest-wins later
		// skips one of them still sees the skip.
		var prev uint64
		if i > 0 {
			prev = fixes[i-1].Seq
		}
		r.fanout(h, liveFix{seq: f.Seq, prev: prev, rec: f.Record, at: at})
	}
}

// resolve reads the driver's stored fixes after from up to the trigger's
// previous fix (a gap) or up to the trigger itself (a sequence to check),
// and decides whether the trigger is genuine: the stream holds exactly it
// at its sequence. A genuine trigger whose previous fixes cannot be read
// comes back with err saying why.
func (h *hub) resolve(driver string, trigger liveFix, from uint64) (fixes []fixstream.Fix, genuine bool, err error) {
	ctx, cancel := context.WithTimeout(h.ctx, fillWait+2*time.Second)
	defer cancel()
	check := func() (bool, error) {
		ok, err := h.reader.At(ctx, driver, fixstream.Fix{Seq: trigger.seq, Record: trigger.rec})
		if ok {
			h.observe(trigger.seq)
		}
		return ok, err
	}
	if !h.plausible(trigger.seq) {
		// Ask before reading: a forged sequence must not cost a wait.
		if ok, err := check(); !ok {
			return nil, false, err
		}
		fixes, err = h.readUntil(ctx, trigger.seq, func() ([]fixstream.Fix, error) { return h.reader.After(ctx, driver, from, h.depth) })
		return fixes, true, err
	}
	read := func() ([]fixstream.Fix, error) { return h.reader.After(ctx, driver, from, h.depth) }
	fixes, err = read()
	if err != nil {
		return nil, true, err // the stream is unwell, not the message: deliver it
	}
	if reached(fixes, trigger.prev) {
		return fixes, true, nil
	}
	// The local replica does not have the previous fix. Either it lags, or
	// the previous fix is gone (expired), or the trigger is forged: only a
	// genuine trigger is worth waiting for.
	if ok, err := check(); !ok {
		return fixes, false, err
	}
	if more, _ := h.readUntil(ctx, trigger.prev, read); len(more) >= len(fixes) {
		fixes = more
	}
	if !reached(fixes, trigger.prev) {
		return fixes, true, errors.New("the previous fixes are not in the stream (expired) or the replica did not catch up in time")
	}
	return fixes, true, nil
}

func reached(fixes []fixstream.Fix, seq uint64) bool {
	return len(fixes) > 0 && fixes[len(fixes)-1].Seq >= seq
}

// readUntilCtx reads the driver's fixes after from until upTo, within the
// hub's lifetime.
func (h *hub) readUntilCtx(driver string, from, upTo uint64) ([]fixstream.Fix, error) {
	ctx, cancel := context.WithTimeout(h.ctx, fillWait+time.Second)
	defer cancel()
	return h.readUntil(ctx, upTo, func() ([]fixstream.Fix, error) { return h.reader.After(ctx, driver, from, h.depth) })
}

// fanout queues one fix to every watcher that has not had it yet, encoding
// the frame once for all of them. The shard's lock is held.
func (r *room) fanout(h *hub, lf liveFix) {
	var buf []byte
	n := 0
	for _, w := range r.watches {
		if w.lastSeq >= lf.seq {
			continue
		}
		if buf == nil {
			l := mobileproto.Location{Record: lf.rec, Cursor: lf.seq, Prev: lf.prev}
			buf = mobileproto.AppendReceiveLocation(make([]byte, 0, 224), &l)
		}
		w.lastSeq = lf.seq
		w.c.out.push(&w.lane, frame{data: buf, live: true, at: lf.at})
		n++
	}
	r.lastSeq = max(r.lastSeq, lf.seq)
	h.delivered.Add(uint64(n))
}
