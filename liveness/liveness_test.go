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

// A driver asked to send slowly is not stale between two slow fixes; asked
// to send fast, it has twice the new interval from the request for its
// next fix (an app sends at once, or by its new timer).
func TestTrackerFollowsTheAskedInterval(t *testing.T) {
	th, _ := Thresholds{StaleAfter: 10 * time.Second, OfflineAfter: time.Minute}.WithDefaults()
	t0 := time.Unix(1764412800, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tr := NewTracker(th)
	tr.Connect(at(0))
	tr.Expect(at(0), 15*time.Second) // nobody watches
	for i, s := range []struct {
		do     func()
		now    int
		state  State
		reason Reason
	}{
		{nil, 25, Online, Connected},
		{func() { tr.Fix(at(1), 1000) }, 1, Online, Fix},
		{nil, 15, Online, Fix},                             // StaleAfter alone would say stale at 11
		{func() { tr.Fix(at(16), 1000) }, 29, Online, Fix}, // the same device time, as a parked phone's: not gps-stale either
		{func() { tr.Fix(at(31), 2000) }, 31, Online, Fix},
		{nil, 61, Stale, NoFix}, // 2 × 15 s without a fix
		{func() { tr.Fix(at(62), 3000) }, 62, Online, Fix},
		// Watched: asked for 1 s at 70; its next fix is due by 72, but
		// StaleAfter (10 s after the last fix, at 72) is not over either.
		{func() { tr.Expect(at(70), time.Second) }, 71, Online, Fix},
		{nil, 72, Stale, NoFix},
		{func() { tr.Fix(at(73), 4000) }, 82, Online, Fix},
		{nil, 83, Stale, NoFix}, // StaleAfter > 2 × 1 s
		// Asked to slow down to 30 s: due 60 s after the last fix, and
		// offline after 120 s.
		{func() { tr.Fix(at(100), 5000); tr.Expect(at(101), 30*time.Second) }, 159, Online, Fix},
		{nil, 160, Stale, NoFix},
		{nil, 219, Stale, NoFix},
		{nil, 220, Offline, Silent},
	} {
		if s.do != nil {
			s.do()
		}
		if st, _ := tr.Status(at(s.now)); st.State != s.state || st.Reason != s.reason {
			t.Fatalf("step %d at %ds: %+v, want %s %s", i, s.now, st, s.state, s.reason)
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
