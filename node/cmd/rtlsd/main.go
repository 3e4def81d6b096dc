// Command rtlsd runs one rtls node: an embedded NATS server with JetStream,
// the LOCATIONS stream and the WebSocket edge for driver and rider apps.
//
//	go run ./node/cmd/rtlsd -dev
//
// starts a single node on 127.0.0.1:8080 (WebSocket at /v1/ws) with its NATS
// client port on 127.0.0.1:4222 and its data in ./rtls-data/<name>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtlsd:", err)
		os.Exit(1)
	}
}

// run parses args, starts the node, and shuts it down when ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, logLevel, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level %q: %w", logLevel, err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.NATSDebug = level <= slog.LevelDebug

	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	cfg.Logger.Info("rtlsd running", "node", n.Name(), "websocket", n.WebSocketURL(), "nats", n.ClientURL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Shutdown(sctx)
}

func parseFlags(args []string, stderr io.Writer) (node.Config, string, error) {
	var cfg node.Config
	fs := flag.NewFlagSet("rtlsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "development mode: clients say who they are in the URL (?role=driver|rider&id=…); never expose it")
	fs.StringVar(&cfg.Name, "name", "", "node name, unique in the cluster (default: host name)")
	fs.StringVar(&cfg.DataDir, "data", "", "data directory (default: rtls-data/<name>)")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", "WebSocket and health listen address")
	fs.StringVar(&cfg.ClientAddr, "nats", "127.0.0.1:4222", `NATS client listen address for the dashboard and back-ends ("" for none)`)
	fs.StringVar(&cfg.ClusterAddr, "cluster", "", "NATS cluster (route) listen address; empty for a single node")
	routes := fs.String("routes", "", "comma-separated route URLs of the other nodes (nats://host:port,…)")
	fs.StringVar(&cfg.ClusterName, "cluster-name", "rtls", "NATS cluster name")
	storage := fs.String("storage", "file", "stream storage: file or memory")
	fs.IntVar(&cfg.History, "history", 100, "fixes kept per driver")
	fs.DurationVar(&cfg.MaxAge, "max-age", 24*time.Hour, "how long fixes are kept")
	origins := fs.String("allowed-origins", "", `comma-separated web origins allowed to connect ("*" for any)`)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if !*dev {
		return cfg, "", errors.New("no authentication configured: run with -dev for the development mode (token authentication is not available yet)")
	}
	cfg.Authenticator = node.DevAuthenticator()
	cfg.Storage = node.Storage(*storage)
	cfg.Routes = splitList(*routes)
	cfg.AllowedOrigins = splitList(*origins)
	return cfg, *logLevel, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
