// Command rtls-bench measures throughput, latency, CPU and memory of a
// three-node rtls cluster (three rtlsd processes on this machine) driven
// through the WebSocket edge, and the raw NATS ceiling of the same cluster.
//
//	go build -o bin/rtlsd ./node/cmd/rtlsd
//	go run ./bench/cmd/rtls-bench -preset small            # 1,000 drivers × 1 rider × 1 fix/s, 30 s
//	go run ./bench/cmd/rtls-bench -preset city             # 5,000 drivers (10,000 WebSockets)
//	go run ./bench/cmd/rtls-bench -preset ramp             # 200 drivers at 5…100 fixes/s each
//	go run ./bench/cmd/rtls-bench -preset small -compare bench/out/old.json
//
// It writes bench/out/<time>-<preset>.json and .md and prints the Markdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/bench"
	"github.com/rtls-io/rtls/cluster"
	"github.com/rtls-io/rtls/internal/rlimit"
	"github.com/rtls-io/rtls/node"
)

type preset struct {
	drivers, ridersPer int
	rates              []float64
	duration           time.Duration
	loop               bench.Loop
}

var presets = map[string]preset{
	"small": {1000, 1, []float64{1}, 30 * time.Second, bench.LoopClosed},
	"city":  {5000, 1, []float64{1}, 30 * time.Second, bench.LoopClosed},
	"ramp":  {200, 1, []float64{5, 10, 20, 50, 100}, 10 * time.Second, bench.LoopOpen},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rtls-bench", flag.ContinueOnError)
	name := fs.String("preset", "small", "small, city or ramp")
	drivers := fs.Int("drivers", 0, "drivers (default: the preset's)")
	ridersPer := fs.Int("riders", 0, "riders per driver (default: the preset's)")
	rate := fs.Float64("rate", 0, "fixes per second per driver (default: the preset's)")
	duration := fs.Duration("duration", 0, "sending time per step (default: the preset's)")
	rtlsd := fs.String("rtlsd", "bin/rtlsd", "rtlsd binary (built with go build when missing)")
	outDir := fs.String("out", "bench/out", "where the JSON and Markdown results go")
	compare := fs.String("compare", "", "an earlier result (JSON) to compare with")
	baselineDur := fs.Duration("baseline", 5*time.Second, "duration of each raw NATS baseline (0 to skip)")
	keep := fs.Bool("keep", false, "keep the nodes' data and logs")
	nodeProcs := fs.Int("node-gomaxprocs", 0, "GOMAXPROCS of each node process (0: Go's default, all cores)")
	replot := fs.String("replot", "", "only render an earlier result (JSON) again: Markdown to stdout, PNG beside it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *replot != "" {
		r, err := bench.ReadResult(*replot)
		if err != nil {
			return err
		}
		r.Markdown(stdout)
		return bench.PlotLatency(strings.TrimSuffix(*replot, ".json")+".png", r)
	}
	p, ok := presets[*name]
	if !ok {
		return fmt.Errorf("unknown preset %q (small, city, ramp)", *name)
	}
	if *drivers > 0 {
		p.drivers = *drivers
	}
	if *ridersPer > 0 {
		p.ridersPer = *ridersPer
	}
	if *rate > 0 {
		p.rates = []float64{*rate}
	}
	if *duration > 0 {
		p.duration = *duration
	}
	var old *bench.Result
	if *compare != "" {
		var err error
		if old, err = bench.ReadResult(*compare); err != nil {
			return err
		}
	}
	// The city preset holds 10,000 WebSockets in this process.
	if before, after, err := rlimit.Raise(); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-bench:", err)
	} else if after > before {
		fmt.Fprintf(os.Stderr, "rtls-bench: raised the open files limit from %d to %d\n", before, after)
	}
	if err := ensureBinary(*rtlsd); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "rtls-bench-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "rtls-bench: data and logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	logf, err := os.Create(filepath.Join(dir, "nodes.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(os.Stderr, "rtls-bench: starting three rtlsd processes (logs: %s)\n", logf.Name())
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	spec := cluster.Spec{Size: 3, DataDir: dir, Node: func(i int, c *node.Config) {
		c.RateLimit = max(200, 2*p.rates[len(p.rates)-1])
	}}
	if *nodeProcs > 0 {
		spec.Env = []string{fmt.Sprintf("GOMAXPROCS=%d", *nodeProcs)}
	}
	ps, err := cluster.StartProcesses(sctx, *rtlsd, spec, logf)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ps.Shutdown(dctx)
	}()

	res := &bench.Result{
		Preset:  *name,
		Started: time.Now(),
		Command: "rtls-bench " + strings.Join(args, " "),
		Host:    fmt.Sprintf("%d CPUs, %s, load generator in the same machine", runtime.NumCPU(), runtime.Version()),
		Cluster: "3 rtlsd processes on loopback, stream R3 on file storage, history 100",
	}
	if *nodeProcs > 0 {
		res.Cluster += fmt.Sprintf(", GOMAXPROCS=%d per node", *nodeProcs)
	}
	cpu := newCPUMeter(ps)
	urls := strings.Split(ps.WebSocketURLs(), ",")
	for i, r := range p.rates {
		fmt.Fprintf(os.Stderr, "rtls-bench: %d drivers × %d riders × %g fixes/s for %v\n", p.drivers, p.ridersPer, r, p.duration)
		var step bench.StepResult
		w := bench.Workload{
			Nodes: urls, Drivers: p.drivers, RidersPerDriver: p.ridersPer, Rate: r, Duration: p.duration, Loop: p.loop,
			Prefix: fmt.Sprintf("s%d-", i),
			Begin:  cpu.begin,
			End:    cpu.end,
		}
		step, err = bench.Run(ctx, w)
		if err != nil {
			return err
		}
		step.ServerCPUSec, step.LoadGenCPUSec = cpu.server.Seconds(), cpu.self.Seconds()
		if step.Delivered > 0 {
			step.ServerCPUPer1000 = 1000 * step.ServerCPUSec * 1000 / float64(step.Delivered)
			step.LoadGenCPUPer1000 = 1000 * step.LoadGenCPUSec * 1000 / float64(step.Delivered)
		}
		res.Steps = append(res.Steps, step)
		if *name == "ramp" && bench.RampOK(step) {
			res.RampMaxRate = r
		}
	}

	endRSS := append([]uint64(nil), cpu.rss...) // the workload's, before the baselines
	if *baselineDur > 0 {
		clients := ps.ClientURLs()
		last := res.Steps[len(res.Steps)-1]
		fmt.Fprintln(os.Stderr, "rtls-bench: raw NATS baselines")
		for _, rate := range []float64{0, last.OfferedPS} {
			b := bench.Baseline{PubURL: clients[0], SubURL: clients[1], MsgBytes: 150, Subjects: 1000, Duration: *baselineDur, Rate: rate, Begin: cpu.begin, End: cpu.end}
			core, err := b.Core(ctx)
			if err != nil {
				return err
			}
			core.ServerCPUSec, core.ServerCPUPer1000 = cpu.server.Seconds(), per1000(cpu.server, core.Messages)
			js, err := b.JetStream(ctx, 3)
			if err != nil {
				return err
			}
			js.ServerCPUSec, js.ServerCPUPer1000 = cpu.server.Seconds(), per1000(cpu.server, js.Messages)
			res.Baselines = append(res.Baselines, core, js)
		}
	}

	for i := 0; i < ps.Size(); i++ {
		st, err := bench.ReadProc(ps.PID(i))
		if err != nil {
			return err
		}
		u := bench.NodeUsage{Name: ps.Name(i), CPUSec: st.CPU.Seconds(), PeakRSSMiB: float64(st.PeakRSS) / (1 << 20), RSSMiB: float64(endRSS[i]) / (1 << 20)}
		res.Nodes = append(res.Nodes, u)
		res.PeakRSSTotalMiB += u.PeakRSSMiB
		res.RSSTotalMiB += u.RSSMiB
	}
	if self, err := bench.ReadProc(0); err == nil {
		res.LoadGenCPUSec = self.CPU.Seconds()
	}

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(*outDir, res.Started.UTC().Format("20060102-150405")+"-"+*name)
	if err := res.WriteJSON(base + ".json"); err != nil {
		return err
	}
	md, err := os.Create(base + ".md")
	if err != nil {
		return err
	}
	defer md.Close()
	out := io.MultiWriter(stdout, md)
	res.Markdown(out)
	if old != nil {
		bench.WriteComparison(out, old, res)
	}
	if err := bench.PlotLatency(base+".png", res); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-bench: plot:", err)
	}
	fmt.Fprintf(os.Stderr, "rtls-bench: wrote %s.json, .md and .png\n", base)
	return nil
}

