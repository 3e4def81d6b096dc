// Command rtls-fleetsim drives a simulated fleet through a generated city
// and sends every driver's fixes to rtls nodes over their WebSocket edge,
// as real driver apps do. It needs nodes in development mode (-dev).
//
//	go run ./dashboard/cmd/rtls-fleetsim -ws ws://127.0.0.1:8080/v1/ws -drivers 300
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/internal/commalist"
	"github.com/rtls-io/rtls/internal/fleetsim"
	"github.com/rtls-io/rtls/node/auth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-fleetsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg fleetsim.Config
	fs := flag.NewFlagSet("rtls-fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("ws", "ws://127.0.0.1:8080/v1/ws", "comma-separated WebSocket URLs of the nodes")
	fs.IntVar(&cfg.Drivers, "drivers", 300, "number of drivers")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "time between two fixes of a driver")
	seed := fs.Uint64("seed", 1, "seed of the city and the journeys")
	fs.Float64Var(&cfg.City.Center.Lat, "lat", 12.9716, "latitude of the city centre")
	fs.Float64Var(&cfg.City.Center.Lon, "lon", 77.5946, "longitude of the city centre")
	fs.IntVar(&cfg.City.Streets, "streets", 24, "streets each way")
	fs.StringVar(&cfg.IDPrefix, "prefix", "sim-", "driver id prefix")
	fs.Float64Var(&cfg.Quiet, "quiet", 0, "fraction of drivers that stop sending within a minute (shows stale and offline drivers)")
	every := fs.Duration("stats", 10*time.Second, "how often to print counters (0 for never)")
	tokenKey := fs.String("token-key", "", "private key (PEM) that signs the drivers' app tokens, for nodes with token authentication (task cluster: rtls-data/secrets/app.key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.City.Seed = *seed
	cfg.URLs = commalist.Split(*ws)
	if *tokenKey != "" {
		k, err := auth.LoadSigningKey(strings.TrimSuffix(filepath.Base(*tokenKey), filepath.Ext(*tokenKey)), "", *tokenKey)
		if err != nil {
			return err
		}
		cfg.TokenKey = &k
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fleet, err := fleetsim.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "rtls-fleetsim: %d drivers every %v to %v\n", cfg.Drivers, cfg.Interval, cfg.URLs)
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick:
			s := fleet.Stats()
			fmt.Fprintf(stderr, "rtls-fleetsim: connected %d, sent %d, acked %d, refused %d, reconnects %d\n", s.Connected, s.Sent, s.Acked, s.Refused, s.Reconnects)
		}
	}
	fleet.Stop()
	return nil
}
