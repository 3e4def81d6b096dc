package mobileproto

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/rtls-io/rtls/location"
)

func TestDecodeRequestAcceptsTheContractFrames(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":42,"ts":1764412800000,"accuracy":4.5,"speed":0,"heading":359.9,"future_field":{"x":[1,2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	f := req.Fix
	if req.Type != TypeSendLocation || f.Latitude != 12.9716 || f.Longitude != 77.5946 || f.Seq != 42 || f.TS != 1764412800000 {
		t.Fatalf("decoded %+v", req)
	}
	if f.Accuracy == nil || *f.Accuracy != 4.5 || f.Speed == nil || *f.Speed != 0 || f.Heading == nil || *f.Heading != 359.9 {
		t.Fatalf("optional fields %+v", f)
	}
	req, err = DecodeRequest([]byte(`{"type":"send-location","latitude":-90,"longitude":180}`))
	if err != nil || req.Fix.Seq != 0 || req.Fix.Speed != nil {
		t.Fatalf("minimal fix: %+v, %v", req, err)
	}
	req, err = DecodeRequest([]byte(`{"type":"track-driver","driver":"d-17","history":20,"id":"a"}`))
	if err != nil || req.Driver != "d-17" || req.Track.History == nil || *req.Track.History != 20 || req.Track.Since != nil || req.ID != "a" {
		t.Fatalf("track: %+v, %v", req, err)
	}
	req, err = DecodeRequest([]byte(`{"type":"track-driver","driver":"d-17","since":1234}`))
	if err != nil || req.Track.Since == nil || *req.Track.Since != 1234 {
		t.Fatalf("track since: %+v, %v", req, err)
	}
	req, err = DecodeRequest([]byte(`{"type":"untrack-driver","driver":"d-17"}`))
	if err != nil || req.Type != TypeUntrackDriver || req.Driver != "d-17" {
		t.Fatalf("untrack: %+v, %v", req, err)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct {
		frame string
		code  Code
	}{
		{`{`, CodeBadRequest},
		{`"x"`, CodeBadRequest},
		{`null`, CodeBadRequest},
		{`{"type":"send-location","latitude":1,"longitude":2,"latitude":3}`, CodeBadRequest},
		{`{"TYPE":"send-location","latitude":1,"longitude":2}`, CodeUnknownType},
		{`{"type":"send-location","Latitude":1,"longitude":2}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":null,"longitude":2}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":1,"longitude":2,"seq":null}`, CodeBadRequest},
		{`{"type":"send-location","latitude":1,"longitude":2,"seq":13.5}`, CodeBadRequest},
		{`{"type":"send-location","latitude":1,"longitude":2,"ts":1764412800}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":1,"longitude":2,"ts":1764412800000.5}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":1,"longitude":2,"speed":"fast"}`, CodeInvalidLocation},
		{`{"type":"track-driver","driver":"d-1","history":2.5}`, CodeBadRequest},
		{`{"type":"track-driver","driver":"d-1","history":-1}`, CodeBadRequest},
		{`{"type":"track-driver","driver":"d-1","since":-1}`, CodeBadRequest},
		{`{"type":"track-driver","driver":null}`, CodeInvalidID},
		{`{"type":"track-driver","driver":7}`, CodeBadRequest},
		{`{"type":null}`, CodeUnknownType},
		{`{"type":"send-location","latitude":1,"longitude":2,"id":7}`, CodeBadRequest},
		{`{"type":"send-location","latitude":1}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":90.000001,"longitude":0}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":0,"longitude":180.5}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":0,"longitude":0,"ts":4102444800001}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":0,"longitude":0,"speed":1000.1}`, CodeInvalidLocation},
		{`{"type":"send-location","latitude":0,"longitude":0,"accuracy":100001}`, CodeInvalidLocation},
		{`{"type":"track-driver","driver":"ü"}`, CodeInvalidID},
		{`{"type":"track-driver"}`, CodeInvalidID},
		{`{"type":"TRACK-DRIVER","driver":"a"}`, CodeUnknownType},
	}
	for _, tc := range cases {
		_, err := DecodeRequest([]byte(tc.frame))
		if err == nil || err.Code != tc.code {
			t.Errorf("%s: got %v, want %s", tc.frame, err, tc.code)
		}
		if err != nil && !errors.Is(err, &Error{Code: tc.code}) {
			t.Errorf("%s: errors.Is does not match the code", tc.frame)
		}
	}
}

// TestDecodeRequestIsForgivingWhereItIsSafe: integers in any JSON spelling,
// and null for an optional field means absent.
func TestDecodeRequestIsForgivingWhereItIsSafe(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"type":"send-location","latitude":1,"longitude":2,"seq":13.0,"ts":1.7644128e12,"speed":null,"accuracy":null,"heading":null,"id":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Fix.Seq != 13 || req.Fix.TS != 1764412800000 || req.Fix.Speed != nil || req.Fix.Accuracy != nil || req.ID != "" {
		t.Fatalf("decoded %+v", req.Fix)
	}
	req, err = DecodeRequest([]byte(`{"type":"track-driver","driver":"d-1","history":2.0,"since":null}`))
	if err != nil || req.Track.History == nil || *req.Track.History != 2 || req.Track.Since != nil {
		t.Fatalf("track: %+v %v", req, err)
	}
	req, err = DecodeRequest([]byte(`{"type":"track-driver","driver":"d-1","history":null,"since":1e3}`))
	if err != nil || req.Track.History != nil || req.Track.Since == nil || *req.Track.Since != 1000 {
		t.Fatalf("track since: %+v %v", req, err)
	}
}

// TestDecodeRequestErrorsNameTheRequest: an error carries the id, seq and
// driver of the frame even when they come after the faulty member.
func TestDecodeRequestErrorsNameTheRequest(t *testing.T) {
	_, err := DecodeRequest([]byte(`{"type":"send-location","latitude":95,"longitude":2,"seq":7.0,"id":"x"}`))
	if err == nil || err.Seq != 7 || err.ID != "x" || err.Code != CodeInvalidLocation {
		t.Fatalf("got %+v", err)
	}
	_, err = DecodeRequest([]byte(`{"type":"track-driver","history":"a","driver":"d-1","id":"y"}`))
	if err == nil || err.Driver != "d-1" || err.ID != "y" || err.Code != CodeBadRequest {
		t.Fatalf("got %+v", err)
	}
}

func TestValidID(t *testing.T) {
	for _, id := range []string{"d", "d-17", "D_17", strings.Repeat("a", MaxIDLength)} {
		if !ValidID(id) {
			t.Errorf("%q should be valid", id)
		}
	}
	for _, id := range []string{"", "a.b", "a*", ">", "a b", "a\tb", "é", strings.Repeat("a", MaxIDLength+1), "a/b", "a\x00"} {
		if ValidID(id) {
			t.Errorf("%q should be invalid", id)
		}
	}
}

func TestLocationRoundTripsThroughTheStoredObjectAndTheFrame(t *testing.T) {
	rec := location.Record{
		Driver: "d-17",
		Fix:    Fix{Latitude: -33.8688197, Longitude: 151.2092955, Seq: 9007199254740991, TS: 1764412800123, Accuracy: Float64(3.25), Heading: Float64(0)},
		Time:   1764412800456,
		Node:   "n-2",
	}
	stored := location.AppendJSON(nil, &rec)
	back, err := location.Decode(stored)
	if err != nil {
		t.Fatalf("stored object %s: %v", stored, err)
	}
	frame := AppendReceiveLocation(nil, &Location{Record: back, Cursor: 77, Prev: 70, Replay: true})
	f, err := DecodeFrame(frame)
	if err != nil {
		t.Fatalf("frame %s: %v", frame, err)
	}
	got := f.Location
	if f.Type != TypeReceiveLocation || got.Driver != rec.Driver || got.Latitude != rec.Latitude || got.Longitude != rec.Longitude ||
		got.Seq != rec.Seq || got.TS != rec.TS || *got.Accuracy != 3.25 || *got.Heading != 0 || got.Speed != nil ||
		got.Time != rec.Time || got.Node != rec.Node || got.Cursor != 77 || got.Prev != 70 || !got.Replay {
		t.Fatalf("round trip: got %+v from %s", got, frame)
	}
}

func TestServerFramesDecode(t *testing.T) {
	w, _ := DecodeFrame(EncodeWelcome(Welcome{Version: 1, Node: "n1", Role: RoleRider, Client: "r-9", History: 100, MaxFrame: 4096}))
	if w.Type != TypeWelcome || w.Welcome.Client != "r-9" || w.Welcome.History != 100 || w.Welcome.Role != RoleRider {
		t.Fatalf("welcome: %+v", w)
	}
	e, _ := DecodeFrame(EncodeError(&Error{Code: CodeInvalidLocation, Message: `latitude "quoted"`, Seq: 43}))
	if e.Type != TypeError || e.Error.Code != CodeInvalidLocation || e.Error.Seq != 43 || e.Error.Message != `latitude "quoted"` {
		t.Fatalf("error: %+v", e)
	}
	a, _ := DecodeFrame(AppendAck(nil, Ack{Seq: 42, Cursor: 1234, Duplicate: true}))
	if a.Ack != (Ack{Seq: 42, Cursor: 1234, Duplicate: true}) {
		t.Fatalf("ack: %+v", a)
	}
	tr, _ := DecodeFrame(EncodeTracking(Tracking{Driver: "d-1", ID: "x", Replayed: 3, Cursor: 9}))
	if tr.Tracking != (Tracking{Driver: "d-1", ID: "x", Replayed: 3, Cursor: 9}) {
		t.Fatalf("tracking: %+v", tr)
	}
	u, _ := DecodeFrame(EncodeUntracked(Untracked{Driver: "d-1", ID: "y"}))
	if u.Untracked != (Untracked{Driver: "d-1", ID: "y"}) {
		t.Fatalf("untracked: %+v", u)
	}
	if f, err := DecodeFrame([]byte(`{"type":"driver-status","driver":"d-1"}`)); err != nil || f.Type != "driver-status" {
		t.Fatalf("an unknown frame type must decode with its type: %+v %v", f, err)
	}
}

func TestClientFramesDecodeOnTheNode(t *testing.T) {
	f := Fix{Latitude: 1.5, Longitude: -2.25, Seq: 3, TS: 1764412800000, Speed: Float64(5)}
	req, err := DecodeRequest(AppendSendLocation(nil, &f))
	if err != nil || req.Fix.Latitude != 1.5 || req.Fix.Seq != 3 || *req.Fix.Speed != 5 {
		t.Fatalf("send-location: %+v %v", req, err)
	}
	h := 0
	req, err = DecodeRequest(EncodeTrackDriver("d-1", "q", TrackOptions{History: &h}))
	if err != nil || req.Track.History == nil || *req.Track.History != 0 || req.ID != "q" {
		t.Fatalf("track-driver with history 0 must keep it: %+v %v", req, err)
	}
	req, err = DecodeRequest(EncodeUntrackDriver("d-1", ""))
	if err != nil || req.Type != TypeUntrackDriver {
		t.Fatalf("untrack-driver: %+v %v", req, err)
	}
}

func TestAppendStringEscapes(t *testing.T) {
	for _, s := range []string{"plain", `q"uote`, `back\slash`, "ctl\x01\n", "üñí", "bad\xffutf8"} {
		var out string
		if err := json.Unmarshal(location.AppendString(nil, s), &out); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); out != want {
			t.Errorf("%q came back as %q", s, out)
		}
	}
}

