package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rtls-io/rtls/cluster"
	"github.com/rtls-io/rtls/node"
)

// Config configures a Runner. Zero values take the preset's values or the
// defaults written beside each field.
type Config struct {
	// Preset names one of Presets. Zero value means "small".
	Preset string
	// Drivers and RidersPerDriver override the preset's.
	Drivers, RidersPerDriver int
	// Rate runs a single step at this per-driver rate instead of the
	// preset's rates; for the overload preset it skips the search and takes
	// Rate as the capacity (one reference step, then the multiples).
	Rate float64
	// SearchRates replaces the overload preset's coarse ladder.
	SearchRates []float64
	// Refine replaces the overload preset's number of bisection steps
	// (negative: none).
	Refine int
	// Multiples replaces the overload preset's multiples of the capacity.
	Multiples []float64
	// Duration is the sending time of each step.
	Duration time.Duration
	// Loop paces the drivers.
	Loop Loop
	// FastInterval and SlowInterval replace the preset's set-interval of
	// the nodes. For a preset whose drivers obey it, FastInterval without
	// Rate also makes the drivers' fastest rate 1/FastInterval.
	FastInterval, SlowInterval time.Duration
	// Backlog, MaxInFlight and Drain are passed to each Workload.
	Backlog     time.Duration
	MaxInFlight int
	Drain       time.Duration
	// Settle bounds the wait after each step for the nodes to go quiet
	// (below a tenth of a core). Zero value means 20 seconds; negative
	// means no wait.
	Settle time.Duration

	// Rtlsd is the node binary, built with go build when missing. Zero
	// value means "bin/rtlsd".
	Rtlsd string
	// NodeGOMAXPROCS, if set, is each node process's GOMAXPROCS.
	NodeGOMAXPROCS int
	// NodeRateLimit is the frames per second a connection may send to a
	// node (its burst is twice that). Zero value means twice the highest
	// per-driver rate the run may offer, at least 200: the nodes' per
	// connection limit is not what the benchmark measures.
	NodeRateLimit float64
	// Baseline is the duration of each raw NATS baseline. Zero value means
	// 5 seconds.
	Baseline      time.Duration
	SkipBaselines bool
	// KeepData keeps the nodes' data and logs (their directory is printed).
	KeepData bool

	// Progress receives a line per step as the run goes. Nil means none.
	Progress io.Writer
	// Command is recorded in the result, for the reader.
	Command string
}

// Runner starts a three-node cluster of rtlsd processes, runs a preset on
// it and measures the raw NATS baselines beside it. A Runner runs once at a
// time.
type Runner struct {
	cfg    Config
	preset Preset
	log    io.Writer
}

