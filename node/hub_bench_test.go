package node

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
)

// slowReader makes every stream read about one driver take delay: a replica
// that answers slowly, or a network partition, for that driver's reads.
type slowReader struct {
	streamReader
	driver string
	delay  time.Duration
}

func (s slowReader) wait(ctx context.Context, driver string) {
	if driver == s.driver {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
		}
	}
}

func (s slowReader) After(ctx context.Context, driver string, after uint64, limit int) ([]fixstream.Fix, error) {
	s.wait(ctx, driver)
	return s.streamReader.After(ctx, driver, after, limit)
}

func (s slowReader) At(ctx context.Context, driver string, f fixstream.Fix) (bool, error) {
	s.wait(ctx, driver)
	return s.streamReader.At(ctx, driver, f)
}

// BenchmarkSlowDriverDoesNotStallOthers measures the end-to-end latency of
// 64 drivers' fixes (driver WebSocket → JetStream → rider WebSocket) while
// one other driver's room is kept busy with gap fills whose stream reads take
// a second each (messages on its live subject keep claiming a previous fix
// it never got). It reports the p50 and p99 of the others, beside the same
// run without the slow driver: the two must be alike, since a fill blocks
// only its own driver's riders (it used to hold its shard, an eighth of all
// drivers, for the whole read).
func BenchmarkSlowDriverDoesNotStallOthers(b *testing.B) {
	for _, slow := range []bool{false, true} {
		b.Run(map[bool]string{false: "no slow driver", true: "one slow driver"}[slow], func(b *testing.B) {
			benchmarkSlowDriver(b, slow)
		})
	}
}

func benchmarkSlowDriver(b *testing.B, slow bool) {
	n := startTestNode(b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n.hub.reader = slowReader{streamReader: n.hub.reader, driver: "slow", delay: time.Second}

	dial := func(role mobileproto.Role, id string) *mobileproto.Client {
		c, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithIdentity(role, id), mobileproto.WithLocationBuffer(1<<14))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	const drivers = 64
	type pair struct{ d, r *mobileproto.Client }
	pairs := make([]pair, drivers)
	for i := range pairs {
		id := "d-" + strconv.Itoa(i)
		pairs[i] = pair{dial(mobileproto.RoleDriver, id), dial(mobileproto.RoleRider, "r-"+strconv.Itoa(i))}
		if _, err := pairs[i].r.Track(ctx, id, mobileproto.TrackOptions{History: new(int)}); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if slow {
		sd, sr := dial(mobileproto.RoleDriver, "slow"), dial(mobileproto.RoleRider, "r-slow")
		if _, err := sd.SendLocation(ctx, mobileproto.Fix{Latitude: 1, Longitude: 1, Seq: 1}); err != nil {
			b.Fatal(err)
		}
		if _, err := sr.Track(ctx, "slow", mobileproto.TrackOptions{History: new(int)}); err != nil {
			b.Fatal(err)
		}
		nc, err := nats.Connect("", nats.InProcessServer(n.srv))
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		wg.Add(1)
		go func() { // keep the slow driver's room filling
			defer wg.Done()
			rec := location.Record{Driver: "slow", Fix: location.Fix{Latitude: 1, Longitude: 1}, Time: 1}
			data := location.AppendJSON(nil, &rec)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				seq := n.hub.known.Load() + 1
				m := nats.NewMsg(fixstream.LiveSubject("slow"))
				m.Header.Set(fixstream.SequenceHeader, strconv.FormatUint(seq, 10))
				m.Header.Set(fixstream.LastSequenceHeader, strconv.FormatUint(seq-1, 10))
				m.Data = data
				nc.PublishMsg(m)
			}
		}()
		// Wait until a fill is running.
		for deadline := time.Now().Add(10 * time.Second); n.Stats().BusRejected == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}

	var lat []time.Duration
	b.ResetTimer()
	seq := uint64(0)
	for b.Loop() {
		seq++
		start := time.Now()
		for _, p := range pairs {
			if _, err := p.d.SendLocationAsync(ctx, mobileproto.Fix{Latitude: 1, Longitude: 2, Seq: seq}); err != nil {
				b.Fatal(err)
			}
		}
		for _, p := range pairs {
			select {
			case <-p.r.Locations():
				lat = append(lat, time.Since(start))
			case <-ctx.Done():
				b.Fatal("a rider got nothing")
			}
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	p50, p99 := percentiles(lat)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	if slow {
		b.ReportMetric(float64(n.Stats().BusRejected), "forged-dropped")
	}
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}
