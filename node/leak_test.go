package node_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/mobileproto"
)

// TestShutdownLeavesNoGoroutineBehind runs nodes through their whole life —
// drivers sending, riders tracking (in a cluster: on another node, so rooms
// ask the stream leader), clients still connected at the end — and checks
// that Shutdown stopped every goroutine they started.
func TestShutdownLeavesNoGoroutineBehind(t *testing.T) {
	for _, size := range []int{1, 3} {
		t.Run(map[int]string{1: "single node", 3: "cluster of three"}[size], func(t *testing.T) {
			// The goroutines running now are not the nodes'. Some of the
			// nodes' end just after Shutdown returns (nats.go's Close does
			// not wait for its read loop): goleak's own retries last about
			// half a second, too short on a busy machine, so poll.
			before := goleak.IgnoreCurrent()
			defer checkFor(t, 30*time.Second, 50*time.Millisecond, func() error { return goleak.Find(before) })
			c := clustertest.New(t, size)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := mobileproto.Dial(ctx, c.Node(0).WebSocketURL(), mobileproto.WithIdentity(mobileproto.RoleDriver, "d-1"))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			r, err := mobileproto.Dial(ctx, c.Node(size-1).WebSocketURL(), mobileproto.WithIdentity(mobileproto.RoleRider, "r-1"))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			sendFixes(t, d, 1, 5)
			if _, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(3)}); err != nil {
				t.Fatal(err)
			}
			sendFixes(t, d, 6, 10)
			receive(t, r, 8)
			// Stop the nodes with both clients connected: they close them.
			if err := c.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
