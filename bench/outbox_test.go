package bench

import (
	"slices"
	"testing"
)

func TestOutboxDropsTheOldestWhenFull(t *testing.T) {
	for _, tc := range []struct {
		name        string
		size        int
		ops         string // p: put the next seq, t: take one
		wantTaken   []uint64
		wantWaiting int
		wantDropped int
	}{
		{name: "empty", size: 4, ops: "t", wantTaken: nil},
		{name: "within size", size: 4, ops: "ppptt", wantTaken: []uint64{1, 2}, wantWaiting: 1},
		{name: "full drops oldest", size: 2, ops: "pppptt", wantTaken: []uint64{3, 4}, wantDropped: 2},
		{name: "wraps around", size: 3, ops: "pptppptttt", wantTaken: []uint64{1, 3, 4, 5}, wantDropped: 1},
		{name: "size below one is one", size: 0, ops: "ppt", wantTaken: []uint64{2}, wantDropped: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(tc.size)
			var seq uint64
			var taken []uint64
			drops := 0
			for _, op := range tc.ops {
				switch op {
				case 'p':
					seq++
					if o.put(queued{seq: seq, at: int64(seq)}) {
						drops++
					}
				case 't':
					if q, ok := o.take(); ok {
						if q.at != int64(q.seq) {
							t.Fatalf("fix %d came back with time %d", q.seq, q.at)
						}
						taken = append(taken, q.seq)
					}
				}
			}
			waiting, dropped := o.counts()
			if !slices.Equal(taken, tc.wantTaken) || waiting != tc.wantWaiting || dropped != tc.wantDropped || drops != dropped {
				t.Fatalf("taken %v, waiting %d, dropped %d (put said %d); want %v, %d, %d", taken, waiting, dropped, drops, tc.wantTaken, tc.wantWaiting, tc.wantDropped)
			}
		})
	}
}

func TestOutboxSignalsAPut(t *testing.T) {
	o := newOutbox(2)
	select {
	case <-o.ready:
		t.Fatal("ready before any put")
	default:
	}
	o.put(queued{seq: 1})
	o.put(queued{seq: 2}) // a second signal is not queued: the taker takes all
	select {
	case <-o.ready:
	default:
		t.Fatal("no signal after a put")
	}
}
