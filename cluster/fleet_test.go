package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
)

// fleet drives drivers and riders against a cluster and records every ack and
// every delivery, so a test can check them against the stream afterwards.
type fleet struct {
	t       *testing.T
	drivers []*simDriver
	riders  []*simRider
	stop    context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup
	// sending counts the drivers' send loops, which add to their acked:
	// stopDriving waits for them before it waits for the acks (an Add
	// racing with a Wait is a misuse of a WaitGroup).
	sending sync.WaitGroup
}

type ackRec struct {
	cursor        uint64
	sent, arrived time.Time
}

type simDriver struct {
	id   string
	c    *mobileproto.Client
	mu   sync.Mutex
	sent []time.Time // by seq-1
	acks map[uint64]ackRec
	// refused are the fixes answered out_of_order: a newer fix of the
	// driver was stored first (pipelined publishes across a leader change
	// can store the later one while the old leader drops the earlier);
	// the driver's order is kept, and the driver told.
	refused []uint64
	errs    []error
	acked   sync.WaitGroup
}

type recv struct {
	cursor, seq uint64
	at          time.Time
}

type simRider struct {
	id, driver string
	c          *mobileproto.Client
	first      string // node it connected to first
	mu         sync.Mutex
	got        []recv
	states     []mobileproto.State
}

// rotate returns the comma-separated URLs starting with the k-th, so that
// client k connects to node k mod n first.
func rotate(urls []string, k int) string {
	n := len(urls)
	out := make([]string, n)
	for i := range urls {
		out[i] = urls[(k+i)%n]
	}
	return strings.Join(out, ",")
}

var reconnect = mobileproto.WithReconnect(mobileproto.ReconnectPolicy{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})

// newFleet connects drivers (driver k to node k mod n) and, for each driver,
// ridersPer riders on the other nodes, tracking it from now on.
func newFleet(t *testing.T, urls []string, drivers, ridersPer int) *fleet {
	f := &fleet{t: t}
	f.ctx, f.stop = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for k := 0; k < drivers; k++ {
		d := &simDriver{id: "d-" + strconv.Itoa(k), acks: map[uint64]ackRec{}}
		d.c = dial(t, rotate(urls, k), mobileproto.RoleDriver, d.id, reconnect, mobileproto.WithStartSeq(1))
		f.drivers = append(f.drivers, d)
		for r := 0; r < ridersPer; r++ {
			rd := &simRider{id: fmt.Sprintf("r-%d-%d", k, r), driver: d.id}
			rd.c = dial(t, rotate(urls, k+r+1), mobileproto.RoleRider, rd.id, reconnect, mobileproto.WithLocationBuffer(1<<16),
				mobileproto.OnError(func(e *mobileproto.Error) {
					t.Logf("rider %s: error frame %+v at %s", rd.id, e, time.Now().Format("15:04:05.000"))
				}),
				mobileproto.OnStateChange(func(s mobileproto.State) {
					rd.mu.Lock()
					rd.states = append(rd.states, s)
					rd.mu.Unlock()
				}))
			rd.first = rd.c.Welcome().Node
			if _, err := rd.c.Track(ctx, d.id, mobileproto.TrackOptions{History: new(int)}); err != nil {
				t.Fatalf("rider %s: %v", rd.id, err)
			}
			f.riders = append(f.riders, rd)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				for l := range rd.c.Locations() {
					rd.mu.Lock()
					rd.got = append(rd.got, recv{l.Cursor, l.Seq, time.Now()})
					rd.mu.Unlock()
				}
			}()
		}
	}
	return f
}

