package dashboard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/node"
)

// The feed follows a three-node cluster, fails over when its node goes,
// loads the snapshot again and keeps following.
func TestFeedFailsOverInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster and a leader election")
	}
	c := clustertest.New(t, 3)
	c1 := send(t, dialDriver(t, c.Node(0).WebSocketURL(), "d-1"), 1, 1, 1)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, c.ClientURLs()...)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if s := feed.Status(); s.State != Connected || s.Snapshot.Done < 1 {
			return fmt.Errorf("status %+v", s)
		}
		return hasFix(fleet, "d-1", c1)
	})
	first := feed.Status().Server
	var survivor *node.Node
	for i := 0; i < c.Size(); i++ {
		if c.Node(i).Name() == first {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := c.Stop(ctx, i); err != nil {
				t.Fatal(err)
			}
			cancel()
		} else {
			survivor = c.Node(i)
		}
	}
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		s := feed.Status()
		if s.State != Connected || s.Server == first || s.Server == "" || s.Snapshot.Done < 2 {
			return fmt.Errorf("status %+v (was on %s)", s, first)
		}
		return nil
	})
	c2 := send(t, dialDriver(t, survivor.WebSocketURL(), "d-2"), 2, 2, 2)
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error { return hasFix(fleet, "d-2", c2) })
	if err := hasFix(fleet, "d-1", c1); err != nil {
		t.Fatal(err)
	}
}
