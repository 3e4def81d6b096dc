package node

import (
	"context"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
)

// The hub is the room model of the edge. A room is one tracked driver on this
// node: one core NATS subscription to the driver's live subject, however many
// local connections watch it. Each fix is encoded once per room and the same
// prepared frame is queued to every watcher.
//
// Rooms are spread over shards by driver id. Each shard's subscriptions
// deliver into one channel drained by one goroutine, so a driver's fixes are
// handled in order, no subscription gets a goroutine of its own, and nothing
// ever blocks the NATS connection's reader (a full channel drops the message
// and the gap is then filled from the stream).
//
// Gap-free, duplicate-free delivery rests on the stream sequence. Every
// watcher remembers the cursor of the newest fix queued to it; a fix at or
// below it is skipped, and a fix whose Nats-Last-Sequence (the previous fix of
// the same driver) is above it reveals a gap, which is filled from the
// stream before the fix is delivered.
//
// Lock order: shard.mu, then outbox.mu.
const (
	hubShards     = 8
	shardChanSize = 8192
)

type hub struct {
	n      *Node
	nc     *nats.Conn
	seed   maphash.Seed
	shards [hubShards]*shard

	subs      atomic.Int64  // live subscriptions
	delivered atomic.Uint64 // location frames queued to watchers
	replayed  atomic.Uint64 // replayed frames queued
	gapFills  atomic.Uint64 // gaps filled from the stream
	gapsLost  atomic.Uint64 // gaps that could not be filled in time

	quit chan struct{}
	wg   sync.WaitGroup
}

type shard struct {
	h     *hub
	mu    sync.Mutex
	rooms map[string]*room
	ch    chan *nats.Msg
}

