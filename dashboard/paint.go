package dashboard

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/rtls-io/rtls/dashboard/model"
)

// Colours of the map.
var (
	colBackground = color.RGBA{0xf4, 0xf2, 0xee, 0xff}
	colGraticule  = color.RGBA{0xd8, 0xd4, 0xcc, 0xff}
	colTrail      = color.RGBA{0x15, 0x65, 0xc0, 0xff}
	colSelected   = color.RGBA{0x15, 0x65, 0xc0, 0xff}
	colOutline    = color.RGBA{0xff, 0xff, 0xff, 0xff}
	// statusColours by State.Severity: online, stale, offline.
	statusColours = [...]color.RGBA{
		0: {0x2e, 0x9d, 0x3a, 0xff}, // online: green
		1: {0xf0, 0xa0, 0x1a, 0xff}, // stale: orange
		2: {0x8a, 0x8a, 0x8a, 0xff}, // offline: grey
	}
)

// StatusColour is the colour of a driver's dot and status in the list: by
// the state's severity, so anything unknown is drawn as offline.
func StatusColour(s model.State) color.RGBA {
	return statusColours[min(s.Severity(), len(statusColours)-1)]
}

// mapFrame is everything one drawing of the map needs. It is built and
// drawn on the UI goroutine.
type mapFrame struct {
	vp       model.Viewport // in screen units
	scale    float64        // pixels per screen unit
	points   []model.Point
	clusters *model.Clusters // which points are aggregated, at vp; nil: none
	trail    []model.TrailPoint
	selected string
	tiles    *TileLayer // nil when no tile server is configured
	gratStep float64    // graticule spacing in degrees
}

// paint draws f into img (w×h pixels) and reports whether any tile was drawn.
func (f *mapFrame) paint(img *image.RGBA) (tilesDrawn bool) {
	draw.Draw(img, img.Bounds(), image.NewUniform(colBackground), image.Point{}, draw.Src)
	f.paintGraticule(img)
	if f.tiles != nil {
		tilesDrawn = f.tiles.paint(img, &f.vp, f.scale)
	}
	f.paintTrail(img)
	r := math.Max(2, 3.5*f.scale)
	// Offline first, online last: the drivers still coming stay on top.
	// Drivers in aggregated cells are drawn as their cell's count instead.
	for _, st := range [...]model.State{model.Offline, model.Stale, model.Online} {
		c := StatusColour(st)
		for i := range f.points {
			p := &f.points[i]
			if p.Status != st || p.ID == f.selected || f.aggregated(i) {
				continue
			}
			x, y := f.toPixels(p.X, p.Y)
			fillCircle(img, x, y, r, c)
		}
	}
	if f.clusters != nil {
		for i := range f.clusters.Cells {
			if c := &f.clusters.Cells[i]; c.Aggregated {
				f.paintCluster(img, c)
			}
		}
	}
	// The selected driver stays visible on top, even inside a cluster.
	for i := range f.points {
		if p := &f.points[i]; p.ID == f.selected {
			x, y := f.toPixels(p.X, p.Y)
			fillCircle(img, x, y, r*2.6, colOutline)
			fillCircle(img, x, y, r*2.1, colSelected)
			fillCircle(img, x, y, r*1.1, StatusColour(p.Status))
		}
	}
	return tilesDrawn
}

// aggregated reports whether point i is drawn as part of a cluster's count.
func (f *mapFrame) aggregated(i int) bool {
	if f.clusters == nil {
		return false
	}
	k := f.clusters.CellOf[i]
	return k >= 0 && f.clusters.Cells[k].Aggregated
}

func (f *mapFrame) toPixels(x, y float64) (float64, float64) {
	sx, sy := f.vp.ToScreen(x, y)
	return sx * f.scale, sy * f.scale
}

// paintGraticule draws lines of latitude and longitude every gratStep degrees.
func (f *mapFrame) paintGraticule(img *image.RGBA) {
	step := f.gratStep
	if step <= 0 {
		return
	}
	north, west, south, east := f.vp.VisibleLatLon()
	b := img.Bounds()
	for lon := math.Ceil(west/step) * step; lon <= east; lon += step {
		x, _ := f.vp.LatLonToScreen(0, lon)
		vline(img, int(math.Round(x*f.scale)), b.Min.Y, b.Max.Y, colGraticule)
	}
	for lat := math.Ceil(south/step) * step; lat <= north; lat += step {
		_, y := f.vp.LatLonToScreen(lat, 0)
		hline(img, b.Min.X, b.Max.X, int(math.Round(y*f.scale)), colGraticule)
	}
}

func (f *mapFrame) paintTrail(img *image.RGBA) {
	w := math.Max(1, 2*f.scale)
	for i := 1; i < len(f.trail); i++ {
		x0, y0 := f.toPixels(f.trail[i-1].X, f.trail[i-1].Y)
		x1, y1 := f.toPixels(f.trail[i].X, f.trail[i].Y)
		thickLine(img, x0, y0, x1, y1, w, colTrail)
	}
	for _, p := range f.trail {
		x, y := f.toPixels(p.X, p.Y)
		fillCircle(img, x, y, w*1.2, colTrail)
	}
}

// fillCircle fills the disc of radius r around (cx, cy), clipped to img.
func fillCircle(img *image.RGBA, cx, cy, r float64, c color.RGBA) {
	b := img.Bounds()
	y0, y1 := max(b.Min.Y, int(math.Floor(cy-r))), min(b.Max.Y-1, int(math.Ceil(cy+r)))
	if y0 > y1 || cx+r < float64(b.Min.X) || cx-r > float64(b.Max.X) {
		return
	}
	r2 := r * r
	for y := y0; y <= y1; y++ {
		dy := float64(y) + 0.5 - cy
		if dy*dy > r2 {
			continue
		}
		dx := math.Sqrt(r2 - dy*dy)
		x0, x1 := max(b.Min.X, int(math.Round(cx-dx))), min(b.Max.X-1, int(math.Round(cx+dx))-1)
		row := img.Pix[img.PixOffset(0, y):]
		for x := x0; x <= x1; x++ {
			o := (x - b.Min.X) * 4
			row[o], row[o+1], row[o+2], row[o+3] = c.R, c.G, c.B, c.A
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	if y < img.Bounds().Min.Y || y >= img.Bounds().Max.Y {
		return
	}
	for x := x0; x < x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	if x < img.Bounds().Min.X || x >= img.Bounds().Max.X {
		return
	}
	for y := y0; y < y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

// thickLine draws a line of width w as a row of discs, clipped to img.
func thickLine(img *image.RGBA, x0, y0, x1, y1, w float64, c color.RGBA) {
	b := img.Bounds()
	// Skip segments entirely outside the image.
	if math.Max(x0, x1) < float64(b.Min.X)-w || math.Min(x0, x1) > float64(b.Max.X)+w ||
		math.Max(y0, y1) < float64(b.Min.Y)-w || math.Min(y0, y1) > float64(b.Max.Y)+w {
		return
	}
	n := int(math.Ceil(math.Hypot(x1-x0, y1-y0)))
	if n > 20000 {
		n = 20000 // a zoomed-in trail far off screen
	}
	for i := 0; i <= n; i++ {
		t := 0.0
		if n > 0 {
			t = float64(i) / float64(n)
		}
		fillCircle(img, x0+(x1-x0)*t, y0+(y1-y0)*t, w/2, c)
	}
}
