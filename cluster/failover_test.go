package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// failoverNodes keeps every fix of the test in the stream and lets a fix wait
// through a leader election. A small MaxInFlight makes the fixes that wait
// through an election many times what the node lets wait while the stream
// answers: the backlog of a silence must be stored, not taken for overload.
func failoverNodes(_ int, c *node.Config) {
	c.History = 5000
	c.PublishTimeout = 30 * time.Second
	c.MaxInFlight = 32
}

func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts node processes")
	}
	for _, tc := range []struct {
		name   string
		leader bool
	}{{"kill stream leader", true}, {"kill non-leader", false}} {
		t.Run(tc.name, func(t *testing.T) { testFailover(t, tc.leader) })
	}
}

func testFailover(t *testing.T, killLeader bool) {
	ps := clustertest.NewProcesses(t, 3, failoverNodes)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, err := ps.StreamLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := leader
	if !killLeader {
		victim = (leader + 1) % ps.Size()
	}
	urls := strings.Split(ps.WebSocketURLs(), ",")
	f := newFleet(t, urls, 20, 2)
	f.drive(20)

	time.Sleep(2 * time.Second) // traffic before the kill (the workload, not synchronisation)
	killedAt := time.Now()
	if err := ps.Kill(victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s (stream leader: %v) with SIGKILL", ps.Name(victim), killLeader)
	time.Sleep(6 * time.Second) // traffic while the node is down

	restartAt := time.Now()
	if err := ps.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s restarted on its data and caught up in %v", ps.Name(victim), time.Since(restartAt).Round(time.Millisecond))

	// The restarted node serves riders again: history, then live fixes.
	fresh := dial(t, ps.WebSocketURL(victim), mobileproto.RoleRider, "r-fresh")
	if fresh.Welcome().Node != ps.Name(victim) {
		t.Fatalf("connected to %s, want the restarted %s", fresh.Welcome().Node, ps.Name(victim))
	}
	tr, err := fresh.Track(ctx, "d-0", mobileproto.TrackOptions{History: intp(10)})
	if err != nil || tr.Replayed != 10 {
		t.Fatalf("track on the restarted node: %+v %v", tr, err)
	}
	var live int
	for live == 0 {
		select {
		case l := <-fresh.Locations():
			if !l.Replay {
				live++
			}
		case <-ctx.Done():
			t.Fatal("no live fix from the restarted node")
		}
	}

	time.Sleep(2 * time.Second) // traffic after the restart
	f.stopDriving(60 * time.Second)
	f.verify(readStream(t, ps.ClientURLs(), f.drivers))

	maxAck, medAck := f.ackLatencies()
	onVictim, others := f.riderGaps(ps.Name(victim), killedAt)
	t.Logf("publishing interrupted for at most %v (longest a fix waited for its ack; median ack %v)", maxAck.Round(time.Millisecond), medAck.Round(time.Millisecond))
	t.Logf("riders on %s resumed within %v; riders on other nodes saw at most %v between fixes", ps.Name(victim), onVictim.Round(time.Millisecond), others.Round(time.Millisecond))
}

func intp(v int) *int { return &v }

// TestGracefulShutdownMovesClientsWithNothingLost stops the stream leader's
// node gracefully in the middle of traffic: it hands leadership over, its
// clients move to the other nodes, and no fix is lost or doubled.
func TestGracefulShutdownMovesClientsWithNothingLost(t *testing.T) {
	c := clustertest.New(t, 3, failoverNodes)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	victim, err := c.StreamLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, strings.Split(c.WebSocketURLs(), ","), 12, 2)
	f.drive(20)
	time.Sleep(time.Second) // traffic before the shutdown
	stoppedAt := time.Now()
	if err := c.Stop(ctx, victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped %s (the stream leader) gracefully in %v", c.Config(victim).Name, time.Since(stoppedAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // traffic after it
	f.stopDriving(60 * time.Second)

	// Every client of the stopped node is now on another one.
	for _, r := range f.riders {
		if r.c.Welcome().Node == c.Config(victim).Name {
			t.Fatalf("rider %s still on the stopped node", r.id)
		}
	}
	var urls []string
	for i, u := range c.ClientURLs() {
		if i != victim {
			urls = append(urls, u)
		}
	}
	f.verify(readStream(t, urls, f.drivers))
	maxAck, medAck := f.ackLatencies()
	onVictim, others := f.riderGaps(c.Config(victim).Name, stoppedAt)
	t.Logf("publishing interrupted for at most %v (median ack %v); riders of the stopped node resumed within %v, others saw at most %v between fixes",
		maxAck.Round(time.Millisecond), medAck.Round(time.Millisecond), onVictim.Round(time.Millisecond), others.Round(time.Millisecond))
}

// TestRollingRestart restarts every node of a three-process cluster, one
// after another (SIGTERM, wait until it is ready again, next), while
// drivers send and riders track: no acked fix is lost or stored twice or
// out of the driver's order, every rider gets every fix of its driver in
// order, and the test reports the longest a fix waited for its ack.
func TestRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts node processes")
	}
	ps := clustertest.NewProcesses(t, 3, failoverNodes)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newFleet(t, strings.Split(ps.WebSocketURLs(), ","), 20, 2)
	f.drive(20)
	time.Sleep(2 * time.Second) // traffic before the first restart (the workload, not synchronisation)
	began := time.Now()
	for i := range ps.Size() {
		leader, _ := ps.StreamLeader(ctx)
		at := time.Now()
		if err := ps.Stop(ctx, i); err != nil {
			t.Fatal(err)
		}
		if err := ps.ExitError(i); err != nil {
			t.Errorf("%s did not exit cleanly on SIGTERM: %v", ps.Name(i), err)
		}
		stopped := time.Since(at)
		if err := ps.Restart(ctx, i); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (stream leader: %v) stopped in %v, back and caught up %v later",
			ps.Name(i), leader == i, stopped.Round(time.Millisecond), (time.Since(at) - stopped).Round(time.Millisecond))
	}
	took := time.Since(began)
	time.Sleep(2 * time.Second) // traffic after the last restart
	f.stopDriving(60 * time.Second)
	f.verify(readStream(t, ps.ClientURLs(), f.drivers))
	maxAck, medAck := f.ackLatencies()
	_, gap := f.riderGaps("", began)
	t.Logf("rolling restart of %d nodes took %v; longest publish pause (a fix waiting for its ack) %v, median ack %v; longest a rider went without a fix %v",
		ps.Size(), took.Round(time.Millisecond), maxAck.Round(time.Millisecond), medAck.Round(time.Millisecond), gap.Round(time.Millisecond))
}
