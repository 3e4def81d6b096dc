// Command rtlsd runs one rtls node: an embedded NATS server with JetStream,
// the LOCATIONS stream and the WebSocket edge for driver and rider apps.
//
//	go run ./node/cmd/rtlsd -dev
//
// starts a single node on 127.0.0.1:8080 (WebSocket at /v1/ws) with its NATS
// client port on 127.0.0.1:4222 and its data in ./rtls-data/<name>;
//
//	rtlsd -config cluster/example/n1.conf
//
// starts a node from a configuration file (flags given as well override it).
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
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/internal/commalist"
	"github.com/rtls-io/rtls/internal/rlimit"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtlsd:", err)
		os.Exit(1)
	}
}

// heapProfile writes a heap profile when profiling is on.
var heapProfile = func() {}

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

	// RTLSD_CPUPROFILE_DIR=dir writes a CPU profile of the node's whole life
	// to dir/<name>.cpu.pprof (for go tool pprof); rtls-bench children
	// inherit it.
	if dir := os.Getenv("RTLSD_CPUPROFILE_DIR"); dir != "" {
		name := cfg.Name
		if name == "" {
			name = "rtlsd"
		}
		f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		// And the heap as it is when the node is asked to stop.
		heapProfile = func() {
			if h, err := os.Create(filepath.Join(dir, name+".heap.pprof")); err == nil {
				pprof.WriteHeapProfile(h)
				h.Close()
			}
		}
	}
	if before, after, err := rlimit.Raise(); err != nil {
		cfg.Logger.Warn("could not raise the open files limit", "err", err)
	} else if after > before {
		cfg.Logger.Info("raised the open files limit", "from", before, "to", after)
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	cfg.Logger.Info("rtlsd running", "node", n.Name(), "websocket", n.WebSocketURL(), "nats", n.ClientURL(), "admin", n.AdminAddr())
	<-ctx.Done()
	heapProfile()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Shutdown(sctx)
}

func parseFlags(args []string, stderr io.Writer) (node.Config, string, error) {
	fs := flag.NewFlagSet("rtlsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "node configuration file (see cluster/example/n1.conf); flags given as well override it")
	dev := fs.Bool("dev", false, "development mode: clients say who they are in the URL (?role=driver|rider&id=…); never expose it")
	name := fs.String("name", "", "node name, unique in the cluster (default: host name)")
	dataDir := fs.String("data", "", "data directory (default: rtls-data/<name>)")
	httpAddr := fs.String("http", "127.0.0.1:8080", "WebSocket and health listen address")
	adminAddr := fs.String("admin", "127.0.0.1:8222", `admin listen address: Prometheus /metrics, /v1/status ("" for none)`)
	adminToken := fs.String("admin-token-file", "", "file holding the bearer token admin requests must carry (required for an admin address beyond loopback with tokens)")
	natsAddr := fs.String("nats", "127.0.0.1:4222", `NATS client listen address for the dashboard and back-ends ("" for none)`)
	clusterAddr := fs.String("cluster", "", "NATS cluster (route) listen address; empty for a single node")
	routes := fs.String("routes", "", "comma-separated route URLs of the cluster's nodes (nats://host:port,…)")
	clusterName := fs.String("cluster-name", "rtls", "NATS cluster name")
	storage := fs.String("storage", "file", "stream storage: file or memory")
	history := fs.Int("history", 100, "fixes kept per driver")
	maxAge := fs.Duration("max-age", 24*time.Hour, "how long fixes are kept")
	origins := fs.String("allowed-origins", "", `comma-separated web origins allowed to connect ("*" for any)`)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	tokenKeys := fs.String("token-key", "", "comma-separated PEM public keys (Ed25519 or RSA) that verify app tokens; a token's kid is the file's base name (see rtls-token)")
	jwks := fs.String("jwks", "", "a JWKS file of keys that verify app tokens")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file for the WebSocket edge (with -tls-key); reloaded when it changes")
	tlsKey := fs.String("tls-key", "", "TLS private key file for the WebSocket edge")
	tiles := fs.String("tiles", web.DefaultTiles, `map tiles of the browser page at "/": URL template with {z}, {x}, {y}; "none" for a coordinate grid`)
	tilesAttribution := fs.String("tiles-attribution", "", "the tile provider's attribution (default: OpenStreetMap's for the default tiles)")
	if err := fs.Parse(args); err != nil {
		return node.Config{}, "", err
	}
	if fs.NArg() > 0 {
		return node.Config{}, "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var cfg node.Config
	level := *logLevel
	var sec node.AuthSection
	if *configPath != "" {
		f, err := node.ReadConfigFile(*configPath)
		if err != nil {
			return cfg, "", err
		}
		sec = f.Auth
		f.Auth = node.AuthSection{Mode: "dev"} // the Authenticator is made below, once flags are applied
		if cfg, err = f.Config(); err != nil {
			return cfg, "", err
		}
		if f.LogLevel != "" && !set["log-level"] {
			level = f.LogLevel
		}
	} else {
		for _, n := range []string{"http", "admin", "nats", "cluster-name", "storage", "history", "max-age"} {
			set[n] = true // without a file the flags' defaults apply
		}
	}
	for _, k := range commalist.Split(*tokenKeys) {
		sec.Mode = "token"
		sec.Keys = append(sec.Keys, node.KeyFile{ID: strings.TrimSuffix(filepath.Base(k), filepath.Ext(k)), File: k})
	}
	if *jwks != "" {
		sec.Mode, sec.JWKS = "token", *jwks
	}
	switch {
	case *dev && (len(sec.Keys) > 0 || sec.JWKS != ""):
		return cfg, "", errors.New("-dev is refused when token keys are configured: a node that verifies tokens must not also believe URLs")
	case *dev:
		sec.Mode = "dev"
	case sec.Mode == "":
		return cfg, "", errors.New("no authentication configured: give -token-key FILE (the public key that verifies the platform's app tokens; rtls-token makes one for trying it), a -config file with an auth block, or -dev for the development mode")
	}
	var err error
	if cfg.Authenticator, err = sec.Authenticator(); err != nil {
		return cfg, "", err
	}
	if set["tls-cert"] || set["tls-key"] {
		cfg.TLSCertFile, cfg.TLSKeyFile = *tlsCert, *tlsKey
	}
	if set["name"] {
		cfg.Name = *name
	}
	if set["data"] {
		cfg.DataDir = *dataDir
	}
	if set["http"] {
		cfg.HTTPAddr = *httpAddr
	}
	if set["nats"] {
		cfg.ClientAddr = *natsAddr
	}
	if set["admin"] {
		cfg.AdminAddr = *adminAddr
	}
	if set["admin-token-file"] {
		if cfg.AdminToken, err = node.ReadAdminToken(*adminToken); err != nil {
			return cfg, "", err
		}
	}
	if set["cluster"] {
		cfg.ClusterAddr = *clusterAddr
	}
	if set["routes"] {
		cfg.Routes = commalist.Split(*routes)
	}
	if set["cluster-name"] {
		cfg.ClusterName = *clusterName
	}
	if set["storage"] {
		cfg.Storage = node.Storage(*storage)
	}
	if set["history"] {
		cfg.History = *history
	}
	if set["max-age"] {
		cfg.MaxAge = *maxAge
	}
	if set["allowed-origins"] {
		cfg.AllowedOrigins = commalist.Split(*origins)
	}
	if set["tiles"] {
		cfg.Web.Tiles = *tiles
	}
	if set["tiles-attribution"] {
		cfg.Web.Attribution = *tilesAttribution
	}
	return cfg, level, nil
}
