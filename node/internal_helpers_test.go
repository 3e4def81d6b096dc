package node

import (
	"context"
	"testing"
	"time"

	"github.com/rtls-io/rtls/node/auth"
)

// startTestNode starts a single development node for this package's
// internal tests, its Config changed by mutate (if not nil), and shuts it
// down when the test ends.
func startTestNode(tb testing.TB, mutate func(*Config)) *Node {
	tb.Helper()
	cfg := Config{Name: "n1", DataDir: tb.TempDir(), HTTPAddr: "127.0.0.1:0", Authenticator: auth.Dev()}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Shutdown(context.Background()) })
	return n
}