func per1000(cpu time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(cpu.Milliseconds()) * 1000 / float64(n)
}

// cpuMeter reads the nodes' and this process's CPU time at the start and end
// of a measurement window.
type cpuMeter struct {
	ps           *cluster.Processes
	server0      time.Duration
	self0        time.Duration
	server, self time.Duration
	rss          []uint64 // of each node at the last end
}

func newCPUMeter(ps *cluster.Processes) *cpuMeter { return &cpuMeter{ps: ps} }

func (m *cpuMeter) read() (server, self time.Duration) {
	for i := 0; i < m.ps.Size(); i++ {
		if st, err := bench.ReadProc(m.ps.PID(i)); err == nil {
			server += st.CPU
		}
	}
	if st, err := bench.ReadProc(0); err == nil {
		self = st.CPU
	}
	return server, self
}

func (m *cpuMeter) begin() { m.server0, m.self0 = m.read() }

func (m *cpuMeter) end() {
	s, me := m.read()
	m.server, m.self = s-m.server0, me-m.self0
	m.rss = m.rss[:0]
	for i := 0; i < m.ps.Size(); i++ {
		st, _ := bench.ReadProc(m.ps.PID(i))
		m.rss = append(m.rss, st.RSS)
	}
}

func ensureBinary(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintln(os.Stderr, "rtls-bench: building", path)
	cmd := exec.Command("go", "build", "-o", path, "./node/cmd/rtlsd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
