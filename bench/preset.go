package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Preset is a named workload of rtls-bench.
type Preset struct {
	Name        string
	Description string
	Drivers     int
	// RidersPerDriver riders track each driver, each on another node than
	// its driver.
	RidersPerDriver int
	// Rates are the per-driver rates of successive steps; for an Overload
	// preset, the coarse ladder of the capacity search.
	Rates    []float64
	Duration time.Duration
	Loop     Loop
	// Overload makes the run search for the capacity over Rates and then
	// offer Multiples of it.
	Overload bool
	// Refine is the most bisection steps of the capacity search.
	Refine    int
	Multiples []float64
}

// Presets are the workloads rtls-bench knows, by name.
var Presets = map[string]Preset{
	"small": {Name: "small", Description: "1,000 drivers × 1 rider × 1 fix/s for 30 s (closed loop)",
		Drivers: 1000, RidersPerDriver: 1, Rates: []float64{1}, Duration: 30 * time.Second, Loop: LoopClosed},
	"city": {Name: "city", Description: "5,000 drivers × 1 rider × 1 fix/s for 30 s, 10,000 WebSockets (closed loop)",
		Drivers: 5000, RidersPerDriver: 1, Rates: []float64{1}, Duration: 30 * time.Second, Loop: LoopClosed},
	"ramp": {Name: "ramp", Description: "200 drivers × 1 rider at 5, 10, 20, 50, 100 fixes/s each, 10 s per step (open loop)",
		Drivers: 200, RidersPerDriver: 1, Rates: []float64{5, 10, 20, 50, 100}, Duration: 10 * time.Second, Loop: LoopOpen},
	"overload": {Name: "overload", Description: "200 drivers × 1 rider, open loop: search the capacity (10, 20, 40, 80, 160, 320 fixes/s per driver, then bisect), then offer 1.5×, 2× and 3× of it; 10 s per step",
		Drivers: 200, RidersPerDriver: 1, Rates: []float64{10, 20, 40, 80, 160, 320}, Duration: 10 * time.Second, Loop: LoopOpen,
		Overload: true, Refine: 3, Multiples: []float64{1.5, 2, 3}},
}

// PresetNames returns the presets' names, sorted.
func PresetNames() []string {
	var names []string
	for n := range Presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseRates reads a comma-separated list of positive rates ("10,20,40").
func ParseRates(s string) ([]float64, error) {
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		var r float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &r); err != nil || !(r > 0) {
			return nil, fmt.Errorf("bench: rate %q: want a positive number", f)
		}
		rates = append(rates, r)
	}
	return rates, nil
}
