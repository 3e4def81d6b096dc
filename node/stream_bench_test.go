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
// Figures of 2026-12-01 on the project's VM: README, "Past capacity", the
// steady state of the history limit.
func BenchmarkStoreOnceHistoryIsFull(b *testing.B) {
	for _, drivers := range []int{200, 5000} {
		for _, full := range []bool{false, true} {
			name := fmt.Sprintf("drivers=%d/filling", drivers)
			if full {
				name = fmt.Sprintf("drivers=%d/full", drivers)
			}
			// One stream for all the rounds of b.N: a full history is
			// filled once.
			st := newStoreBench(b, drivers, full)
			b.Run(name, func(b *testing.B) { st.publish(b, b.N) })
			st.close(b)
		}
	}
}

type storeBench struct {
	s        *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	history  int
	full     bool
	subjects []string
	records  [][]byte
	sent     int
}

func newStoreBench(b *testing.B, drivers int, full bool) *storeBench {
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
	st := &storeBench{s: s, history: cfg.History, full: full}
	if !s.ReadyForConnections(10 * time.Second) {
		st.close(b)
		b.Fatal("embedded server not ready")
	}
	if st.nc, err = nats.Connect("", nats.InProcessServer(s)); err != nil {
		st.close(b)
		b.Fatal(err)
	}
	if st.js, err = jetstream.New(st.nc, jetstream.WithPublishAsyncMaxPending(1024)); err != nil {
		st.close(b)
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := &Node{cfg: cfg}
	if _, err := st.js.CreateStream(ctx, n.streamConfig()); err != nil {
		st.close(b)
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	for i := range drivers {
		id := "d-" + strconv.Itoa(i)
		r := location.Record{Driver: id, Fix: location.Fix{Seq: 1, Latitude: 52.52, Longitude: 13.405, TS: now, Accuracy: location.Float64(5)}, Time: now, Node: "n1"}
		st.subjects = append(st.subjects, LocationSubject(id))
		st.records = append(st.records, location.AppendJSON(nil, &r))
	}
	if full {
		st.publish(b, drivers*cfg.History)
	}
	return st
}

// publish stores count fixes, the drivers' in turn, and waits for the
// answers.
func (st *storeBench) publish(b *testing.B, count int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range count {
		i := st.sent % len(st.subjects)
		if _, err := st.js.PublishAsync(st.subjects[i], st.records[i]); err != nil {
			b.Fatal(err)
		}
		st.sent++
	}
	select {
	case <-st.js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("publishes not answered")
	}
}

// close checks that the stream holds what it should, and stops the server.
func (st *storeBench) close(b *testing.B) {
	defer func() {
		if st.nc != nil {
			st.nc.Close()
		}
		st.s.Shutdown()
		st.s.WaitForShutdown()
	}()
	if st.js == nil || st.sent == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := st.js.Stream(ctx, StreamName)
	if err != nil {
		b.Fatal(err)
	}
	state := info.CachedInfo().State
	want := uint64(min(st.sent, len(st.subjects)*st.history))
	if state.LastSeq != uint64(st.sent) || state.Msgs != want {
		b.Fatalf("the stream holds %d fixes up to %d, want %d up to %d", state.Msgs, state.LastSeq, want, st.sent)
	}
}
