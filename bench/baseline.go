package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Throughput is what a raw NATS baseline achieved.
type Throughput struct {
	Name        string  `json:"name"`
	MsgBytes    int     `json:"msg_bytes"`
	Subjects    int     `json:"subjects"`
	DurationSec float64 `json:"duration_s"`
	Messages    int64   `json:"messages"`
	PerSec      float64 `json:"per_s"`
	// Filled in by the caller from /proc.
	ServerCPUSec     float64 `json:"server_cpu_s"`
	ServerCPUPer1000 float64 `json:"server_cpu_ms_per_1000"`
}

// Baseline runs one raw NATS measurement; Begin and End bracket the
// measured window for the caller's CPU readings.
type Baseline struct {
	// PubURL is where messages are published, SubURL (another node) where
	// they are received for the core test.
	PubURL, SubURL string
	MsgBytes       int
	Subjects       int
	Duration       time.Duration
	// Rate, if set, paces publishing at this many messages per second (the
	// workload's rate) instead of as fast as possible: the engine's cost at
	// the same load, rather than its ceiling.
	Rate       float64
	Begin, End func()
}

// pace returns a function that blocks so that calls happen at b.Rate per
// second (in bursts of a millisecond's worth), or nil when unpaced.
func (b Baseline) pace() func(i int) {
	if b.Rate <= 0 {
		return nil
	}
	start := time.Now()
	return func(i int) {
		due := start.Add(time.Duration(float64(i) / b.Rate * float64(time.Second)))
		if d := time.Until(due); d > time.Millisecond {
			time.Sleep(d)
		}
	}
}

func (b Baseline) label(name string) string {
	if b.Rate > 0 {
		return fmt.Sprintf("%s at %.0f/s", name, b.Rate)
	}
	return name + ", as fast as possible"
}

