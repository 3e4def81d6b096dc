package cluster_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtls-io/rtls/cluster"
	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

func TestPlanGivesEveryNodeItsOwnPortsAndAllRoutes(t *testing.T) {
	cfgs, err := cluster.Plan(cluster.Spec{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 3 {
		t.Fatalf("%d nodes, want 3", len(cfgs))
	}
	// Where the system's ephemeral range can be read, ports come from below
	// it: no outgoing connection can take one before its node binds it.
	ephemeral := 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		ephemeral, _ = strconv.Atoi(strings.Fields(string(b))[0])
	}
	seen := map[string]bool{}
	for _, c := range cfgs {
		for _, a := range []string{c.HTTPAddr, c.ClientAddr, c.ClusterAddr, c.AdminAddr} {
			if seen[a] || !strings.HasPrefix(a, "127.0.0.1:") {
				t.Fatalf("address %q reused or not on loopback", a)
			}
			seen[a] = true
			if port, _ := strconv.Atoi(strings.TrimPrefix(a, "127.0.0.1:")); ephemeral > 20000 && (port < 10000 || port >= ephemeral) {
				t.Errorf("port %d is outside [10000, %d), below the ephemeral range", port, ephemeral)
			}
		}
		if len(c.Routes) != 3 || c.ClusterName != "rtls" || !strings.HasSuffix(c.DataDir, c.Name) {
			t.Fatalf("node %s: %+v", c.Name, c)
		}
	}
	if _, err := cluster.Plan(cluster.Spec{}); err == nil {
		t.Fatal("a spec without a data dir was planned")
	}
	single, err := cluster.Plan(cluster.Spec{Size: 1, DataDir: t.TempDir()})
	if err != nil || single[0].ClusterAddr != "" || single[0].Routes != nil {
		t.Fatalf("a single node has no cluster: %+v %v", single, err)
	}
}

func dial(t testing.TB, url string, role mobileproto.Role, id string, opts ...mobileproto.Option) *mobileproto.Client {
	t.Helper()
	return testnode.Dial(t, url, role, id, opts...)
}

func TestRidersOnOtherNodesGetEveryFixInOrder(t *testing.T) {
	c := clustertest.New(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := c.Node(0).Config().Replicas; got != 3 {
		t.Fatalf("stream replicas %d, want 3", got)
	}
	driver := dial(t, c.WebSocketURL(0), mobileproto.RoleDriver, "d-1")
	r2 := dial(t, c.WebSocketURL(1), mobileproto.RoleRider, "r-2")
	r3 := dial(t, c.WebSocketURL(2), mobileproto.RoleRider, "r-3")
	for _, r := range []*mobileproto.Client{r2, r3} {
		if _, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{History: new(int)}); err != nil {
			t.Fatal(err)
		}
	}
	var acks []mobileproto.Ack
	for s := uint64(1); s <= 200; s++ {
		a, err := driver.SendLocation(ctx, mobileproto.Fix{Latitude: 12.97, Longitude: 77.59, Seq: s})
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	for ri, r := range []*mobileproto.Client{r2, r3} {
		for i, a := range acks {
			select {
			case l := <-r.Locations():
				if l.Cursor != a.Cursor || l.Seq != a.Seq || l.Node != "n1" {
					t.Fatalf("rider %d location %d: cursor %d seq %d node %s, want cursor %d seq %d from n1", ri, i, l.Cursor, l.Seq, l.Node, a.Cursor, a.Seq)
				}
			case <-ctx.Done():
				t.Fatalf("rider %d got %d of %d", ri, i, len(acks))
			}
		}
	}
	for i := 1; i < 3; i++ {
		if s := c.Node(i).Stats(); s.LiveSubscriptions != 1 {
			t.Errorf("node %d holds %d live subscriptions, want 1", i, s.LiveSubscriptions)
		}
	}
}

func TestClientReportsItsStatesAndGivesUp(t *testing.T) {
	c := clustertest.New(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	states := make(chan mobileproto.State, 100)
	cl := dial(t, c.WebSocketURL(0), mobileproto.RoleRider, "r-1",
		mobileproto.WithReconnect(mobileproto.ReconnectPolicy{MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, GiveUpAfter: 300 * time.Millisecond}),
		mobileproto.OnStateChange(func(s mobileproto.State) { states <- s }))
	if s := cl.State(); s.Kind != mobileproto.StateConnected || s.Node != "n1" {
		t.Fatalf("state after Dial: %+v", s)
	}
	if err := c.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
	<-cl.Done()
	var kinds []mobileproto.StateKind
	for len(states) > 0 {
		kinds = append(kinds, (<-states).Kind)
	}
	if len(kinds) < 3 || kinds[0] != mobileproto.StateConnected || kinds[1] != mobileproto.StateReconnecting || kinds[len(kinds)-1] != mobileproto.StateGaveUp {
		t.Fatalf("states %v: want connected, reconnecting … gave-up", kinds)
	}
	if cl.Err() == nil || cl.State().Kind != mobileproto.StateGaveUp {
		t.Fatalf("after giving up: state %+v err %v", cl.State(), cl.Err())
	}
}

// TestClientToldWhatItMissedWhileAway: a rider's node stops; while the
// rider cannot reconnect the driver sends more than the cluster keeps per
// driver. The client resumes by itself once the node is back, and OnResume
// tells the
// application that the replay is incomplete and which cursor is the oldest
// left; every fix it gets is newer than the last it had, in order.
func TestClientToldWhatItMissedWhileAway(t *testing.T) {
	c := clustertest.New(t, 3, func(_ int, cfg *node.Config) { cfg.History = 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	driver := dial(t, c.WebSocketURL(0), mobileproto.RoleDriver, "d-1")
	resumed := make(chan mobileproto.Tracking, 4)
	rider := dial(t, c.WebSocketURL(1), mobileproto.RoleRider, "r-1",
		mobileproto.WithReconnect(mobileproto.ReconnectPolicy{MinBackoff: 20 * time.Millisecond}),
		mobileproto.OnResume(func(tr mobileproto.Tracking) { resumed <- tr }))
	if _, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{History: new(int)}); err != nil {
		t.Fatal(err)
	}
	first, err := driver.SendLocation(ctx, mobileproto.Fix{Latitude: 1, Longitude: 1, Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if l := <-rider.Locations(); l.Cursor != first.Cursor {
		t.Fatalf("first fix: %+v", l)
	}
	// The rider's node goes for a while (its client keeps trying it) ...
	if err := c.Stop(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var acks []mobileproto.Ack
	for s := uint64(2); s <= 20; s++ {
		a, err := driver.SendLocation(ctx, mobileproto.Fix{Latitude: 1, Longitude: 1, Seq: s})
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	// ... and comes back, and the client resumes on it by itself.
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var tr mobileproto.Tracking
	select {
	case tr = <-resumed:
	case <-ctx.Done():
		t.Fatal("no resume reported")
	}
	if tr.Complete == nil || *tr.Complete || tr.Oldest == 0 {
		t.Fatalf("resume after missing 14 of 19 fixes: %+v, want incomplete with the oldest cursor", tr)
	}
	// It gets what is kept, oldest first, ending with the newest.
	prev := first.Cursor
	for prev != acks[len(acks)-1].Cursor {
		select {
		case l := <-rider.Locations():
			if l.Cursor <= prev || l.Cursor < tr.Oldest {
				t.Fatalf("cursor %d after %d (oldest kept %d)", l.Cursor, prev, tr.Oldest)
			}
			prev = l.Cursor
		case <-ctx.Done():
			t.Fatalf("stopped at cursor %d", prev)
		}
	}
}
