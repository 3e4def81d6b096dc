package tap_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/tap"
)

// progress waits until the tap has written more fixes than it had.
func progress(t *testing.T, r *running, more uint64, what string) {
	t.Helper()
	from := r.tap.Stats().Written
	testnode.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if w := r.tap.Stats().Written; w < from+more {
			return fmt.Errorf("%s: the tap wrote %d fixes, want %d more", what, w-from, more)
		}
		return nil
	})
}

// finish stops the fleet, waits until the output holds as many lines as
// the stream holds fixes of the drivers, stops the tap and checks that
// every fix is in the output once, in stream order.
func finish(t *testing.T, fl *fleet, r *running, path string, op *nats.Conn, drivers ...string) {
	t.Helper()
	fl.check(t)
	want := stored(t, op, drivers...)
	testnode.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n, err := countLines(path); err != nil || n != len(want) {
			return fmt.Errorf("%d lines, want %d (%v)", n, len(want), err)
		}
		return nil
	})
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	t.Logf("%+v; %d fixes stored", r.tap.Stats(), len(want))
	checkExactlyOnce(t, readJSONLines(t, path), want)
}

// TestLostDeliveries: another client of the same consumer takes a few
// deliveries and never acknowledges them (as a delivery lost in a
// reconnect would be). The tap sees the hole in the consumer's delivery
// numbers, waits for the stream to deliver those fixes again, and writes
// them before anything newer.
func TestLostDeliveries(t *testing.T) {
	s := testnode.NewSecrets(t)
	n := startNode(t, s)
	path := filepath.Join(t.TempDir(), "fixes.jsonl")
	drivers := []string{"d-1", "d-2"}
	fl := startFleet(t, s, []string{n.WebSocketURL()}, drivers...)
	r := runTap(t, tapConfig(s, openOutput(t, path, tap.JSONLines), n.ClientURL()))
	progress(t, r, 50, "before the thief")

	thief, err := nats.Connect(n.ClientURL(), s.NATS(testnode.Analytics))
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	js, _ := jetstream.New(thief)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, fixstream.StreamName, testnode.AnalyticsConsumer)
	if err != nil {
		t.Fatal(err)
	}
	stolen := 0
	for stolen < 5 {
		batch, err := cons.Fetch(5-stolen, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() {
			stolen++
		}
	}
	progress(t, r, 100, "after the thief")
	finish(t, fl, r, path, operator(t, s, n.ClientURL()), drivers...)
}

// TestStreamCreatedAgain: the stream deleted (by an operator) is created
// again by the node, with cursors from 1. A tap that has written fixes
// stops with ErrStreamReset, because its output's cursors mean nothing in
// the new stream; a tap that has written nothing yet waits for the stream
// and goes on.
func TestStreamCreatedAgain(t *testing.T) {
	deleteStream := func(t *testing.T, s *testnode.Secrets, n *node.Node) {
		js, _ := jetstream.New(operator(t, s, n.ClientURL()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, fixstream.StreamName); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("after fixes were written", func(t *testing.T) {
		s := testnode.NewSecrets(t)
		n := startNode(t, s)
		r := runTap(t, tapConfig(s, openOutput(t, filepath.Join(t.TempDir(), "fixes.jsonl"), tap.JSONLines), n.ClientURL()))
		sendFixes(t, dialDriver(t, s, n.WebSocketURL(), "d-1"), 1, 5)
		progress(t, r, 5, "before the deletion")
		deleteStream(t, s, n)
		if err := r.wait(t, 30*time.Second); !errors.Is(err, tap.ErrStreamReset) {
			t.Fatalf("Run returned %v, want ErrStreamReset", err)
		} else {
			t.Log(err)
		}
	})
	t.Run("before any fix", func(t *testing.T) {
		s := testnode.NewSecrets(t)
		n := startNode(t, s)
		r := runTap(t, tapConfig(s, openOutput(t, filepath.Join(t.TempDir(), "fixes.jsonl"), tap.JSONLines), n.ClientURL()))
		d := dialDriver(t, s, n.WebSocketURL(), "d-1")
		old := d.Welcome().Epoch
		deleteStream(t, s, n)
		// The node creates the stream again and then closes every client
		// (1001, a new epoch): the app dials again, as PROTOCOL.md says,
		// and goes on once it is connected in the new epoch.
		testnode.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := d.SendLocation(ctx, fix(1)) // refused until the stream is back
			var closed *mobileproto.CloseError
			if errors.Is(err, mobileproto.ErrClosed) || errors.As(err, &closed) {
				d = dialDriver(t, s, n.WebSocketURL(), "d-1")
			}
			if err == nil && d.Welcome().Epoch == old {
				return errors.New("stored, but the client is still in the old epoch: its 1001 is on its way")
			}
			return err
		})
		sendFixes(t, d, 2, 5)
		progress(t, r, 5, "after the stream came back")
	})
}

// TestClusterLeadersAndDeletion: on three nodes, with drivers on every
// node, the consumer's and the stream's leaders step down and the
// consumer is deleted, while the tap reads: it follows the new leaders,
// creates the consumer again (which delivers every fix again, skipped by
// cursor), and writes every fix once, in stream order.
func TestClusterLeadersAndDeletion(t *testing.T) {
	s := testnode.NewSecrets(t)
	c := clustertest.NewSecure(t, 3, s, func(_ int, cfg *node.Config) { cfg.History = 10000 })
	path := filepath.Join(t.TempDir(), "fixes.jsonl")
	drivers := []string{"d-1", "d-2", "d-3"}
	fl := startFleet(t, s, []string{c.WebSocketURL(0), c.WebSocketURL(1), c.WebSocketURL(2)}, drivers...)
	r := runTap(t, tapConfig(s, openOutput(t, path, tap.JSONLines), c.ClientURLs()...))
	progress(t, r, 50, "at the start")

	op := operator(t, s, c.ClientURLs()...)
	api := func(subject string) {
		t.Helper()
		m, err := op.Request(subject, nil, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		t.Logf("%s: %s", subject, m.Data)
	}
	api("$JS.API.CONSUMER.LEADER.STEPDOWN." + fixstream.StreamName + "." + testnode.AnalyticsConsumer)
	progress(t, r, 100, "after the consumer's leader stepped down")
	api("$JS.API.STREAM.LEADER.STEPDOWN." + fixstream.StreamName)
	progress(t, r, 100, "after the stream's leader stepped down")
	api("$JS.API.CONSUMER.DELETE." + fixstream.StreamName + "." + testnode.AnalyticsConsumer)
	deleted := r.tap.Stats().Last
	progress(t, r, 100, "after the consumer was deleted")
	finish(t, fl, r, path, op, drivers...)
	// Created again, the consumer delivers from the first fix: everything
	// the output had is skipped.
	if st := r.tap.Stats(); st.Duplicates < deleted {
		t.Errorf("after the consumer was created again, %d duplicates were skipped: want the %d fixes written before", st.Duplicates, deleted)
	}
}
