package node_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// BenchmarkFanoutToThousandRiders: one fix from a driver's WebSocket to 1,000
// riders' WebSockets on the same node, through JetStream (file storage, R1)
// and one live subscription. One op = one fix received by all 1,000 riders;
// the riders' reading shares the two cores with the node.
func BenchmarkFanoutToThousandRiders(b *testing.B) {
	n := startNode(b, func(c *node.Config) { c.RateLimit, c.RateBurst = 1e9, 1e9 })
	const riders = 1000
	var left atomic.Int64
	done := make(chan struct{}, 1)
	for i := 0; i < riders; i++ {
		ws := rawDial(b, n, "role=rider&id=r-"+strconv.Itoa(i))
		writeText(b, ws, `{"type":"track-driver","driver":"d-1","history":0}`)
		if f := readFrame(b, ws); f.Type != mobileproto.TypeTracking {
			b.Fatalf("rider %d: %s", i, f.Type)
		}
		go func() {
			for {
				if _, _, err := ws.NextReader(); err != nil {
					return
				}
				if left.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		}()
	}
	driver := rawDial(b, n, "role=driver&id=d-1")
	var frame []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		left.Store(riders)
		f := mobileproto.Fix{Latitude: 12.9716, Longitude: 77.5946, TS: 1764412800000 + int64(i)}
		frame = mobileproto.AppendSendLocation(frame[:0], &f)
		if err := driver.WriteMessage(websocket.TextMessage, frame); err != nil {
			b.Fatal(err)
		}
		<-done
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*riders), "ns/delivery")
}
