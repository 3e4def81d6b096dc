package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	l := Summarize(s)
	if l.Count != 1000 || l.P50 != 500 || l.P90 != 900 || l.P99 != 990 || l.P999 != 999 || l.Max != 1000 || l.Mean != 500.5 {
		t.Fatalf("summary of 1..1000 ms: %+v", l)
	}
	if got := Percentile([]time.Duration{7}, 99.9); got != 7 {
		t.Fatalf("one sample: %v", got)
	}
	if got := Percentile([]time.Duration{1, 2, 3, 4}, 50); got != 2 {
		t.Fatalf("p50 of 1..4 = %v, want 2 (nearest rank)", got)
	}
	if (Summarize(nil) != Latency{}) {
		t.Fatal("empty summary not zero")
	}
}

func TestTrackerCountsDuplicatesReorderingAndLoss(t *testing.T) {
	var tr Tracker
	for _, s := range []uint64{1, 2, 4, 3, 4, 6, 2} {
		tr.Observe(s, 0, 0)
	}
	var expected []Stored
	for s := uint64(1); s <= 7; s++ {
		expected = append(expected, Stored{Seq: s})
	}
	d, covered := tr.Result(expected)
	want := Delivery{Received: 7, Unique: 5, Duplicates: 2, OutOfOrder: 1, Lost: 2}
	if d != want || covered != 7 {
		t.Fatalf("got %+v (%d covered), want %+v", d, covered, want)
	}
	if sum := d.Add(want); sum.Received != 14 || sum.Lost != 4 {
		t.Fatalf("Add: %+v", sum)
	}
}

func TestTrackerCountsAnnouncedSkipsApartFromLoss(t *testing.T) {
	var tr Tracker
	// Fixes 1…9 of one driver were stored at cursors 10…18 (acked).
	var acked []Stored
	for s := uint64(1); s <= 9; s++ {
		acked = append(acked, Stored{Seq: s, Cursor: s + 9})
	}
	for _, l := range []struct{ seq, cursor, prev uint64 }{
		{1, 10, 0},  // the driver's first fix
		{2, 11, 10}, // prev is the last cursor got: nothing skipped
		{5, 14, 13}, // prev 13 > 11: 3 and 4 (cursors 12, 13) skipped, announced
		{7, 16, 15}, // prev 15 > 14: 6 skipped, announced
		{9, 18, 0},  // no prev (read back from the stream): 8 vanished unannounced
	} {
		if !tr.Observe(l.seq, l.cursor, l.prev) {
			t.Fatalf("seq %d not new", l.seq)
		}
	}
	d, covered := tr.Result(acked)
	want := Delivery{Received: 5, Unique: 5, Lost: 1, Skipped: 3}
	if d != want || covered != 9 {
		t.Fatalf("got %+v (%d covered), want %+v", d, covered, want)
	}
	for _, s := range acked {
		if settled := tr.Settled(s); settled != (s.Seq != 8) {
			t.Errorf("seq %d settled = %v", s.Seq, settled)
		}
	}
}

func TestTrackerCoversOnlyWhileTracking(t *testing.T) {
	// A rider tracked the driver after its fix at cursor 20, got 21 and 22,
	// and left; 23 arrived after it left.
	var tr Tracker
	tr.After(20)
	tr.Observe(2, 21, 20)
	tr.Observe(3, 22, 21)
	tr.Stop()
	if tr.Observe(4, 23, 22) {
		t.Fatal("a location after Stop counted")
	}
	acked := []Stored{{1, 20}, {2, 21}, {3, 22}, {4, 23}, {5, 24}}
	d, covered := tr.Result(acked)
	if covered != 2 || d.Lost != 0 || d.Skipped != 0 || d.Unique != 2 || d.Received != 2 {
		t.Fatalf("got %+v, %d covered", d, covered)
	}
	for _, s := range acked {
		if !tr.Settled(s) {
			t.Errorf("seq %d not settled", s.Seq)
		}
	}

	// A rider that tracked late is not due the fixes stored before its
	// tracking's cursor; a first prev beyond that cursor announces a skip.
	var late Tracker
	late.After(30)
	late.Observe(9, 33, 32) // prev 32 > 30: 31 and 32 skipped
	// 34 never came: lost.
	d, covered = late.Result([]Stored{{6, 30}, {7, 31}, {8, 32}, {9, 33}, {10, 34}})
	if covered != 4 || d.Skipped != 2 || d.Lost != 1 {
		t.Fatalf("late: %+v, %d covered", d, covered)
	}
}

func TestTrackerCountsFixesCaughtUpBeforeTheTrackingFrame(t *testing.T) {
	// The driver's fix at cursor 19 was stored while the node read history
	// for the track (its newest was 17): it came live before the tracking
	// frame, whose cursor is then 19 ("the driver's newest fix sent or
	// known"). It is the rider's, as is every fix after its prev; 17 is not.
	acked := []Stored{{1, 17}, {2, 19}, {3, 21}}
	for _, answeredFirst := range []bool{true, false} {
		var tr Tracker
		if answeredFirst {
			tr.After(19)
		}
		tr.Observe(2, 19, 17)
		if !answeredFirst {
			tr.After(19)
		}
		tr.Observe(3, 21, 19)
		d, covered := tr.Result(acked)
		if covered != 2 || d.Unique != 2 || d.Lost != 0 || d.Skipped != 0 {
			t.Fatalf("tracking answered first %v: %+v, %d covered", answeredFirst, d, covered)
		}
	}
}
