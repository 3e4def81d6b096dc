// Command rtls-bench measures throughput, latency, loss, CPU and memory of a
// three-node rtls cluster (three rtlsd processes on this machine) driven
// through the WebSocket edge, and the raw NATS ceiling of the same cluster.
//
//	go build -o bin/rtlsd ./node/cmd/rtlsd
//	go run ./bench/cmd/rtls-bench -preset small            # 1,000 drivers × 1 rider × 1 fix/s, 30 s
//	go run ./bench/cmd/rtls-bench -preset city             # 5,000 drivers (10,000 WebSockets)
//	go run ./bench/cmd/rtls-bench -preset ramp             # 200 drivers at 5…100 fixes/s each, open loop
//	go run ./bench/cmd/rtls-bench -preset overload         # find the capacity, then offer 1.5×, 2×, 3× of it
//	go run ./bench/cmd/rtls-bench -preset battery          # 1,000 drivers obeying set-interval, 20 % watched, 90 s
//	go run ./bench/cmd/rtls-bench -preset small -compare bench/out/old.json
//	go run ./bench/cmd/rtls-bench -replot bench/out/old.json
//
// It writes bench/out/<time>-<preset>.json, .md and .png and prints the
// Markdown. Everything but the flags lives in package bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/bench"
	"github.com/rtls-io/rtls/internal/rlimit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtls-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.Config
	fs.StringVar(&cfg.Preset, "preset", "small", strings.Join(bench.PresetNames(), ", "))
	fs.IntVar(&cfg.Drivers, "drivers", 0, "drivers (default: the preset's)")
	fs.IntVar(&cfg.RidersPerDriver, "riders", 0, "riders per driver (default: the preset's)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fixes per second per driver: one step at this rate; for -preset overload, the capacity to overload (skips the search)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "sending time per step (default: the preset's)")
	loop := fs.String("loop", "", "open or closed (default: the preset's; open for city, ramp, overload and battery; closed for small)")
	fs.DurationVar(&cfg.FastInterval, "fast-interval", 0, "the nodes' set-interval while a driver is watched (default: the preset's, else the node's 1s); with -preset battery also the drivers' fastest rate")
	fs.DurationVar(&cfg.SlowInterval, "slow-interval", 0, "the nodes' set-interval while nobody watches a driver (default: the preset's, else the node's 15s)")
	fs.DurationVar(&cfg.Backlog, "backlog", 0, "open loop: how much of its fixes a phone keeps while its client cannot take them (default 5s)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 0, "fixes a driver client may have waiting for acks (default: open loop 15 s of fixes, at least 1024; closed 1024)")
	fs.DurationVar(&cfg.Drain, "drain", 0, "longest wait after sending for answers and deliveries (default 15s)")
	fs.DurationVar(&cfg.Settle, "settle", 0, "longest wait after a step for the nodes to go quiet (default 20s, negative: no wait)")
	searchRates := fs.String("search-rates", "", "overload: the capacity search's coarse rates per driver, comma-separated (default 10,20,40,80,160,320)")
	fs.IntVar(&cfg.Refine, "refine", 0, "overload: most bisection steps after the first failed rate (default 3, negative: none)")
	multiples := fs.String("multiples", "", "overload: multiples of the capacity to offer, comma-separated (default 1.5,2,3)")
	fs.StringVar(&cfg.Rtlsd, "rtlsd", "bin/rtlsd", "rtlsd binary (built with go build when missing)")
	fs.IntVar(&cfg.NodeGOMAXPROCS, "node-gomaxprocs", 0, "GOMAXPROCS of each node process (0: Go's default, all cores)")
	fs.Float64Var(&cfg.NodeRateLimit, "node-rate-limit", 0, "frames/s a connection may send to a node (default: twice the highest rate the run offers, at least 200)")
	baseline := fs.Duration("baseline", 5*time.Second, "duration of each raw NATS baseline (0 to skip)")
	fs.BoolVar(&cfg.KeepData, "keep", false, "keep the nodes' data and logs")
	outDir := fs.String("out", "bench/out", "where the JSON, Markdown and plot go")
	compare := fs.String("compare", "", "an earlier result (JSON) to compare with")
	replot := fs.String("replot", "", "only render an earlier result (JSON) again: Markdown to stdout, PNG beside it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *replot != "" {
		return bench.Replot(*replot, stdout)
	}
	var err error
	if *loop != "" {
		if cfg.Loop, err = bench.ParseLoop(*loop); err != nil {
			return err
		}
	}
	if *searchRates != "" {
		if cfg.SearchRates, err = bench.ParseRates(*searchRates); err != nil {
			return err
		}
	}
	if *multiples != "" {
		if cfg.Multiples, err = bench.ParseRates(*multiples); err != nil {
			return err
		}
	}
	cfg.Baseline, cfg.SkipBaselines = *baseline, *baseline <= 0
	cfg.Progress = stderr
	cfg.Command = "rtls-bench " + strings.Join(args, " ")
	var old *bench.Result
	if *compare != "" {
		if old, err = bench.ReadResult(*compare); err != nil {
			return err
		}
	}
	runner, err := bench.NewRunner(cfg)
	if err != nil {
		return err
	}
	// The city preset holds 10,000 WebSockets in this process.
	if before, after, err := rlimit.Raise(); err != nil {
		fmt.Fprintln(stderr, "rtls-bench:", err)
	} else if after > before {
		fmt.Fprintf(stderr, "rtls-bench: raised the open files limit from %d to %d\n", before, after)
	}

	res, runErr := runner.Run(ctx)
	if res == nil || len(res.Steps) == 0 {
		return runErr
	}
	if runErr != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("The run stopped early: %v.", runErr))
	}
	base, err := res.Write(*outDir, stdout, old)
	if err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Fprintf(stderr, "rtls-bench: wrote %s.json, .md and .png\n", base)
	return runErr
}
