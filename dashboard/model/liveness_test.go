package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/node/presence"
)

// ann is an announcement of driver by node n1, session 1, number n.
func ann(driver string, n uint64, st State, r liveness.Reason, since time.Time) presence.Announcement {
	return presence.Announcement{Driver: driver, State: st, Reason: r, Since: since.UnixMilli(), Node: "n1", Session: 1, N: n}
}

func status(st State, r liveness.Reason, since time.Time) liveness.Status {
	return liveness.Status{State: st, Reason: r, Since: since}
}

// same compares statuses by the instants they hold, not their locations
// (an announcement's times are in local time).
func same(a, b liveness.Status) bool {
	return a.State == b.State && a.Reason == b.Reason && a.Since.Equal(b.Since)
}

func sameHistory(a, b []liveness.Status) bool {
	return slices.EqualFunc(a, b, same)
}

func shown(t *testing.T, f *Fleet, id string) Liveness {
	t.Helper()
	_, l, ok := f.Driver(id)
	if !ok {
		t.Fatalf("no driver %s", id)
	}
	return l
}

// A driver's node announced it: that is what it shows, whatever the age of
// its fix; the newest announcement wins (a later session, or later in the
// same one), whichever order they arrive in.
func TestAnnouncedStatusWins(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	f.Ingest(drv("d-1", 1, 1, 1, t0.Add(-10*time.Minute))) // an old fix: offline by age
	if l := shown(t, f, "d-1"); l.State != Offline || l.Reason != FixAge || l.Announced {
		t.Fatalf("before any announcement: %+v", l)
	}
	a := ann("d-1", 2, Online, liveness.Fix, t0.Add(-time.Minute))
	a.LastFix = t0.Add(-2 * time.Second).UnixMilli()
	if !f.Announce(a) {
		t.Fatal("first announcement refused")
	}
	l := shown(t, f, "d-1")
	if !same(l.Status, status(Online, liveness.Fix, t0.Add(-time.Minute))) || !l.Announced || l.Node != "n1" || !l.LastFix.Equal(t0.Add(-2*time.Second)) {
		t.Fatalf("announced: %+v", l)
	}
	if len(l.History) != 1 {
		t.Fatalf("the guess from the fix's age stayed in the history: %+v", l.History)
	}
	older := ann("d-1", 1, Offline, liveness.Disconnected, t0.Add(-2*time.Minute))
	if f.Announce(older) || f.Announce(a) {
		t.Fatal("an older or the same announcement replaced the newest")
	}
	next := ann("d-1", 1, Offline, liveness.Disconnected, t0) // N 1, but a later session
	next.Session = 2
	if !f.Announce(next) {
		t.Fatal("a later session's announcement refused")
	}
	if l := shown(t, f, "d-1"); !same(l.Status, status(Offline, liveness.Disconnected, t0)) {
		t.Fatalf("after the new session: %+v", l)
	}
	if s := f.Stats(); s.Announcements != 2 || s.OlderAnnouncements != 2 {
		t.Fatalf("stats %+v", s)
	}
	if counts := f.Tick(); counts != (Counts{Offline: 1}) {
		t.Fatalf("counts %+v", counts)
	}
}

// A driver announced before it sent any fix is listed and counted, but not
// on the map; its age comes from the announced last fix, or it has none.
func TestAnnouncedDriverWithoutFix(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	f.Announce(ann("d-new", 1, Online, liveness.Connected, t0))
	b := ann("d-back", 1, Stale, liveness.NoFix, t0.Add(-5*time.Second))
	b.LastFix = t0.Add(-20 * time.Second).UnixMilli()
	f.Announce(b)
	f.Ingest(drv("d-fix", 1, 1, 1, t0))
	if pts := f.Points(nil); len(pts) != 1 || pts[0].ID != "d-fix" {
		t.Fatalf("points %+v", pts)
	}
	rows := f.Rows(Query{Sort: SortByAge, Desc: true})
	if len(rows) != 3 || rows[0].ID != "d-new" || rows[0].Age != Never || rows[0].HasFix || !math.IsNaN(rows[0].Lat) ||
		rows[1].ID != "d-back" || rows[1].Age != 20*time.Second || rows[1].Reason != liveness.NoFix {
		t.Fatalf("rows %+v", rows)
	}
	if got := f.Rows(Query{Search: "connected"}); len(got) != 1 || got[0].ID != "d-new" {
		t.Fatalf("search by reason: %+v", got)
	}
	if counts := f.Tick(); counts != (Counts{Online: 2, Stale: 1}) {
		t.Fatalf("counts %+v", counts)
	}
	// The stream of fixes recreated: fixes go, announcements stay.
	f.Reset()
	if f.Len() != 2 || len(f.Points(nil)) != 0 {
		t.Fatalf("after Reset: %d drivers, %d points", f.Len(), len(f.Points(nil)))
	}
}

