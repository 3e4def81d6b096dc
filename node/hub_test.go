package node

import (
	"context"
	"testing"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// TestLiveGapIsFilledFromTheStream makes the room miss fixes on its live
// subscription (as a dropped message or a lost republish would) and checks
// that the next fix reveals the gap, which is filled from the stream in order.
func TestLiveGapIsFilledFromTheStream(t *testing.T) {
	n := startTestNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(role mobileproto.Role, id string) *mobileproto.Client {
		c, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithIdentity(role, id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	driver, rider := dial(mobileproto.RoleDriver, "d-1"), dial(mobileproto.RoleRider, "r-1")
	if _, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{History: new(int)}); err != nil {
		t.Fatal(err)
	}

	// Cut the room's live subscription behind the hub's back.
	sh := n.hub.shard("d-1")
	sh.mu.Lock()
	r := sh.rooms["d-1"]
	r.sub.Unsubscribe()
	sh.mu.Unlock()
	var cursors []uint64
	for seq := uint64(1); seq <= 3; seq++ {
		a, err := driver.SendLocation(ctx, mobileproto.Fix{Latitude: 1, Longitude: 2, Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, a.Cursor)
	}
	// Subscribe again and send one more fix: it reveals the gap.
	sh.mu.Lock()
	sub, err := n.nc.ChanSubscribe(LiveSubject("d-1"), sh.ch)
	if err != nil {
		t.Fatal(err)
	}
	r.sub = sub
	sh.mu.Unlock()
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	a, err := driver.SendLocation(ctx, mobileproto.Fix{Latitude: 1, Longitude: 2, Seq: 4})
	if err != nil {
		t.Fatal(err)
	}
	cursors = append(cursors, a.Cursor)

	for i, want := range cursors {
		select {
		case l := <-rider.Locations():
			if l.Cursor != want || l.Seq != uint64(i+1) || l.Replay {
				t.Fatalf("location %d: cursor %d seq %d replay %v, want cursor %d seq %d live", i, l.Cursor, l.Seq, l.Replay, want, i+1)
			}
		case <-ctx.Done():
			t.Fatalf("only %d of 4 locations arrived", i)
		}
	}
	if s := n.Stats(); s.GapsFilled != 1 || s.GapsLost != 0 {
		t.Fatalf("gaps filled %d lost %d, want 1 and 0", s.GapsFilled, s.GapsLost)
	}
}
