package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// TestResumeSaysWhatWasLost: a resume whose cursor is older than what the
// node keeps of the driver says the replay is incomplete and names the
// oldest cursor left; one within what is kept says it is complete; a cursor
// beyond the stream's end is refused; both frames name the stream's epoch.
func TestResumeSaysWhatWasLost(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.History = 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := dial(t, n, mobileproto.RoleDriver, "d-1")
	acks := sendFixes(t, d, 1, 10) // the node keeps 6..10
	r := dial(t, n, mobileproto.RoleRider, "r-1")
	if r.Welcome().Epoch == "" || r.Welcome().Epoch != n.Epoch() {
		t.Fatalf("welcome epoch %q, node's %q", r.Welcome().Epoch, n.Epoch())
	}

	tr, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{Since: u64p(acks[1].Cursor)}) // after fix 2: 3..5 are gone
	if err != nil {
		t.Fatal(err)
	}
	if tr.Complete == nil || *tr.Complete || tr.Oldest != acks[5].Cursor || tr.Replayed != 5 || tr.Epoch != n.Epoch() {
		t.Fatalf("resume from fix 2: %+v (complete %v), want incomplete, oldest %d, 5 replayed", tr, deref(tr.Complete), acks[5].Cursor)
	}
	receive(t, r, 5)
	tr, err = r.Track(ctx, "d-1", mobileproto.TrackOptions{Since: u64p(acks[6].Cursor)}) // after fix 7: all kept
	if err != nil {
		t.Fatal(err)
	}
	if tr.Complete == nil || !*tr.Complete || tr.Oldest != 0 || tr.Replayed != 3 {
		t.Fatalf("resume from fix 7: %+v (complete %v), want complete with 3 replayed", tr, deref(tr.Complete))
	}
	receive(t, r, 3)
	tr, err = r.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(2)})
	if err != nil || tr.Complete != nil {
		t.Fatalf("a track with history says nothing of completeness: %+v %v", tr, err)
	}
	receive(t, r, 2)

	_, err = r.Track(ctx, "d-1", mobileproto.TrackOptions{Since: u64p(acks[9].Cursor + 1000)})
	var pe *mobileproto.Error
	if !errors.As(err, &pe) || pe.Code != mobileproto.CodeInvalidCursor {
		t.Fatalf("a cursor beyond the stream: %v, want invalid_cursor", err)
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// TestResumeAtTheHead: a resume with the driver's newest cursor reads no
// history and answers at once; a fix stored after it is live, not replay.
func TestResumeAtTheHead(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := dial(t, n, mobileproto.RoleDriver, "d-1")
	acks := sendFixes(t, d, 1, 3)
	r := dial(t, n, mobileproto.RoleRider, "r-1")
	start := time.Now()
	tr, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{Since: u64p(acks[2].Cursor)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tracking answered after %v", time.Since(start))
	if tr.Replayed != 0 || tr.Cursor != acks[2].Cursor || tr.Complete == nil || !*tr.Complete {
		t.Fatalf("resume at the head: %+v", tr)
	}
	ack := sendFixes(t, d, 4, 4)[0]
	if l := receive(t, r, 1)[0]; l.Cursor != ack.Cursor || l.Replay || l.Prev != acks[2].Cursor {
		t.Fatalf("the next fix: %+v, want live with prev %d", l, acks[2].Cursor)
	}
}

// BenchmarkResumeAtTheHead: how long a rider waits for tracking when it
// resumes at the driver's newest cursor on an idle node (it used to be two
// seconds).
func BenchmarkResumeAtTheHead(b *testing.B) {
	n := startNode(b)
	ctx := context.Background()
	d := dial(b, n, mobileproto.RoleDriver, "d-1")
	ack := sendFixes(b, d, 1, 1)[0]
	r := dial(b, n, mobileproto.RoleRider, "r-1")
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{Since: u64p(ack.Cursor)}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/resume")
}

// TestANewEpochAfterTheStreamIsCreatedAgain: when the stream is deleted and
// the node creates it again, its cursors start again: the epoch changes, so
// clients can tell that their cursors mean nothing any more.
func TestANewEpochAfterTheStreamIsCreatedAgain(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first := n.Epoch()
	js, _ := jetstream.New(nc(t, n))
	if err := js.DeleteStream(ctx, node.StreamName); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if e := n.Epoch(); e == first || n.StreamProblem() != "" {
			return errf("epoch %q (was %q), problem %q", e, first, n.StreamProblem())
		}
		return nil
	})
	r := dial(t, n, mobileproto.RoleRider, "r-1")
	if r.Welcome().Epoch != n.Epoch() {
		t.Fatalf("welcome epoch %q, want the new %q", r.Welcome().Epoch, n.Epoch())
	}
}
