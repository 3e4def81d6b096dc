package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// Workload is one measured step: Drivers drivers each sending Rate fixes per
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
	// Drain bounds the wait for fixes in flight after sending stops.
	// Zero value means 10 seconds.
	Drain time.Duration
	// Prefix makes this step's ids unique (drivers are <Prefix>d<k>).
	Prefix string
	// DialParallelism bounds concurrent connection attempts. Zero value means 64.
	DialParallelism int
	// Begin and End, if set, are called just before the drivers start
	// sending and once everything sent has arrived (or Drain ran out): the
	// measurement window, for the caller's CPU readings.
	Begin, End func()
}

// StepResult is what a Workload measured.
type StepResult struct {
	Drivers           int     `json:"drivers"`
	RidersPerDriver   int     `json:"riders_per_driver"`
	RatePerDriver     float64 `json:"rate_per_driver"`
	DurationSec       float64 `json:"duration_s"`
	Connections       int     `json:"connections"`
	ConnectionsFailed int     `json:"connections_failed"`
	ConnectSec        float64 `json:"connect_s"`
	WindowSec         float64 `json:"window_s"`

	Sent       int     `json:"sent"`
	Acked      int     `json:"acked"`
	SendErrors int     `json:"send_errors"`
	OfferedPS  float64 `json:"offered_per_s"`
	// Delivered counts unique fixes received by riders; DeliveredPS per
	// second of sending.
	Delivered   int      `json:"delivered"`
	DeliveredPS float64  `json:"delivered_per_s"`
	Delivery    Delivery `json:"delivery"`
	LossRate    float64  `json:"loss_rate"`
	Latency     Latency  `json:"latency"`
	AckLatency  Latency  `json:"ack_latency"`

	// Filled in by the caller from /proc over the measurement window.
	ServerCPUSec      float64 `json:"server_cpu_s"`
	ServerCPUPer1000  float64 `json:"server_cpu_ms_per_1000_delivered"`
	LoadGenCPUSec     float64 `json:"loadgen_cpu_s"`
	LoadGenCPUPer1000 float64 `json:"loadgen_cpu_ms_per_1000_delivered"`
}

type benchDriver struct {
	id     string
	c      *mobileproto.Client
	sentAt []atomic.Int64 // unix ns by seq
	sent   atomic.Uint64  // highest seq sent
	mu     sync.Mutex
	acked  []uint64
	ackLat []time.Duration
	errs   int
}

type benchRider struct {
	c     *mobileproto.Client
	d     *benchDriver
	track Tracker
	lat   []time.Duration
	done  chan struct{}
}

