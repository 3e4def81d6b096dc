package model

import (
	"fmt"
	"math"
)

// Web-Mercator (EPSG:3857) constants.
const (
	// MaxLatitude is the latitude where the square Web-Mercator world ends.
	MaxLatitude = 85.05112877980659
	// TileSize is the size of a map tile in screen units; at zoom z the
	// world is TileSize·2^z units wide.
	TileSize = 256
	// EarthCircumference at the equator in metres (WGS 84).
	EarthCircumference = 40075016.68557849
	// MinZoom and MaxZoom bound the viewport's zoom.
	MinZoom = 1
	MaxZoom = 19
)

// Project maps a position in degrees to Web-Mercator world coordinates:
// x from 0 (180° W) to 1 (180° E), y from 0 (MaxLatitude N) to 1 (S).
// Latitudes beyond ±MaxLatitude are clamped.
func Project(lat, lon float64) (x, y float64) {
	lat = math.Max(-MaxLatitude, math.Min(MaxLatitude, lat))
	phi := lat * math.Pi / 180
	x = (lon + 180) / 360
	y = (1 - math.Log(math.Tan(phi)+1/math.Cos(phi))/math.Pi) / 2
	return x, y
}

// Unproject is the inverse of Project.
func Unproject(x, y float64) (lat, lon float64) {
	lon = x*360 - 180
	lat = math.Atan(math.Sinh(math.Pi*(1-2*y))) * 180 / math.Pi
	return lat, lon
}

// Viewport is what the map shows: the world point at its centre, the zoom,
// and its size in screen units. Zoom z shows the world TileSize·2^z units
// wide. The zero value is not usable: start from NewViewport.
type Viewport struct {
	CenterX, CenterY float64 // world coordinates
	Zoom             float64
	Width, Height    float64 // screen units
}

// NewViewport returns a viewport of the given size centred on lat, lon.
func NewViewport(lat, lon, zoom, width, height float64) Viewport {
	x, y := Project(lat, lon)
	v := Viewport{CenterX: x, CenterY: y, Zoom: zoom, Width: width, Height: height}
	v.clamp()
	return v
}

// WorldSize is the world's width in screen units at the current zoom.
func (v *Viewport) WorldSize() float64 { return TileSize * math.Exp2(v.Zoom) }

// ToScreen maps world coordinates to screen units from the top-left corner.
func (v *Viewport) ToScreen(x, y float64) (sx, sy float64) {
	w := v.WorldSize()
	return (x-v.CenterX)*w + v.Width/2, (y-v.CenterY)*w + v.Height/2
}

// FromScreen maps a screen position to world coordinates.
func (v *Viewport) FromScreen(sx, sy float64) (x, y float64) {
	w := v.WorldSize()
	return v.CenterX + (sx-v.Width/2)/w, v.CenterY + (sy-v.Height/2)/w
}

// LatLonToScreen projects a position to the screen.
func (v *Viewport) LatLonToScreen(lat, lon float64) (sx, sy float64) {
	return v.ToScreen(Project(lat, lon))
}

// ScreenToLatLon returns the position under a screen point.
func (v *Viewport) ScreenToLatLon(sx, sy float64) (lat, lon float64) {
	return Unproject(v.FromScreen(sx, sy))
}

// Center returns the position at the centre of the view.
func (v *Viewport) Center() (lat, lon float64) { return Unproject(v.CenterX, v.CenterY) }

// Pan moves the map content by dx, dy screen units (as a drag does).
func (v *Viewport) Pan(dx, dy float64) {
	w := v.WorldSize()
	v.CenterX -= dx / w
	v.CenterY -= dy / w
	v.clamp()
}

// ZoomAt changes the zoom by delta (1 doubles the scale), keeping the world
// point under the screen point sx, sy where it is.
func (v *Viewport) ZoomAt(delta, sx, sy float64) {
	x, y := v.FromScreen(sx, sy)
	v.Zoom = math.Max(MinZoom, math.Min(MaxZoom, v.Zoom+delta))
	w := v.WorldSize()
	v.CenterX = x - (sx-v.Width/2)/w
	v.CenterY = y - (sy-v.Height/2)/w
	v.clamp()
}

