package node

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/node/auth"
)

// BenchmarkStoreOnceHistoryIsFull measures what the engine spends storing
// one fix in the LOCATIONS stream as the node configures it, on one embedded
// server (a replica's share of the work), for a fleet of 200 and of 5,000
// drivers sending in turn:
//
//   - filling: no driver has `history` fixes yet (the first 100 s of a fleet
//     at 1 fix/s, and all that a 30-second `city` bench ever sees);
//   - full: every driver has `history` fixes, so each new one removes the
//     driver's oldest, and the engine looks for the driver's next-oldest by
//     stepping over the fixes of the other drivers stored in between (up to
//     the end of a message block): the steady state of a real fleet.
//
// 2026-12-01 on the project's VM: see the README ("Steady state").
func BenchmarkStoreOnceHistoryIsFull(b *testing.B) {
	for _, drivers := range []int{200, 5000} {
		for _, full := range []bool{false, true} {
			name := fmt.Sprintf("drivers=%d/filling", drivers)
			if full {
				name = fmt.Sprintf("drivers=%d/full", drivers)
			}
			b.Run(name, func(b *testing.B) { benchStore(b, drivers, full) })
		}
	}
}

func benchStore(b *testing.B, drivers int, full bool) {
	cfg := Config{Name: "bench", DataDir: b.TempDir(), Replicas: 1, Authenticator: auth.Dev()}
	if err := cfg.setDefaults(); err != nil {
		b.Fatal(err)
	}
	if !full {
		// A history no driver reaches in the benchmark's time.
		cfg.History = 10000
	}
	s, err := server.NewServer(&server.Options{ServerName: "bench", JetStream: true, StoreDir: cfg.DataDir, DontListen: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	defer func() {
		s.Shutdown()
		s.WaitForShutdown()
	}()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("embedded server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := &Node{cfg: cfg}
	if _, err := js.CreateStream(ctx, n.streamConfig()); err != nil {
		b.Fatal(err)
	}
	subjects := make([]string, drivers)
	records := make([][]byte, drivers)
	for i := range subjects {
		id := "d-" + strconv.Itoa(i)
		subjects[i] = LocationSubject(id)
		now := time.Now().UnixMilli()
		r := location.Record{Driver: id, Fix: location.Fix{Seq: 1, Latitude: 52.52, Longitude: 13.405, TS: now, Accuracy: location.Float64(5)}, Time: now, Node: "n1"}
		records[i] = location.AppendJSON(nil, &r)
	}
	publish := func(count int) {
		for i := range count {
			if _, err := js.PublishAsync(subjects[i%drivers], records[i%drivers]); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			b.Fatal("publishes not answered")
		}
	}
	if full {
		publish(drivers * cfg.History)
	}
	b.ResetTimer()
	publish(b.N)
	b.StopTimer()
	info, err := js.Stream(ctx, StreamName)
	if err != nil {
		b.Fatal(err)
	}
	st := info.CachedInfo().State
	if want := uint64(b.N); full {
		want += uint64(drivers * cfg.History)
		if st.LastSeq != want || st.Msgs != uint64(drivers*cfg.History) {
			b.Fatalf("stream holds %d fixes up to %d, want %d up to %d", st.Msgs, st.LastSeq, drivers*cfg.History, want)
		}
	}
}