func TestValidateRejectsNaN(t *testing.T) {
	for _, f := range []Fix{{Latitude: math.NaN()}, {Longitude: math.Inf(1)}, {Speed: Float64(math.NaN())}} {
		if ValidateFix(&f) == nil {
			t.Fatalf("%+v validated", f)
		}
	}
}

// FuzzDecodeRequest: any input gives a request or a typed error, never a
// panic, and an accepted send-location always validates.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":42,"ts":1764412800000}`))
	f.Add([]byte(`{"type":"track-driver","driver":"d-17","history":20}`))
	f.Add([]byte(`{"type":"untrack-driver","driver":"d-17"}`))
	f.Add([]byte(`{"type":"send-location","latitude":1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(data)
		if err != nil {
			if err.Code == "" || err.Message == "" {
				t.Fatalf("error without code or message: %+v", err)
			}
			return
		}
		switch req.Type {
		case TypeSendLocation:
			if e := ValidateFix(&req.Fix); e != nil {
				t.Fatalf("accepted an invalid fix: %v", e)
			}
			rec := location.Record{Driver: "d", Fix: req.Fix, Time: 1}
			back, derr := location.Decode(location.AppendJSON(nil, &rec))
			if derr != nil {
				t.Fatalf("an accepted fix does not survive the stored object: %v", derr)
			}
			frame := AppendReceiveLocation(nil, &Location{Record: back, Cursor: 1})
			if !json.Valid(frame) {
				t.Fatalf("re-encoded frame is not JSON: %s", frame)
			}
		case TypeTrackDriver, TypeUntrackDriver:
			if !ValidID(req.Driver) {
				t.Fatalf("accepted driver id %q", req.Driver)
			}
		case TypeRefreshToken:
			if req.Token == "" {
				t.Fatal("accepted a refresh-token without a token")
			}
		default:
			t.Fatalf("accepted type %q", req.Type)
		}
	})
}
