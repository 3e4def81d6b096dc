// Command rtls-cluster runs one rtlsd process per configuration file, with
// each node's log lines prefixed by its name, until interrupted; then it
// stops all of them gracefully.
//
//	go build -o bin/rtlsd ./node/cmd/rtlsd
//	go run ./cluster/cmd/rtls-cluster -rtlsd bin/rtlsd cluster/example/n1.conf cluster/example/n2.conf cluster/example/n3.conf
//
// The example files run a production cluster: app tokens, an authenticated
// bus. Its secrets are made once in -secrets (default rtls-data/secrets) and
// passed to the nodes as environment variables (see cluster.Secrets).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rtls-cluster", flag.ContinueOnError)
	bin := fs.String("rtlsd", "bin/rtlsd", "path of the rtlsd binary")
	wait := fs.Duration("ready-timeout", 90*time.Second, "how long to wait for every node to be ready")
	secretsDir := fs.String("secrets", "rtls-data/secrets", `directory of the cluster's secrets, made when missing ("" for none)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		return errors.New("usage: rtls-cluster [-rtlsd bin/rtlsd] node1.conf node2.conf …")
	}
	if _, err := os.Stat(*bin); err != nil {
		return fmt.Errorf("rtlsd binary: %w (build it: go build -o bin/rtlsd ./node/cmd/rtlsd)", err)
	}
	var env []string
	if *secretsDir != "" {
		s, err := cluster.EnsureSecrets(*secretsDir)
		if err != nil {
			return err
		}
		env = s.Env()
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
		fmt.Fprintf(os.Stderr, `rtls-cluster: secrets in %[1]s
  app tokens:  go run ./node/cmd/rtls-token -key %[1]s/app.key -sub d-17 -role driver
  dashboard:   go run -tags gui ./dashboard/cmd/rtls-dashboard -nkey %[1]s/dispatcher.nk -nats …
`, *secretsDir)
	}
	sctx, cancel := context.WithTimeout(ctx, *wait)
	ps, err := cluster.StartFiles(sctx, *bin, files, os.Stderr, env...)
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rtls-cluster: %d nodes ready\n  WebSocket: %s\n  NATS:      %s\nCtrl-C stops them.\n",
		ps.Size(), ps.WebSocketURLs(), strings.Join(ps.ClientURLs(), ","))
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "rtls-cluster: stopping")
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dcancel()
	return ps.Shutdown(dctx)
}