// The node-lost rule on an injected clock: a node silent for NodeLostAfter
// is lost since its last heartbeat, and the drivers it said were connected
// are offline, node-lost; one it said was offline stays as it was. Its
// next heartbeat brings them back. Silence counts only while the fleet
// listens; a loss outlasts a disconnection.
func TestNodeLostRule(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	f.Listening(true)
	f.Heartbeat("n1")
	f.Announce(ann("d-on", 1, Online, liveness.Fix, t0.Add(-time.Minute)))
	f.Announce(ann("d-stale", 1, Stale, liveness.NoFix, t0.Add(-time.Second)))
	f.Announce(ann("d-off", 1, Offline, liveness.Disconnected, t0.Add(-time.Hour)))

	at := func(d time.Duration) Counts {
		c.Set(t0.Add(d))
		return f.Tick()
	}
	if counts := at(3 * time.Second); counts != (Counts{Online: 1, Stale: 1, Offline: 1}) {
		t.Fatalf("3 s of silence, not more: %+v", counts)
	}
	if counts := at(3*time.Second + time.Millisecond); counts != (Counts{Offline: 3}) {
		t.Fatalf("node lost: %+v", counts)
	}
	if got := f.NodeLost("n1"); !got.Equal(t0) {
		t.Fatalf("lost since %v, want its last heartbeat %v", got, t0)
	}
	for id, want := range map[string]liveness.Status{
		"d-on":    status(Offline, liveness.NodeLost, t0),
		"d-stale": status(Offline, liveness.NodeLost, t0),
		"d-off":   status(Offline, liveness.Disconnected, t0.Add(-time.Hour)),
	} {
		if l := shown(t, f, id); !same(l.Status, want) {
			t.Errorf("%s: %+v, want %+v", id, l.Status, want)
		}
	}
	if got := f.Rows(ProblemsFirst("node-lost")); len(got) != 2 {
		t.Fatalf("node-lost rows %+v", got)
	}

	// The dashboard is cut off: nothing is judged, and the lost node stays
	// lost even when it comes back into hearing range after a while.
	f.Listening(false)
	if counts := at(time.Hour); counts != (Counts{Offline: 3}) {
		t.Fatalf("while not listening: %+v", counts)
	}
	f.Listening(true)
	if counts := at(time.Hour + time.Second); counts != (Counts{Offline: 3}) {
		t.Fatalf("listening again, before a heartbeat: %+v", counts)
	}
	f.Heartbeat("n1")
	if counts := f.Tick(); counts != (Counts{Online: 1, Stale: 1, Offline: 1}) {
		t.Fatalf("after its heartbeat: %+v", counts)
	}
	l := shown(t, f, "d-on")
	want := []liveness.Status{status(Online, liveness.Fix, t0.Add(-time.Minute)), status(Offline, liveness.NodeLost, t0), status(Online, liveness.Fix, t0.Add(-time.Minute))}
	if !sameHistory(l.History, want) {
		t.Fatalf("history %+v\nwant %+v", l.History, want)
	}

	// A node heard before a disconnection is not lost for the silence the
	// dashboard could not hear: only from when it listens again.
	f.Listening(false)
	c.Set(t0.Add(2 * time.Hour))
	f.Listening(true)
	if counts := at(2*time.Hour + 2*time.Second); counts != (Counts{Online: 1, Stale: 1, Offline: 1}) {
		t.Fatalf("2 s after listening again: %+v", counts)
	}
	if counts := at(2*time.Hour + 4*time.Second); counts != (Counts{Offline: 3}) {
		t.Fatalf("4 s after listening again: %+v", counts)
	}
	if got := f.NodeLost("n1"); !got.Equal(t0.Add(time.Hour + time.Second)) {
		t.Fatalf("lost since %v, want its last heartbeat", got)
	}
}

