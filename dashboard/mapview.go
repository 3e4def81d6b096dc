package dashboard

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/rtls-io/rtls/dashboard/model"
)

// Map constants in screen units.
const (
	tapRadius     = 12  // a tap this close to a driver selects it
	fitPadding    = 40  // "fit all drivers" leaves this much space around them
	fitMaxZoom    = 16  // and zooms no closer than this to a single driver
	gratMinGap    = 110 // graticule lines at least this far apart
	scaleBarWidth = 120 // the scale bar is at most this long
	wheelPerZoom  = 50  // this much wheel scrolling zooms by one level
)

var colText = color.RGBA{0x44, 0x44, 0x44, 0xff}

// MapView is the map: Web-Mercator, pan by dragging, zoom with the wheel or
// the buttons, drivers as dots coloured by freshness, the selected driver
// highlighted with its trail. Where five or more drivers fall in one cell
// of 48×48 screen units (model.Clustering) they are drawn as one disc with
// their count, coloured by the worst state inside; tapping it zooms in to
// them. The selected driver is always drawn. Raster tiles are drawn when a
// TileLayer is given and has them; a graticule and a scale bar are always
// there. It is used on the Fyne goroutine only.
type MapView struct {
	widget.BaseWidget

	fleet    *model.Fleet
	tiles    *TileLayer
	onSelect func(id string)

	clustering model.Clustering // the aggregation rule and its buffers

	vp      model.Viewport
	fitted  bool // fitted to the drivers once they appeared
	steered bool // the user panned or zoomed: no more automatic fitting
	frame   mapFrame
	bufs    [2]*image.RGBA
	cur     int
	drawn   bool // tiles were drawn in the last frame

	raster      *canvas.Raster
	scaleBar    *canvas.Rectangle
	scaleText   *canvas.Text
	attribution *canvas.Text
	gridLabels  []*canvas.Text
	controls    *fyne.Container
}

var (
	_ fyne.Draggable  = (*MapView)(nil)
	_ fyne.Scrollable = (*MapView)(nil)
	_ fyne.Tappable   = (*MapView)(nil)
)

func newMapView(fleet *model.Fleet, tiles *TileLayer, center [2]float64, zoom float64, onSelect func(string)) *MapView {
	m := &MapView{fleet: fleet, tiles: tiles, onSelect: onSelect}
	m.vp = model.NewViewport(center[0], center[1], zoom, 640, 480)
	m.raster = canvas.NewRaster(m.generate)
	m.scaleBar = canvas.NewRectangle(colText)
	m.scaleText = canvas.NewText("", colText)
	m.scaleText.TextSize = 11
	m.attribution = canvas.NewText("", colText)
	m.attribution.TextSize = 10
	m.attribution.Alignment = fyne.TextAlignTrailing
	zoomIn := widget.NewButtonWithIcon("", theme.ZoomInIcon(), func() { m.zoomBy(1) })
	zoomOut := widget.NewButtonWithIcon("", theme.ZoomOutIcon(), func() { m.zoomBy(-1) })
	fit := widget.NewButtonWithIcon("Fit all", theme.ViewFullScreenIcon(), m.FitAll)
	m.controls = container.NewVBox(zoomIn, zoomOut, fit)
	m.ExtendBaseWidget(m)
	return m
}

// Viewport returns what the map shows.
func (m *MapView) Viewport() model.Viewport { return m.vp }

// update takes the fleet's current positions and trail and redraws.
func (m *MapView) update() {
	m.frame.points = m.fleet.Points(m.frame.points)
	m.frame.trail = m.fleet.Trail()
	m.frame.selected = m.fleet.Selected()
	// Fit the first drivers once the map has its real size (a window is
	// laid out only when it is shown).
	if size := m.Size(); !m.fitted && len(m.frame.points) > 0 && size.Width > 0 && size.Height > 0 {
		m.fitted = true
		m.vp.Width, m.vp.Height = float64(size.Width), float64(size.Height)
		m.FitAll()
		return
	}
	m.changed()
}

// FitAll zooms and pans so every driver is in view.
func (m *MapView) FitAll() {
	var b model.Bounds
	for i, p := range m.frame.points {
		b = b.Extend(p.X, p.Y, i > 0)
	}
	if len(m.frame.points) > 0 {
		m.vp.Fit(b, fitPadding, fitMaxZoom)
	}
	m.changed()
}

func (m *MapView) zoomBy(delta float64) {
	m.steered = true
	m.vp.ZoomAt(delta, m.vp.Width/2, m.vp.Height/2)
	m.changed()
}

func (m *MapView) changed() {
	m.layoutOverlays(m.Size())
	m.raster.Refresh()
}

