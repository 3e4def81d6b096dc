package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
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
// second for Duration, each (or the Watched share of them) tracked by
// RidersPerDriver riders connected to other nodes than their driver.
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
	// Watched is the share of drivers that have riders, spread evenly over
	// the drivers (and so over the nodes); the others have none. Zero
	// value means every driver.
	Watched float64
	// ObeyInterval makes the drivers send at the interval their node asks
	// for with set-interval (fast while watched, slow while not), as the
	// apps do: Rate is their rate until it asks, and the fastest they send
	// (a shorter interval asked for is taken as 1/Rate). Without it
	// drivers ignore set-interval and keep to Rate, so that a throughput
	// measurement is not changed by the node's intervals. It needs open
	// loop (a phone's timer).
	ObeyInterval bool
	// Switches is how many watched drivers lose their riders to an
	// unwatched driver at SwitchAt into the window: each rider untracks
	// its driver and tracks the other (on another node than the rider).
	// The step then measures how soon each driver is asked for its new
	// interval (Intervals.ToWatched, ToUnwatched). SwitchAt's zero value
	// means half of Duration.
	Switches int
	SwitchAt time.Duration
	// IntervalWait bounds the wait, with ObeyInterval, after connecting and
	// before sending, for every driver to be asked for the interval of its
	// watched state. Zero value means 10 seconds.
	IntervalWait time.Duration
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
	if w.Watched < 0 || w.Watched > 1 || w.Switches < 0 || w.SwitchAt < 0 || w.SwitchAt >= w.Duration {
		return errors.New("bench: workload's watched share must be within [0, 1], its switches within the window")
	}
	if w.ObeyInterval && w.Loop != LoopOpen {
		return errors.New("bench: drivers obey set-interval only in open loop (a phone's timer)")
	}
	if w.Watched == 0 {
		w.Watched = 1
	}
	if w.SwitchAt == 0 {
		w.SwitchAt = w.Duration / 2
	}
	if w.IntervalWait == 0 {
		w.IntervalWait = 10 * time.Second
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

// benchRider is one simulated rider app. It tracks one driver, or two in
// turn when it switches.
type benchRider struct {
	id   string
	k, j int // its first driver's index, and its own among that driver's riders
	c    *mobileproto.Client
	done chan struct{}
	lat  []time.Duration // written by its reading goroutine until done

	mu   sync.Mutex
	subs []*sub
}

// sub is a rider's tracking of one driver.
type sub struct {
	d     *benchDriver
	track Tracker
	// whole: tracked from before the first fix to the end of the step (its
	// rider is due every fix the driver offered).
	whole   bool
	checked int // d.acked[:checked] are settled (drain check)
}

// sub returns the rider's tracking of driver (nil: none).
func (r *benchRider) sub(driver string) *sub {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.subs) - 1; i >= 0; i-- {
		if r.subs[i].d.id == driver {
			return r.subs[i]
		}
	}
	return nil
}

func (r *benchRider) allSubs() []*sub {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.subs)
}

// read records the rider's locations until its client closes: each new one
// within a tracking, and its latency from when the fix was taken.
func (r *benchRider) read() {
	defer close(r.done)
	for l := range r.c.Locations() {
		at := time.Now().UnixNano()
		s := r.sub(l.Driver)
		if s == nil || l.Seq == 0 || l.Seq >= uint64(len(s.d.sentAt)) {
			continue
		}
		if s.track.Observe(l.Seq, l.Cursor, l.Prev) {
			if taken := s.d.sentAt[l.Seq].Load(); taken > 0 {
				r.lat = append(r.lat, time.Duration(at-taken))
			}
		}
	}
}

// watchedDriver reports whether driver k of n has riders when a share of
// the drivers does: exactly round(share × n) of them, spread evenly.
func watchedDriver(k, n int, share float64) bool {
	w := int(math.Round(share * float64(n)))
	return (k+1)*w/n > k*w/n
}