// drive makes every driver send rate fixes per second until stopDriving.
func (f *fleet) drive(rate int) {
	for _, d := range f.drivers {
		f.wg.Add(1)
		f.sending.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.sending.Done()
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			for seq := uint64(1); ; seq++ {
				select {
				case <-f.ctx.Done():
					return
				case <-tick.C:
				}
				fx := mobileproto.Fix{Latitude: 12.9 + float64(seq)*1e-5, Longitude: 77.5, Seq: seq}
				sent := time.Now()
				p, err := d.c.SendLocationAsync(context.Background(), fx)
				d.mu.Lock()
				d.sent = append(d.sent, sent)
				if err != nil {
					d.errs = append(d.errs, fmt.Errorf("send %d: %w", seq, err))
				}
				d.mu.Unlock()
				if err != nil {
					continue
				}
				d.acked.Add(1)
				go func() {
					defer d.acked.Done()
					a, err := p.Result()
					d.mu.Lock()
					defer d.mu.Unlock()
					var pe *mobileproto.Error
					if errors.As(err, &pe) && pe.Code == mobileproto.CodeOutOfOrder {
						d.refused = append(d.refused, p.Seq)
						return
					}
					if err != nil {
						d.errs = append(d.errs, fmt.Errorf("ack %d: %w", p.Seq, err))
						return
					}
					d.acks[p.Seq] = ackRec{cursor: a.Cursor, sent: sent, arrived: time.Now()}
				}()
			}
		}()
	}
}

