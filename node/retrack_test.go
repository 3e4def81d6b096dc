package node

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtls-io/rtls/mobileproto"
)

// TestRetrackingWhileNotReadingIsBounded: a rider that never reads and keeps
// re-tracking a driver with history used to grow the node's memory without
// bound (each replaced watch left its replay queued). The connection's queue
// must stay within its bound, and the rider is disconnected.
func TestRetrackingWhileNotReadingIsBounded(t *testing.T) {
	const maxQueued, history = 64, 50
	n := startTestNode(t, func(c *Config) {
		c.MaxQueuedFrames, c.History, c.WriteTimeout, c.PingInterval = maxQueued, history, time.Second, 500*time.Millisecond
		c.RateLimit, c.RateBurst = 1e6, 1e6
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithIdentity(mobileproto.RoleDriver, "d-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for s := uint64(1); s <= history; s++ {
		if _, err := d.SendLocation(ctx, mobileproto.Fix{Latitude: 1, Longitude: 2, Seq: s, Speed: mobileproto.Float64(3)}); err != nil {
			t.Fatal(err)
		}
	}
	dialer := websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 512}
	ws, _, err := dialer.Dial(n.WebSocketURL()+"?role=rider&id=r-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var rider *conn
	for deadline := time.Now().Add(5 * time.Second); rider == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rider's connection is not registered")
		}
		n.connMu.Lock()
		for c := range n.connSet {
			if c.role == mobileproto.RoleRider {
				rider = c
			}
		}
		n.connMu.Unlock()
	}

	// Track again and again, reading nothing, until the node stops reading
	// (our writes block) or disconnects us.
	frame := []byte(`{"type":"track-driver","driver":"d-1","history":50}`)
	peak, sent := 0, 0
	for ; sent < 5000; sent++ {
		ws.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			break
		}
		peak = max(peak, rider.out.size())
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		peak = max(peak, rider.out.size())
	}
	t.Logf("wrote %d track requests; the queue peaked at %d frames", sent, peak)
	if bound := maxQueued + history + 2; peak > bound {
		t.Fatalf("the queue reached %d frames, beyond its bound of %d", peak, bound)
	}
	// The rider that reads nothing (not even pings) is cut off: once the
	// node has worked through the track requests in its socket (each reads
	// the driver's history; beside a busy loop on both cores, under -race,
	// that took more than 10 s), by the write timeout or the missing pongs.
	for deadline := time.Now().Add(30 * time.Second); n.Stats().Riders > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the rider that reads nothing is still connected")
		}
	}
}
