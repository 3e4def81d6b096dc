package dashboard

import (
	"fmt"
	"math"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/node/presence"
)

// goldenFleet is a fixed fleet on a fixed clock (12:00:00 UTC): drivers
// around Bengaluru in every state with its reasons, as their nodes
// announced them — n1 alive, n2 silent since 11:59:50, so lost — one
// driver no node announced (its state judged from its fix's age), one
// connected without a fix yet (listed, not on the map); d-102 selected,
// with its trail and its recent changes of state.
func goldenFleet(t *testing.T) *model.Fleet {
	t.Helper()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clk := newTestClock(now.Add(-time.Minute))
	fleet, err := model.NewFleet(model.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	fleet.Listening(true) // since 11:59:00
	mk := func(id string, cursor uint64, lat, lon, speed float64, age time.Duration) model.Driver {
		d := model.Driver{ID: id, Lat: lat, Lon: lon, Speed: speed, Heading: 90, Accuracy: 5, FixTime: now.Add(-age), Received: now.Add(-age), Node: "n1", Cursor: cursor}
		d.X, d.Y = model.Project(lat, lon)
		return d
	}
	drivers := []model.Driver{
		mk("d-101", 900, 12.9716, 77.5946, 8.3, 2*time.Second),
		mk("d-102", 901, 12.9800, 77.6050, 11.1, 4*time.Second),
		mk("d-103", 902, 12.9650, 77.5850, 0, 9*time.Second),
		mk("d-104", 903, 12.9590, 77.6100, 5.5, 40*time.Second),
		mk("d-105", 904, 12.9880, 77.5800, math.NaN(), 70*time.Second),
		mk("d-106", 905, 12.9520, 77.5990, 3, 12*time.Second),
		mk("d-107", 906, 12.9760, 77.6180, 13.9, 1*time.Second),
	}
	for _, d := range drivers {
		fleet.Ingest(d)
	}
	at := func(hms string) int64 {
		tm, err := time.Parse("15:04:05", hms)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 11, 29, tm.Hour(), tm.Minute(), tm.Second(), 0, time.UTC).UnixMilli()
	}
	announce := func(driver, node string, session int64, n uint64, st model.State, r liveness.Reason, since string) {
		a := presence.Announcement{Driver: driver, State: st, Reason: r, Since: at(since), Node: node, Session: session, N: n}
		if !fleet.Announce(a) {
			t.Fatalf("announcement %+v refused", a)
		}
	}
	announce("d-101", "n1", 1, 2, model.Online, liveness.Fix, "11:55:02")
	// d-102: online, gone, back: its last changes show in the details.
	announce("d-102", "n1", 1, 1, model.Online, liveness.Fix, "11:40:00")
	announce("d-102", "n1", 1, 2, model.Offline, liveness.Disconnected, "11:52:10")
	announce("d-102", "n1", 2, 1, model.Online, liveness.Connected, "11:58:40")
	announce("d-102", "n1", 2, 2, model.Online, liveness.Fix, "11:58:41")
	announce("d-103", "n1", 1, 3, model.Stale, liveness.GPSStale, "11:59:51")
	announce("d-104", "n1", 1, 3, model.Stale, liveness.NoFix, "11:59:35")
	announce("d-105", "n1", 1, 4, model.Offline, liveness.Disconnected, "11:58:55")
	announce("d-106", "n2", 1, 2, model.Online, liveness.Fix, "11:50:00")
	announce("d-108", "n1", 3, 1, model.Online, liveness.Connected, "11:59:58")
	clk.Set(now.Add(-10 * time.Second))
	fleet.Heartbeat("n2") // and no more
	clk.Set(now)
	fleet.Heartbeat("n1")

	fleet.Select("d-102")
	var trail []model.Driver
	for i := 0; i < 8; i++ {
		// East along one street, then north along another.
		lat, lon := 12.9700, 77.5960+float64(min(i, 4))*0.0022
		if i > 4 {
			lat += float64(i-4) * 0.0033
		}
		trail = append(trail, mk("d-102", uint64(800+i*10), lat, lon, 10, time.Duration(40-i*5)*time.Second))
	}
	fleet.SetTrail("d-102", trail)
	return fleet
}

// The dashboard's look, as golden files: the whole window's widget tree as
// markup, and the map's pixels.
func TestViewGolden(t *testing.T) {
	test.NewTempApp(t)
	n := startNode(t) // a real, empty node: the header shows a real connection
	fleet := goldenFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := feed.Status(); s.State != Connected || s.Snapshot.Done < 1 || s.Snapshot.Loading {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	d, w := newDashboard(t, fleet, feed, nil, fyne.NewSize(1000, 640))
	d.Redraw()
	test.AssertRendersToMarkup(t, "dashboard.xml", w.Canvas())
	test.AssertImageMatches(t, "map.png", renderMap(d.mapView))
	test.AssertRendersToImage(t, "dashboard.png", w.Canvas())
}