func (b Baseline) payload() []byte {
	p := make([]byte, b.MsgBytes)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// Core publishes as fast as one client can on PubURL to Subjects subjects
// and counts what a subscriber on SubURL receives: core NATS through a route,
// at most once, no storage.
func (b Baseline) Core(ctx context.Context) (Throughput, error) {
	res := Throughput{Name: b.label("core NATS pub/sub across nodes"), MsgBytes: b.MsgBytes, Subjects: b.Subjects}
	sub, err := nats.Connect(b.SubURL, nats.Name("rtls-bench-core-sub"))
	if err != nil {
		return res, err
	}
	defer sub.Close()
	var got atomic.Int64
	s, err := sub.Subscribe("bench.core.*", func(*nats.Msg) { got.Add(1) })
	if err != nil {
		return res, err
	}
	s.SetPendingLimits(-1, -1)
	if err := sub.Flush(); err != nil {
		return res, err
	}
	pub, err := nats.Connect(b.PubURL, nats.Name("rtls-bench-core-pub"))
	if err != nil {
		return res, err
	}
	defer pub.Close()
	// The subscription must have reached the publishing node.
	if err := waitInterest(ctx, pub, "bench.core.0", &got); err != nil {
		return res, err
	}
	subjects := make([]string, b.Subjects)
	for i := range subjects {
		subjects[i] = "bench.core." + strconv.Itoa(i)
	}
	data := b.payload()
	got.Store(0)
	if b.Begin != nil {
		b.Begin()
	}
	start := time.Now()
	pace := b.pace()
	for i := 0; time.Since(start) < b.Duration; i++ {
		if pace != nil {
			pace(i)
		}
		if err := pub.Publish(subjects[i%len(subjects)], data); err != nil {
			return res, err
		}
	}
	pub.Flush()
	// Let what is in flight arrive, then count.
	last, stable := int64(-1), 0
	for stable < 3 {
		time.Sleep(100 * time.Millisecond)
		if n := got.Load(); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	if b.End != nil {
		b.End()
	}
	res.DurationSec = time.Since(start).Seconds()
	res.Messages = got.Load()
	res.PerSec = float64(res.Messages) / res.DurationSec
	return res, nil
}

// waitInterest publishes probes until the subscriber counts one.
func waitInterest(ctx context.Context, nc *nats.Conn, subj string, got *atomic.Int64) error {
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() == 0 {
		nc.Publish(subj, []byte("probe"))
		nc.Flush()
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: subscription never reached the publishing node")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// JetStream publishes asynchronously to R3 file streams of its own (BENCH,
// or BENCH_0 … BENCH_<streams-1>, each taking a share of the subjects, their
// leaders moved to different nodes; deleted afterwards) with as many acks
// outstanding as nats.go allows, and counts the acks: the engine's ceiling
// for storing fixes, and what partitioning the stream would change.
func (b Baseline) JetStream(ctx context.Context, replicas, streams int) (Throughput, error) {
	name := fmt.Sprintf("JetStream R%d async publish (file)", replicas)
	if streams > 1 {
		name = fmt.Sprintf("JetStream R%d async publish (file), %d streams", replicas, streams)
	}
	res := Throughput{Name: b.label(name), MsgBytes: b.MsgBytes, Subjects: b.Subjects}
	nc, err := nats.Connect(b.PubURL, nats.Name("rtls-bench-js"))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return res, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	names := make([]string, streams)
	for p := range names {
		names[p] = "BENCH"
		if streams > 1 {
			names[p] = "BENCH_" + strconv.Itoa(p)
		}
		if _, err := js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
			Name: names[p], Subjects: []string{fmt.Sprintf("bench.js.%d.*", p)}, Storage: jetstream.FileStorage, Replicas: replicas,
			MaxMsgsPerSubject: 100,
		}); err != nil {
			return res, fmt.Errorf("bench: create stream %s: %w", names[p], err)
		}
		defer js.DeleteStream(context.Background(), names[p])
	}
	if streams > 1 {
		leaders, err := spreadLeaders(sctx, nc, js, names)
		if err != nil {
			return res, err
		}
		res.Name += " (leaders " + strings.Join(leaders, ", ") + ")"
	}
	subjects := make([]string, b.Subjects)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("bench.js.%d.%d", i%streams, i)
	}
	data := b.payload()
	if b.Begin != nil {
		b.Begin()
	}
	start := time.Now()
	pace := b.pace()
	var errs int
	for i := 0; time.Since(start) < b.Duration; i++ {
		if pace != nil {
			pace(i)
		}
		if _, err := js.PublishAsync(subjects[i%len(subjects)], data, jetstream.WithStallWait(5*time.Second)); err != nil {
			errs++
			if errs > 100 {
				return res, fmt.Errorf("bench: JetStream publish: %w", err)
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return res, fmt.Errorf("bench: JetStream acks did not complete")
	}
	if b.End != nil {
		b.End()
	}
	res.DurationSec = time.Since(start).Seconds()
	for _, name := range names {
		info, err := js.Stream(sctx, name)
		if err != nil {
			return res, err
		}
		res.Messages += int64(info.CachedInfo().State.LastSeq)
	}
	res.PerSec = float64(res.Messages) / res.DurationSec
	return res, nil
}

// spreadLeaders moves the leaders of the streams to different servers
// (stream i's to the i-th server of the first stream's group, round robin)
// and returns where each one leads.
func spreadLeaders(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, names []string) ([]string, error) {
	first, err := js.Stream(ctx, names[0])
	if err != nil {
		return nil, err
	}
	ci := first.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" {
		return nil, fmt.Errorf("bench: stream %s has no leader", names[0])
	}
	servers := []string{ci.Leader}
	for _, p := range ci.Replicas {
		servers = append(servers, p.Name)
	}
	slices.Sort(servers)
	leaders := make([]string, len(names))
	for i, name := range names {
		want := servers[i%len(servers)]
		for {
			info, err := js.Stream(ctx, name)
			if err != nil {
				return nil, err
			}
			if c := info.CachedInfo().Cluster; c != nil && c.Leader == want {
				leaders[i] = want
				break
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("bench: could not move the leader of %s to %s", name, want)
			}
			req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, want)
			// An answer is not awaited beyond the request: the loop reads
			// where the leader went.
			nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+name, []byte(req), 2*time.Second)
			time.Sleep(200 * time.Millisecond)
		}
	}
	return leaders, nil
}