// riderNode is the node of rider j of driver k among n nodes: never its
// driver's (when there are several).
func riderNode(k, j, n int) int {
	node := (k + 1 + j) % n
	if n > 1 && node == k%n {
		node = (node + 1) % n
	}
	return node
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
	// Obeying drivers never send faster than Rate, but a change of interval
	// may take one fix at once: the margin covers it.
	maxSeq := int(w.Rate*w.Duration.Seconds()) + 16

	drivers := make([]*benchDriver, w.Drivers)
	watched := make([]bool, w.Drivers)
	for k := range drivers {
		drivers[k] = newBenchDriver(w.Prefix+"d"+strconv.Itoa(k), maxSeq)
		watched[k] = w.RidersPerDriver > 0 && watchedDriver(k, w.Drivers, w.Watched)
	}
	var riders []*benchRider
	for k, d := range drivers {
		if !watched[k] {
			continue
		}
		for j := range w.RidersPerDriver {
			r := &benchRider{id: w.Prefix + "r" + strconv.Itoa(len(riders)), k: k, j: j, done: make(chan struct{})}
			r.subs = []*sub{{d: d, whole: true}}
			riders = append(riders, r)
		}
	}
	defer closeAll(drivers, riders)
	if err := connect(ctx, w, drivers, riders, &res); err != nil {
		return res, err
	}
	for _, r := range riders {
		r.lat = make([]time.Duration, 0, maxSeq)
		go r.read()
	}
	var notAsked int
	if w.ObeyInterval {
		notAsked = waitAsked(ctx, w.IntervalWait, drivers, watched)
	}
	plan := planSwitches(w, drivers, riders, watched)

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
				d.driveOpen(sendCtx, windowStart, windowEnd, interval, w.ObeyInterval, maxSeq, backlog, w.MaxInFlight, func() { generating.Add(-1) })
			} else {
				d.driveClosed(genCtx, interval, maxSeq)
				generating.Add(-1)
			}
		}()
	}
	var swg sync.WaitGroup
	if len(plan) > 0 {
		swg.Add(1)
		go func() {
			defer swg.Done()
			runSwitches(genCtx, windowStart.Add(w.SwitchAt), plan)
		}()
	}
	<-genCtx.Done()
	swg.Wait()
	// Rates are per second of the window: the schedule offered exactly
	// that much, even when a starved generator took its last fixes late.
	sendSec := w.Duration.Seconds()

	// Wait until every fix is answered and every acked fix reached every
	// rider due it (or was skipped with notice), or the drain runs out.
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
	tallies := make(map[*benchDriver]tally, len(drivers))
	acked := make(map[*benchDriver][]Stored, len(drivers))
	for _, d := range drivers {
		dt, a, al := d.freeze()
		t.add(dt)
		tallies[d], acked[d] = dt, a
		ackLat = append(ackLat, al...)
	}
	stopSend()
	closeAll(drivers, riders)
	dwg.Wait()
	var delivery Delivery
	var e due
	timely := 0
	for _, r := range riders {
		<-r.done
		for _, s := range r.allSubs() {
			d, covered := s.track.Result(acked[s.d])
			delivery = delivery.Add(d)
			if s.whole {
				dt := tallies[s.d]
				e.pairs += dt.offered
				e.notAcked += max(0, dt.offered-dt.acked)
			} else {
				e.pairs += covered
			}
		}
		for _, l := range r.lat {
			if l <= TimelyBound {
				timely++
			}
		}
		lat = append(lat, r.lat...)
	}
	if w.RidersPerDriver == 0 {
		// No riders at all: the loss is what was not acked, as if each
		// driver had one rider.
		e = everyDriverWatched(t, 1)
	}
	for _, d := range drivers {
		res.GeneratorLagMaxMS = max(res.GeneratorLagMaxMS, ms(d.lagMax))
	}
	res.account(t, delivery, e, timely, sendSec)
	res.Latency = Summarize(lat)
	res.AckLatency = Summarize(ackLat)
	if w.ObeyInterval || w.Watched < 1 || w.Switches > 0 {
		res.Intervals = intervalsOf(w, drivers, watched, tallies, plan, windowStart, notAsked)
	}
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
	for _, r := range riders {
		node := riderNode(r.k, r.j, n)
		d := r.subs[0].d
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := dialOne(w.Nodes[node], mobileproto.RoleRider, r.id, mobileproto.WithLocationBuffer(4096))
			if c == nil {
				return
			}
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			tr, err := c.Track(tctx, d.id, mobileproto.TrackOptions{History: new(int)})
			if err != nil {
				fail(fmt.Errorf("track %s: %w", d.id, err))
				c.Close()
				return
			}
			r.subs[0].track.After(tr.Cursor)
			r.c = c
		}()
	}
	for k, d := range drivers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.c = dialOne(w.Nodes[k%n], mobileproto.RoleDriver, d.id, mobileproto.WithStartSeq(1), mobileproto.WithMaxInFlight(w.MaxInFlight),
				mobileproto.OnSetInterval(d.onSetInterval))
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
// acked fix has reached each rider due it, or was skipped for it with
// notice.
func allArrived(drivers []*benchDriver, riders []*benchRider) bool {
	for _, d := range drivers {
		if d.pending() > 0 {
			return false
		}
	}
	for _, r := range riders {
		for _, s := range r.allSubs() {
			s.d.mu.Lock()
			for s.checked < len(s.d.acked) && s.track.Settled(s.d.acked[s.checked]) {
				s.checked++
			}
			done := s.checked == len(s.d.acked)
			s.d.mu.Unlock()
			if !done {
				return false
			}
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
