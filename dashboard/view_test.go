package dashboard

import (
	"fmt"
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/rtls-io/rtls/dashboard/model"
)

// newDashboard builds a dashboard in a test window of the given size.
func newDashboard(t *testing.T, fleet *model.Fleet, feed *Feed, tiles *TileLayer, size fyne.Size) (*Dashboard, fyne.Window) {
	t.Helper()
	d, err := New(Config{Fleet: fleet, Feed: feed, Tiles: tiles, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	w := test.NewTempWindow(t, d.Content())
	w.Resize(size)
	return d, w
}

// walk calls f with every visible object under root and its position on
// the canvas, using the widgets' live renderers (test.LaidOutObjects would
// build new ones).
func walk(root fyne.CanvasObject, f func(o fyne.CanvasObject, at fyne.Position)) {
	var rec func(o fyne.CanvasObject, at fyne.Position)
	rec = func(o fyne.CanvasObject, at fyne.Position) {
		if !o.Visible() {
			return
		}
		at = at.Add(o.Position())
		f(o, at)
		switch v := o.(type) {
		case *fyne.Container:
			for _, c := range v.Objects {
				rec(c, at)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(v).Objects() {
				rec(c, at)
			}
		}
	}
	rec(root, fyne.Position{})
}

// labels returns the texts of every visible label and text on the canvas.
func labels(w fyne.Window) []string {
	var out []string
	walk(w.Canvas().Content(), func(o fyne.CanvasObject, _ fyne.Position) {
		switch v := o.(type) {
		case *widget.Label:
			out = append(out, v.Text)
		case *canvas.Text:
			out = append(out, v.Text)
		}
	})
	return out
}

func hasLabel(w fyne.Window, text string) bool {
	for _, l := range labels(w) {
		if l == text {
			return true
		}
	}
	return false
}

func rowIDs(d *Dashboard) []string {
	var out []string
	for _, r := range d.list.rows {
		out = append(out, r.ID)
	}
	return out
}

// labelAt finds where the visible label showing text is.
func labelAt(t *testing.T, w fyne.Window, text string) fyne.Position {
	t.Helper()
	var pos *fyne.Position
	walk(w.Canvas().Content(), func(o fyne.CanvasObject, at fyne.Position) {
		if l, ok := o.(*widget.Label); ok && l.Text == text && pos == nil {
			pos = &at
		}
	})
	if pos == nil {
		t.Fatalf("no label %q on the canvas: %q", text, labels(w))
	}
	return *pos
}

// absPos is where o is on w's canvas.
func absPos(t *testing.T, w fyne.Window, o fyne.CanvasObject) fyne.Position {
	t.Helper()
	var pos *fyne.Position
	walk(w.Canvas().Content(), func(c fyne.CanvasObject, at fyne.Position) {
		if c == o {
			pos = &at
		}
	})
	if pos == nil {
		t.Fatalf("%T not on the canvas", o)
	}
	return *pos
}

// The view test: the list shows the drivers of a real node, the
// search box filters, tapping a row selects the driver on the map.
func TestViewListSearchAndSelect(t *testing.T) {
	test.NewTempApp(t)
	n := startNode(t)
	for i, id := range []string{"d-anna", "d-bob", "x-carl"} {
		send(t, dialDriver(t, n.WebSocketURL(), id), 12.97+float64(i)*0.01, 77.59+float64(i)*0.01, float64(5*i))
	}
	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if fleet.Len() != 3 {
			return fmt.Errorf("%d drivers", fleet.Len())
		}
		return nil
	})
	d, w := newDashboard(t, fleet, feed, nil, fyne.NewSize(1100, 700))
	d.Redraw()

	if got := strings.Join(rowIDs(d), " "); got != "d-anna d-bob x-carl" {
		t.Fatalf("rows %q", got)
	}
	for _, want := range []string{"d-anna", "d-bob", "x-carl", "3 of 3 drivers", "Node: n1", "Cluster: connected", "● online · fix", "18 km/h"} {
		if !hasLabel(w, want) {
			t.Errorf("no %q shown; labels: %q", want, labels(w))
		}
	}
	if !strings.HasPrefix(d.header.active.Text, "Online drivers: 3 of 3 ") {
		t.Errorf("header %q", d.header.active.Text)
	}

	// Typing filters.
	test.Type(d.list.search, "x-")
	if got := strings.Join(rowIDs(d), " "); got != "x-carl" {
		t.Fatalf("rows after typing %q", got)
	}
	if hasLabel(w, "d-anna") || !hasLabel(w, "1 of 3 drivers") {
		t.Fatalf("filtered list shows %q", labels(w))
	}

	// Tapping the row selects the driver on the map.
	pos := labelAt(t, w, "x-carl").Add(fyne.NewPos(5, 5))
	test.TapCanvas(w.Canvas(), pos)
	if fleet.Selected() != "x-carl" || d.mapView.frame.selected != "x-carl" {
		t.Fatalf("selected %q, map %q", fleet.Selected(), d.mapView.frame.selected)
	}
	// The map draws it highlighted where the driver is.
	sp, ok := d.mapView.ScreenPosition("x-carl")
	if !ok {
		t.Fatal("no screen position")
	}
	img := renderMap(d.mapView)
	if c := img.RGBAAt(int(sp.X)+5, int(sp.Y)); c != colSelected {
		t.Fatalf("pixel next to the selected driver is %v, want the selection ring", c)
	}
	// Its trail is read from the stream.
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if tr := fleet.Trail(); len(tr) != 1 || tr[0].Lat != 12.99 {
			return fmt.Errorf("trail %+v", tr)
		}
		return nil
	})
	// Clearing the search shows everyone again, the selection highlighted.
	d.list.search.SetText("")
	if len(d.list.rows) != 3 || d.list.selected != "x-carl" {
		t.Fatalf("rows %v selected %q", rowIDs(d), d.list.selected)
	}

	// Sorting by speed, descending, with the header buttons.
	test.Tap(d.list.sorts[3])
	test.Tap(d.list.sorts[3])
	if got := strings.Join(rowIDs(d), " "); got != "x-carl d-bob d-anna" || d.list.sorts[3].Text != "Speed ▼" {
		t.Fatalf("rows by speed desc %q (%q)", got, d.list.sorts[3].Text)
	}
}

