package location

import (
	"errors"
	"testing"
	"time"
)

func TestDecodeRoundTripsAndIsStrict(t *testing.T) {
	rec := Record{Driver: "d-1", Fix: Fix{Latitude: 1.5, Longitude: -2.25, Seq: 9, TS: 1764412800000, Speed: Float64(0)}, Time: 1764412800100, Node: "n1"}
	got, err := Decode(AppendJSON(nil, &rec))
	if err != nil {
		t.Fatal(err)
	}
	if got.Driver != rec.Driver || got.Fix.Latitude != 1.5 || got.Seq != 9 || got.TS != rec.TS || *got.Speed != 0 || got.Time != rec.Time || got.Node != "n1" {
		t.Fatalf("round trip: %+v", got)
	}
	for _, tc := range []struct {
		name, in string
		want     error
		field    string
	}{
		{"not JSON", `{"driver":`, ErrMalformed, ""},
		{"array", `[1]`, ErrMalformed, ""},
		{"duplicate key", `{"driver":"d","driver":"e","latitude":1,"longitude":1,"time":1}`, ErrMalformed, ""},
		{"no driver", `{"latitude":1,"longitude":1,"time":1}`, ErrInvalid, "driver"},
		{"bad driver", `{"driver":"a.b","latitude":1,"longitude":1,"time":1}`, ErrInvalid, "driver"},
		{"driver not a string", `{"driver":7,"latitude":1,"longitude":1,"time":1}`, ErrInvalid, "driver"},
		{"no time", `{"driver":"d","latitude":1,"longitude":1}`, ErrInvalid, "time"},
		{"latitude out of range", `{"driver":"d","latitude":91,"longitude":1,"time":1}`, ErrInvalid, "latitude"},
		{"latitude null", `{"driver":"d","latitude":null,"longitude":1,"time":1}`, ErrInvalid, "latitude"},
		{"case-changed key is unknown", `{"driver":"d","Latitude":1,"longitude":1,"time":1}`, ErrInvalid, "latitude"},
		{"ts in seconds", `{"driver":"d","latitude":1,"longitude":1,"time":1,"ts":1764412800}`, ErrInvalid, "ts"},
		{"seq fraction", `{"driver":"d","latitude":1,"longitude":1,"time":1,"seq":1.5}`, ErrInvalid, "seq"},
		{"node invalid", `{"driver":"d","latitude":1,"longitude":1,"time":1,"node":"a b"}`, ErrInvalid, "node"},
	} {
		_, err := Decode([]byte(tc.in))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		var fe *FieldError
		if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("%s: %v, want a field error on %s", tc.name, err, tc.field)
		}
	}
	// Unknown keys (a newer node's) and null optional fields are fine;
	// integers may be spelled as floats.
	got, err = Decode([]byte(`{"driver":"d","latitude":1,"longitude":1,"time":1.0,"speed":null,"extra":{"a":[1]},"type":"error"}`))
	if err != nil || got.Speed != nil || got.Time != 1 {
		t.Fatalf("forgiving decode: %+v %v", got, err)
	}
}

func TestCheckClock(t *testing.T) {
	now := time.UnixMilli(1764412800000)
	f := Fix{TS: now.Add(2 * time.Hour).UnixMilli()}
	if f.CheckClock(now, 24*time.Hour) != nil {
		t.Fatal("2 h ahead refused")
	}
	f.TS = now.Add(25 * time.Hour).UnixMilli()
	if e := f.CheckClock(now, 24*time.Hour); e == nil || e.Field != "ts" {
		t.Fatalf("25 h ahead: %v", e)
	}
}