// Run connects the workload's clients, drives it and measures it.
func Run(ctx context.Context, w Workload) (StepResult, error) {
	if len(w.Nodes) == 0 || w.Drivers <= 0 || w.Rate <= 0 || w.Duration <= 0 {
		return StepResult{}, errors.New("bench: workload needs nodes, drivers, a rate and a duration")
	}
	if w.Drain == 0 {
		w.Drain = 10 * time.Second
	}
	if w.DialParallelism == 0 {
		w.DialParallelism = 64
	}
	res := StepResult{Drivers: w.Drivers, RidersPerDriver: w.RidersPerDriver, RatePerDriver: w.Rate, DurationSec: w.Duration.Seconds()}
	maxSeq := int(w.Rate*w.Duration.Seconds()) + 16

	drivers := make([]*benchDriver, w.Drivers)
	for k := range drivers {
		drivers[k] = &benchDriver{id: w.Prefix + "d" + strconv.Itoa(k), sentAt: make([]atomic.Int64, maxSeq+1)}
	}
	var riders []*benchRider
	for k, d := range drivers {
		for r := 0; r < w.RidersPerDriver; r++ {
			riders = append(riders, &benchRider{d: d, done: make(chan struct{})})
			_ = k
		}
	}

	// Connect: riders first (they track before anything is sent), then drivers.
	start := time.Now()
	var failed atomic.Int64
	sem := make(chan struct{}, w.DialParallelism)
	var wg sync.WaitGroup
	dialOne := func(url string, role mobileproto.Role, id string, opts ...mobileproto.Option) *mobileproto.Client {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := mobileproto.Dial(dctx, url, append([]mobileproto.Option{mobileproto.WithIdentity(role, id)}, opts...)...)
		if err != nil {
			failed.Add(1)
			return nil
		}
		return c
	}
	n := len(w.Nodes)
	for i, r := range riders {
		k := i / max(w.RidersPerDriver, 1)
		node := (k + 1 + i%max(w.RidersPerDriver, 1)) % n
		if n > 1 && node == k%n {
			node = (node + 1) % n
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.c = dialOne(w.Nodes[node], mobileproto.RoleRider, w.Prefix+"r"+strconv.Itoa(i), mobileproto.WithLocationBuffer(4096))
			if r.c == nil {
				return
			}
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := r.c.Track(tctx, r.d.id, mobileproto.TrackOptions{History: new(int)}); err != nil {
				failed.Add(1)
				r.c.Close()
				r.c = nil
			}
		}()
	}
	for k, d := range drivers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.c = dialOne(w.Nodes[k%n], mobileproto.RoleDriver, d.id, mobileproto.WithStartSeq(1))
		}()
	}
	wg.Wait()
	res.ConnectSec = time.Since(start).Seconds()
	res.ConnectionsFailed = int(failed.Load())
	defer closeAll(drivers, riders)
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
	if res.ConnectionsFailed > 0 {
		return res, fmt.Errorf("bench: %d connections failed", res.ConnectionsFailed)
	}

	// Riders record the latency of every fix from the driver's send time.
	for _, r := range riders {
		r.lat = make([]time.Duration, 0, maxSeq)
		go func() {
			defer close(r.done)
			for l := range r.c.Locations() {
				at := time.Now().UnixNano()
				if l.Seq == 0 || l.Seq >= uint64(len(r.d.sentAt)) {
					continue
				}
				if r.track.Observe(l.Seq) {
					if sent := r.d.sentAt[l.Seq].Load(); sent > 0 {
						r.lat = append(r.lat, time.Duration(at-sent))
					}
				}
			}
		}()
	}

	if w.Begin != nil {
		w.Begin()
	}
	windowStart := time.Now()
	sendCtx, stopSending := context.WithTimeout(ctx, w.Duration)
	defer stopSending()
	var dwg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / w.Rate)
	for _, d := range drivers {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			d.drive(sendCtx, interval, maxSeq)
		}()
	}
	dwg.Wait()
	sendSec := time.Since(windowStart).Seconds()

	// Wait until every acked fix reached every rider, or Drain runs out.
	deadline := time.Now().Add(w.Drain)
	for time.Now().Before(deadline) && !allArrived(drivers, riders) {
		time.Sleep(50 * time.Millisecond)
	}
	if w.End != nil {
		w.End()
	}
	res.WindowSec = time.Since(windowStart).Seconds()

	var ackLat, lat []time.Duration
	acked := map[*benchDriver][]uint64{}
	for _, d := range drivers {
		d.mu.Lock()
		res.Sent += int(d.sent.Load())
		res.Acked += len(d.acked)
		res.SendErrors += d.errs
		acked[d] = append([]uint64(nil), d.acked...)
		ackLat = append(ackLat, d.ackLat...)
		d.mu.Unlock()
	}
	closeAll(drivers, riders)
	for _, r := range riders {
		<-r.done
		res.Delivery = res.Delivery.Add(r.track.Result(acked[r.d]))
		lat = append(lat, r.lat...)
	}
	res.OfferedPS = float64(res.Sent) / sendSec
	res.Delivered = res.Delivery.Unique
	res.DeliveredPS = float64(res.Delivered) / sendSec
	if want := res.Acked * w.RidersPerDriver; want > 0 {
		res.LossRate = float64(res.Delivery.Lost) / float64(want)
	}
	res.Latency = Summarize(lat)
	res.AckLatency = Summarize(ackLat)
	return res, nil
}

// drive sends fixes every interval until ctx ends, with a random phase so
// that drivers do not all send at once; acks are collected in order.
func (d *benchDriver) drive(ctx context.Context, interval time.Duration, maxSeq int) {
	acks := make(chan *mobileproto.Pending, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range acks {
			a, err := p.Result()
			now := time.Now().UnixNano()
			d.mu.Lock()
			if err != nil {
				d.errs++
			} else {
				d.acked = append(d.acked, a.Seq)
				d.ackLat = append(d.ackLat, time.Duration(now-d.sentAt[a.Seq].Load()))
			}
			d.mu.Unlock()
		}
	}()
	defer func() {
		close(acks)
		<-done
	}()
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(rand.Int64N(int64(interval)))):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for seq := uint64(1); int(seq) < maxSeq; seq++ {
		now := time.Now()
		d.sentAt[seq].Store(now.UnixNano())
		d.sent.Store(seq)
		p, err := d.c.SendLocationAsync(ctx, mobileproto.Fix{
			Latitude:  12.9716 + float64(seq%1000)*1e-5,
			Longitude: 77.5946 - float64(seq%1000)*1e-5,
			Seq:       seq,
			TS:        now.UnixMilli(),
			Accuracy:  mobileproto.Float64(4.5),
			Speed:     mobileproto.Float64(8.3),
			Heading:   mobileproto.Float64(271),
		})
		if err != nil {
			if ctx.Err() != nil {
				d.sent.Store(seq - 1)
				return
			}
			d.mu.Lock()
			d.errs++
			d.mu.Unlock()
		} else {
			acks <- p
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// allArrived reports whether every acked fix has reached each of its riders.
func allArrived(drivers []*benchDriver, riders []*benchRider) bool {
	for _, d := range drivers {
		d.mu.Lock()
		pending := int(d.sent.Load()) - len(d.acked) - d.errs
		d.mu.Unlock()
		if pending > 0 {
			return false
		}
	}
	for _, r := range riders {
		r.d.mu.Lock()
		want := len(r.d.acked)
		r.d.mu.Unlock()
		if r.track.Result(nil).Unique < want {
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
