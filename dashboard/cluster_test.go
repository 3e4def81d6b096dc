package dashboard

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rtls-io/rtls/node"
)

// startCluster starts n real nodes forming a JetStream cluster in this
// process. Their route ports are reserved by listening on port 0 first.
func startCluster(t *testing.T, n int) []*node.Node {
	t.Helper()
	addrs := make([]string, n)
	routes := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		routes[i] = "nats://" + addrs[i]
		l.Close()
	}
	nodes := make([]*node.Node, n)
	errs := make([]error, n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range nodes {
		nd, err := node.New(node.Config{
			Name: fmt.Sprintf("c%d", i+1), DataDir: t.TempDir(),
			HTTPAddr: "127.0.0.1:0", ClientAddr: "127.0.0.1:0",
			ClusterAddr: addrs[i], Routes: routes,
			Authenticator: node.DevAuthenticator(), Logger: testLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = nd
		wg.Add(1)
		go func() { // a node is ready only once a quorum runs: start them together
			defer wg.Done()
			errs[i] = nd.Start(ctx)
		}()
	}
	wg.Wait()
	for _, nd := range nodes {
		t.Cleanup(func() { stopNode(t, nd) })
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	return nodes
}

// The feed follows a three-node cluster, fails over when its node goes,
// loads the snapshot again and keeps following.
func TestFeedFailsOverInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster and a leader election")
	}
	nodes := startCluster(t, 3)
	c1 := send(t, dialDriver(t, nodes[0].WebSocketURL(), "d-1"), 1, 1, 1)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, nodes[0].ClientURL(), nodes[1].ClientURL(), nodes[2].ClientURL())
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if s := feed.Status(); s.State != Connected || s.Snapshot.Done < 1 {
			return fmt.Errorf("status %+v", s)
		}
		return hasFix(fleet, "d-1", c1)
	})
	first := feed.Status().Server
	var survivor *node.Node
	for _, nd := range nodes {
		if nd.Name() == first {
			stopNode(t, nd)
		} else {
			survivor = nd
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
