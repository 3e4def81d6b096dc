package node_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// TestOfferingMoreThanTheNodeTakes: drivers send, open loop, far more than
// a node with a small publish budget lets through. What the node holds stays
// within its bounds, every fix is answered with an ack, or overloaded or
// unavailable with a retry-after hint, never internal, and every acked fix is
// stored, in each driver's order.
func TestOfferingMoreThanTheNodeTakes(t *testing.T) {
	const inFlight, queued = 8, 32
	const drivers, perDriver = 20, 200
	n := startNode(t, func(c *node.Config) {
		c.MaxInFlight, c.MaxQueuedFixes = inFlight, queued
		c.RateLimit, c.RateBurst = 1e6, 1e6
		// The stream keeps every fix a driver sends, so that every acked
		// one can be found (at the default history of 100, a driver with
		// more than 100 acked lost its oldest to the limit, as designed).
		c.History = perDriver
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	codes := map[string]int{}
	acked := map[string][]uint64{}
	peak := 0
	stopPoll := make(chan struct{})
	polled := make(chan struct{})
	go func() { // what the node holds, while it is flooded
		defer close(polled)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(time.Millisecond):
			}
			mu.Lock()
			peak = max(peak, n.Stats().PendingPublishes)
			mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < drivers; i++ {
		id := "d-" + strconv.Itoa(i)
		d := dial(t, n, mobileproto.RoleDriver, id, mobileproto.WithMaxInFlight(perDriver))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pend []*mobileproto.Pending
			for s := uint64(1); s <= perDriver; s++ {
				p, err := d.SendLocationAsync(ctx, fix(s))
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				pend = append(pend, p)
			}
			for _, p := range pend {
				a, err := p.Wait(ctx)
				var pe *mobileproto.Error
				mu.Lock()
				switch {
				case err == nil:
					acked[id] = append(acked[id], a.Seq)
					codes["ack"]++
				case errors.As(err, &pe):
					codes[string(pe.Code)]++
					if pe.RetryAfter <= 0 {
						t.Errorf("%s without a retry-after hint: %+v", pe.Code, pe)
					}
				default:
					t.Errorf("%s seq %d: %v", id, p.Seq, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stopPoll)
	<-polled
	t.Logf("answers %v; the node held at most %d fixes (bound %d)", codes, peak, inFlight+queued)
	if peak > inFlight+queued {
		t.Fatalf("the node held %d fixes, beyond its bound of %d", peak, inFlight+queued)
	}
	if codes[string(mobileproto.CodeOverloaded)] == 0 {
		t.Fatal("no fix was answered overloaded: the test did not overload the node")
	}
	for c := range codes {
		// unavailable: a fix published once without an answer in time,
		// then given up for a newer one while the node was overloaded; it
		// may be stored, and the app sends it again (PROTOCOL.md).
		if c != "ack" && c != string(mobileproto.CodeOverloaded) && c != string(mobileproto.CodeUnavailable) {
			t.Fatalf("answered %s %d times", c, codes[c])
		}
	}
	if s := n.Stats(); s.FixesOverloaded == 0 || s.PendingPublishes != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Every acked fix is stored, in the driver's order.
	r, err := fixstream.NewReader(nc(t, n))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for id, seqs := range acked {
		stored, err := r.After(ctx, id, 0, 2*perDriver)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) < len(seqs) {
			t.Errorf("%s: %d fixes acked, the stream holds %d", id, len(seqs), len(stored))
		}
		have := map[uint64]bool{}
		for i, f := range stored {
			have[f.Record.Seq] = true
			if i > 0 && f.Record.Seq < stored[i-1].Record.Seq {
				t.Fatalf("%s: seq %d stored after %d", id, f.Record.Seq, stored[i-1].Record.Seq)
			}
		}
		for _, s := range seqs {
			if !have[s] {
				t.Fatalf("%s: acked seq %d is not stored", id, s)
			}
		}
	}
}

// TestRetryAfterTheDuplicateWindowIsRecognised: the engine forgets message
// ids after the duplicate window, but a retry of a fix still among the
// driver's stored fixes is acked as a duplicate with its cursor, on any
// connection, and stored once.
func TestRetryAfterTheDuplicateWindowIsRecognised(t *testing.T) {
	const window = 200 * time.Millisecond
	n := startNode(t, func(c *node.Config) { c.DuplicateWindow = window })
	d := dial(t, n, mobileproto.RoleDriver, "d-1")
	first := sendFixes(t, d, 1, 3)
	time.Sleep(2 * window) // let the engine forget the ids (not synchronisation: the window is the subject)
	d.Close()
	again := dial(t, n, mobileproto.RoleDriver, "d-1")
	acks := sendFixes(t, again, 2, 4)
	if !acks[0].Duplicate || acks[0].Cursor != first[1].Cursor || !acks[1].Duplicate || acks[1].Cursor != first[2].Cursor {
		t.Fatalf("retries of 2 and 3: %+v, want duplicates at cursors %d and %d", acks[:2], first[1].Cursor, first[2].Cursor)
	}
	if acks[2].Duplicate {
		t.Fatalf("the new fix 4 was taken for a duplicate: %+v", acks[2])
	}
	r, err := fixstream.NewReader(nc(t, n))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stored, err := r.After(context.Background(), "d-1", 0, 100)
	if err != nil || len(stored) != 4 {
		t.Fatalf("stored %d fixes (%v), want 4", len(stored), err)
	}
}