type room struct {
	driver  string
	sub     *nats.Subscription
	ready   chan struct{} // closed once the server has the subscription
	err     error         // subscription failure, set before ready is closed
	watches []*watch
	refs    int    // watches plus joins in progress
	lastSeq uint64 // newest fix delivered through this room
	// leaderSeq is the driver's newest fix according to the stream leader
	// when the room's subscription was made (clustered nodes only).
	leaderSeq uint64
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

func newHub(n *Node) *hub {
	h := &hub{n: n, nc: n.nc, seed: maphash.MakeSeed(), quit: make(chan struct{})}
	for i := range h.shards {
		sh := &shard{h: h, rooms: make(map[string]*room), ch: make(chan *nats.Msg, shardChanSize)}
		h.shards[i] = sh
		h.wg.Add(1)
		go sh.run()
	}
	return h
}

func (h *hub) shard(driver string) *shard {
	return h.shards[maphash.String(h.seed, driver)%hubShards]
}

// stop unsubscribes every room and waits for the shard goroutines.
func (h *hub) stop() {
	for _, sh := range h.shards {
		sh.mu.Lock()
		for d, r := range sh.rooms {
			if r.sub != nil {
				r.sub.Unsubscribe()
				h.subs.Add(-1)
			}
			delete(sh.rooms, d)
		}
		sh.mu.Unlock()
	}
	close(h.quit)
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

func (sh *shard) run() {
	defer sh.h.wg.Done()
	for {
		select {
		case m := <-sh.ch:
			sh.deliver(m)
		case <-sh.h.quit:
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
			r.sub = sub
			sh.h.subs.Add(1)
			// The server must have the subscription before history is read,
			// or a fix stored in between would be neither read nor received.
			// In a cluster the stream leader, which republishes, must have it
			// too: a round trip to the leader ensures that.
			go func() {
				r.err = sh.h.nc.FlushTimeout(5 * time.Second)
				if r.err == nil && sh.h.n.clustered() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					r.leaderSeq, r.err = sh.h.n.leaderLast(ctx, driver)
					cancel()
				}
				close(r.ready)
			}()
		}
	}
	r.refs++
	return r
}

// release drops one reference; the last one removes the room.
func (sh *shard) release(r *room) {
	r.refs--
	if r.refs > 0 {
		return
	}
	if sh.rooms[r.driver] == r {
		delete(sh.rooms, r.driver)
	}
	if r.sub != nil {
		r.sub.Unsubscribe()
		sh.h.subs.Add(-1)
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
	if last, err := h.n.fetchLast(ctx, driver); err != nil {
		return fail(err)
	} else if len(last) > 0 {
		newest = max(newest, last[0].seq)
	}

	// History is read until it reaches newest: a lagging replica, or one
	// whose node is shutting down (its store closed, it answers "not
	// found"), must not make fixes look absent. A watcher's cursor never
	// moves past what it was given, except to skip history it did not ask
	// for.
	depth := h.n.cfg.History
	w := &watch{c: c, room: r}
	var replay []storedFix
	var err error
	if o.Since != nil {
		w.lastSeq = min(*o.Since, newest) // a cursor from elsewhere must not hide live fixes
		replay, err = h.readUntil(ctx, newest, func() ([]storedFix, error) { return h.n.fetchAfter(ctx, driver, w.lastSeq, depth) })
	} else {
		k := 1
		if o.History != nil {
			k = min(*o.History, depth)
		}
		w.lastSeq = newest
		if k > 0 {
			replay, err = h.readUntil(ctx, newest, func() ([]storedFix, error) { return h.n.fetchTail(ctx, driver, k) })
		}
	}
	if err != nil {
		return fail(err)
	}
	if len(replay) > 0 {
		w.lastSeq = max(w.lastSeq, replay[len(replay)-1].seq)
	}

	frames := appendFrames(make([]frame, 0, len(replay)+2), replay, true)
	replayed := len(frames)

	// Fixes the room delivered live while history was read are fetched too.
	var caughtUp []storedFix
	sh.mu.Lock()
	for r.lastSeq > w.lastSeq {
		target, after := r.lastSeq, w.lastSeq
		sh.mu.Unlock()
		more, err := h.readUntil(ctx, target, func() ([]storedFix, error) { return h.n.fetchAfter(ctx, driver, after, depth) })
		if err != nil {
			return fail(err)
		}
		for _, f := range more {
			if f.seq <= target {
				caughtUp = append(caughtUp, f)
				w.lastSeq = f.seq
			}
		}
		if w.lastSeq < target { // a replica lagging for longer than readUntil waits
			h.gapsLost.Add(1)
			w.lastSeq = target
		}
		sh.mu.Lock()
	}
	frames = appendFrames(frames, caughtUp, false)
	frames = append(frames, frame{data: mobileproto.EncodeTracking(mobileproto.Tracking{
		Driver: driver, ID: reqID, Replayed: replayed, Cursor: w.lastSeq,
	})})
	c.out.push(&w.lane, frames...)
	w.idx = len(r.watches)
	r.watches = append(r.watches, w)
	sh.mu.Unlock()
	h.replayed.Add(uint64(replayed))
	h.delivered.Add(uint64(len(caughtUp)))
	return w, nil
}

// appendFrames appends the receive-location frames of stored fixes,
// skipping payloads no node wrote.
func appendFrames(frames []frame, fixes []storedFix, replay bool) []frame {
	for _, f := range fixes {
		if data, err := mobileproto.AppendReceiveLocation(nil, f.data, f.seq, replay); err == nil {
			frames = append(frames, frame{data: data})
		}
	}
	return frames
}

// readUntil calls read until its last fix reaches newest, for up to two
// seconds, and returns the most complete answer. Every read from the stream
// that must reach a sequence known to exist (history, catching up with the
// live path, filling a gap) goes through it: a lagging replica, or one whose
// node is stopping, may answer with less.
func (h *hub) readUntil(ctx context.Context, newest uint64, read func() ([]storedFix, error)) ([]storedFix, error) {
	deadline := time.Now().Add(2 * time.Second)
	var best []storedFix
	for {
		fixes, err := read()
		if err != nil {
			return nil, err
		}
		if len(fixes) >= len(best) {
			best = fixes
		}
		if newest == 0 || (len(best) > 0 && best[len(best)-1].seq >= newest) || time.Now().After(deadline) {
			return best, nil
		}
		select {
		case <-ctx.Done():
			return best, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// untrack ends a watch.
func (h *hub) untrack(w *watch) {
	sh := h.shard(w.room.driver)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := w.room
	if w.idx < len(r.watches) && r.watches[w.idx] == w {
		last := len(r.watches) - 1
		r.watches[w.idx] = r.watches[last]
		r.watches[w.idx].idx = w.idx
		r.watches[last] = nil
		r.watches = r.watches[:last]
		w.idx = -1
	}
	sh.release(r)
}

// deliver handles one live fix from the shard's channel.
func (sh *shard) deliver(m *nats.Msg) {
	seq, err := strconv.ParseUint(m.Header.Get(fixstream.SequenceHeader), 10, 64)
	if err != nil {
		return // not republished by the stream
	}
	prev, _ := strconv.ParseUint(m.Header.Get(fixstream.LastSequenceHeader), 10, 64)
	driver := m.Subject[len(LiveSubjectPrefix):]

	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[driver]
	if r == nil || r.sub != m.Sub {
		return
	}
	// Which watchers miss the previous fix of this driver?
	from, gap := uint64(0), false
	for _, w := range r.watches {
		if w.lastSeq < seq && prev > w.lastSeq {
			if !gap || w.lastSeq < from {
				from = w.lastSeq
			}
			gap = true
		}
	}
	if gap {
		sh.fill(r, from, prev)
	}
	r.fanout(sh.h, m.Data, seq)
}

// fill delivers the driver's stored fixes after from up to and including
// upTo.
func (sh *shard) fill(r *room, from, upTo uint64) {
	h := sh.h
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	fixes, err := h.readUntil(ctx, upTo, func() ([]storedFix, error) { return h.n.fetchAfter(ctx, r.driver, from, h.n.cfg.History) })
	for _, f := range fixes {
		if f.seq > upTo {
			break
		}
		r.fanout(h, f.data, f.seq)
		from = f.seq
	}
	if from < upTo {
		h.gapsLost.Add(1)
		h.n.log.Warn("could not fill a gap in a driver's fixes", "driver", r.driver, "after", from, "upto", upTo, "err", err)
		return
	}
	h.gapFills.Add(1)
}

// fanout queues one fix to every watcher that has not had it yet, encoding
// the frame once for all of them.
func (r *room) fanout(h *hub, data []byte, seq uint64) {
	var buf []byte
	n := 0
	for _, w := range r.watches {
		if w.lastSeq >= seq {
			continue
		}
		if buf == nil {
			var err error
			if buf, err = mobileproto.AppendReceiveLocation(make([]byte, 0, len(data)+48), data, seq, false); err != nil {
				return
			}
		}
		w.lastSeq = seq
		w.c.out.push(&w.lane, frame{data: buf, live: true})
		n++
	}
	if seq > r.lastSeq {
		r.lastSeq = seq
	}
	h.delivered.Add(uint64(n))
}
