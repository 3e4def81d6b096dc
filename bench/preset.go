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

	// Watched is the share of drivers that have riders (zero: all).
	Watched float64
	// ObeyInterval makes drivers send at the interval their node asks for
	// (set-interval), the first rate being the fastest; without it they
	// keep to the preset's rates whatever the node asks, as throughput
	// presets must.
	ObeyInterval bool
	// Switches watched drivers lose their riders to unwatched drivers
	// halfway through each step (see Workload.Switches).
	Switches int
	// FastInterval and SlowInterval configure the nodes' set-interval
	// (node.Config); zero values leave the nodes' defaults (1 s, 15 s).
	FastInterval, SlowInterval time.Duration
}

// Presets are the workloads rtls-bench knows, by name.
var Presets = map[string]Preset{
	"small": {Name: "small", Description: "1,000 drivers × 1 rider × 1 fix/s for 30 s (closed loop)",
		Drivers: 1000, RidersPerDriver: 1, Rates: []float64{1}, Duration: 30 * time.Second, Loop: LoopClosed},
	"city": {Name: "city", Description: "5,000 drivers × 1 rider × 1 fix/s for 30 s, 10,000 WebSockets (open loop)",
		Drivers: 5000, RidersPerDriver: 1, Rates: []float64{1}, Duration: 30 * time.Second, Loop: LoopOpen},
	"ramp": {Name: "ramp", Description: "200 drivers × 1 rider at 5, 10, 20, 50, 100 fixes/s each, 10 s per step (open loop)",
		Drivers: 200, RidersPerDriver: 1, Rates: []float64{5, 10, 20, 50, 100}, Duration: 10 * time.Second, Loop: LoopOpen},
	"overload": {Name: "overload", Description: "200 drivers × 1 rider, open loop: search the capacity (10, 20, 40, 80, 160, 320 fixes/s per driver, then bisect), then offer 1.5×, 2× and 3× of it; 10 s per step",
		Drivers: 200, RidersPerDriver: 1, Rates: []float64{10, 20, 40, 80, 160, 320}, Duration: 10 * time.Second, Loop: LoopOpen,
		Overload: true, Refine: 3, Multiples: []float64{1.5, 2, 3}},
	"battery": {Name: "battery", Description: "1,000 drivers obeying set-interval, 20 % tracked by 1 rider each (fast: 1 fix/s), the rest unwatched (slow: 1 fix per 15 s), for 90 s; halfway, 50 riders leave their driver for an unwatched one (open loop)",
		Drivers: 1000, RidersPerDriver: 1, Watched: 0.2, Rates: []float64{1}, Duration: 90 * time.Second, Loop: LoopOpen,
		ObeyInterval: true, Switches: 50, FastInterval: time.Second, SlowInterval: 15 * time.Second},
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
