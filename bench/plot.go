package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// PlotLatency draws the end-to-end latency percentiles of the steps of r
// (x: percentile on a log scale of 1 − p, y: milliseconds, log scale) into a
// PNG at path.
func PlotLatency(path string, r *Result) error {
	const w, h, left, bottom, top, right = 900, 520, 70, 50, 40, 20
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.White)
	axis := color.RGBA{60, 60, 60, 255}
	grid := color.RGBA{225, 225, 225, 255}
	type pt struct {
		label string
		p     float64
	}
	xs := []pt{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"max", 99.99}}
	xOf := func(p float64) int {
		v := -math.Log10(1 - p/100) // 0.3 … 4
		return left + int((v-0.3)/(4-0.3)*float64(w-left-right))
	}
	steps := plotted(r)
	maxMS := 1.0
	for _, s := range steps {
		maxMS = max(maxMS, s.Latency.Max)
	}
	lo, hi := math.Log10(0.1), math.Log10(math.Pow(10, math.Ceil(math.Log10(maxMS))))
	yOf := func(ms float64) int {
		v := math.Log10(max(ms, 0.1))
		return h - bottom - int((v-lo)/(hi-lo)*float64(h-bottom-top))
	}
	for e := lo; e <= hi+1e-9; e++ {
		y := yOf(math.Pow(10, e))
		line(img, left, y, w-right, y, grid)
		label(img, 8, y+4, fmt.Sprintf("%.3g ms", math.Pow(10, e)), axis)
	}
	for _, x := range xs {
		line(img, xOf(x.p), top, xOf(x.p), h-bottom, grid)
		label(img, xOf(x.p)-14, h-bottom+18, x.label, axis)
	}
	line(img, left, h-bottom, w-right, h-bottom, axis)
	line(img, left, top, left, h-bottom, axis)
	label(img, left, 24, fmt.Sprintf("rtls %s: end-to-end latency, fix taken by the phone to rider receive", r.Preset), axis)
	palette := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255}}
	for i, s := range steps {
		c := palette[i%len(palette)]
		vals := []float64{s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.P999, s.Latency.Max}
		for j := range vals {
			x, y := xOf(xs[j].p), yOf(vals[j])
			fill(img, image.Rect(x-3, y-3, x+4, y+4), c)
			if j > 0 {
				line(img, xOf(xs[j-1].p), yOf(vals[j-1]), x, y, c)
			}
		}
		name := fmt.Sprintf("%d drivers x %g fixes/s", s.Drivers, s.RatePerDriver)
		switch {
		case s.Phase == PhaseOverload:
			name += fmt.Sprintf(" (%gx capacity)", s.CapacityMultiple)
		case r.Capacity != nil:
			name += " (capacity)"
		}
		label(img, w-right-300, top+16*(i+1), name, c)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, img)
}

// plotted returns the steps worth a curve: with a capacity, the step at
// capacity and the overload steps (the search's steps would crowd the
// plot); otherwise every step.
func plotted(r *Result) []StepResult {
	if r.Capacity == nil {
		return r.Steps
	}
	var out []StepResult
	for i, s := range r.Steps {
		if i == r.Capacity.Step || s.Phase == PhaseOverload {
			out = append(out, s)
		}
	}
	return out
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.Set(x, y, c)
		}
	}
}

// line draws a straight line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		img.Set(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func label(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