func renderMap(m *MapView) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, int(m.vp.Width), int(m.vp.Height)))
	m.Render(img)
	return img
}

// rowBackground returns the background of the list row showing id.
func rowBackground(t *testing.T, d *Dashboard, id string) color.Color {
	t.Helper()
	var bg color.Color
	walk(d.list.list, func(o fyne.CanvasObject, _ fyne.Position) {
		c, ok := o.(*fyne.Container)
		if !ok || len(c.Objects) != 2 {
			return
		}
		rect, ok1 := c.Objects[0].(*canvas.Rectangle)
		cells, ok2 := c.Objects[1].(*fyne.Container)
		if !ok1 || !ok2 || len(cells.Objects) != len(listColumns) {
			return
		}
		if l, ok := cells.Objects[0].(*widget.Label); ok && l.Text == id {
			bg = rect.FillColor
		}
	})
	if bg == nil {
		t.Fatalf("no row for %s", id)
	}
	return bg
}

// Tapping a driver on the map selects its row in the list; dragging pans,
// the wheel and the buttons zoom, "Fit all" brings everyone back.
func TestViewMapSelectsRowAndNavigates(t *testing.T) {
	test.NewTempApp(t)
	n := startNode(t)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	for i, id := range []string{"a", "b", "c", "d"} {
		send(t, dialDriver(t, n.WebSocketURL(), id), 48.85+float64(i%2)*0.02, 2.35+float64(i/2)*0.03, 4)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if fleet.Len() != 4 {
			return fmt.Errorf("%d drivers", fleet.Len())
		}
		return nil
	})
	d, w := newDashboard(t, fleet, feed, nil, fyne.NewSize(1100, 700))
	d.Redraw() // the first drivers: the map fits them
	m := d.mapView
	for _, id := range []string{"a", "b", "c", "d"} {
		p, _ := m.ScreenPosition(id)
		if p.X < fitPadding-1 || p.Y < fitPadding-1 || float64(p.X) > m.vp.Width-fitPadding+1 || float64(p.Y) > m.vp.Height-fitPadding+1 {
			t.Fatalf("%s at %v is outside the fitted view %vx%v", id, p, m.vp.Width, m.vp.Height)
		}
	}

	p, _ := m.ScreenPosition("c")
	test.TapAt(m, p.Add(fyne.NewPos(4, -3)))
	if fleet.Selected() != "c" {
		t.Fatalf("selected %q after tapping c on the map", fleet.Selected())
	}
	if bg := rowBackground(t, d, "c"); bg != colRowSelected {
		t.Fatalf("row c background %v", bg)
	}
	if bg := rowBackground(t, d, "a"); bg == colRowSelected {
		t.Fatal("row a highlighted too")
	}
	test.TapAt(m, fyne.NewPos(1, float32(m.vp.Height)-60)) // nobody there
	if fleet.Selected() != "c" {
		t.Fatal("a tap on an empty spot changed the selection")
	}

	// Drag: the map follows the pointer.
	before, _ := m.ScreenPosition("a")
	test.Drag(w.Canvas(), absPos(t, w, m).Add(fyne.NewPos(300, 300)), 40, -25)
	after, _ := m.ScreenPosition("a")
	if d := after.Subtract(before); absf(d.X-40) > 0.01 || absf(d.Y+25) > 0.01 {
		t.Fatalf("drag moved a by %v, want (40, -25)", d)
	}
	// Wheel: zoom in around the pointer.
	z := m.vp.Zoom
	test.Scroll(w.Canvas(), absPos(t, w, m).Add(fyne.NewPos(200, 200)), 0, wheelPerZoom)
	if m.vp.Zoom != z+1 {
		t.Fatalf("zoom %v after one level of wheel from %v", m.vp.Zoom, z)
	}
	// Buttons: zoom out twice, then fit all.
	buttons := m.controls.Objects
	test.Tap(buttons[1].(*widget.Button))
	test.Tap(buttons[1].(*widget.Button))
	if m.vp.Zoom != z-1 {
		t.Fatalf("zoom %v after two zoom-outs", m.vp.Zoom)
	}
	test.Tap(buttons[2].(*widget.Button))
	if m.vp.Zoom != z {
		t.Fatalf("fit all gave zoom %v, the first fit %v", m.vp.Zoom, z)
	}
	test.Tap(buttons[0].(*widget.Button))
	if m.vp.Zoom != z+1 {
		t.Fatalf("zoom %v after zoom-in", m.vp.Zoom)
	}
}

