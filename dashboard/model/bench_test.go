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
