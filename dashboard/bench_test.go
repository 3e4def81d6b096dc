package dashboard

import (
	"context"
	"fmt"
	"image"
	"strconv"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/node"
)

// storeFixes stores perDriver fixes of each of drivers drivers straight
// into the stream (as the node's edge would), for benchmarks.
func storeFixes(b *testing.B, n *node.Node, drivers, perDriver int) {
	b.Helper()
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for k := 0; k < perDriver; k++ {
		for i := 0; i < drivers; i++ {
			id := fmt.Sprintf("d-%05d", i)
			l := location.Record{Driver: id, Fix: location.Fix{Latitude: 12.9 + float64(i)*1e-5, Longitude: 77.5 + float64(k)*1e-5, Seq: uint64(k + 1), TS: now}, Time: now, Node: n.Name()}
			if _, err := js.PublishAsync(fixstream.LocationSubject(id), location.AppendJSON(nil, &l)); err != nil {
				b.Fatal(err)
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		b.Fatal("publishing timed out")
	}
}

// BenchmarkSnapshot10k loads the newest fix of each of 10,000 drivers (two
// stored fixes each, file storage) into an empty fleet: one op is one
// whole snapshot.
func BenchmarkSnapshot10k(b *testing.B) { benchmarkSnapshot(b, node.FileStorage) }

// BenchmarkSnapshot10kMemory is the same on a memory-storage stream.
func BenchmarkSnapshot10kMemory(b *testing.B) { benchmarkSnapshot(b, node.MemoryStorage) }

func benchmarkSnapshot(b *testing.B, storage node.Storage) {
	const drivers = 10000
	n := startNode(b, func(c *node.Config) { c.Storage = storage })
	storeFixes(b, n, drivers, 2)
	fleet := newFleet(b)
	feed := startFeed(b, fleet, n.ClientURL())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		into, _ := model.NewFleet(model.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, err := feed.loadLastPerDriver(ctx, into)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if got != drivers || into.Len() != drivers {
			b.Fatalf("snapshot read %d fixes, %d drivers; want %d", got, into.Len(), drivers)
		}
	}
}

// BenchmarkRedraw10k is one redraw of the whole dashboard with 10,000
// drivers: freshness, header, list rows (sorted by age), and the map's
// pixels at 1280×800 (the part the GPU driver does is not included).
func BenchmarkRedraw10k(b *testing.B) {
	test.NewTempApp(b)
	n := startNode(b)
	now := time.Now()
	fleet, _ := model.NewFleet(model.Config{Now: func() time.Time { return now }})
	for i := 0; i < 10000; i++ {
		d := model.Driver{ID: fmt.Sprintf("d-%05d", i), Lat: 12.9 + float64(i%100)*0.002, Lon: 77.5 + float64(i/100)*0.002, Speed: 5, FixTime: now.Add(-time.Duration(i) * 30 * time.Millisecond), Cursor: uint64(i + 1)}
		d.X, d.Y = model.Project(d.Lat, d.Lon)
		fleet.Ingest(d)
	}
	feed := startFeed(b, fleet, n.ClientURL())
	dash, err := New(Config{Fleet: fleet, Feed: feed})
	if err != nil {
		b.Fatal(err)
	}
	w := test.NewWindow(dash.Content())
	defer w.Close()
	w.Resize(fyne.NewSize(1280, 800))
	dash.Redraw()
	img := image.NewRGBA(image.Rect(0, 0, 1280, 800))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dash.Redraw()
		dash.Map().Render(img)
	}
}

// BenchmarkLiveFeed10k: one op is one fix of one of 10,000 drivers
// published on its live subject (as the stream republishes it) and taken
// into the fleet by the feed's subscription; 10,000 drivers at 1 fix/s
// need 10,000 ops/s.
func BenchmarkLiveFeed10k(b *testing.B) {
	n := startNode(b)
	fleet := newFleet(b)
	feed := startFeed(b, fleet, n.ClientURL())
	checkFor(b, 10*time.Second, 10*time.Millisecond, func() error {
		if feed.Status().Snapshot.Done < 1 {
			return fmt.Errorf("no snapshot")
		}
		return nil
	})
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	const drivers = 10000
	subjects := make([]string, drivers)
	payloads := make([][]byte, drivers)
	now := time.Now().UnixMilli()
	for i := range subjects {
		id := fmt.Sprintf("d-%05d", i)
		subjects[i] = fixstream.LiveSubject(id)
		l := location.Record{Driver: id, Fix: location.Fix{Latitude: 12.9, Longitude: 77.5, Seq: 1, TS: now}, Time: now, Node: "n1"}
		payloads[i] = location.AppendJSON(nil, &l)
	}
	start := feed.Status().LiveMessages
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := nats.NewMsg(subjects[i%drivers])
		m.Data = payloads[i%drivers]
		m.Header.Set(fixstream.SequenceHeader, strconv.Itoa(i+1))
		if err := nc.PublishMsg(m); err != nil {
			b.Fatal(err)
		}
	}
	want := start + uint64(b.N)
	checkFor(b, 60*time.Second, time.Millisecond, func() error {
		if got := feed.Status().LiveMessages; got < want {
			return fmt.Errorf("%d of %d live messages", got-start, b.N)
		}
		return nil
	})
	b.StopTimer()
	if s := feed.Status(); s.Dropped > 0 {
		b.Fatalf("%d dropped", s.Dropped)
	}
}