// stopDriving stops sending and waits for every fix's ack (or error).
func (f *fleet) stopDriving(timeout time.Duration) {
	f.stop()
	done := make(chan struct{})
	go func() {
		f.sending.Wait()
		for _, d := range f.drivers {
			d.acked.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		f.t.Fatalf("fixes still waiting for their ack after %v", timeout)
	}
}

// storedFix is a fix as the stream holds it.
type storedFix struct{ cursor, seq uint64 }

// readStream returns every stored fix of every driver, in stream order, read
// with batched direct gets (an independent reader, not the node's code).
func readStream(t *testing.T, clientURLs []string, drivers []*simDriver) map[string][]storedFix {
	nc, err := nats.Connect(strings.Join(clientURLs, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	out := map[string][]storedFix{}
	for _, d := range drivers {
		next := uint64(1)
		for {
			inbox := nats.NewInbox()
			sub, err := nc.SubscribeSync(inbox)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := json.Marshal(map[string]any{"seq": next, "next_by_subj": fixstream.LocationSubject(d.id), "batch": 1000})
			if err := nc.PublishRequest("$JS.API.DIRECT.GET."+fixstream.StreamName, inbox, req); err != nil {
				t.Fatal(err)
			}
			n, end := 0, false
			for !end {
				m, err := sub.NextMsg(10 * time.Second)
				if err != nil {
					t.Fatalf("driver %s: direct get from %d: %v", d.id, next, err)
				}
				switch m.Header.Get("Status") {
				case "204", "404":
					end = true
					continue
				case "":
				default:
					t.Fatalf("direct get: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
				}
				cursor, _ := strconv.ParseUint(m.Header.Get(fixstream.SequenceHeader), 10, 64)
				var loc mobileproto.Location
				if err := json.Unmarshal(m.Data, &loc); err != nil {
					t.Fatalf("stored payload %s: %v", m.Data, err)
				}
				out[d.id] = append(out[d.id], storedFix{cursor: cursor, seq: loc.Seq})
				next = cursor + 1
				n++
			}
			sub.Unsubscribe()
			if n == 0 {
				break
			}
		}
	}
	return out
}

// verify checks that every fix was acked or refused out_of_order, every
// acked fix is stored exactly once, every refused one is a gap (not
// stored, and a newer fix of the driver is), each driver's stored fixes
// are in the driver's order, and every rider received exactly its driver's
// stored fixes, in cursor order and in the driver's order.
func (f *fleet) verify(stored map[string][]storedFix) {
	t := f.t
	total, refused := 0, 0
	for _, d := range f.drivers {
		d.mu.Lock()
		if len(d.errs) > 0 {
			t.Errorf("driver %s: %d errors, first: %v", d.id, len(d.errs), d.errs[0])
		}
		if len(d.acks)+len(d.refused) != len(d.sent) {
			t.Errorf("driver %s: %d of %d fixes acked, %d refused out_of_order", d.id, len(d.acks), len(d.sent), len(d.refused))
		}
		bySeq := map[uint64]uint64{}
		var newest uint64
		for _, s := range stored[d.id] {
			if _, dup := bySeq[s.seq]; dup {
				t.Errorf("driver %s: seq %d stored twice", d.id, s.seq)
			}
			bySeq[s.seq] = s.cursor
			newest = max(newest, s.seq)
		}
		// A fix refused out_of_order is a gap the driver was told of: it
		// is not stored, and a newer fix of the driver is.
		for _, seq := range d.refused {
			if c, ok := bySeq[seq]; ok || seq >= newest {
				t.Errorf("driver %s: seq %d answered out_of_order, but stored (%v, at %d) or newer than every stored fix (%d)", d.id, seq, ok, c, newest)
			}
		}
		if len(d.refused) > 0 {
			t.Logf("driver %s: seqs %v refused out_of_order (a newer fix of the driver stored first, in a leader change)", d.id, d.refused)
		}
		refused += len(d.refused)
		for seq, a := range d.acks {
			if c, ok := bySeq[seq]; !ok || c != a.cursor {
				t.Errorf("driver %s: acked seq %d at cursor %d, stream has it at %d (present %v)", d.id, seq, a.cursor, c, ok)
			}
		}
		// The driver's order: in stream (cursor) order, its seqs increase.
		if inv := inversions(stored[d.id], func(s storedFix) uint64 { return s.seq }); inv > 0 {
			t.Errorf("driver %s: %d of %d fixes stored out of the driver's order (seq going backwards in cursor order)", d.id, inv, len(stored[d.id]))
		}
		total += len(d.acks)
		d.mu.Unlock()
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range f.riders {
		want := stored[r.driver]
		for {
			r.mu.Lock()
			n := len(r.got)
			r.mu.Unlock()
			if n >= len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.mu.Lock()
		if len(r.got) != len(want) {
			t.Errorf("rider %s (first on %s): received %d fixes of %s, the stream holds %d", r.id, r.first, len(r.got), r.driver, len(want))
		}
		if inv := inversions(r.got, func(g recv) uint64 { return g.seq }); inv > 0 {
			t.Errorf("rider %s: %d of %d fixes of %s arrived out of the driver's order (seq going backwards)", r.id, inv, len(r.got), r.driver)
		}
		for i := 0; i < len(r.got) && i < len(want); i++ {
			if r.got[i].cursor != want[i].cursor {
				t.Errorf("rider %s: location %d has cursor %d, the stream's %d-th fix of %s is %d (gap, duplicate or disorder)", r.id, i, r.got[i].cursor, i, r.driver, want[i].cursor)
				break
			}
		}
		r.mu.Unlock()
	}
	t.Logf("%d drivers, %d riders, %d fixes acked and checked, %d refused out_of_order", len(f.drivers), len(f.riders), total, refused)
}

// inversions counts the places where the driver's seq goes backwards in xs.
func inversions[T any](xs []T, seq func(T) uint64) int {
	n := 0
	for i := 1; i < len(xs); i++ {
		if seq(xs[i]) < seq(xs[i-1]) {
			n++
		}
	}
	return n
}

// ackLatencies returns the longest time a fix waited for its ack, and the
// median.
func (f *fleet) ackLatencies() (max, median time.Duration) {
	var all []time.Duration
	for _, d := range f.drivers {
		d.mu.Lock()
		for _, a := range d.acks {
			all = append(all, a.arrived.Sub(a.sent))
		}
		d.mu.Unlock()
	}
	if len(all) == 0 {
		return 0, 0
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all[len(all)-1], all[len(all)/2]
}

// riderGaps returns, for riders first connected to node and for the others,
// the longest time between two consecutive deliveries after since.
func (f *fleet) riderGaps(node string, since time.Time) (onNode, others time.Duration) {
	for _, r := range f.riders {
		r.mu.Lock()
		prev := since
		var worst time.Duration
		for _, g := range r.got {
			if g.at.Before(since) {
				continue
			}
			if d := g.at.Sub(prev); d > worst {
				worst = d
			}
			prev = g.at
		}
		r.mu.Unlock()
		if r.first == node {
			onNode = max(onNode, worst)
		} else {
			others = max(others, worst)
		}
	}
	return onNode, others
}
