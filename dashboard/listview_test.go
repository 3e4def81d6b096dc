package dashboard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/rtls-io/rtls/dashboard/model"
)

// problemFleet: sim-1…sim-12 on a fixed clock, sim-N silent for the ages
// below (live under 15 s, offline from 2 min).
func problemFleet(t *testing.T) *model.Fleet {
	t.Helper()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	fleet, err := model.NewFleet(model.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ages := []time.Duration{0, 2, 40, 5, 300, 20, 1, 40, 3, 16, 125, 7, 40} // seconds, by N
	for n := 1; n < len(ages); n++ {
		d := model.Driver{ID: fmt.Sprintf("sim-%d", n), Lat: 12.9, Lon: 77.5 + float64(n)*0.001, Speed: float64(n), FixTime: now.Add(-ages[n] * time.Second), Node: "n1", Cursor: uint64(n)}
		d.X, d.Y = model.Project(d.Lat, d.Lon)
		fleet.Ingest(d)
	}
	return fleet
}

func listIDs(l *driverList) string {
	var out []string
	for _, r := range l.rows {
		out = append(out, r.ID)
	}
	return strings.Join(out, " ")
}

// The "Stale or offline" toggle next to the search box shows the drivers
// that are not live, the longest silent first, and works together with the
// search box and the columns; off, the list is as it was.
func TestListProblemsToggle(t *testing.T) {
	test.NewTempApp(t)
	fleet := problemFleet(t)
	l := newDriverList(fleet, nil)
	w := test.NewTempWindow(t, l.content)
	w.Resize(fyne.NewSize(500, 700))
	l.update()

	// Ids in natural order by default.
	if got, want := listIDs(l), "sim-1 sim-2 sim-3 sim-4 sim-5 sim-6 sim-7 sim-8 sim-9 sim-10 sim-11 sim-12"; got != want {
		t.Fatalf("rows\n got %s\nwant %s", got, want)
	}
	test.Tap(l.problems)
	if got, want := listIDs(l), "sim-4 sim-10 sim-2 sim-7 sim-12 sim-5 sim-9"; got != want || !l.problems.Checked {
		t.Fatalf("stale or offline, longest first:\n got %s\nwant %s", got, want)
	}
	if l.summary.Text != "7 of 12 drivers stale or offline" || l.sorts[2].Text != "Seen ▼" {
		t.Fatalf("summary %q, age column %q", l.summary.Text, l.sorts[2].Text)
	}
	// The search box narrows it further, and clearing it widens it again.
	test.Type(l.search, "sim-1")
	if got, want := listIDs(l), "sim-10 sim-12"; got != want {
		t.Fatalf("searching sim-1: %s", got)
	}
	l.search.SetText("stale")
	if got, want := listIDs(l), "sim-2 sim-7 sim-12 sim-5 sim-9"; got != want {
		t.Fatalf("searching stale: %s", got)
	}
	l.search.SetText("")
	// A column re-sorts the problems.
	test.Tap(l.sorts[0])
	if got, want := listIDs(l), "sim-2 sim-4 sim-5 sim-7 sim-9 sim-10 sim-12"; got != want {
		t.Fatalf("problems by driver: %s", got)
	}
	test.Tap(l.sorts[2]) // by age, ascending
	test.Tap(l.sorts[2]) // descending: the toggle's own order again
	// Off: everyone, in the order from before the toggle.
	test.Tap(l.problems)
	if got, want := listIDs(l), "sim-1 sim-2 sim-3 sim-4 sim-5 sim-6 sim-7 sim-8 sim-9 sim-10 sim-11 sim-12"; got != want || l.problems.Checked {
		t.Fatalf("toggle off:\n got %s\nwant %s", got, want)
	}
	if l.summary.Text != "12 of 12 drivers" || l.sorts[0].Text != "Driver ▲" {
		t.Fatalf("summary %q, driver column %q", l.summary.Text, l.sorts[0].Text)
	}
	// Off after choosing another column keeps that column.
	test.Tap(l.problems)
	test.Tap(l.sorts[3]) // speed
	test.Tap(l.problems)
	if got, want := listIDs(l), "sim-1 sim-2 sim-3 sim-4 sim-5 sim-6 sim-7 sim-8 sim-9 sim-10 sim-11 sim-12"; got != want || l.sorts[3].Text != "Speed ▲" {
		t.Fatalf("by speed after the toggle: %s (%q)", got, l.sorts[3].Text)
	}
}
