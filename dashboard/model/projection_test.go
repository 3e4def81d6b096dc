package model

import (
	"math"
	"testing"
)

func near(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

func TestProjectKnownPoints(t *testing.T) {
	for _, tc := range []struct{ lat, lon, x, y float64 }{
		{0, 0, 0.5, 0.5},
		{MaxLatitude, -180, 0, 0},
		{-MaxLatitude, 180, 1, 1},
		{89.9, 90, 0.75, 0}, // clamped
	} {
		x, y := Project(tc.lat, tc.lon)
		if !near(x, tc.x, 1e-12) || !near(y, tc.y, 1e-12) {
			t.Errorf("Project(%v, %v) = %v, %v, want %v, %v", tc.lat, tc.lon, x, y, tc.x, tc.y)
		}
	}
}

func TestProjectionRoundTrip(t *testing.T) {
	for lat := -85.0; lat <= 85; lat += 2.5 {
		for lon := -180.0; lon <= 180; lon += 7.5 {
			gotLat, gotLon := Unproject(Project(lat, lon))
			if !near(gotLat, lat, 1e-9) || !near(gotLon, lon, 1e-9) {
				t.Fatalf("round trip of %v, %v gave %v, %v", lat, lon, gotLat, gotLon)
			}
		}
	}
	v := NewViewport(12.9716, 77.5946, 14.3, 800, 600)
	for _, p := range [][2]float64{{0, 0}, {800, 600}, {123.5, 456.25}, {400, 300}} {
		lat, lon := v.ScreenToLatLon(p[0], p[1])
		sx, sy := v.LatLonToScreen(lat, lon)
		if !near(sx, p[0], 1e-6) || !near(sy, p[1], 1e-6) {
			t.Fatalf("screen round trip of %v gave %v, %v", p, sx, sy)
		}
	}
	if lat, lon := v.Center(); !near(lat, 12.9716, 1e-9) || !near(lon, 77.5946, 1e-9) {
		t.Fatalf("centre %v, %v", lat, lon)
	}
}

func TestViewportPanZoomFit(t *testing.T) {
	v := NewViewport(12.97, 77.59, 12, 800, 600)
	// Zooming keeps the point under the cursor in place.
	lat, lon := v.ScreenToLatLon(100, 500)
	v.ZoomAt(1.5, 100, 500)
	if v.Zoom != 13.5 {
		t.Fatalf("zoom %v", v.Zoom)
	}
	if sx, sy := v.LatLonToScreen(lat, lon); !near(sx, 100, 1e-6) || !near(sy, 500, 1e-6) {
		t.Fatalf("point under cursor moved to %v, %v", sx, sy)
	}
	// Dragging by (30, -20) moves what was at the centre by the same amount.
	clat, clon := v.Center()
	v.Pan(30, -20)
	if sx, sy := v.LatLonToScreen(clat, clon); !near(sx, 430, 1e-6) || !near(sy, 280, 1e-6) {
		t.Fatalf("centre moved to %v, %v", sx, sy)
	}
	v.ZoomAt(100, 0, 0)
	if v.Zoom != MaxZoom {
		t.Fatalf("zoom not clamped: %v", v.Zoom)
	}
	// Fit: every point inside the padded view.
	pts := [][2]float64{{12.90, 77.50}, {13.05, 77.70}, {12.95, 77.61}}
	var b Bounds
	for i, p := range pts {
		x, y := Project(p[0], p[1])
		b = b.Extend(x, y, i > 0)
	}
	v.Fit(b, 20, 17)
	for _, p := range pts {
		sx, sy := v.LatLonToScreen(p[0], p[1])
		if sx < 20-1e-6 || sx > 780+1e-6 || sy < 20-1e-6 || sy > 580+1e-6 {
			t.Fatalf("%v at %v, %v outside the padded view (zoom %v)", p, sx, sy, v.Zoom)
		}
	}
	// and tight: one step closer no longer fits.
	w := v
	w.Zoom += 0.1
	outside := false
	for _, p := range pts {
		sx, sy := w.LatLonToScreen(p[0], p[1])
		outside = outside || sx < 20 || sx > 780 || sy < 20 || sy > 580
	}
	if !outside {
		t.Fatalf("Fit zoom %v is not the closest", v.Zoom)
	}
	// A single driver: the max zoom.
	x, y := Project(12.97, 77.59)
	v.Fit(Bounds{}.Extend(x, y, false), 20, 16)
	if v.Zoom != 16 {
		t.Fatalf("single-point fit zoom %v", v.Zoom)
	}
}

func TestScaleBarAndGraticule(t *testing.T) {
	v := NewViewport(0, 0, 10, 800, 600)
	// At zoom 10 on the equator one unit is 40075016.69/262144 ≈ 152.87 m.
	if got := v.MetresPerUnit(); !near(got, 152.874, 1e-3) {
		t.Fatalf("MetresPerUnit %v", got)
	}
	m, w, label := v.ScaleBar(120) // at most 18.3 km
	if m != 10000 || label != "10 km" || !near(w, 10000/152.874, 0.01) {
		t.Fatalf("ScaleBar = %v %v %q", m, w, label)
	}
	v.Zoom = 17
	m, w, label = v.ScaleBar(120) // at most 143 m
	if m != 100 || label != "100 m" || w > 120 {
		t.Fatalf("ScaleBar = %v %v %q", m, w, label)
	}
	// At zoom 10 a degree is 728 units: the finest step at least 80 apart is 0.2°.
	v.Zoom = 10
	if got := v.GraticuleStep(80); got != 0.2 {
		t.Fatalf("GraticuleStep = %v", got)
	}
}
