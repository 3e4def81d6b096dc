package liveness

import (
	"testing"
	"time"
)

func TestTrackerStates(t *testing.T) {
	th, _ := Thresholds{StaleAfter: 10 * time.Second, OfflineAfter: time.Minute}.WithDefaults()
	t0 := time.Unix(1764412800, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tr := NewTracker(th)
	type step struct {
		do     func()
		now    int
		state  State
		reason Reason
		since  int
	}
	for i, s := range []step{
		{nil, 0, Offline, Unknown, -1},
		{func() { tr.Connect(at(1)) }, 1, Online, Connected, 1},
		{nil, 5, Online, Connected, 1},
		{nil, 11, Stale, NoFix, 11},
		{func() { tr.Fix(at(12), 1000) }, 12, Online, Fix, 12},
		{func() { tr.Fix(at(15), 2000) }, 15, Online, Fix, 12},
		{nil, 24, Online, Fix, 12},
		{nil, 25, Stale, NoFix, 25},
		// A phone repeating an old fix: fixes arrive, the device time stands still.
		{func() { tr.Fix(at(26), 3000) }, 26, Online, Fix, 26},
		{func() { tr.Fix(at(30), 3000) }, 30, Online, Fix, 26},
		{func() { tr.Fix(at(36), 3000) }, 36, Stale, GPSStale, 36},
		{func() { tr.Fix(at(37), 9000) }, 37, Online, Fix, 37},
		{nil, 37 + 60, Offline, Silent, 37 + 60},
		{func() { tr.Disconnect(at(100)) }, 100, Offline, Disconnected, 100},
		{func() { tr.Connect(at(200)) }, 200, Online, Connected, 200},
	} {
		if s.do != nil {
			s.do()
		}
		st, _ := tr.Status(at(s.now))
		wantSince := time.Time{}
		if s.since >= 0 {
			wantSince = at(s.since)
		}
		if st.State != s.state || st.Reason != s.reason || !st.Since.Equal(wantSince) {
			t.Fatalf("step %d at %ds: %+v, want %s %s since %ds", i, s.now, st, s.state, s.reason, s.since)
		}
	}
}

func TestEffectiveAndThresholds(t *testing.T) {
	lost := time.Unix(100, 0)
	on := Status{State: Online, Reason: Fix, Since: time.Unix(50, 0)}
	if e := Effective(on, lost); e.State != Offline || e.Reason != NodeLost || !e.Since.Equal(lost) {
		t.Fatalf("effective %+v", e)
	}
	if e := Effective(on, time.Time{}); e != on {
		t.Fatalf("alive node: %+v", e)
	}
	off := Status{State: Offline, Reason: Disconnected, Since: time.Unix(60, 0)}
	if e := Effective(off, lost); e != off {
		t.Fatalf("already offline: %+v", e)
	}
	if _, err := (Thresholds{StaleAfter: time.Minute, OfflineAfter: time.Second}).WithDefaults(); err == nil {
		t.Fatal("stale after offline accepted")
	}
	if Online.Severity() >= Stale.Severity() || Stale.Severity() >= Offline.Severity() {
		t.Fatal("severity order")
	}
}
