package dashboard

import (
	"fmt"
	"math"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/rtls-io/rtls/dashboard/model"
)

// crowdFleet is a fixed fleet on a fixed clock that the map aggregates when
// it shows all of it: four groups of 100 drivers (sim-1…sim-400) around
// Bengaluru, laid out on sunflower spirals, and eight drivers on their
// own. Group 2 has stale drivers, group 3 one offline driver, group 4 a
// stale driver every seventh; sim-150 is selected.
func crowdFleet(t testing.TB) *model.Fleet {
	t.Helper()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	fleet, err := model.NewFleet(model.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int, lat, lon float64, age time.Duration) {
		id := fmt.Sprintf("sim-%d", n)
		d := model.Driver{ID: id, Lat: lat, Lon: lon, Speed: 7, Heading: math.NaN(), Accuracy: 5, FixTime: now.Add(-age), Received: now.Add(-age), Node: "n1", Cursor: uint64(n)}
		d.X, d.Y = model.Project(lat, lon)
		fleet.Ingest(d)
	}
	centres := [4][2]float64{{12.97, 77.59}, {12.93, 77.63}, {13.01, 77.55}, {12.99, 77.66}}
	n := 0
	for g, c := range centres {
		for i := 0; i < 100; i++ {
			n++
			age := 3 * time.Second
			switch {
			case g == 1 && i%40 == 17:
				age = 40 * time.Second
			case g == 2 && i == 50:
				age = 10 * time.Minute
			case g == 3 && i%7 == 0:
				age = 30 * time.Second
			}
			a, r := float64(i)*2.399963, 0.012*math.Sqrt(float64(i)/100)
			add(n, c[0]+r*math.Sin(a), c[1]+r*math.Cos(a), age)
		}
	}
	for i := 0; i < 8; i++ {
		n++
		add(n, 12.92+float64(i%4)*0.03, 77.52+float64(i)*0.02, time.Duration(i)*20*time.Second)
	}
	fleet.Select("sim-150")
	return fleet
}

// newMap shows a map of fleet, fitted to it, in a test window of size.
func newMap(t *testing.T, fleet *model.Fleet, size fyne.Size, onSelect func(string)) *MapView {
	t.Helper()
	m := newMapView(fleet, nil, [2]float64{0, 0}, 2, onSelect)
	w := test.NewTempWindow(t, m)
	w.Resize(size)
	m.update() // the first drivers: the map fits them
	return m
}

// The look of an aggregated map, as a golden image.
func TestMapClustersGolden(t *testing.T) {
	test.NewTempApp(t)
	m := newMap(t, crowdFleet(t), fyne.NewSize(640, 480), nil)
	test.AssertImageMatches(t, "map-clusters.png", renderMap(m))
}

// Zoomed out, crowded drivers are drawn as counts coloured by the worst
// state inside; the selected driver stays visible and tappable on top.
func TestMapAggregatesAndKeepsTheSelection(t *testing.T) {
	test.NewTempApp(t)
	var selected []string
	fleet := crowdFleet(t)
	m := newMap(t, fleet, fyne.NewSize(640, 480), func(id string) { selected = append(selected, id) })
	cl := m.bin()
	aggregated, inClusters, worst := 0, 0, map[model.State]int{}
	for _, c := range cl.Cells {
		if c.Aggregated {
			aggregated++
			inClusters += c.Count
			worst[c.Worst]++
		}
	}
	if cl.InView != fleet.Len() || aggregated < 8 || inClusters < 300 {
		t.Fatalf("%d of %d drivers in view, %d in %d clusters", cl.InView, fleet.Len(), inClusters, aggregated)
	}
	if worst[model.Online] == 0 || worst[model.Stale] == 0 || worst[model.Offline] != 1 {
		t.Fatalf("clusters by worst state %v, want some live, some stale, one offline", worst)
	}
	// Each cluster is drawn in its worst state's colour, and the plain
	// dots of the clustered drivers are not drawn around it.
	img := renderMap(m)
	for _, c := range cl.Cells {
		if !c.Aggregated || c.Selected {
			continue
		}
		sx, sy := m.vp.ToScreen(c.X, c.Y)
		if got := img.RGBAAt(int(sx+clusterRadius(c.Count)-3), int(sy)); got != StatusColour(c.Worst) {
			t.Fatalf("cluster of %d (worst %v) at %.0f,%.0f drawn %v", c.Count, c.Worst, sx, sy, got)
		}
	}

	// The selected driver, inside a cluster, is drawn highlighted where it is.
	i := cl.Selected
	if i < 0 || !cl.Cells[cl.CellOf[i]].Aggregated {
		t.Fatalf("sim-150 is not inside a cluster")
	}
	sp, _ := m.ScreenPosition("sim-150")
	if c := img.RGBAAt(int(sp.X)+5, int(sp.Y)); c != colSelected {
		t.Fatalf("pixel next to the selected driver is %v, want the selection ring", c)
	}
	// Tapping it keeps it selected rather than zooming.
	z := m.vp.Zoom
	test.TapAt(m, sp.Add(fyne.NewPos(2, 1)))
	if m.vp.Zoom != z || len(selected) != 1 || selected[0] != "sim-150" {
		t.Fatalf("tap on the selected driver: zoom %v→%v, selected %q", z, m.vp.Zoom, selected)
	}
	// A driver hidden in a cluster is not tappable on its own: a tap where
	// it is finds a dot that is drawn, or nothing.
	hidden := map[string]bool{}
	for j, p := range m.frame.points {
		if k := cl.CellOf[j]; k >= 0 && cl.Cells[k].Aggregated && p.ID != "sim-150" {
			hidden[p.ID] = true
		}
	}
	for _, p := range m.frame.points {
		if hidden[p.ID] {
			if at := m.DriverAt(fyneScreen(m, p)); hidden[at] {
				t.Fatalf("a tap on %s found %s, hidden in a cluster", p.ID, at)
			}
		}
	}
}