// A node the dashboard never heard (its announcements came from the
// PRESENCE stream, it died before the dashboard started) is lost once the
// dashboard has listened for NodeLostAfter, since the newest time its
// announcements showed it alive.
func TestNodeNeverHeard(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	a := ann("d-1", 4, Online, liveness.Fix, t0.Add(-time.Hour))
	a.Node, a.LastFix = "n9", t0.Add(-10*time.Minute).UnixMilli()
	f.Announce(a)
	c.Set(t0.Add(time.Minute))
	if l := shown(t, f, "d-1"); l.State != Online {
		t.Fatalf("not listening yet: %+v", l)
	}
	f.Listening(true)
	c.Set(t0.Add(time.Minute + 3*time.Second + time.Millisecond))
	if l := shown(t, f, "d-1"); !same(l.Status, status(Offline, liveness.NodeLost, t0.Add(-10*time.Minute))) {
		t.Fatalf("node never heard: %+v", l)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	c := &clock{now: t0}
	f, err := NewFleet(Config{Now: c.Now, HistoryLength: 3})
	if err != nil {
		t.Fatal(err)
	}
	states := []State{Online, Stale, Offline}
	for i := range 10 {
		f.Announce(ann("d-1", uint64(i+1), states[i%3], liveness.Reason(fmt.Sprint("r", i)), t0.Add(time.Duration(i)*time.Second)))
	}
	l := shown(t, f, "d-1")
	if len(l.History) != 3 || l.History[0].Reason != "r9" || l.History[2].Reason != "r7" {
		t.Fatalf("history %+v", l.History)
	}
}

// Invalid announcements and heartbeats are dropped and counted.
func TestBadStatusMessages(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	good, _ := json.Marshal(ann("d-1", 1, Online, liveness.Fix, t0))
	if ok, err := f.IngestStatus("rtls.status.d-1", good); !ok || err != nil {
		t.Fatalf("a good announcement: %v %v", ok, err)
	}
	for _, tc := range []struct{ subject, data string }{
		{"rtls.status.d-2", string(good)}, // another driver's
		{"rtls.status.d-1", `{"driver":"d-1"`},
		{"rtls.status.d-1", `{"driver":"d-1","state":"asleep","reason":"x","node":"n1","session":1}`},
		{"rtls.other.d-1", string(good)},
	} {
		if _, err := f.IngestStatus(tc.subject, []byte(tc.data)); !errors.Is(err, ErrBadStatus) {
			t.Errorf("IngestStatus(%s, %s) = %v", tc.subject, tc.data, err)
		}
	}
	if err := f.IngestHeartbeat("rtls.node.n1", []byte(`{"node":"n1","at":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ subject, data string }{
		{"rtls.node.n1", `{"node":"n2","at":1}`},
		{"rtls.node.n1", `nope`},
		{"rtls.node.n\u00fc", `{"node":"n\u00fc"}`},
		{"rtls.nodes.n1", `{"node":"n1"}`},
	} {
		if err := f.IngestHeartbeat(tc.subject, []byte(tc.data)); !errors.Is(err, ErrBadStatus) {
			t.Errorf("IngestHeartbeat(%s, %s) = %v", tc.subject, tc.data, err)
		}
	}
	if s := f.Stats(); s.BadStatus != 8 || s.Announcements != 1 || f.Len() != 1 {
		t.Fatalf("stats %+v, %d drivers", s, f.Len())
	}
}

// A node that restarted within its heartbeat timeout is not lost, but the
// driver sessions it announced before its restart ended with the old
// process: they show offline, node-lost, since its start; a session the
// new process announced is as announced.
func TestRestartedNodeEndsItsOldSessions(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	f.Listening(true)
	f.HeartbeatSince("n1", t0.Add(-time.Hour))
	old := ann("d-old", 1, Online, liveness.Fix, t0.Add(-time.Minute))
	old.Session = t0.Add(-30 * time.Minute).UnixNano()
	f.Announce(old)
	if counts := f.Tick(); counts != (Counts{Online: 1}) {
		t.Fatalf("before the restart: %+v", counts)
	}
	restart := t0.Add(time.Second)
	c.Set(restart.Add(100 * time.Millisecond))
	f.HeartbeatSince("n1", restart)
	fresh := ann("d-new", 1, Online, liveness.Connected, restart.Add(50*time.Millisecond))
	fresh.Session = restart.Add(50 * time.Millisecond).UnixNano()
	f.Announce(fresh)
	if counts := f.Tick(); counts != (Counts{Online: 1, Offline: 1}) {
		t.Fatalf("after the restart: %+v", counts)
	}
	if l := shown(t, f, "d-old"); !same(l.Status, status(Offline, liveness.NodeLost, restart)) {
		t.Fatalf("the old session: %+v", l.Status)
	}
	if !f.NodeLost("n1").IsZero() {
		t.Fatal("a restarted node counted as lost")
	}
}
