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
// to send fast, it has until the fix due at the slow rate has come.
func TestTrackerFollowsTheAskedInterval(t *testing.T) {
	th, _ := Thresholds{StaleAfter: 10 * time.Second, OfflineAfter: time.Minute}.WithDefaults()
	t0 := time.Unix(1764412800, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tr := NewTracker(th)
	tr.Connect(at(0))
	tr.Expect(15 * time.Second) // nobody watches
	for i, s := range []struct {
		do     func()
		now    int
		state  State
		reason Reason
	}{
		{func() { tr.Fix(at(1), 1000) }, 1, Online, Fix},
		{nil, 15, Online, Fix},                             // StaleAfter alone would say stale at 11
		{func() { tr.Fix(at(16), 1000) }, 29, Online, Fix}, // the same device time, as a parked phone's: not gps-stale either
		{func() { tr.Fix(at(31), 2000) }, 31, Online, Fix},
		{nil, 61, Stale, NoFix}, // 2 × 15 s without a fix
		{func() { tr.Fix(at(62), 3000) }, 62, Online, Fix},
		// Watched: asked for 1 s. The fix due at the slow rate may take up
		// to 15 s, so the old grace holds until the next fix…
		{func() { tr.Expect(time.Second) }, 80, Online, Fix},
		// …after which StaleAfter (10 s > 2 × 1 s) applies again.
		{func() { tr.Fix(at(81), 4000) }, 90, Online, Fix},
		{nil, 91, Stale, NoFix},
		// Four slow intervals (60 s) and OfflineAfter (60 s) agree; a
		// 30 s interval stretches offline to 120 s.
		{func() { tr.Expect(30 * time.Second); tr.Fix(at(100), 5000) }, 219, Stale, NoFix},
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
