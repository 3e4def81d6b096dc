package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// TestRetriesNeverStoreAFixAfterALaterOne drives the publish path's
// recovery as hard as it can go: lanes keep taking their fixes in flight
// back and publishing them again while the first copies are still being
// stored, as after lost answers.
// Whatever the stream ends up holding, the driver's order holds: in cursor
// order its seqs increase, every acked fix is stored exactly where its ack
// says, and a fix that could only be stored after a later one is refused
// (out_of_order), never stored.
func TestRetriesNeverStoreAFixAfterALaterOne(t *testing.T) {
	const fixes = 1500
	n := startTestNode(t, func(c *Config) { c.History, c.RateLimit, c.RateBurst = 2*fixes, 1e6, 1e6 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Answers "lost" at random: every 200 µs, every lane takes its fixes
	// in flight back, as the sweep does for a publish whose answer is late,
	// while their first copies are on their way to the stream.
	chaos, stopChaos := context.WithCancel(ctx)
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for chaos.Err() == nil {
			time.Sleep(200 * time.Microsecond)
			p := n.pub
			p.mu.Lock()
			var send []*pubReq
			for l := range p.lanes {
				if len(l.flight) > 0 {
					p.recoverLocked(l, time.Now())
					send = append(send, p.pumpLocked(l, time.Now())...)
				}
			}
			p.mu.Unlock()
			p.send(send)
		}
	}()

	d, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithIdentity(mobileproto.RoleDriver, "d-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pend := make([]*mobileproto.Pending, 0, fixes)
	for s := uint64(1); s <= fixes; s++ {
		p, err := d.SendLocationAsync(ctx, mobileproto.Fix{Latitude: 1, Longitude: 2, Seq: s, TS: 1764412800000 + int64(s)})
		if err != nil {
			t.Fatal(err)
		}
		pend = append(pend, p)
	}
	acked := map[uint64]uint64{} // seq → cursor
	defer func() { stopChaos(); <-chaosDone }()
	refused, superseded := 0, 0
	unavailable := map[uint64]bool{} // not stored in time: maybe stored, maybe not
	for _, p := range pend {
		a, err := p.Wait(ctx)
		var e *mobileproto.Error
		switch {
		case err == nil:
			acked[p.Seq] = a.Cursor
		case errors.As(err, &e) && e.Code == mobileproto.CodeOutOfOrder:
			refused++
		case errors.As(err, &e) && e.Code == mobileproto.CodeOverloaded:
			superseded++ // the lane's queue was full: a newer fix took its place
		case errors.As(err, &e) && e.Code == mobileproto.CodeUnavailable:
			unavailable[p.Seq] = true // the recovery can be slow under the race detector
		default:
			t.Fatalf("seq %d: %v", p.Seq, err)
		}
	}
	stored, err := n.reader.After(ctx, "d-1", 0, 2*fixes)
	if err != nil {
		t.Fatal(err)
	}
	at := map[uint64]uint64{}
	var last uint64
	for _, f := range stored {
		if f.Record.Seq <= last {
			t.Fatalf("cursor %d holds seq %d after seq %d: stored out of the driver's order", f.Seq, f.Record.Seq, last)
		}
		last = f.Record.Seq
		at[f.Record.Seq] = f.Seq
	}
	for seq, cursor := range acked {
		if at[seq] != cursor {
			t.Fatalf("seq %d acked at cursor %d, stored at %d", seq, cursor, at[seq])
		}
	}
	for seq := range at {
		if _, ok := acked[seq]; !ok && !unavailable[seq] {
			t.Fatalf("seq %d is stored, but was answered neither with an ack nor unavailable", seq)
		}
	}
	if len(acked)+refused+superseded+len(unavailable) != fixes {
		t.Fatalf("%d acked, %d refused, %d superseded, %d unavailable of %d sent", len(acked), refused, superseded, len(unavailable), fixes)
	}
	t.Logf("%d fixes: %d acked, %d refused out of order, %d superseded, %d unavailable; %d stored; %d publishes again",
		fixes, len(acked), refused, superseded, len(unavailable), len(stored), n.pub.retries.Load())
}