func fyneScreen(m *MapView, p model.Point) fyne.Position {
	sx, sy := m.vp.ToScreen(p.X, p.Y)
	return fyne.NewPos(float32(sx), float32(sy))
}

// Tapping a cluster zooms in to its drivers; repeated taps get through to
// every driver as a dot of its own, which a tap then selects.
func TestMapTapOnClusterZoomsIn(t *testing.T) {
	test.NewTempApp(t)
	var selected []string
	fleet := crowdFleet(t)
	fleet.Select("")
	m := newMap(t, fleet, fyne.NewSize(640, 480), func(id string) { selected = append(selected, id) })

	// The biggest cluster, and who is in it.
	cl := m.bin()
	best := -1
	for k, c := range cl.Cells {
		if c.Aggregated && (best < 0 || c.Count > cl.Cells[best].Count) {
			best = k
		}
	}
	if best < 0 {
		t.Fatal("no cluster")
	}
	members := map[string]bool{}
	for i, p := range m.frame.points {
		if cl.CellOf[i] == int32(best) {
			members[p.ID] = true
		}
	}
	c := cl.Cells[best]
	z0 := m.vp.Zoom
	sx, sy := m.vp.ToScreen(c.X, c.Y)
	test.TapAt(m, fyne.NewPos(float32(sx)+3, float32(sy)-2))
	if m.vp.Zoom < z0+1 || len(selected) != 0 {
		t.Fatalf("tap on a cluster of %d: zoom %v→%v, selected %q", c.Count, z0, m.vp.Zoom, selected)
	}
	// All of its drivers are in view, spread out.
	inView := func() {
		t.Helper()
		for id := range members {
			p, _ := m.ScreenPosition(id)
			if p.X < 0 || p.Y < 0 || float64(p.X) >= m.vp.Width || float64(p.Y) >= m.vp.Height {
				t.Fatalf("%s at %v is out of the %vx%v view at zoom %v", id, p, m.vp.Width, m.vp.Height, m.vp.Zoom)
			}
		}
	}
	inView()

	// Keep tapping whatever cluster still hides one of them: bounded by the
	// zoom levels left, since each tap zooms in by at least one.
	for taps := 0; ; taps++ {
		cl = m.bin()
		hidden := -1
		for i, p := range m.frame.points {
			if k := cl.CellOf[i]; members[p.ID] && k >= 0 && cl.Cells[k].Aggregated {
				hidden = int(k)
				break
			}
		}
		if hidden < 0 {
			break
		}
		if taps > model.MaxZoom {
			t.Fatalf("still clustered after %d taps, zoom %v", taps, m.vp.Zoom)
		}
		z := m.vp.Zoom
		h := cl.Cells[hidden]
		sx, sy := m.vp.ToScreen(h.X, h.Y)
		test.TapAt(m, fyne.NewPos(float32(sx), float32(sy)))
		if m.vp.Zoom < math.Min(z+1, model.MaxZoom) {
			t.Fatalf("tap on a cluster of %d: zoom %v→%v", h.Count, z, m.vp.Zoom)
		}
	}
	// Every member is a dot now; tapping one selects it.
	for id := range members {
		p, _ := m.ScreenPosition(id)
		if float64(p.X) < 0 || float64(p.Y) < 0 || float64(p.X) >= m.vp.Width || float64(p.Y) >= m.vp.Height {
			continue // the deeper zooms centred on a part of them
		}
		if got := m.DriverAt(p); got == "" {
			t.Fatalf("%s at %v is not tappable", id, p)
		}
	}
	var target string
	for id := range members {
		if p, _ := m.ScreenPosition(id); p.X >= 0 && p.Y >= 0 && float64(p.X) < m.vp.Width && float64(p.Y) < m.vp.Height && m.DriverAt(p) == id {
			target = id
			break
		}
	}
	if target == "" {
		t.Fatal("no member of the cluster can be tapped on its own")
	}
	p, _ := m.ScreenPosition(target)
	test.TapAt(m, p)
	if len(selected) != 1 || selected[0] != target {
		t.Fatalf("tapping %s selected %q", target, selected)
	}
	// "Fit all" brings the clusters back.
	test.Tap(m.controls.Objects[2].(*widget.Button))
	if m.vp.Zoom != z0 {
		t.Fatalf("fit all: zoom %v, first fit %v", m.vp.Zoom, z0)
	}
}
