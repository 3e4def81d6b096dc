package tap_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/tap"
)

// BenchmarkTap measures how fast the tap copies a backlog of stored fixes
// into a file: a production node (one replica, file storage) holding
// b.N fixes (rounded up to whole batches) of 5,000 fixes per driver, and a
// tap from the first fix to the last, fetching, writing, flushing, fsyncing
// and acknowledging batch after batch. It reports fixes/s; ns/op is per
// fix. Run it with -benchtime=200000x for a steady figure.
func BenchmarkTap(b *testing.B) {
	for _, bc := range []struct {
		format tap.Format
		batch  int
	}{{tap.JSONLines, 1000}, {tap.CSV, 1000}, {tap.JSONLines, 100}} {
		b.Run(fmt.Sprintf("%s/batch=%d", bc.format, bc.batch), func(b *testing.B) {
			total := (b.N + bc.batch - 1) / bc.batch * bc.batch
			s := testnode.NewSecrets(b)
			n := startNode(b, s)
			preload(b, s, n.ClientURL(), total)
			out := openOutput(b, filepath.Join(b.TempDir(), "fixes"), bc.format)
			cfg := tapConfig(s, out, n.ClientURL())
			cfg.Batch, cfg.Logger = bc.batch, nil
			b.ResetTimer()
			start := time.Now()
			r := runTap(b, cfg)
			for r.tap.Stats().Written < uint64(total) {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if err := r.stop(b); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(total)/elapsed.Seconds(), "fixes/s")
		})
	}
}

// preload stores total fixes in the stream, as an operator publishing
// straight into it (the edge is not what is measured here).
func preload(b *testing.B, s *testnode.Secrets, url string, total int) {
	b.Helper()
	js, err := jetstream.New(operator(b, s, url), jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	for i := range total {
		rec := location.Record{Driver: fmt.Sprintf("d-%d", i/5000), Time: 1764412800000 + int64(i), Node: "n1",
			Fix: location.Fix{Latitude: 12.9716, Longitude: 77.5946, Seq: uint64(i%5000 + 1), TS: 1764412800000 + int64(i), Speed: location.Float64(8.5)}}
		buf = location.AppendJSON(buf[:0], &rec)
		if _, err := js.PublishAsync(fixstream.LocationSubject(rec.Driver), buf); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		b.Fatal("preload did not complete")
	}
	st, err := js.Stream(context.Background(), fixstream.StreamName)
	if err != nil || st.CachedInfo().State.Msgs != uint64(total) {
		b.Fatalf("the stream holds %v fixes, want %d (%v)", st.CachedInfo().State.Msgs, total, err)
	}
}

// BenchmarkAppendLine is the cost of encoding one line.
func BenchmarkAppendLine(b *testing.B) {
	rec := location.Record{Driver: "d-123456", Time: 1764412800123, Node: "n1",
		Fix: location.Fix{Latitude: 12.971598, Longitude: 77.594562, Seq: 4711, TS: 1764412800000, Accuracy: location.Float64(4.5), Speed: location.Float64(8.5)}}
	for _, f := range []tap.Format{tap.JSONLines, tap.CSV} {
		b.Run(f.String(), func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for i := range b.N {
				buf = f.AppendLine(buf[:0], uint64(i), &rec)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