// Dragged pans the map.
func (m *MapView) Dragged(ev *fyne.DragEvent) {
	m.steered = true
	m.vp.Pan(float64(ev.Dragged.DX), float64(ev.Dragged.DY))
	m.changed()
}

// DragEnd is part of fyne.Draggable.
func (m *MapView) DragEnd() {}

// Scrolled zooms around the pointer.
func (m *MapView) Scrolled(ev *fyne.ScrollEvent) {
	m.steered = true
	m.vp.ZoomAt(float64(ev.Scrolled.DY)/wheelPerZoom, float64(ev.Position.X), float64(ev.Position.Y))
	m.changed()
}

// Tapped selects the driver nearest to the tap, if one is close enough, or
// zooms in to the cluster under the tap. What is drawn on top wins: the
// selected driver, then clusters, then the other dots.
func (m *MapView) Tapped(ev *fyne.PointEvent) {
	if c, ok := m.clusterAt(ev.Position); ok {
		m.zoomToCell(c)
		return
	}
	if id := m.DriverAt(ev.Position); id != "" && m.onSelect != nil {
		m.onSelect(id)
	}
}

// DriverAt returns the driver drawn nearest to pos within the tap radius, or
// "". Drivers inside a cluster are not drawn, except the selected one.
func (m *MapView) DriverAt(pos fyne.Position) string {
	cl := m.bin()
	if i := cl.Selected; i >= 0 {
		p := &m.frame.points[i]
		if sx, sy := m.vp.ToScreen(p.X, p.Y); math.Hypot(sx-float64(pos.X), sy-float64(pos.Y)) <= tapRadius {
			return p.ID
		}
	}
	best, bestD := "", math.Inf(1)
	for i := range m.frame.points {
		p := &m.frame.points[i]
		if k := cl.CellOf[i]; k >= 0 && cl.Cells[k].Aggregated {
			continue
		}
		sx, sy := m.vp.ToScreen(p.X, p.Y)
		if d := math.Hypot(sx-float64(pos.X), sy-float64(pos.Y)); d <= tapRadius && (d < bestD || (d == bestD && model.CompareIDs(p.ID, best) < 0)) {
			best, bestD = p.ID, d
		}
	}
	return best
}

// clusterAt returns the aggregated cell whose disc is under pos, unless the
// selected driver is drawn there on top of it.
func (m *MapView) clusterAt(pos fyne.Position) (model.Cell, bool) {
	cl := m.bin()
	if i := cl.Selected; i >= 0 {
		p := &m.frame.points[i]
		if sx, sy := m.vp.ToScreen(p.X, p.Y); math.Hypot(sx-float64(pos.X), sy-float64(pos.Y)) <= tapRadius {
			return model.Cell{}, false
		}
	}
	for k := len(cl.Cells) - 1; k >= 0; k-- { // the last drawn is on top
		c := &cl.Cells[k]
		if !c.Aggregated {
			continue
		}
		sx, sy := m.vp.ToScreen(c.X, c.Y)
		if math.Hypot(sx-float64(pos.X), sy-float64(pos.Y)) <= clusterRadius(c.Count)+2 {
			return *c, true
		}
	}
	return model.Cell{}, false
}

// zoomToCell zooms in so that the cell's drivers fill the view: at least
// one level closer, so repeated taps always get through to the dots.
func (m *MapView) zoomToCell(c model.Cell) {
	m.steered = true
	z := m.vp.Zoom
	m.vp.Fit(c.Bounds, fitPadding, model.MaxZoom)
	if m.vp.Zoom < z+1 {
		m.vp.ZoomAt(z+1-m.vp.Zoom, m.vp.Width/2, m.vp.Height/2)
	}
	m.changed()
}

// bin sorts the frame's points into the cells of the current view.
func (m *MapView) bin() *model.Clusters {
	return m.clustering.Bin(m.frame.points, &m.vp, m.frame.selected)
}

// ScreenPosition is where the driver is drawn, and whether it is known.
func (m *MapView) ScreenPosition(id string) (fyne.Position, bool) {
	d, _, ok := m.fleet.Driver(id)
	if !ok {
		return fyne.Position{}, false
	}
	sx, sy := m.vp.ToScreen(d.X, d.Y)
	return fyne.NewPos(float32(sx), float32(sy)), true
}