// NewRunner validates cfg and fills its defaults.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Preset == "" {
		cfg.Preset = "small"
	}
	p, ok := Presets[cfg.Preset]
	if !ok {
		return nil, fmt.Errorf("bench: unknown preset %q (%s)", cfg.Preset, strings.Join(PresetNames(), ", "))
	}
	p.Rates = slices.Clone(p.Rates)
	if cfg.Drivers < 0 || cfg.RidersPerDriver < 0 || cfg.Rate < 0 || cfg.Duration < 0 || cfg.MaxInFlight < 0 || cfg.NodeRateLimit < 0 ||
		cfg.FastInterval < 0 || cfg.SlowInterval < 0 {
		return nil, errors.New("bench: negative drivers, riders, rate, duration, in-flight bound, rate limit or interval")
	}
	if cfg.Drivers > 0 {
		p.Drivers = cfg.Drivers
	}
	if cfg.RidersPerDriver > 0 {
		p.RidersPerDriver = cfg.RidersPerDriver
	}
	if cfg.Duration > 0 {
		p.Duration = cfg.Duration
	}
	if cfg.Loop != "" {
		if _, err := ParseLoop(string(cfg.Loop)); err != nil {
			return nil, err
		}
		p.Loop = cfg.Loop
	}
	if len(cfg.SearchRates) > 0 {
		if !p.Overload {
			return nil, errors.New("bench: search rates are for the overload preset")
		}
		p.Rates = slices.Clone(cfg.SearchRates)
		slices.Sort(p.Rates)
	}
	if cfg.FastInterval > 0 {
		p.FastInterval = cfg.FastInterval
		if p.ObeyInterval && cfg.Rate == 0 {
			p.Rates = []float64{float64(time.Second) / float64(cfg.FastInterval)}
		}
	}
	if cfg.SlowInterval > 0 {
		p.SlowInterval = cfg.SlowInterval
	}
	if p.FastInterval > 0 && p.SlowInterval > 0 && p.SlowInterval < p.FastInterval {
		return nil, errors.New("bench: the slow interval must be no shorter than the fast one")
	}
	if p.ObeyInterval && p.Loop != LoopOpen {
		return nil, errors.New("bench: drivers obey set-interval only in open loop (a phone's timer)")
	}
	if cfg.Rate > 0 {
		p.Rates = []float64{cfg.Rate}
	}
	if cfg.Refine != 0 {
		p.Refine = max(cfg.Refine, 0)
	}
	if len(cfg.Multiples) > 0 {
		p.Multiples = slices.Clone(cfg.Multiples)
	}
	if cfg.Settle == 0 {
		cfg.Settle = 20 * time.Second
	}
	if cfg.Rtlsd == "" {
		cfg.Rtlsd = "bin/rtlsd"
	}
	if cfg.Baseline == 0 {
		cfg.Baseline = 5 * time.Second
	}
	if cfg.NodeRateLimit == 0 {
		top := slices.Max(p.Rates)
		if p.Overload && len(p.Multiples) > 0 {
			top *= slices.Max(p.Multiples)
		}
		cfg.NodeRateLimit = max(200, 2*top)
	}
	r := &Runner{cfg: cfg, preset: p, log: cfg.Progress}
	if r.log == nil {
		r.log = io.Discard
	}
	return r, nil
}

// Preset returns the preset as configured (with Config's overrides).
func (r *Runner) Preset() Preset { return r.preset }

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

