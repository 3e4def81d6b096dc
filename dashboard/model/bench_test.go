package model

import (
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"
)

const fleetSize = 10000

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("d-%05d", i)
	}
	return out
}

// BenchmarkIngest10k: one op is one fix of one of 10,000 drivers, every
// driver moving (1 fix/s each is 10,000 ops/s).
func BenchmarkIngest10k(b *testing.B) {
	f, _ := NewFleet(Config{})
	names := ids(fleetSize)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Ingest(drv(names[i%fleetSize], uint64(i+1), 12.9+float64(i%fleetSize)*1e-5, 77.5, now))
	}
}

// BenchmarkIngestMessage10k: the same with JSON decoding and validation of
// the stored location object, as the live subscription does.
func BenchmarkIngestMessage10k(b *testing.B) {
	f, _ := NewFleet(Config{})
	subjects := make([]string, fleetSize)
	payloads := make([][]byte, fleetSize)
	for i, id := range ids(fleetSize) {
		subjects[i] = "rtls.live." + id
		payloads[i] = []byte(`{"driver":"` + id + `","latitude":12.97` + strconv.Itoa(i) + `,"longitude":77.59,"seq":42,"ts":1764412800000,"speed":8.3,"heading":271,"time":1764412800311,"node":"n1"}`)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % fleetSize
		if _, err := f.IngestMessage(subjects[k], payloads[k], uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
}

func fullFleet(b *testing.B) *Fleet {
	f, _ := NewFleet(Config{})
	now := time.Now()
	for i, id := range ids(fleetSize) {
		d := drv(id, uint64(i+1), 12.9+float64(i)*1e-5, 77.5+math.Mod(float64(i)*1e-4, 0.2), now.Add(-time.Duration(i)*time.Second))
		f.Ingest(d)
	}
	return f
}

// BenchmarkRows10k: the list's work per redraw (filter nothing, sort by age).
func BenchmarkRows10k(b *testing.B) {
	f := fullFleet(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(f.Rows(Query{Sort: SortByAge})) != fleetSize {
			b.Fatal("rows")
		}
	}
}

// BenchmarkPoints10k: the map's copy of positions per redraw.
func BenchmarkPoints10k(b *testing.B) {
	f := fullFleet(b)
	var pts []Point
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pts = f.Points(pts)
	}
}

func BenchmarkTick10k(b *testing.B) {
	f := fullFleet(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Tick()
	}
}

// BenchmarkBin10k: the map's aggregation per redraw, 10,000 drivers in a
// 740×640 view (the map's share of a 1280×800 window). "fitted" shows the
// whole fleet (every cell aggregated), "zoomed-in" a part of it four zoom
// levels closer (mostly dots, most drivers out of view).
func BenchmarkBin10k(b *testing.B) {
	f := fullFleet(b)
	pts := f.Points(nil)
	var bounds Bounds
	for i, p := range pts {
		bounds = bounds.Extend(p.X, p.Y, i > 0)
	}
	fitted := NewViewport(0, 0, 2, 740, 640)
	fitted.Fit(bounds, 40, 16)
	zoomed := fitted
	zoomed.ZoomAt(4, 370, 320)
	for _, bc := range []struct {
		name string
		vp   Viewport
	}{{"fitted", fitted}, {"zoomed-in", zoomed}} {
		b.Run(bc.name, func(b *testing.B) {
			var cl Clustering
			var res *Clusters
			b.ReportAllocs()
			for b.Loop() {
				res = cl.Bin(pts, &bc.vp, "d-00042")
			}
			aggregated := 0
			for _, c := range res.Cells {
				if c.Aggregated {
					aggregated++
				}
			}
			b.ReportMetric(float64(res.InView), "in-view")
			b.ReportMetric(float64(aggregated), "aggregated-cells")
		})
	}
}

// BenchmarkRowsProblems10k: the list with "stale or offline, longest first".
func BenchmarkRowsProblems10k(b *testing.B) {
	f := fullFleet(b)
	b.ReportAllocs()
	for b.Loop() {
		f.Rows(ProblemsFirst(""))
	}
}

// BenchmarkRowsByID10k: the list sorted by driver id (natural order).
func BenchmarkRowsByID10k(b *testing.B) {
	f := fullFleet(b)
	b.ReportAllocs()
	for b.Loop() {
		f.Rows(Query{Sort: SortByID})
	}
}
