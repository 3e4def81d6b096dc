package node_test

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
)

func TestDriverRetryIsStoredOnceAndAckedTwice(t *testing.T) {
	n := startNode(t)
	ws := rawDial(t, n, "role=driver&id=d-1")
	frame := `{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":42,"ts":1764412800000}`
	writeText(t, ws, frame)
	first := readFrame(t, ws)
	writeText(t, ws, frame)
	second := readFrame(t, ws)
	if first.Type != mobileproto.TypeAck || second.Type != mobileproto.TypeAck {
		t.Fatalf("got %s and %s, want two acks", first.Type, second.Type)
	}
	if first.Ack.Seq != 42 || second.Ack.Seq != 42 || first.Ack.Cursor != second.Ack.Cursor {
		t.Fatalf("acks %+v and %+v: want seq 42 twice with the same cursor", first.Ack, second.Ack)
	}
	if first.Ack.Duplicate || !second.Ack.Duplicate {
		t.Fatalf("acks %+v and %+v: only the second is a duplicate", first.Ack, second.Ack)
	}
	// A different fix with the same seq (an app restarted and reset its
	// counter) is not a retry, and not newer than what is stored: it is
	// refused out_of_order, so that the driver's fixes stay in its order.
	writeText(t, ws, `{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":42,"ts":1764412899000}`)
	if third := readFrame(t, ws); third.Type != mobileproto.TypeError || third.Error.Code != mobileproto.CodeOutOfOrder || third.Error.Seq != 42 {
		t.Fatalf("a new fix reusing seq 42: %s %+v %+v, want out_of_order", third.Type, third.Ack, third.Error)
	}

	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, node.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(node.LocationSubject("d-1")))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[node.LocationSubject("d-1")]; got != 1 {
		t.Fatalf("stream holds %d fixes of d-1, want 1", got)
	}
}

func TestUntrackStopsDeliveryAndTrackingAgainReplays(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-1")
	rider := dial(t, n, mobileproto.RoleRider, "r-1")
	if _, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	acks := sendFixes(t, driver, 1, 3)
	receive(t, rider, 3)
	if err := rider.Untrack(ctx, "d-1"); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if s := n.Stats(); s.LiveSubscriptions != 0 {
			return errf("%d live subscriptions after untrack", s.LiveSubscriptions)
		}
		return nil
	})
	acks = append(acks, sendFixes(t, driver, 4, 6)...)
	tr, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(2)})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Replayed != 2 {
		t.Fatalf("replayed %d, want 2", tr.Replayed)
	}
	got := receive(t, rider, 2)
	if got[0].Cursor != acks[4].Cursor || got[1].Cursor != acks[5].Cursor {
		t.Fatalf("after re-track got cursors %d,%d, want %d,%d", got[0].Cursor, got[1].Cursor, acks[4].Cursor, acks[5].Cursor)
	}
}

// smallReceiveBuffer makes a client whose kernel receive buffer is small, so
// a node writing to it blocks soon after the client stops reading. Not
// tiny: with a receive buffer far below the loopback MSS (64 KiB), Linux's
// silly-window avoidance may never announce the window the reader opens,
// and the sender then waits for zero-window probes that back off to two
// minutes (a test that stalled once in ~40 runs).
func smallReceiveBuffer() mobileproto.Option {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 256<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return mobileproto.WithDialer(&websocket.Dialer{NetDialContext: d.DialContext, ReadBufferSize: 1024})
}

