package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// startNode starts a single node on free ports with a temporary data dir.
func startNode(t testing.TB, mutate ...func(*node.Config)) *node.Node {
	t.Helper()
	return testnode.Start(t, mutate...)
}

func dial(t testing.TB, n *node.Node, role mobileproto.Role, id string, opts ...mobileproto.Option) *mobileproto.Client {
	t.Helper()
	return testnode.Dial(t, n.WebSocketURL(), role, id, opts...)
}

// checkFor polls f until it returns nil or the time is up.
func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	testnode.CheckFor(t, total, every, f)
}

// fix returns a valid fix with the given seq, at a position derived from it.
func fix(seq uint64) mobileproto.Fix {
	return mobileproto.Fix{
		Latitude:  12.9716 + float64(seq)*1e-5,
		Longitude: 77.5946 - float64(seq)*1e-5,
		Seq:       seq,
		TS:        1764412800000 + int64(seq)*1000,
		Speed:     mobileproto.Float64(8.5),
	}
}

// sendFixes sends seqs from..to as a driver and returns the acks in seq order.
func sendFixes(t testing.TB, d *mobileproto.Client, from, to uint64) []mobileproto.Ack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pend := make([]*mobileproto.Pending, 0, to-from+1)
	for s := from; s <= to; s++ {
		p, err := d.SendLocationAsync(ctx, fix(s))
		if err != nil {
			t.Fatalf("send seq %d: %v", s, err)
		}
		pend = append(pend, p)
	}
	acks := make([]mobileproto.Ack, 0, len(pend))
	for _, p := range pend {
		a, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("ack of seq %d: %v", p.Seq, err)
		}
		if a.Seq != p.Seq {
			t.Fatalf("ack for seq %d carries seq %d", p.Seq, a.Seq)
		}
		acks = append(acks, a)
	}
	return acks
}

// receive reads n locations from c or fails the test.
func receive(t testing.TB, c *mobileproto.Client, n int) []mobileproto.Location {
	t.Helper()
	out := make([]mobileproto.Location, 0, n)
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case l, ok := <-c.Locations():
			if !ok {
				t.Fatalf("client stopped after %d of %d locations: %v", len(out), n, c.Err())
			}
			out = append(out, l)
		case <-timeout:
			t.Fatalf("received %d of %d locations", len(out), n)
		}
	}
	return out
}

func intp(v int) *int               { return &v }
func u64p(v uint64) *uint64         { return &v }
func errf(f string, a ...any) error { return fmt.Errorf(f, a...) }

// logRecorder keeps what a node logs, for tests that check a log line.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *logRecorder) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func urlUser(user, password string) *url.Userinfo { return url.UserPassword(user, password) }

// nc connects to n's client port (development mode: no credentials).
func nc(t testing.TB, n *node.Node) *nats.Conn {
	t.Helper()
	c, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
