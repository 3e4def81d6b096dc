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

func TestMarkdownReportsIntervalsAndSkips(t *testing.T) {
	r := sample()
	r.Preset = "battery"
	r.Steps = []StepResult{{Drivers: 1000, RidersPerDriver: 1, RatePerDriver: 1, DurationSec: 60, Loop: LoopOpen, Due: 12000, SkippedAnnounced: 3,
		Latency: Latency{Count: 12000, P50: 3, P99: 12},
		Intervals: &Intervals{Obeyed: true, FastIntervalMS: 1000, Sent: 12000 + 4000 + 200, AllFast: 60000, Saved: 43800, SavedPct: 73, SavedPerHour: 2628000,
			Switches: 50, SwitchAtSec: 30, Switch: Latency{Count: 100, P50: 4, P99: 9, Max: 11},
			Groups: []DriverGroup{
				{Name: GroupWatched, Drivers: 150, Sent: 9000, PerDriverPerMin: 60, AskedAtStart: map[string]int{"1s": 150}, AskedAtEnd: map[string]int{"1s": 150}},
				{Name: GroupUnwatched, Drivers: 750, Sent: 3000, PerDriverPerMin: 4, AskedAtStart: map[string]int{"15s": 750}, AskedAtEnd: map[string]int{"15s": 749, "none": 1}},
				{Name: GroupLeft, Drivers: 50, Sent: 2000, PerDriverPerMin: 40, AskedAtStart: map[string]int{"1s": 50}, AskedAtEnd: map[string]int{"15s": 50}},
				{Name: GroupTracked, Drivers: 50, Sent: 2200, PerDriverPerMin: 44, AskedAtStart: map[string]int{"15s": 50}, AskedAtEnd: map[string]int{"1s": 50}},
			}}}}
	var md bytes.Buffer
	r.Markdown(&md)
	for _, want := range []string{
		"| 1 | 1000 (20 % watched) × 1 × 1 | open |", "| 3 |", // skipped (announced)
		"| unwatched | 750 | 3,000 | 4.0 | 750 × 15s | 749 × 15s, 1 × none |",
		"**43,800 fewer fixes (73.0 %), 2,628,000 per hour for the fleet**",
		"| watched (asked for 1s) | 150 | 60.0 | 540,000 |",
		"| unwatched (asked for 749 × 15s, 1 × none) | 750 | 4.0 | 180,000 |",
		"| watch switched at 30 s | 100 | 42.0 | 252,000 |",
		"| fleet, obeying set-interval | 1,000 | 16.2 | 972,000 |",
		"| fleet, all at 1s | 1,000 | 60.0 | 3,600,000 |",
		"| **saved** | | **43.8** | **2,628,000 (73 %)** |",
		"| fixes due / lost / skipped (announced) | 12,000 / 0 / 3 |",
		"| both | 100 | 4.0 | 9.0 | 11.0 |",
	} {
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

func overloadSample() *Result {
	r := sample()
	r.Preset = "overload"
	r.Steps = []StepResult{
		{Phase: PhaseSearch, Loop: LoopOpen, Drivers: 200, RidersPerDriver: 1, RatePerDriver: 40, Offered: 80000, OfferedPS: 8000, Sent: 80000, Acked: 80000,
			Delivered: 80000, DeliveredPS: 7999.5, Latency: Latency{Count: 80000, P99: 105}},
		{Phase: PhaseSearch, Loop: LoopOpen, Drivers: 200, RidersPerDriver: 1, RatePerDriver: 80, OfferedPS: 16000, LossRate: 0.2,
			Latency: Latency{Count: 1, P99: 900}},
		{Phase: PhaseOverload, CapacityMultiple: 1.5, Loop: LoopOpen, Drivers: 200, RidersPerDriver: 1, RatePerDriver: 60, OfferedPS: 12000,
			DeliveredPS: 7900, LossRate: 0.34, TimelyPS: 7000, Latency: Latency{Count: 1, P99: 120}, NodesPeakRSSMiB: 812.4},
		{Phase: PhaseOverload, CapacityMultiple: 3, Loop: LoopOpen, Drivers: 200, RidersPerDriver: 1, RatePerDriver: 120, OfferedPS: 24000,
			DeliveredPS: 400, AckedButLost: 3, BacklogFixes: 600, GeneratorLagMaxMS: 5200, Errors: map[string]int{"unavailable": 67220, "internal": 12}, NotSent: 5, Unanswered: 9,
			Latency: Latency{Count: 1, P99: 14259.7}, NodesPeakRSSMiB: 2048, DrainTimedOut: true},
	}
	r.Capacity = &Capacity{Criteria: "loss < 0.1 % and p99 < 250ms", RatePerDriver: 40, OfferedPS: 8000, GoodputPS: 7999.5, Step: 0, FailedRatePerDriver: 80}
	return r
}

func TestOverloadMarkdownGivesAVerdict(t *testing.T) {
	var md bytes.Buffer
	overloadSample().Markdown(&md)
	s := md.String()
	for _, want := range []string{
		"| 1 (search) | 200 × 1 × 40 | open | 8,000.0 | 80,000 | 80,000 | 7,999.5 |",
		"| 3 (1.5× capacity) |",
		"**40 fixes/s per driver, 8,000 fixes/s offered, goodput 8,000/s** (step 1: loss 0.000 %, p99 105.0 ms).",
		"The lowest rate that failed: 80 fixes/s per driver (step 2: loss 20.00 %, p99 900 ms).",
		"| 1.5× = 12,000/s | 7,900 | 99 % | 7,000 | 0 | 0 | 0 | 0 | 120.0 | 812 | holds capacity |",
		"| 3× = 24,000/s | 400 | 5 % | 0 | 3 | unavailable 67,220, internal 12 | 5 | 9 | 14259.7 | 2,048 | **loses acked fixes**; collapses; drain timed out |",
		"rtls (the step at capacity) / JetStream",
		"Step 4: the generator was late by up to 5,200 ms, longer than the phones' backlog of 600 fixes: some of its 5 fixes not sent may be the load generator's own stall.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}

func TestOverloadVerdict(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    StepResult
		want string
	}{
		{"sustained", StepResult{DeliveredPS: 1500, Latency: Latency{Count: 1, P99: 100}}, "sustained: the capacity was underestimated (noise?)"},
		{"holds", StepResult{DeliveredPS: 950, LossRate: 0.3, Latency: Latency{Count: 1, P99: 100}}, "holds capacity"},
		{"late", StepResult{DeliveredPS: 950, Latency: Latency{Count: 1, P99: 800}}, "holds goodput, late (p99 800 ms)"},
		{"very late", StepResult{DeliveredPS: 950, LossRate: 0.8, Latency: Latency{Count: 1, P99: 20154.6}}, "holds goodput, late (p99 20.2 s)"},
		{"degrades", StepResult{DeliveredPS: 600, LossRate: 0.4, Latency: Latency{Count: 1, P99: 100}}, "degrades"},
		{"collapses", StepResult{DeliveredPS: 100}, "collapses"},
		{"loses acked fixes", StepResult{DeliveredPS: 950, AckedButLost: 1, LossRate: 0.3, Latency: Latency{Count: 1, P99: 100}}, "**loses acked fixes**; holds capacity"},
		{"drain timed out", StepResult{DeliveredPS: 100, DrainTimedOut: true}, "collapses; drain timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := overloadVerdict(tc.s, 1000); got != tc.want {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

func TestOverloadResultRoundTripsAndCompares(t *testing.T) {
	r := overloadSample()
	p := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.Capacity == nil || *back.Capacity != *r.Capacity || back.Steps[3].Errors["unavailable"] != 67220 || back.Steps[3].Loop != LoopOpen {
		t.Fatalf("round trip: %+v", back)
	}
	cur := overloadSample()
	cur.Capacity.OfferedPS = 10000
	cur.Steps[3].DeliveredPS = 8000
	var out bytes.Buffer
	WriteComparison(&out, back, cur)
	for _, want := range []string{"| capacity, offered fixes/s | 8e+03 | 1e+04 | 1.25 (better) |", "| 3× capacity: goodput/s | 400 | 8e+03 | 20.00 (better) |", "| 1.5× capacity: nodes' peak RSS MiB | 812 | 812 | 1.00 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, out.String())
		}
	}
}

func TestWriteAndReplot(t *testing.T) {
	dir := t.TempDir()
	var stdout bytes.Buffer
	base, err := overloadSample().Write(dir, &stdout, sample())
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(base + ".md")
	if err != nil || string(md) != stdout.String() || !strings.Contains(stdout.String(), "### Compared with small run") {
		t.Fatalf("markdown file and stdout differ, or no comparison (%v)", err)
	}
	os.Remove(base + ".png")
	var again bytes.Buffer
	if err := Replot(base+".json", &again); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(base + ".png"); err != nil || !strings.Contains(again.String(), "#### Overload") {
		t.Fatalf("replot: %v", err)
	}
	if got := plotted(overloadSample()); len(got) != 3 || got[0].RatePerDriver != 40 || got[2].CapacityMultiple != 3 {
		t.Fatalf("plotted %+v", got)
	}
}

func TestMarkdownOfAResultWithoutOpenLoopFields(t *testing.T) {
	// A result written before open loop: no loop, offered count or errors.
	var md bytes.Buffer
	sample().Markdown(&md)
	if !strings.Contains(md.String(), "| 1 | 10 × 1 × 1 | closed | 0.0 | 0 | 0 | 10.0 | 0.200 % | 0 | 0 | 0 | 0 | 0 |") {
		t.Fatalf("markdown:\n%s", md.String())
	}
}