func TestSlowRiderGetsTheNewestFixAndSlowsNobody(t *testing.T) {
	// The slow rider's socket stays full while the driver sends; on a busy
	// machine that can last longer than the 10 s a write may block before
	// the node gives up on a reader (WriteTimeout), which is not what this
	// test is about.
	n := startNode(t, func(c *node.Config) { c.RateLimit, c.RateBurst, c.WriteTimeout = 1e6, 1e6, 2*time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-1")
	// The slow rider's app reads nothing: with no client-side buffer its
	// socket fills up and the node's writer blocks.
	slow := dial(t, n, mobileproto.RoleRider, "r-slow", mobileproto.WithLocationBuffer(0), smallReceiveBuffer())
	fast := dial(t, n, mobileproto.RoleRider, "r-fast", mobileproto.WithLocationBuffer(1<<16))
	for _, r := range []*mobileproto.Client{slow, fast} {
		if _, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)}); err != nil {
			t.Fatal(err)
		}
	}

	// Send until the node reports that it dropped fixes for the slow rider.
	var acks []mobileproto.Ack
	for seq := uint64(1); n.Stats().FixesConflated == 0; seq += 100 {
		if seq > 50000 {
			t.Fatalf("no conflation after %d fixes: %+v", seq, n.Stats())
		}
		acks = append(acks, sendFixes(t, driver, seq, seq+99)...)
	}
	// A few more after conflation started, all of which the fast rider gets.
	acks = append(acks, sendFixes(t, driver, uint64(len(acks)+1), uint64(len(acks)+20))...)
	last := acks[len(acks)-1].Cursor

	// The fast rider received every fix, in order, while the slow one stalled.
	got := receive(t, fast, len(acks))
	for i := range got {
		if got[i].Cursor != acks[i].Cursor {
			t.Fatalf("fast rider location %d: cursor %d, want %d", i, got[i].Cursor, acks[i].Cursor)
		}
	}

	// The slow rider reads again: what it gets is in order and ends with the
	// newest fix, and it got fewer fixes than were sent. Every skip is
	// visible: the fix after it names, in prev, a cursor the rider never got.
	var prev uint64
	count, skips := 0, 0
	for prev != last {
		select {
		case l := <-slow.Locations():
			if l.Cursor <= prev {
				t.Fatalf("slow rider: cursor %d after %d", l.Cursor, prev)
			}
			if prev != 0 && l.Prev != prev {
				if l.Prev < prev {
					t.Fatalf("slow rider: prev %d of cursor %d is before the last cursor it got, %d", l.Prev, l.Cursor, prev)
				}
				skips++
			}
			prev = l.Cursor
			count++
		case <-ctx.Done():
			t.Fatalf("slow rider never got the newest fix %d (last %d after %d locations)", last, prev, count)
		}
	}
	st := n.Stats()
	t.Logf("sent %d fixes; slow rider got %d; node conflated %d", len(acks), count, st.FixesConflated)
	if count >= len(acks) {
		t.Fatalf("slow rider got all %d fixes: nothing was conflated for it", count)
	}
	if skips == 0 {
		t.Fatal("fixes were skipped, but no frame's prev said so")
	}
}

func TestGracefulShutdownTellsClientsToReconnectAndKeepsAckedFixes(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *node.Config) { c.DataDir = dir }
	n := startNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-1")
	rider := dial(t, n, mobileproto.RoleRider, "r-1")
	if _, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	var pend []*mobileproto.Pending
	for s := uint64(1); s <= 50; s++ {
		p, err := driver.SendLocationAsync(ctx, fix(s))
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, p)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	for _, c := range []*mobileproto.Client{driver, rider} {
		<-c.Done()
		ce, ok := c.Err().(*mobileproto.CloseError)
		if !ok || ce.Code != mobileproto.CloseGoingAway || !mobileproto.Reconnectable(ce.Code) {
			t.Fatalf("client ended with %v, want close %d", c.Err(), mobileproto.CloseGoingAway)
		}
	}
	var acked []uint64
	for _, p := range pend {
		if a, err := p.Result(); err == nil {
			acked = append(acked, a.Cursor)
		}
	}
	t.Logf("%d of %d fixes acked before the node closed", len(acked), len(pend))

	// Every acked fix is there after a restart on the same data.
	n2 := startNode(t, cfg)
	r2 := dial(t, n2, mobileproto.RoleRider, "r-1")
	tr, err := r2.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(100)})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]bool{}
	for _, l := range receive(t, r2, tr.Replayed) {
		stored[l.Cursor] = true
	}
	for _, c := range acked {
		if !stored[c] {
			t.Fatalf("acked fix at cursor %d is missing after restart", c)
		}
	}
}

func TestNodeRefusesClientsWhileNotStarted(t *testing.T) {
	n, err := node.New(node.Config{Authenticator: auth.Dev(), DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if n.Ready() {
		t.Fatal("ready before Start")
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of a node never started: %v", err)
	}
	if err := n.Start(context.Background()); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}
}
