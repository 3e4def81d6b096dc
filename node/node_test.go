package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
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

func TestHistoryReplayThenLiveWithoutGapOrDuplicate(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-7")
	acks := sendFixes(t, driver, 1, 150)

	rider := dial(t, n, mobileproto.RoleRider, "r-1")
	tr, err := rider.Track(ctx, "d-7", mobileproto.TrackOptions{History: intp(20)})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Replayed != 20 || tr.Cursor != acks[149].Cursor {
		t.Fatalf("tracking = %+v, want 20 replayed up to cursor %d", tr, acks[149].Cursor)
	}
	live := sendFixes(t, driver, 151, 180)
	acks = append(acks, live...)

	got := receive(t, rider, 50)
	for i, l := range got {
		want := acks[130+i]
		if l.Cursor != want.Cursor || l.Seq != want.Seq {
			t.Fatalf("location %d: cursor %d seq %d, want cursor %d seq %d", i, l.Cursor, l.Seq, want.Cursor, want.Seq)
		}
		if replay := i < 20; l.Replay != replay {
			t.Fatalf("location %d (seq %d): replay = %v, want %v", i, l.Seq, l.Replay, replay)
		}
	}
	select {
	case l := <-rider.Locations():
		t.Fatalf("unexpected extra location %+v", l)
	default:
	}
}

func TestDefaultHistoryIsTheCurrentPositionAndHistoryIsCapped(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.History = 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-1")
	acks := sendFixes(t, driver, 1, 25)

	rider := dial(t, n, mobileproto.RoleRider, "r-1")
	if tr, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{}); err != nil || tr.Replayed != 1 {
		t.Fatalf("default track = %+v, %v; want 1 replayed", tr, err)
	}
	if l := receive(t, rider, 1)[0]; l.Cursor != acks[24].Cursor || !l.Replay {
		t.Fatalf("default replay = %+v, want the newest fix (cursor %d)", l, acks[24].Cursor)
	}
	other := dial(t, n, mobileproto.RoleRider, "r-2")
	tr, err := other.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(1000)})
	if err != nil || tr.Replayed != 10 {
		t.Fatalf("track history 1000 = %+v, %v; want the 10 the stream keeps", tr, err)
	}
	got := receive(t, other, 10)
	if got[0].Cursor != acks[15].Cursor || got[9].Cursor != acks[24].Cursor {
		t.Fatalf("replayed cursors %d..%d, want %d..%d", got[0].Cursor, got[9].Cursor, acks[15].Cursor, acks[24].Cursor)
	}
}

func TestResumeSinceCursor(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-3")
	rider := dial(t, n, mobileproto.RoleRider, "r-3")
	if _, err := rider.Track(ctx, "d-3", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	acks := sendFixes(t, driver, 1, 40)
	seen := receive(t, rider, 40)
	cursor := seen[24].Cursor // the app has consumed 25 fixes when the phone drops
	rider.Close()

	acks = append(acks, sendFixes(t, driver, 41, 60)...)

	again := dial(t, n, mobileproto.RoleRider, "r-3")
	tr, err := again.Track(ctx, "d-3", mobileproto.TrackOptions{Since: u64p(cursor)})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Replayed != 35 {
		t.Fatalf("replayed %d, want the 35 fixes after cursor %d", tr.Replayed, cursor)
	}
	acks = append(acks, sendFixes(t, driver, 61, 65)...)
	got := receive(t, again, 40)
	for i, l := range got {
		if want := acks[25+i]; l.Cursor != want.Cursor {
			t.Fatalf("resumed location %d: cursor %d, want %d", i, l.Cursor, want.Cursor)
		}
	}
}

func TestTrackWhileDriverSendsHasNoGapOrDuplicate(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.RateLimit, c.RateBurst = 1e6, 1e6 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-9")
	const total = 600
	done := make(chan []mobileproto.Ack)
	tracked := make(chan struct{}) // closed when every rider tracks
	go func() {
		acks := make([]mobileproto.Ack, 0, total)
		for s := uint64(1); s <= total; s++ {
			if s == total-50 {
				// The last fixes come after every rider tracks: a rider
				// without history that tracked after the driver's last
				// fix would have nothing to receive.
				select {
				case <-tracked:
				case <-ctx.Done():
				}
			}
			a, err := driver.SendLocation(ctx, fix(s))
			if err != nil {
				t.Errorf("send %d: %v", s, err)
				break
			}
			acks = append(acks, a)
		}
		done <- acks
	}()
	// Riders join at different moments of the stream.
	var riders []*mobileproto.Client
	for i := 0; i < 8; i++ {
		r := dial(t, n, mobileproto.RoleRider, "r-"+string(rune('a'+i)))
		if _, err := r.Track(ctx, "d-9", mobileproto.TrackOptions{History: intp(i % 3)}); err != nil {
			t.Fatal(err)
		}
		riders = append(riders, r)
	}
	close(tracked)
	acks := <-done
	if len(acks) != total {
		t.Fatalf("only %d fixes acked", len(acks))
	}
	index := map[uint64]int{}
	for i, a := range acks {
		index[a.Cursor] = i
	}
	for ri, r := range riders {
		// Every rider must end with a contiguous run of the driver's fixes
		// reaching the last one.
		var got []mobileproto.Location
		for len(got) == 0 || got[len(got)-1].Cursor != acks[total-1].Cursor {
			got = append(got, receive(t, r, 1)...)
		}
		start, ok := index[got[0].Cursor]
		if !ok {
			t.Fatalf("rider %d: first cursor %d was never acked", ri, got[0].Cursor)
		}
		for i, l := range got {
			if want := acks[start+i].Cursor; l.Cursor != want {
				t.Fatalf("rider %d location %d: cursor %d, want %d (gap or duplicate)", ri, i, l.Cursor, want)
			}
		}
	}
}

// TestHistoryIsFullWhileTheDriverSends: a rider asking for history while
// its driver keeps sending (500 fixes/s) gets as many fixes as it asked for, up to the newest one when it
// asked; fixes stored while the history was read come live after it, not
// in its place.
func TestHistoryIsFullWhileTheDriverSends(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.RateLimit, c.RateBurst = 1000, 1000 })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second) // 600 tracks and the sender, on a busy machine
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-7")
	sendFixes(t, driver, 1, 60)
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		var err error
		defer func() { sent <- err }()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for seq := uint64(61); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err = driver.SendLocation(ctx, fix(seq)); err != nil {
				return
			}
		}
	}()
	rider := dial(t, n, mobileproto.RoleRider, "r-1")
	go func() { // a rider reads what it is sent
		for {
			select {
			case <-stop:
				return
			case <-rider.Locations():
			}
		}
	}()
	for i := 0; i < 200; i++ {
		for _, k := range []int{1, 10, 50} {
			tr, err := rider.Track(ctx, "d-7", mobileproto.TrackOptions{History: intp(k)})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Replayed != k {
				t.Fatalf("track %d with history %d: %d replayed", i, k, tr.Replayed)
			}
		}
	}
	close(stop)
	if err := <-sent; err != nil {
		t.Fatalf("driver: %v", err)
	}
}
