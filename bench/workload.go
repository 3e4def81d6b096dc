package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// ErrConnect is returned by Run, wrapped, when some clients could not
// connect or track; the StepResult says how many.
var ErrConnect = errors.New("bench: connections failed")

// Workload is one measured step: Drivers drivers each taking Rate fixes per
// second for Duration, each tracked by RidersPerDriver riders connected to
// other nodes than their driver.
type Workload struct {
	// Nodes are the WebSocket URLs of the cluster's nodes. Driver k connects
	// to node k mod len(Nodes), its riders to the following nodes.
	Nodes           []string
	Drivers         int
	RidersPerDriver int
	Rate            float64
	Duration        time.Duration
	// Loop paces the drivers. Zero value means LoopOpen.
	Loop Loop
	// Backlog is how much a phone keeps in its outbox while its client
	// cannot take fixes (open loop): Rate × Backlog fixes, at least 4; the
	// oldest is dropped beyond. It must outlast a stall of the load
	// generator itself (its goroutines then take every fix that fell due at
	// once): on a shared two-core machine stalls of 2 s were seen. Zero
	// value means 5 seconds.
	Backlog time.Duration
	// MaxInFlight bounds each driver client's fixes waiting for an ack
	// (mobileproto.WithMaxInFlight). Zero value means, in open loop, 15
	// seconds of fixes (at least 1,024), so that the client is not what
	// throttles the phone before the node answers (the node gives up on a
	// fix after its 10 s publish timeout); in closed loop the client's
	// default, 1,024.
	MaxInFlight int
	// Drain bounds the wait, after sending stops, for the answers to the
	// fixes sent and for their delivery. Zero value means 15 seconds.
	Drain time.Duration
	// Prefix makes this step's ids unique (drivers are <Prefix>d<k>).
	Prefix string
	// DialParallelism bounds concurrent connection attempts. Zero value means 64.
	DialParallelism int
	// Begin and End, if set, are called just before the drivers start
	// sending and once everything sent has been answered and delivered (or
	// Drain ran out): the measurement window, for the caller's /proc
	// readings.
	Begin, End func()
}

func (w *Workload) setDefaults() error {
	if len(w.Nodes) == 0 || w.Drivers <= 0 || w.RidersPerDriver < 0 || !(w.Rate > 0) || w.Duration <= 0 {
		return errors.New("bench: workload needs nodes, drivers, a rate and a duration")
	}
	if w.Loop == "" {
		w.Loop = LoopOpen
	}
	if _, err := ParseLoop(string(w.Loop)); err != nil {
		return err
	}
	if w.Backlog == 0 {
		w.Backlog = 5 * time.Second
	}
	if w.MaxInFlight == 0 {
		w.MaxInFlight = 1024
		if w.Loop == LoopOpen {
			w.MaxInFlight = max(1024, int(math.Ceil(w.Rate*15)))
		}
	}
	if w.Drain == 0 {
		w.Drain = 15 * time.Second
	}
	if w.DialParallelism == 0 {
		w.DialParallelism = 64
	}
	return nil
}

type benchRider struct {
	c       *mobileproto.Client
	d       *benchDriver
	track   Tracker
	lat     []time.Duration
	done    chan struct{}
	checked int // d.acked[:checked] have all arrived or were skipped with notice (drain check)
}

