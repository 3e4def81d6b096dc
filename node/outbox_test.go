package node

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtls-io/rtls/location"
)

func liveFrame(_ testing.TB, s string) frame {
	return frame{data: []byte(s), live: true}
}

func TestOutboxKeepsOrderAndAbsorbsBursts(t *testing.T) {
	var total atomic.Uint64
	o := newOutbox(16, 4, &total)
	var a, b lane
	o.push(&a, frame{data: []byte("replay-1")}, frame{data: []byte("replay-2")})
	for i := 0; i < 6; i++ {
		o.push(&a, liveFrame(t, "a"))
	}
	o.push(&b, liveFrame(t, "b"))
	o.pushCtrl([]byte("ack"))
	got, overflow := o.take(nil)
	if overflow {
		t.Fatal("overflow")
	}
	// Control first, then lane a (2 replayed + the 4 newest live), then b.
	if len(got) != 1+2+4+1 || string(got[0].data) != "ack" || string(got[1].data) != "replay-1" || string(got[2].data) != "replay-2" {
		t.Fatalf("took %d frames: %+v", len(got), got)
	}
	if q, c := o.stats(); q != 9 || c != 2 || total.Load() != 2 {
		t.Fatalf("queued %d conflated %d (node total %d), want 9 and 2", q, c, total.Load())
	}
	if got, _ := o.take(nil); len(got) != 0 {
		t.Fatalf("second take returned %d frames", len(got))
	}
}

func TestOutboxKeepsOnlyTheNewestForAReaderThatFellBehind(t *testing.T) {
	o := newOutbox(16, 100, nil)
	var l lane
	o.push(&l, frame{data: []byte("tracking")}, liveFrame(t, "1"), liveFrame(t, "2"))
	l.since = time.Now().Add(-2 * stallAfter) // the writer has not taken anything for a while
	newest := liveFrame(t, "3")
	o.push(&l, newest)
	got, _ := o.take(nil)
	if len(got) != 2 || string(got[0].data) != "tracking" || &got[1].data[0] != &newest.data[0] {
		t.Fatalf("took %d frames, want the tracking frame and the newest fix", len(got))
	}
	if _, c := o.stats(); c != 2 {
		t.Fatalf("conflated %d, want 2", c)
	}
}

func TestOutboxControlQueueBackpressureAndOverflow(t *testing.T) {
	o := newOutbox(16, 4, nil)
	for i := 0; i < 16; i++ {
		if !o.pushCtrl([]byte("e")) {
			t.Fatalf("overflow at %d", i)
		}
	}
	if o.waitRoom(10 * time.Millisecond) {
		t.Fatal("waitRoom reported room in a full queue")
	}
	done := make(chan bool)
	go func() { done <- o.waitRoom(5 * time.Second) }()
	o.take(nil)
	if !<-done {
		t.Fatal("waitRoom did not see the room the writer made")
	}
	// Asynchronous frames may go to twice the bound, then the outbox overflows.
	for i := 0; i < 32; i++ {
		o.pushCtrl([]byte("ack"))
	}
	if o.pushCtrl([]byte("one too many")) {
		t.Fatal("no overflow past twice the bound")
	}
	if _, overflow := o.take(nil); !overflow {
		t.Fatal("take does not report the overflow")
	}
}

// BenchmarkRoomFanout1000: one fix queued to 1,000 riders of a room on this
// node (one prepared frame shared by all) and taken by their writers, without
// sockets.
func BenchmarkRoomFanout1000(b *testing.B) {
	h := &hub{}
	r := &room{driver: "d-1"}
	for i := 0; i < 1000; i++ {
		c := &conn{out: newOutbox(1024, 256, nil)}
		w := &watch{c: c, room: r, idx: i}
		r.watches = append(r.watches, w)
	}
	rec, err := location.Decode([]byte(`{"driver":"d-1","latitude":12.9716,"longitude":77.5946,"seq":42,"ts":1764412800000,"speed":8.25,"time":1764412800321,"node":"n1"}`))
	if err != nil {
		b.Fatal(err)
	}
	var buf []frame
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		r.fanout(h, liveFix{seq: seq, prev: seq - 1, rec: rec})
		for _, w := range r.watches {
			buf, _ = w.c.out.take(buf[:0])
		}
	}
	if got := h.delivered.Load(); got != seq*1000 {
		b.Fatalf("delivered %d, want %d", got, seq*1000)
	}
}
