package dashboard

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// startNode starts a real node on free loopback ports with a temporary data dir.
func startNode(t testing.TB, mutate ...func(*node.Config)) *node.Node {
	t.Helper()
	return testnode.Start(t, mutate...)
}

func stopNode(t testing.TB, n *node.Node) { testnode.Stop(t, n) }

// dialDriver connects a driver app to a node's WebSocket edge.
func dialDriver(t testing.TB, wsURL, id string, opts ...mobileproto.Option) *mobileproto.Client {
	t.Helper()
	return testnode.Dial(t, wsURL, mobileproto.RoleDriver, id, opts...)
}

// send sends one fix and returns its cursor.
func send(t testing.TB, c *mobileproto.Client, lat, lon, speed float64) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a, err := c.SendLocation(ctx, mobileproto.Fix{Latitude: lat, Longitude: lon, Speed: mobileproto.Float64(speed), Heading: mobileproto.Float64(90)})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return a.Cursor
}

// checkFor polls f until it returns nil or the time is up.
func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	testnode.CheckFor(t, total, every, f)
}

func newFleet(t testing.TB) *model.Fleet {
	t.Helper()
	f, err := model.NewFleet(model.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// startFeed follows the nodes at urls into fleet; it is closed at cleanup.
func startFeed(t testing.TB, fleet *model.Fleet, urls ...string) *Feed {
	t.Helper()
	f, err := NewFeed(FeedConfig{ConnConfig: ConnConfig{URLs: urls, ReconnectWait: 50 * time.Millisecond}, Fleet: fleet, RetryWait: 100 * time.Millisecond, Logger: testnode.Logger()})
	if err != nil {
		t.Fatalf("NewFeed: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// hasFix checks that fleet holds driver's fix with cursor.
func hasFix(fleet *model.Fleet, driver string, cursor uint64) error {
	d, _, ok := fleet.Driver(driver)
	if !ok {
		return fmt.Errorf("driver %s not in the fleet (%d drivers)", driver, fleet.Len())
	}
	if d.Cursor != cursor {
		return fmt.Errorf("driver %s at cursor %d, want %d", driver, d.Cursor, cursor)
	}
	return nil
}

// testClock is a settable clock, safe for the feed's goroutines to read.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{now: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
