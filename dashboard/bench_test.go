package dashboard

import (
	"context"
	"fmt"
	"image"
	"math"
	"strconv"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/presence"
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

// redrawFleet is 10,000 drivers on a 100×100 grid 0.002° apart (about
// 22 km square), ages from 0 to 5 minutes: live, stale and offline.
func redrawFleet(b *testing.B) *model.Fleet {
	now := time.Now()
	fleet, _ := model.NewFleet(model.Config{Now: func() time.Time { return now }})
	for i := 0; i < 10000; i++ {
		d := model.Driver{ID: fmt.Sprintf("d-%05d", i), Lat: 12.9 + float64(i%100)*0.002, Lon: 77.5 + float64(i/100)*0.002, Speed: 5, FixTime: now.Add(-time.Duration(i) * 30 * time.Millisecond), Cursor: uint64(i + 1)}
		d.X, d.Y = model.Project(d.Lat, d.Lon)
		fleet.Ingest(d)
	}
	return fleet
}

// announceAll gives every driver of fleet an announcement by one of three
// nodes, in every state, with the nodes' silence judged (n3 is never
// heard; on the fleet's frozen clock it is not lost yet, which costs the
// same).
func announceAll(b *testing.B, fleet *model.Fleet) {
	states := []model.State{model.Online, model.Online, model.Stale, model.Offline}
	reasons := []liveness.Reason{liveness.Fix, liveness.Connected, liveness.NoFix, liveness.Disconnected}
	fleet.Listening(true)
	for i := 0; i < 10000; i++ {
		a := presence.Announcement{Driver: fmt.Sprintf("d-%05d", i), State: states[i%4], Reason: reasons[i%4], Since: time.Now().UnixMilli(),
			Node: fmt.Sprintf("n%d", 1+i%3), Session: 1, N: 1}
		if !fleet.Announce(a) {
			b.Fatal("announcement refused")
		}
	}
	fleet.Heartbeat("n1")
	fleet.Heartbeat("n2")
}

// BenchmarkRedraw10k is one redraw of the whole dashboard with 10,000
// drivers: freshness, header, list rows (sorted by id, the default), and
// the map's pixels at 1280×800 (the part the GPU driver does is not
// included). The map is fitted to the fleet, so it shows clusters.
func BenchmarkRedraw10k(b *testing.B) { benchmarkRedraw(b, false) }

// BenchmarkRedraw10kAnnounced is the same with every driver announced by
// its node, the normal case now.
func BenchmarkRedraw10kAnnounced(b *testing.B) { benchmarkRedraw(b, true) }

func benchmarkRedraw(b *testing.B, announced bool) {
	test.NewTempApp(b)
	n := startNode(b)
	fleet := redrawFleet(b)
	if announced {
		announceAll(b, fleet)
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

// BenchmarkRedrawMap10k is the map's part of a redraw with 10,000 drivers,
// a 1280×800 map fitted to them: taking the positions, binning them and
// painting. "dots" turns aggregation off (every driver a dot, as before
// clusters existed), "aggregated" is the default at the same view, and
// "zoomed-in" is three levels closer (dots, most drivers out of view).
func BenchmarkRedrawMap10k(b *testing.B) {
	test.NewTempApp(b)
	fleet := redrawFleet(b)
	fleet.Select("d-05050")
	for _, bc := range []struct {
		name     string
		minCount int
		zoom     float64
	}{{"dots", math.MaxInt, 0}, {"aggregated", 0, 0}, {"zoomed-in", 0, 3}} {
		b.Run(bc.name, func(b *testing.B) {
			m := newMapView(fleet, nil, [2]float64{0, 0}, 2, nil)
			w := test.NewWindow(m)
			defer w.Close()
			w.Resize(fyne.NewSize(1280, 800))
			m.update() // fits the fleet
			m.clustering.MinCount = bc.minCount
			m.vp.ZoomAt(bc.zoom, m.vp.Width/2, m.vp.Height/2)
			img := image.NewRGBA(image.Rect(0, 0, 1280, 800))
			b.ReportAllocs()
			for b.Loop() {
				m.update()
				m.Render(img)
			}
			aggregated := 0
			for _, c := range m.frame.clusters.Cells {
				if c.Aggregated {
					aggregated++
				}
			}
			b.ReportMetric(float64(aggregated), "clusters")
			b.ReportMetric(float64(m.frame.clusters.InView), "in-view")
		})
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
