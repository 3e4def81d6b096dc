package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

func TestDriverFixesReachOnlyTheirRiders(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	driver := dial(t, n, mobileproto.RoleDriver, "d-1")
	other := dial(t, n, mobileproto.RoleDriver, "d-2")
	riderA := dial(t, n, mobileproto.RoleRider, "r-a")
	riderB := dial(t, n, mobileproto.RoleRider, "r-b")
	if _, err := riderA.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := riderB.Track(ctx, "d-2", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}

	acks := sendFixes(t, driver, 1, 200)
	defer func() { t.Logf("stats: %+v", n.Stats()) }()
	got := receive(t, riderA, 200)
	for i, l := range got {
		want := fix(uint64(i + 1))
		if l.Driver != "d-1" || l.Seq != want.Seq || l.Cursor != acks[i].Cursor || l.Replay {
			t.Fatalf("location %d: got driver %s seq %d cursor %d replay %v, want d-1 seq %d cursor %d live",
				i, l.Driver, l.Seq, l.Cursor, l.Replay, want.Seq, acks[i].Cursor)
		}
		if l.Latitude != want.Latitude || l.Longitude != want.Longitude || l.TS != want.TS || l.Speed == nil || *l.Speed != 8.5 {
			t.Fatalf("location %d: fields changed on the way: %+v", i, l)
		}
		if l.Node != "n1" || l.Time == 0 {
			t.Fatalf("location %d: node %q time %d", i, l.Node, l.Time)
		}
		if i > 0 && l.Cursor <= got[i-1].Cursor {
			t.Fatalf("cursor not increasing at %d: %d after %d", i, l.Cursor, got[i-1].Cursor)
		}
	}

	// Rider B tracks d-2: its first location must be d-2's, so nothing of
	// d-1's 200 fixes reached it.
	otherAck := sendFixes(t, other, 1, 1)
	first := receive(t, riderB, 1)[0]
	if first.Driver != "d-2" || first.Cursor != otherAck[0].Cursor {
		t.Fatalf("rider B first got %s cursor %d, want d-2 cursor %d", first.Driver, first.Cursor, otherAck[0].Cursor)
	}
	select {
	case l := <-riderB.Locations():
		t.Fatalf("rider B got an extra location: %+v", l)
	default:
	}
}