// Run connects the workload's clients, drives it and measures it. It
// returns an error wrapping ErrConnect, with the result so far, when some
// clients could not connect.
func Run(ctx context.Context, w Workload) (StepResult, error) {
	if err := w.setDefaults(); err != nil {
		return StepResult{}, err
	}
	res := StepResult{Loop: w.Loop, Drivers: w.Drivers, RidersPerDriver: w.RidersPerDriver, RatePerDriver: w.Rate,
		DurationSec: w.Duration.Seconds(), MaxInFlight: w.MaxInFlight}
	backlog := max(4, int(math.Ceil(w.Rate*w.Backlog.Seconds())))
	if w.Loop == LoopOpen {
		res.BacklogFixes = backlog
	}
	maxSeq := int(w.Rate*w.Duration.Seconds()) + 16

	drivers := make([]*benchDriver, w.Drivers)
	for k := range drivers {
		drivers[k] = newBenchDriver(w.Prefix+"d"+strconv.Itoa(k), maxSeq)
	}
	var riders []*benchRider
	for _, d := range drivers {
		for range w.RidersPerDriver {
			riders = append(riders, &benchRider{d: d, done: make(chan struct{})})
		}
	}
	defer closeAll(drivers, riders)
	if err := connect(ctx, w, drivers, riders, &res); err != nil {
		return res, err
	}

	// Riders record the latency of every fix from when it was taken.
	for _, r := range riders {
		r.lat = make([]time.Duration, 0, maxSeq)
		go func() {
			defer close(r.done)
			for l := range r.c.Locations() {
				at := time.Now().UnixNano()
				if l.Seq == 0 || l.Seq >= uint64(len(r.d.sentAt)) {
					continue
				}
				if r.track.Observe(l.Seq, l.Cursor, l.Prev) {
					if taken := r.d.sentAt[l.Seq].Load(); taken > 0 {
						r.lat = append(r.lat, time.Duration(at-taken))
					}
				}
			}
		}()
	}

	if w.Begin != nil {
		w.Begin()
	}
	// Open loop: every driver takes its fixes on the schedule of the window
	// [windowStart, windowEnd), then flushes its outbox until drainEnd.
	// Closed loop: it sends until windowEnd.
	windowStart := time.Now()
	windowEnd := windowStart.Add(w.Duration)
	drainEnd := windowEnd.Add(w.Drain)
	genCtx, stopGen := context.WithDeadline(ctx, windowEnd)
	defer stopGen()
	sendCtx, stopSend := context.WithDeadline(ctx, drainEnd)
	defer stopSend()
	interval := time.Duration(float64(time.Second) / w.Rate)
	var generating atomic.Int64
	generating.Store(int64(len(drivers)))
	var dwg sync.WaitGroup
	for _, d := range drivers {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			if w.Loop == LoopOpen {
				d.driveOpen(sendCtx, windowStart, windowEnd, interval, maxSeq, backlog, w.MaxInFlight, func() { generating.Add(-1) })
			} else {
				d.driveClosed(genCtx, interval, maxSeq)
				generating.Add(-1)
			}
		}()
	}
	<-genCtx.Done()
	// Rates are per second of the window: the schedule offered exactly
	// that much, even when a starved generator took its last fixes late.
	sendSec := w.Duration.Seconds()

	// Wait until every fix is answered and every acked fix reached every
	// rider (or was skipped with notice), or the drain runs out.
	drainStart := time.Now()
	for generating.Load() > 0 || !allArrived(drivers, riders) {
		if time.Now().After(drainEnd) || ctx.Err() != nil {
			res.DrainTimedOut = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.DrainSec = time.Since(drainStart).Seconds()
	if w.End != nil {
		w.End()
	}
	res.WindowSec = time.Since(windowStart).Seconds()

	var t tally
	var ackLat, lat []time.Duration
	acked := make(map[*benchDriver][]Stored, len(drivers))
	for _, d := range drivers {
		dt, a, al := d.freeze()
		t.add(dt)
		acked[d] = a
		ackLat = append(ackLat, al...)
	}
	stopSend()
	closeAll(drivers, riders)
	dwg.Wait()
	var delivery Delivery
	timely := 0
	for _, r := range riders {
		<-r.done
		d, _ := r.track.Result(acked[r.d])
		delivery = delivery.Add(d)
		for _, l := range r.lat {
			if l <= TimelyBound {
				timely++
			}
		}
		lat = append(lat, r.lat...)
	}
	for _, d := range drivers {
		res.GeneratorLagMaxMS = max(res.GeneratorLagMaxMS, ms(d.lagMax))
	}
	res.account(t, delivery, everyDriverWatched(t, max(w.RidersPerDriver, 1)), timely, sendSec)
	res.Latency = Summarize(lat)
	res.AckLatency = Summarize(ackLat)
	return res, nil
}

// connect dials riders first (they track before anything is sent), then
// drivers.
func connect(ctx context.Context, w Workload, drivers []*benchDriver, riders []*benchRider, res *StepResult) error {
	start := time.Now()
	var mu sync.Mutex
	failed := 0
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		failed++
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	sem := make(chan struct{}, w.DialParallelism)
	var wg sync.WaitGroup
	dialOne := func(url string, role mobileproto.Role, id string, opts ...mobileproto.Option) *mobileproto.Client {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := mobileproto.Dial(dctx, url, append([]mobileproto.Option{mobileproto.WithIdentity(role, id)}, opts...)...)
		if err != nil {
			fail(err)
			return nil
		}
		return c
	}
	n := len(w.Nodes)
	per := max(w.RidersPerDriver, 1)
	for i, r := range riders {
		k := i / per
		node := (k + 1 + i%per) % n
		if n > 1 && node == k%n {
			node = (node + 1) % n
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := dialOne(w.Nodes[node], mobileproto.RoleRider, w.Prefix+"r"+strconv.Itoa(i), mobileproto.WithLocationBuffer(4096))
			if c == nil {
				return
			}
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			tr, err := c.Track(tctx, r.d.id, mobileproto.TrackOptions{History: new(int)})
			if err != nil {
				fail(fmt.Errorf("track %s: %w", r.d.id, err))
				c.Close()
				return
			}
			r.track.After(tr.Cursor)
			r.c = c
		}()
	}
	for k, d := range drivers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.c = dialOne(w.Nodes[k%n], mobileproto.RoleDriver, d.id, mobileproto.WithStartSeq(1), mobileproto.WithMaxInFlight(w.MaxInFlight))
		}()
	}
	wg.Wait()
	res.ConnectSec = time.Since(start).Seconds()
	res.ConnectionsFailed = failed
	for _, d := range drivers {
		if d.c != nil {
			res.Connections++
		}
	}
	for _, r := range riders {
		if r.c != nil {
			res.Connections++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d (first: %v)", ErrConnect, failed, len(drivers)+len(riders), firstErr)
	}
	return nil
}

// allArrived reports whether every offered fix has an outcome and every
// acked fix has reached each of its riders, or was skipped for it with
// notice.
func allArrived(drivers []*benchDriver, riders []*benchRider) bool {
	for _, d := range drivers {
		if d.pending() > 0 {
			return false
		}
	}
	for _, r := range riders {
		r.d.mu.Lock()
		for r.checked < len(r.d.acked) && r.track.Settled(r.d.acked[r.checked]) {
			r.checked++
		}
		done := r.checked == len(r.d.acked)
		r.d.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

func closeAll(drivers []*benchDriver, riders []*benchRider) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	closeOne := func(c *mobileproto.Client) {
		defer wg.Done()
		defer func() { <-sem }()
		c.Close()
	}
	for _, d := range drivers {
		if d.c != nil {
			wg.Add(1)
			sem <- struct{}{}
			go closeOne(d.c)
		}
	}
	for _, r := range riders {
		if r.c != nil {
			wg.Add(1)
			sem <- struct{}{}
			go closeOne(r.c)
		}
	}
	wg.Wait()
}
