package bench

import (
	"bytes"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sample() *Result {
	return &Result{
		Preset: "small", Started: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), Command: "rtls-bench -preset small",
		Host: "2 CPUs", Cluster: "3 rtlsd processes",
		Steps: []StepResult{{Drivers: 10, RidersPerDriver: 1, RatePerDriver: 1, DeliveredPS: 10, LossRate: 0.002,
			Latency: Latency{Count: 100, P50: 1, P99: 4}, ServerCPUPer1000: 50}},
		Nodes:           []NodeUsage{{Name: "n1", CPUSec: 1, PeakRSSMiB: 50}},
		PeakRSSTotalMiB: 150,
		Baselines:       []Throughput{{Name: "JetStream R3 async publish (file)", MsgBytes: 150, Subjects: 1000, PerSec: 80000, ServerCPUPer1000: 10}},
	}
}

func TestResultRoundTripsAndRenders(t *testing.T) {
	r := sample()
	p := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.Steps[0].Latency.P99 != 4 || back.PeakRSSTotalMiB != 150 || !back.Started.Equal(r.Started) {
		t.Fatalf("round trip: %+v", back)
	}
	var md bytes.Buffer
	back.Markdown(&md)
	for _, want := range []string{"| 10 × 1 × 1 |", "0.200 %", "5.0× the server CPU per fix", "| **total** | | **0.0** | **150.0** |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestCompareSaysWhatGotBetterAndWorse(t *testing.T) {
	old, cur := sample(), sample()
	cur.Steps[0].Latency.P99 = 2
	cur.Steps[0].ServerCPUPer1000 = 75
	var out bytes.Buffer
	WriteComparison(&out, old, cur)
	s := out.String()
	if !strings.Contains(s, "| latency p99 ms | 4 | 2 | 0.50 (better) |") || !strings.Contains(s, "| server CPU ms per 1,000 delivered | 50 | 75 | 1.50 (worse) |") {
		t.Fatalf("comparison:\n%s", s)
	}
}

func TestRampOK(t *testing.T) {
	ok := StepResult{LossRate: 0.0009, Latency: Latency{Count: 1, P99: 249}}
	if !RampOK(ok) {
		t.Fatal("a step within the limits is not sustained")
	}
	for _, bad := range []StepResult{
		{LossRate: 0.001, Latency: Latency{Count: 1, P99: 1}},
		{Latency: Latency{Count: 1, P99: 250}},
		{Latency: Latency{}},
		{ConnectionsFailed: 1, Latency: Latency{Count: 1, P99: 1}},
	} {
		if RampOK(bad) {
			t.Fatalf("%+v counted as sustained", bad)
		}
	}
}

func TestPlotLatencyDrawsEveryStep(t *testing.T) {
	r := sample()
	r.Steps = append(r.Steps, StepResult{Drivers: 10, RatePerDriver: 5, Latency: Latency{Count: 1, P50: 2, P90: 3, P99: 8, P999: 20, Max: 130}})
	p := filepath.Join(t.TempDir(), "lat.png")
	if err := PlotLatency(p, r); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colours := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			colours[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	// Both steps' colours are on the plot.
	for _, c := range []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}} {
		if colours[c] < 20 {
			t.Errorf("step colour %v has %d pixels", c, colours[c])
		}
	}
}