// generate is the raster's image: w×h pixels for the widget's size.
func (m *MapView) generate(w, h int) image.Image {
	if w <= 0 || h <= 0 {
		return image.NewRGBA(image.Rect(0, 0, 1, 1))
	}
	// Two buffers: the painter may still hold the previous image.
	m.cur ^= 1
	img := m.bufs[m.cur]
	if img == nil || img.Rect.Dx() != w || img.Rect.Dy() != h {
		img = image.NewRGBA(image.Rect(0, 0, w, h))
		m.bufs[m.cur] = img
	}
	m.Render(img)
	return img
}

// Render draws the map into img, whose size in pixels may differ from the
// widget's size in screen units (HiDPI).
func (m *MapView) Render(img *image.RGBA) {
	m.frame.vp = m.vp
	m.frame.clusters = m.bin()
	m.frame.scale = 1
	if m.vp.Width > 0 {
		m.frame.scale = float64(img.Rect.Dx()) / m.vp.Width
	}
	m.frame.tiles = m.tiles
	m.frame.gratStep = m.vp.GraticuleStep(gratMinGap)
	m.drawn = m.frame.paint(img)
}

// layoutOverlays places the scale bar, graticule labels, attribution and
// buttons for size.
func (m *MapView) layoutOverlays(size fyne.Size) {
	if size.Width <= 0 || size.Height <= 0 {
		return // not laid out yet
	}
	m.vp.Width, m.vp.Height = float64(size.Width), float64(size.Height)
	// Scale bar, bottom left.
	_, w, label := m.vp.ScaleBar(scaleBarWidth)
	m.scaleText.Text = label
	m.scaleText.Move(fyne.NewPos(10, size.Height-34))
	m.scaleBar.Resize(fyne.NewSize(float32(w), 4))
	m.scaleBar.Move(fyne.NewPos(10, size.Height-16))
	m.scaleText.Refresh()
	m.scaleBar.Refresh()
	// Attribution, bottom right, whenever tiles are configured.
	if m.tiles != nil {
		m.attribution.Text = m.tiles.Attribution()
	}
	m.attribution.Resize(fyne.NewSize(size.Width-10, 14))
	m.attribution.Move(fyne.NewPos(0, size.Height-16))
	m.attribution.Refresh()
	// Controls, top right.
	cs := m.controls.MinSize()
	m.controls.Resize(cs)
	m.controls.Move(fyne.NewPos(size.Width-cs.Width-8, 8))
	m.layoutGridLabels()
}

// layoutGridLabels labels the graticule's lines along the top and left edges.
func (m *MapView) layoutGridLabels() {
	step := m.vp.GraticuleStep(gratMinGap)
	north, west, south, east := m.vp.VisibleLatLon()
	used := 0
	label := func(text string, x, y float32) {
		if used == len(m.gridLabels) {
			t := canvas.NewText("", colText)
			t.TextSize = 10
			m.gridLabels = append(m.gridLabels, t)
		}
		t := m.gridLabels[used]
		used++
		t.Text = text
		t.Move(fyne.NewPos(x, y))
		t.Show()
		t.Refresh()
	}
	decimals := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	for lon := math.Ceil(west/step) * step; lon <= east && used < 40; lon += step {
		x, _ := m.vp.LatLonToScreen(0, lon)
		label(fmt.Sprintf("%.*f°", decimals, lon), float32(x)+3, 2)
	}
	for lat := math.Ceil(south/step) * step; lat <= north && used < 80; lat += step {
		_, y := m.vp.LatLonToScreen(lat, 0)
		label(fmt.Sprintf("%.*f°", decimals, lat), 3, float32(y)-14)
	}
	for _, t := range m.gridLabels[used:] {
		t.Hide()
	}
}

// CreateRenderer is part of fyne.Widget.
func (m *MapView) CreateRenderer() fyne.WidgetRenderer {
	m.layoutOverlays(m.Size())
	return &mapRenderer{m: m}
}

type mapRenderer struct{ m *MapView }

func (r *mapRenderer) Layout(size fyne.Size) {
	r.m.raster.Resize(size)
	r.m.layoutOverlays(size)
	if r.m.fitted && !r.m.steered {
		// The window got its real size after the first fit: fit again
		// until the user takes the map over.
		r.m.FitAll()
	}
}

func (r *mapRenderer) MinSize() fyne.Size { return fyne.NewSize(200, 200) }

func (r *mapRenderer) Refresh() {
	r.m.layoutOverlays(r.m.Size())
	r.m.raster.Refresh()
}

func (r *mapRenderer) Objects() []fyne.CanvasObject {
	objs := []fyne.CanvasObject{r.m.raster}
	for _, t := range r.m.gridLabels {
		objs = append(objs, t)
	}
	return append(objs, r.m.scaleBar, r.m.scaleText, r.m.attribution, r.m.controls)
}

func (r *mapRenderer) Destroy() {}