func absf(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// While the cluster is unreachable the header shows a banner.
func TestViewBannerWhileDisconnected(t *testing.T) {
	test.NewTempApp(t)
	n := startNode(t)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	d, w := newDashboard(t, fleet, feed, nil, fyne.NewSize(1000, 600))
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := feed.Status(); s.State != Connected || s.Snapshot.Done < 1 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	d.Redraw()
	if d.header.banner.Visible() {
		t.Fatal("banner while connected")
	}
	stopNode(t, n)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := feed.Status(); s.State != Reconnecting {
			return fmt.Errorf("state %v", s.State)
		}
		return nil
	})
	d.Redraw()
	if !d.header.banner.Visible() || !strings.Contains(d.header.bannerText.Text, "reconnecting") {
		t.Fatalf("banner visible %v: %q", d.header.banner.Visible(), d.header.bannerText.Text)
	}
	if !hasLabel(w, "Node: –") || !hasLabel(w, "Cluster: reconnecting") {
		t.Fatalf("header %q", labels(w))
	}
}

// The redraw loop redraws through fyne.Do at a bounded rate when the fleet
// changes.
func TestViewRedrawLoop(t *testing.T) {
	test.NewTempApp(t)
	n := startNode(t)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	d, err := New(Config{Fleet: fleet, Feed: feed, RedrawInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := test.NewTempWindow(t, d.Content())
	w.Resize(fyne.NewSize(900, 600))
	d.Start()
	c := send(t, dialDriver(t, n.WebSocketURL(), "late"), 1, 2, 3)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if err := hasFix(fleet, "late", c); err != nil {
			return err
		}
		if d.Redraws() < 2 {
			return fmt.Errorf("%d redraws", d.Redraws())
		}
		return nil
	})
	start, r0 := time.Now(), d.Redraws()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if d.Redraws() < r0+2 {
			return fmt.Errorf("%d redraws", d.Redraws())
		}
		return nil
	})
	d.Close() // the loop has stopped: widgets may be read here
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Fatalf("two redraws in %v: faster than the interval allows", took)
	}
	if strings.Join(rowIDs(d), " ") != "late" || !hasLabel(w, "late") {
		t.Fatalf("rows %v", rowIDs(d))
	}
}

// The first fit follows the window's size until the user pans or zooms.
func TestMapRefitsUntilSteered(t *testing.T) {
	test.NewTempApp(t)
	fleet := goldenFleet(t)
	m := newMapView(fleet, nil, [2]float64{0, 0}, 2, nil)
	w := test.NewTempWindow(t, m)
	w.Resize(fyne.NewSize(300, 300))
	m.update()
	small := m.vp.Zoom
	w.Resize(fyne.NewSize(1200, 900))
	if m.vp.Zoom <= small+1 {
		t.Fatalf("zoom %v after growing the window, %v before", m.vp.Zoom, small)
	}
	fitted := m.vp.Zoom
	m.Scrolled(&fyne.ScrollEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(600, 450)}, Scrolled: fyne.NewDelta(0, -wheelPerZoom)})
	w.Resize(fyne.NewSize(1000, 800))
	if m.vp.Zoom != fitted-1 {
		t.Fatalf("zoom %v: the map was refitted after the user zoomed (fitted %v)", m.vp.Zoom, fitted)
	}
}
