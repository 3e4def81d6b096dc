package mobileproto

import "testing"

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
	l := Location{Driver: "d-17", Fix: req.Fix, Time: 1764412800321, Node: "n1"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendLocation(buf[:0], &l)
	}
}

// BenchmarkEncodeReceiveLocation: the frame a node builds once per fix per
// tracked driver, from the stored payload, without decoding it.
func BenchmarkEncodeReceiveLocation(b *testing.B) {
	req, _ := DecodeRequest(sendLocationFrame)
	stored := AppendLocation(nil, &Location{Driver: "d-17", Fix: req.Fix, Time: 1764412800321, Node: "n1"})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(stored)))
	for b.Loop() {
		buf, _ = AppendReceiveLocation(buf[:0], stored, 123456789, false)
	}
}

// BenchmarkDecodeReceiveLocation: what the Go client does with every fix.
func BenchmarkDecodeReceiveLocation(b *testing.B) {
	req, _ := DecodeRequest(sendLocationFrame)
	frame, _ := AppendReceiveLocation(nil, AppendLocation(nil, &Location{Driver: "d-17", Fix: req.Fix, Time: 1764412800321, Node: "n1"}), 123456789, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}
