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
		tr.Observe(s)
	}
	d := tr.Result([]uint64{1, 2, 3, 4, 5, 6, 7})
	want := Delivery{Received: 7, Unique: 5, Duplicates: 2, OutOfOrder: 1, Lost: 2}
	if d != want {
		t.Fatalf("got %+v, want %+v", d, want)
	}
	if sum := d.Add(want); sum.Received != 14 || sum.Lost != 4 {
		t.Fatalf("Add: %+v", sum)
	}
}
