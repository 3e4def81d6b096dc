package mobileproto

import (
	"testing"

	"github.com/rtls-io/rtls/location"
)

var sendLocationFrame = []byte(`{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":42,"ts":1764412800000,"accuracy":4.5,"speed":8.25,"heading":271.5}`)

// BenchmarkDecodeSendLocation: what a node does with every driver frame.
func BenchmarkDecodeSendLocation(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(sendLocationFrame)))
	for b.Loop() {
		if _, err := DecodeRequest(sendLocationFrame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeStoredLocation: the payload a node stores for each fix.
func BenchmarkEncodeStoredLocation(b *testing.B) {
	req, _ := DecodeRequest(sendLocationFrame)
	l := location.Record{Driver: "d-17", Fix: req.Fix, Time: 1764412800321, Node: "n1"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = location.AppendJSON(buf[:0], &l)
	}
}

// BenchmarkEncodeReceiveLocation: the frame a node builds once per fix per
// tracked driver: the stored payload is decoded and validated (it came off
// the bus), then encoded with its delivery fields.
func BenchmarkEncodeReceiveLocation(b *testing.B) {
	req, _ := DecodeRequest(sendLocationFrame)
	stored := location.AppendJSON(nil, &location.Record{Driver: "d-17", Fix: req.Fix, Time: 1764412800321, Node: "n1"})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(stored)))
	for b.Loop() {
		rec, err := location.Decode(stored)
		if err != nil {
			b.Fatal(err)
		}
		buf = AppendReceiveLocation(buf[:0], &Location{Record: rec, Cursor: 123456789, Prev: 123456700})
	}
}

// BenchmarkDecodeReceiveLocation: what the Go client does with every fix.
func BenchmarkDecodeReceiveLocation(b *testing.B) {
	req, _ := DecodeRequest(sendLocationFrame)
	frame := AppendReceiveLocation(nil, &Location{Record: location.Record{Driver: "d-17", Fix: req.Fix, Time: 1764412800321, Node: "n1"}, Cursor: 123456789})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}
