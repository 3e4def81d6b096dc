package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/node"
)

func TestWatchedDriversAreSpreadEvenly(t *testing.T) {
	n, watched, perNode := 1000, 0, map[int]int{}
	for k := range n {
		if watchedDriver(k, n, 0.2) {
			watched++
			perNode[k%3]++
		}
	}
	if watched != 200 || perNode[0] < 66 || perNode[1] < 66 || perNode[2] < 66 {
		t.Fatalf("%d watched, by node %v", watched, perNode)
	}
	for k := range 7 {
		if !watchedDriver(k, 7, 1) {
			t.Fatalf("driver %d of all watched is not", k)
		}
	}
	for k := range 3 {
		for j := range 2 {
			if riderNode(k, j, 3) == k%3 {
				t.Fatalf("rider %d of driver %d on its driver's node", j, k)
			}
		}
	}
}

func TestPlanSwitchesMovesRidersToAnotherNode(t *testing.T) {
	w := Workload{Nodes: []string{"a", "b", "c"}, Drivers: 30, RidersPerDriver: 1, Rate: 1, Duration: time.Second, Watched: 0.2, Switches: 4}
	drivers := make([]*benchDriver, w.Drivers)
	watched := make([]bool, w.Drivers)
	var riders []*benchRider
	for k := range drivers {
		drivers[k] = newBenchDriver("d"+string(rune('a'+k)), 4)
		if watched[k] = watchedDriver(k, w.Drivers, w.Watched); watched[k] {
			riders = append(riders, &benchRider{k: k})
		}
	}
	plan := planSwitches(w, drivers, riders, watched)
	if len(plan) != 4 {
		t.Fatalf("%d switches planned", len(plan))
	}
	index := func(d *benchDriver) int {
		for k := range drivers {
			if drivers[k] == d {
				return k
			}
		}
		return -1
	}
	seen := map[*benchDriver]bool{}
	for _, p := range plan {
		from, to := index(p.from), index(p.to)
		if !watched[from] || watched[to] || seen[p.to] || len(p.riders) != 1 || p.riders[0].k != from {
			t.Fatalf("switch %d → %d with riders %v", from, to, p.riders)
		}
		seen[p.to] = true
		if riderNode(from, 0, 3) == to%3 {
			t.Fatalf("switch %d → %d: the rider is on the new driver's node", from, to)
		}
	}
}

// startIntervalCluster starts three in-process nodes asking for fast and
// slow intervals.
func startIntervalCluster(t *testing.T, fast, slow time.Duration) []string {
	c := clustertest.New(t, 3, func(i int, cfg *node.Config) { cfg.FastInterval, cfg.SlowInterval = fast, slow })
	return strings.Split(c.WebSocketURLs(), ",")
}

func TestBatteryWorkloadObeysTheInterval(t *testing.T) {
	const fast, slow = 100 * time.Millisecond, 500 * time.Millisecond
	urls := startIntervalCluster(t, fast, slow)
	// The battery preset's workload, scaled down: 20 drivers (4 watched),
	// 3 s, one switch halfway.
	r, err := NewRunner(Config{Preset: "battery", Drivers: 20, Duration: 3 * time.Second, FastInterval: fast, SlowInterval: slow})
	if err != nil {
		t.Fatal(err)
	}
	w := r.workload(urls, r.Preset().Rates[0])
	w.Switches, w.Prefix = 1, "battery-"
	if !w.ObeyInterval || w.Watched != 0.2 || w.Rate != 10 || w.Loop != LoopOpen {
		t.Fatalf("the battery workload: %+v", w)
	}
	s, err := Run(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	checkBalance(t, s)
	var md strings.Builder
	s.intervalsMarkdown(&md, 0)
	t.Log(md.String())
	iv := s.Intervals
	if iv == nil || !iv.Obeyed || iv.NotAsked != 0 {
		t.Fatalf("intervals: %+v", iv)
	}
	// 3 s at 100 ms is 30 fixes, at 500 ms 6.
	perDriver := map[string][2]int{GroupWatched: {24, 31}, GroupUnwatched: {5, 8}, GroupLeft: {12, 25}, GroupTracked: {6, 25}}
	drivers := map[string]int{GroupWatched: 3, GroupUnwatched: 15, GroupLeft: 1, GroupTracked: 1}
	for name, bounds := range perDriver {
		g := iv.group(name)
		if g == nil || g.Drivers != drivers[name] {
			t.Fatalf("group %s: %+v", name, g)
		}
		for _, n := range []int{g.Sent / g.Drivers} {
			if n < bounds[0] || n > bounds[1] {
				t.Errorf("%s drivers sent %d fixes each, want %d…%d (%+v)", name, n, bounds[0], bounds[1], g)
			}
		}
	}
	if g := iv.group(GroupUnwatched); g.AskedAtStart[slow.String()] != g.Drivers {
		t.Errorf("unwatched drivers were asked for %v", g.AskedAtStart)
	}
	if g := iv.group(GroupWatched); g.AskedAtStart[fast.String()] != g.Drivers {
		t.Errorf("watched drivers were asked for %v", g.AskedAtStart)
	}
	if g := iv.group(GroupLeft); g.AskedAtEnd[slow.String()] != 1 {
		t.Errorf("the driver left was asked for %v at the end", g.AskedAtEnd)
	}
	if g := iv.group(GroupTracked); g.AskedAtEnd[fast.String()] != 1 {
		t.Errorf("the driver tracked was asked for %v at the end", g.AskedAtEnd)
	}
	// How fast the switch reaches the driver is a figure of the benchmark
	// (logged); the bound here only tells a switch from none (the watch
	// lease is 60 s).
	t.Logf("the interval switch reached the drivers in at most %.1f ms", iv.Switch.Max)
	if iv.Switches != 1 || iv.SwitchErrors != 0 || iv.Unanswered != 0 || iv.Switch.Count != 2 || iv.Switch.Max > 15000 {
		t.Errorf("switch: %+v", iv)
	}
	if iv.Saved <= 0 || iv.AllFast != 20*30 {
		t.Errorf("saved: %+v", iv)
	}
	// Riders of watched drivers got every fix due them.
	if s.Lost != 0 || s.AckedButLost != 0 || s.SkippedAnnounced != 0 || s.Latency.Count == 0 {
		t.Errorf("delivery: %+v", s)
	}
}

func TestDriversIgnoreTheIntervalUnlessTold(t *testing.T) {
	// Throughput presets keep their rate whatever the node asks.
	for name, p := range Presets {
		if name != "battery" && (p.ObeyInterval || p.FastInterval != 0 || p.SlowInterval != 0) {
			t.Errorf("preset %s obeys or sets set-interval", name)
		}
	}
	urls := startIntervalCluster(t, 100*time.Millisecond, time.Second)
	s, err := Run(context.Background(), Workload{Nodes: urls, Drivers: 6, RidersPerDriver: 1, Watched: 0.5, Rate: 10, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checkBalance(t, s)
	g := s.Intervals.group(GroupUnwatched)
	if s.Intervals.Obeyed || g == nil || g.Drivers != 3 || g.Sent < 3*18 || g.AskedAtEnd[time.Second.String()] != 3 {
		t.Fatalf("unwatched drivers asked to slow down sent %+v", g)
	}
}
