// Package testnode gives tests a real rtls node and the polling helper they
// share: a node on free loopback ports with a temporary data dir, stopped by
// t.Cleanup, quiet unless RTLS_TEST_LOG=1.
package testnode

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
)

// Logger returns a debug logger when RTLS_TEST_LOG is set, nil (quiet)
// otherwise.
func Logger() *slog.Logger {
	if os.Getenv("RTLS_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Start starts a single development-mode node named n1 on free ports and
// stops it when the test ends. mutate may change its configuration first.
func Start(t testing.TB, mutate ...func(*node.Config)) *node.Node {
	t.Helper()
	cfg := node.Config{
		Name:          "n1",
		DataDir:       t.TempDir(),
		HTTPAddr:      "127.0.0.1:0",
		ClientAddr:    "127.0.0.1:0",
		Authenticator: auth.Dev(),
		Logger:        Logger(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { Stop(t, n) })
	return n
}

// Stop shuts n down and reports an error to t.
func Stop(t testing.TB, n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// Dial connects a client with a development identity to url and closes it
// when the test ends.
func Dial(t testing.TB, url string, role mobileproto.Role, id string, opts ...mobileproto.Option) *mobileproto.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mobileproto.Dial(ctx, url, append([]mobileproto.Option{mobileproto.WithIdentity(role, id)}, opts...)...)
	if err != nil {
		t.Fatalf("dial %s as %s %s: %v", url, role, id, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CheckFor polls f every interval until it returns nil, and fails the test
// with f's last error when total has passed.
func CheckFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(every)
	}
}