// Run starts the cluster, runs the preset and the baselines, stops the
// cluster and returns the result. On an error after some steps ran, it
// returns the partial result with the error.
func (r *Runner) Run(ctx context.Context) (*Result, error) {
	p := r.preset
	if err := ensureBinary(r.cfg.Rtlsd, r.log); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rtls-bench-")
	if err != nil {
		return nil, err
	}
	if r.cfg.KeepData {
		r.logf("data and logs in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	logf, err := os.Create(filepath.Join(dir, "nodes.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	r.logf("starting three rtlsd processes (logs: %s)", logf.Name())
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	spec := cluster.Spec{Size: 3, DataDir: dir, Node: func(i int, c *node.Config) {
		c.RateLimit = r.cfg.NodeRateLimit
		c.RateBurst = int(2 * r.cfg.NodeRateLimit)
		c.FastInterval, c.SlowInterval = p.FastInterval, p.SlowInterval // zero: the node's defaults
		// Every simulated phone comes from 127.0.0.1: the per-address limit
		// (1,000 by default, for NATs and abusers) would refuse most of
		// them. The node-wide limit stays.
		c.MaxConnectionsPerAddress = -1
	}}
	if r.cfg.NodeGOMAXPROCS > 0 {
		spec.Env = []string{fmt.Sprintf("GOMAXPROCS=%d", r.cfg.NodeGOMAXPROCS)}
	}
	ps, err := cluster.StartProcesses(sctx, r.cfg.Rtlsd, spec, logf)
	cancel()
	if err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ps.Shutdown(dctx)
	}()

	res := &Result{
		Preset:  p.Name,
		Started: time.Now(),
		Command: r.cfg.Command,
		Host:    fmt.Sprintf("%d CPUs, %s, load generator in the same machine", runtime.NumCPU(), runtime.Version()),
		Cluster: fmt.Sprintf("3 rtlsd processes on loopback, stream R3 on file storage, history 100, %g frames/s allowed per connection", r.cfg.NodeRateLimit),
	}
	if r.cfg.NodeGOMAXPROCS > 0 {
		res.Cluster += fmt.Sprintf(", GOMAXPROCS=%d per node", r.cfg.NodeGOMAXPROCS)
	}
	if p.ObeyInterval || p.FastInterval > 0 || p.SlowInterval > 0 {
		iv := func(d time.Duration, def string) string {
			if d == 0 {
				return def + " (default)"
			}
			return d.String()
		}
		res.Cluster += fmt.Sprintf(", set-interval fast %s / slow %s", iv(p.FastInterval, "1s"), iv(p.SlowInterval, "15s"))
		if !p.ObeyInterval {
			res.Cluster += " (ignored by the drivers)"
		}
	}
	pids := func() []int {
		out := make([]int, ps.Size())
		for i := range out {
			out[i] = ps.PID(i)
		}
		return out
	}
	m := newMeter(pids)
	urls := strings.Split(ps.WebSocketURLs(), ",")
	if p.Overload {
		err = r.overload(ctx, urls, m, res)
	} else {
		err = r.steps(ctx, urls, m, res)
	}
	if err != nil {
		return res, err
	}
	endRSS := m.Last().EndRSS // the workload's, before the baselines

	if !r.cfg.SkipBaselines && len(ps.ClientURLs()) >= 2 {
		if err := r.baselines(ctx, ps.ClientURLs(), m, res); err != nil {
			return res, err
		}
	}
	for i := 0; i < ps.Size(); i++ {
		pid := ps.PID(i)
		if pid == 0 || !ps.Running(i) {
			res.Notes = append(res.Notes, fmt.Sprintf("Node %s was not running at the end of the run (-keep keeps its log).", ps.Name(i)))
			continue
		}
		st, err := ReadProc(pid)
		if err != nil {
			return res, err
		}
		u := NodeUsage{Name: ps.Name(i), CPUSec: st.CPU.Seconds(), PeakRSSMiB: mib(st.PeakRSS)}
		if i < len(endRSS) {
			u.RSSMiB = mib(endRSS[i])
		}
		res.Nodes = append(res.Nodes, u)
		res.PeakRSSTotalMiB += u.PeakRSSMiB
		res.RSSTotalMiB += u.RSSMiB
	}
	if self, err := ReadProc(0); err == nil {
		res.LoadGenCPUSec = self.CPU.Seconds()
		res.LoadGenPeakRSSMiB = mib(self.PeakRSS)
	}
	return res, nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// steps runs the preset's rates in turn.
func (r *Runner) steps(ctx context.Context, urls []string, m *meter, res *Result) error {
	for _, rate := range r.preset.Rates {
		s, err := r.step(ctx, urls, m, len(res.Steps), rate, "", 0)
		if err != nil {
			return err
		}
		res.Steps = append(res.Steps, s)
		if r.preset.Name == "ramp" && Sustained(s) {
			res.RampMaxRate = max(res.RampMaxRate, rate)
		}
	}
	return nil
}

// overload finds the capacity (or takes Config.Rate as it) and offers
// multiples of it.
func (r *Runner) overload(ctx context.Context, urls []string, m *meter, res *Result) error {
	p := r.preset
	c := &Capacity{Criteria: fmt.Sprintf("loss (with announced skips) < %g %% and p99 < %v", 100*MaxLossRate, MaxP99), Step: -1}
	res.Capacity = c
	if r.cfg.Rate > 0 {
		c.Given = true
		c.RatePerDriver = r.cfg.Rate
		s, err := r.step(ctx, urls, m, len(res.Steps), r.cfg.Rate, PhaseReference, 0)
		if err != nil {
			return err
		}
		c.Step = len(res.Steps)
		res.Steps = append(res.Steps, s)
	} else {
		search := &Search{Coarse: p.Rates, Refine: p.Refine}
		for rate, ok := search.Next(); ok; rate, ok = search.Next() {
			s, err := r.step(ctx, urls, m, len(res.Steps), rate, PhaseSearch, 0)
			if err != nil {
				return err
			}
			search.Record(rate, OutcomeOf(s))
			res.Steps = append(res.Steps, s)
		}
		c.RatePerDriver, c.FailedRatePerDriver = search.Capacity()
		for i, s := range res.Steps {
			if s.Phase == PhaseSearch && s.RatePerDriver == c.RatePerDriver && Sustained(s) {
				c.Step = i
			}
		}
	}
	if c.Step >= 0 {
		s := res.Steps[c.Step]
		c.OfferedPS, c.GoodputPS = s.OfferedPS, s.DeliveredPS
	}
	if c.RatePerDriver == 0 {
		r.logf("no rate was sustained: no capacity to overload")
		res.Notes = append(res.Notes, "No rate tried was sustained, so there is no capacity to offer multiples of.")
		return nil
	}
	r.logf("capacity: %g fixes/s per driver (%.0f fixes/s offered)", c.RatePerDriver, c.OfferedPS)
	for _, k := range p.Multiples {
		s, err := r.step(ctx, urls, m, len(res.Steps), k*c.RatePerDriver, PhaseOverload, k)
		if err != nil {
			return err
		}
		res.Steps = append(res.Steps, s)
	}
	return nil
}

// The phases of a step (StepResult.Phase).
const (
	PhaseSearch    = "search"
	PhaseReference = "reference"
	PhaseOverload  = "overload"
)

// step runs one workload and fills in the /proc readings; a step whose
// connections failed is recorded, not fatal. After it, it waits for the
// nodes to go quiet.
func (r *Runner) step(ctx context.Context, urls []string, m *meter, i int, rate float64, phase string, multiple float64) (StepResult, error) {
	if err := ctx.Err(); err != nil {
		return StepResult{}, err
	}
	p := r.preset
	what := ""
	if phase != "" {
		what = " (" + phase
		if multiple > 0 {
			what += fmt.Sprintf(" %g× capacity", multiple)
		}
		what += ")"
	}
	if p.Watched > 0 {
		what += fmt.Sprintf(", %g %% of the drivers watched", 100*p.Watched)
	}
	if p.ObeyInterval {
		what += ", drivers obeying set-interval"
	}
	r.logf("step %d%s: %d drivers × %d riders × %g fixes/s, %s loop, for %v", i+1, what, p.Drivers, p.RidersPerDriver, rate, p.Loop, p.Duration)
	began := false
	w := r.workload(urls, rate)
	w.Prefix = fmt.Sprintf("s%d-", i)
	w.Begin = func() { began = true; m.Begin() }
	w.End = m.End
	s, err := Run(ctx, w)
	s.Phase, s.CapacityMultiple = phase, multiple
	switch {
	case ctx.Err() != nil:
		return s, ctx.Err() // interrupted: the step is incomplete
	case errors.Is(err, ErrConnect):
		r.logf("step %d: %v", i+1, err)
	case err != nil:
		return s, err
	}
	if began {
		win := m.Last()
		s.ServerCPUSec, s.LoadGenCPUSec = win.ServerCPU.Seconds(), win.SelfCPU.Seconds()
		if s.Delivered > 0 {
			s.ServerCPUPer1000 = 1e6 * s.ServerCPUSec / float64(s.Delivered)
			s.LoadGenCPUPer1000 = 1e6 * s.LoadGenCPUSec / float64(s.Delivered)
		}
		s.NodesPeakRSSMiB = mib(win.PeakTotalRSS)
		for _, b := range win.NodePeakRSS {
			s.NodePeakRSSMiB = append(s.NodePeakRSSMiB, mib(b))
		}
		s.LoadGenPeakRSSMiB = mib(win.SelfPeakRSS)
	}
	if r.cfg.Settle > 0 {
		qctx, cancel := context.WithTimeout(ctx, r.cfg.Settle)
		d, quiet := m.quiet(qctx, 0.1, 500*time.Millisecond)
		cancel()
		s.SettleSec, s.SettleTimedOut = d.Seconds(), !quiet
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
	}
	verdict := "sustained"
	if why := whyNotSustained(s); len(why) > 0 {
		verdict = "not sustained: " + strings.Join(why, ", ")
	}
	r.logf("step %d: offered %.0f/s, goodput %.0f/s, loss %.3f %%, acked-but-lost %d, skipped (announced) %d, errors %s, not sent %d, unanswered %d, p99 %.1f ms, nodes' peak RSS %.0f MiB, drain %.1f s, settle %.1f s: %s",
		i+1, s.OfferedPS, s.DeliveredPS, 100*s.LossRate, s.AckedButLost, s.SkippedAnnounced, errorsText(s.Errors), s.NotSent, s.Unanswered, s.Latency.P99, s.NodesPeakRSSMiB, s.DrainSec, s.SettleSec, verdict)
	if iv := s.Intervals; iv != nil {
		r.logf("step %d: %s fixes sent, %.1f %% fewer than all at the fast interval; switches %d, asked within p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d unanswered, %d failed)",
			i+1, count(iv.Sent), iv.SavedPct, iv.Switches, iv.Switch.P50, iv.Switch.P99, iv.Switch.Max, iv.Unanswered, iv.SwitchErrors)
	}
	return s, nil
}

// workload is the preset's workload at rate on the nodes at urls.
func (r *Runner) workload(urls []string, rate float64) Workload {
	p := r.preset
	return Workload{
		Nodes: urls, Drivers: p.Drivers, RidersPerDriver: p.RidersPerDriver, Rate: rate, Duration: p.Duration,
		Loop: p.Loop, Watched: p.Watched, ObeyInterval: p.ObeyInterval, Switches: p.Switches,
		Backlog: r.cfg.Backlog, MaxInFlight: r.cfg.MaxInFlight, Drain: r.cfg.Drain,
	}
}

// baselines measures raw NATS on the cluster: flat out, and paced at the
// offered rate of the reference step (the capacity, or the last step).
func (r *Runner) baselines(ctx context.Context, clients []string, m *meter, res *Result) error {
	r.logf("raw NATS baselines")
	ref := res.referenceStep()
	rates := []float64{0}
	if ref != nil && ref.OfferedPS > 0 {
		rates = append(rates, ref.OfferedPS)
	}
	per1000 := func(cpu time.Duration, n int64) float64 {
		if n == 0 {
			return 0
		}
		return 1e6 * cpu.Seconds() / float64(n)
	}
	for _, rate := range rates {
		b := Baseline{PubURL: clients[0], SubURL: clients[1], MsgBytes: 150, Subjects: 1000, Duration: r.cfg.Baseline, Rate: rate, Begin: m.Begin, End: m.End}
		core, err := b.Core(ctx)
		if err != nil {
			return err
		}
		w := m.Last()
		core.ServerCPUSec, core.ServerCPUPer1000 = w.ServerCPU.Seconds(), per1000(w.ServerCPU, core.Messages)
		res.Baselines = append(res.Baselines, core)
		// One stream, as rtls has, and three with their leaders on
		// different nodes: the partitioning lever, measured.
		for _, streams := range []int{1, 3} {
			js, err := b.JetStream(ctx, 3, streams)
			if err != nil {
				return err
			}
			w = m.Last()
			js.ServerCPUSec, js.ServerCPUPer1000 = w.ServerCPU.Seconds(), per1000(w.ServerCPU, js.Messages)
			res.Baselines = append(res.Baselines, js)
		}
	}
	return nil
}

// ensureBinary builds rtlsd at path when it is missing.
func ensureBinary(path string, log io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintln(log, "bench: building", path)
	cmd := exec.Command("go", "build", "-o", path, "./node/cmd/rtlsd")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench: build %s: %w", path, err)
	}
	return nil
}
