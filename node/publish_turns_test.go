package node

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rtls-io/rtls/location"
)

// TestLanesTakeInFlightSlotsInTurn: while every in-flight slot is taken, a
// driver with one fix waiting gets the next free slot, before a busy
// driver's next fix. Otherwise the lane whose answer freed a slot took it
// again, fixes of the lanes waiting for a slot waited seconds under load,
// and the node, seeing the busy lanes' fixes go out at once, never called
// it overload (measured 2026-12-01: up to 6,000 fixes queued per node,
// p99 past capacity 1.6–2.0 s).
func TestLanesTakeInFlightSlotsInTurn(t *testing.T) {
	const busy = 200
	n := startTestNode(t, func(c *Config) { c.History, c.MaxInFlight = 2*busy, 1 })

	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := map[string]uint64{} // driver/seq → cursor
	req := func(l *pubLane, seq uint64) (*pubReq, string) {
		now := time.Now().UnixMilli()
		r := location.Record{Driver: l.driver, Fix: location.Fix{Latitude: 1, Longitude: 2, Seq: seq, TS: now}, Time: now, Node: "n1"}
		key := l.driver + "/" + strconv.FormatUint(seq, 10)
		wg.Add(1)
		return &pubReq{lane: l, seq: seq, ts: r.TS, msgID: key, data: location.AppendJSON(nil, &r), deadline: time.Now().Add(time.Minute), done: func(a pubAck, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("%s: %v", key, err)
				return
			}
			mu.Lock()
			stored[key] = a.Seq
			mu.Unlock()
		}}, key
	}
	a, b := n.pub.newLane("d-busy"), n.pub.newLane("d-one")
	defer n.pub.closeLane(a)
	defer n.pub.closeLane(b)
	// Each lane first reads its driver's newest stored fix.
	for _, l := range []*pubLane{a, b} {
		r, _ := req(l, 1)
		n.pub.publish(l, r.seq, r.ts, r.msgID, r.data, r.done)
	}
	wg.Wait()
	// The busy driver's fixes, then the other's, arrive before the stream
	// answers any (one critical section): the busy driver takes the one
	// slot and 198 of its fixes wait; the other driver's fix waits in line.
	var send []*pubReq
	n.pub.mu.Lock()
	for s := uint64(2); s <= busy+1; s++ {
		l, seq := a, s
		if s == busy+1 {
			l, seq = b, 2
		}
		r, key := req(l, seq)
		out, dropped, ok := n.pub.admitLocked(r, time.Now())
		if !ok || len(dropped) > 0 {
			t.Errorf("%s: admitted %v, replaced %d", key, ok, len(dropped))
		}
		send = append(send, out...)
	}
	n.pub.mu.Unlock()
	n.pub.send(send)
	wg.Wait()
	if t.Failed() {
		return
	}
	one := stored["d-one/2"]
	before := 0
	for s := 2; s <= busy; s++ {
		if stored["d-busy/"+strconv.Itoa(s)] < one {
			before++
		}
	}
	t.Logf("the waiting driver's fix was stored after %d of the busy driver's %d", before, busy-1)
	// The busy driver's fix in flight is answered, its next one takes the
	// freed slot (it was in line first), then the waiting driver's turn
	// comes: two of the busy driver's fixes, not all of them.
	if before > 4 {
		t.Fatalf("the waiting driver's fix was stored after %d of the busy driver's %d fixes", before, busy-1)
	}
}