// Bounds is a rectangle in world coordinates.
type Bounds struct {
	MinX, MinY, MaxX, MaxY float64
}

// Extend grows b to contain x, y; the zero Bounds with ok false is empty.
func (b Bounds) Extend(x, y float64, ok bool) Bounds {
	if !ok {
		return Bounds{x, y, x, y}
	}
	return Bounds{math.Min(b.MinX, x), math.Min(b.MinY, y), math.Max(b.MaxX, x), math.Max(b.MaxY, y)}
}

// Fit centres the view on b and zooms so that b fits with padding screen
// units on every side, never closer than maxZoom (a single driver).
func (v *Viewport) Fit(b Bounds, padding, maxZoom float64) {
	v.CenterX, v.CenterY = (b.MinX+b.MaxX)/2, (b.MinY+b.MaxY)/2
	availW, availH := math.Max(1, v.Width-2*padding), math.Max(1, v.Height-2*padding)
	z := maxZoom
	if dx := b.MaxX - b.MinX; dx > 0 {
		z = math.Min(z, math.Log2(availW/(dx*TileSize)))
	}
	if dy := b.MaxY - b.MinY; dy > 0 {
		z = math.Min(z, math.Log2(availH/(dy*TileSize)))
	}
	v.Zoom = math.Max(MinZoom, math.Min(MaxZoom, z))
	v.clamp()
}

func (v *Viewport) clamp() {
	v.Zoom = math.Max(MinZoom, math.Min(MaxZoom, v.Zoom))
	v.CenterX = math.Max(0, math.Min(1, v.CenterX))
	v.CenterY = math.Max(0, math.Min(1, v.CenterY))
}

// MetresPerUnit is the ground distance of one screen unit at the centre of
// the view.
func (v *Viewport) MetresPerUnit() float64 {
	lat, _ := v.Center()
	return EarthCircumference * math.Cos(lat*math.Pi/180) / v.WorldSize()
}

// ScaleBar returns a round ground distance (1, 2 or 5 × 10^n metres) whose
// bar is at most maxWidth screen units long at the centre of the view, the
// bar's width, and its label ("200 m", "5 km").
func (v *Viewport) ScaleBar(maxWidth float64) (metres, width float64, label string) {
	mpu := v.MetresPerUnit()
	maxM := maxWidth * mpu
	if !(maxM > 0) || math.IsInf(maxM, 0) {
		return 0, 0, ""
	}
	p := math.Pow(10, math.Floor(math.Log10(maxM)))
	metres = p
	for _, m := range []float64{5, 2} {
		if m*p <= maxM {
			metres = m * p
			break
		}
	}
	if metres >= 1000 {
		label = fmt.Sprintf("%g km", metres/1000)
	} else {
		label = fmt.Sprintf("%g m", metres)
	}
	return metres, metres / mpu, label
}

// graticuleSteps are the spacings in degrees a graticule may use.
var graticuleSteps = []float64{
	0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
	0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 45,
}

// GraticuleStep returns the smallest spacing in degrees whose lines of
// longitude are at least minGap screen units apart.
func (v *Viewport) GraticuleStep(minGap float64) float64 {
	degPerUnit := 360 / v.WorldSize()
	for _, s := range graticuleSteps {
		if s/degPerUnit >= minGap {
			return s
		}
	}
	return graticuleSteps[len(graticuleSteps)-1]
}

// VisibleLatLon returns the positions at the view's corners: the north-west
// (top-left) and south-east (bottom-right).
func (v *Viewport) VisibleLatLon() (north, west, south, east float64) {
	north, west = v.ScreenToLatLon(0, 0)
	south, east = v.ScreenToLatLon(v.Width, v.Height)
	return north, west, south, east
}
