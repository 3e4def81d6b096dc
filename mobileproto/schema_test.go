package mobileproto_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
)

// The schema of the protocol, its $id and where it lives.
const (
	schemaFile = "schema/rtls-v1.schema.json"
	schemaID   = "https://github.com/rtls-io/rtls/mobileproto/schema/rtls-v1.schema.json"
)

// protocol is the compiled schema and its raw text, read once per test binary.
type protocol struct {
	root, client, node, location *jsonschema.Schema
	defs                         map[string]*jsonschema.Schema
	raw                          rawSchema
}

// rawSchema is the schema file read with encoding/json, keeping every
// example's exact spelling (13.0 stays 13.0).
type rawSchema struct {
	Defs map[string]rawDef `json:"$defs"`
}

type rawDef struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	Enum       []string                   `json:"enum"`
	OneOf      []struct {
		Ref string `json:"$ref"`
	} `json:"oneOf"`
	Minimum         json.Number       `json:"minimum"`
	Maximum         json.Number       `json:"maximum"`
	Pattern         string            `json:"pattern"`
	MaxLength       int               `json:"maxLength"`
	Examples        []json.RawMessage `json:"examples"`
	InvalidExamples []invalidExample  `json:"x-invalid-examples"`
}

// invalidExample is a client frame the node refuses with Code: Frame is a
// JSON value the schema refuses too; Raw is text a schema cannot judge (a
// duplicated key, something that is not JSON).
type invalidExample struct {
	Description string          `json:"description"`
	Frame       json.RawMessage `json:"frame"`
	Raw         string          `json:"raw"`
	Code        string          `json:"code"`
}

// text is the frame the example stands for.
func (e invalidExample) text() []byte {
	if e.Frame != nil {
		return e.Frame
	}
	return []byte(e.Raw)
}

var (
	protoOnce sync.Once
	proto     *protocol
	protoErr  error
)

// loadProtocol compiles the schema once; every test shares it.
func loadProtocol(t testing.TB) *protocol {
	t.Helper()
	protoOnce.Do(func() { proto, protoErr = compileProtocol() })
	if protoErr != nil {
		t.Fatal(protoErr)
	}
	return proto
}

func compileProtocol() (*protocol, error) {
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", schemaFile, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaID, doc); err != nil {
		return nil, err
	}
	p := &protocol{defs: map[string]*jsonschema.Schema{}}
	if err := json.Unmarshal(data, &p.raw); err != nil {
		return nil, err
	}
	if p.root, err = c.Compile(schemaID); err != nil {
		return nil, fmt.Errorf("compile %s: %w", schemaFile, err)
	}
	for name := range p.raw.Defs {
		if p.defs[name], err = c.Compile(schemaID + "#/$defs/" + name); err != nil {
			return nil, fmt.Errorf("compile $defs/%s: %w", name, err)
		}
	}
	p.client, p.node, p.location = p.defs["clientFrame"], p.defs["nodeFrame"], p.defs["location"]
	return p, nil
}

// frameDefs maps every frame type to its $defs name, read from the
// discriminators of clientFrame and nodeFrame.
func (p *protocol) frameDefs(t testing.TB, direction string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ref := range p.raw.Defs[direction].OneOf {
		name := strings.TrimPrefix(ref.Ref, "#/$defs/")
		var typ struct {
			Const string `json:"const"`
		}
		if err := json.Unmarshal(p.raw.Defs[name].Properties["type"], &typ); err != nil || typ.Const == "" {
			t.Fatalf("$defs/%s: type is not a const: %v", name, err)
		}
		out[typ.Const] = name
	}
	return out
}

// validate checks data, one JSON text, against sch.
func validate(sch *jsonschema.Schema, data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// decodeValue decodes one JSON text keeping numbers as written.
func decodeValue(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("more than one JSON value in %s", data)
	}
	return v, nil
}

// sameJSON reports whether two decoded JSON values are equal, numbers
// compared by value (13 equals 13.0 and 1.3e1).
func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		x, okx := new(big.Rat).SetString(a.String())
		y, oky := new(big.Rat).SetString(b.String())
		return okx && oky && x.Cmp(y) == 0
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !sameJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// withoutNulls returns the members of an object that are not null: null
// means absent in a client frame.
func withoutNulls(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		if x != nil {
			out[k] = x
		}
	}
	return out
}

func TestSchemaCompilesAndNamesEveryFrame(t *testing.T) {
	p := loadProtocol(t)
	client, node := p.frameDefs(t, "clientFrame"), p.frameDefs(t, "nodeFrame")
	want := goConstants(t, "messages.go", func(name, _ string) bool { return strings.HasPrefix(name, "Type") })
	var got []string
	for typ := range client {
		got = append(got, typ)
	}
	for typ := range node {
		got = append(got, typ)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("frame types in the schema %v, in messages.go %v", got, want)
	}
	// clientFrame's own type enum lists exactly its branches.
	var enum struct {
		Enum []string `json:"enum"`
	}
	if err := json.Unmarshal(p.raw.Defs["clientFrame"].Properties["type"], &enum); err != nil {
		t.Fatal(err)
	}
	for _, typ := range enum.Enum {
		if client[typ] == "" {
			t.Errorf("clientFrame's type enum lists %q, which has no branch", typ)
		}
	}
	if len(enum.Enum) != len(client) {
		t.Errorf("clientFrame's type enum %v, branches %v", enum.Enum, client)
	}
	for _, typ := range []string{mobileproto.TypeSendLocation, mobileproto.TypeTrackDriver, mobileproto.TypeUntrackDriver, mobileproto.TypeRefreshToken} {
		if client[typ] == "" {
			t.Errorf("%s is not a client frame in the schema", typ)
		}
	}
}

func TestSchemaErrorCodesAreTheGoCodes(t *testing.T) {
	p := loadProtocol(t)
	want := goConstants(t, "errors.go", func(_, typ string) bool { return typ == "Code" })
	got := slices.Clone(p.raw.Defs["errorCode"].Enum)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("error codes in the schema %v, in errors.go %v", got, want)
	}
}

// goConstants returns the string values of the constants of a file of this
// package that keep returns true for (by name and declared type), sorted.
func goConstants(t *testing.T, file string, keep func(name, typ string) bool) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			typ := ""
			if id, ok := vs.Type.(*ast.Ident); ok {
				typ = id.Name
			}
			for i, name := range vs.Names {
				if i >= len(vs.Values) || !keep(name.Name, typ) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestSchemaLimitsAreTheGoLimits(t *testing.T) {
	p := loadProtocol(t)
	num := func(n json.Number) string { return n.String() }
	itoa := func(v int64) string { return strconv.FormatInt(v, 10) }
	cases := []struct {
		def      string
		min, max string
	}{
		{"latitude", "-90", "90"},
		{"longitude", "-180", "180"},
		{"seq", "1", itoa(mobileproto.MaxSeq)},
		{"ts", itoa(location.MinTS), itoa(mobileproto.MaxTS)},
		{"accuracy", "0", itoa(location.MaxAccuracy)},
		{"speed", "0", itoa(location.MaxSpeed)},
		{"heading", "0", itoa(location.MaxHeading)},
		{"cursor", "1", itoa(mobileproto.MaxSeq)},
	}
	for _, c := range cases {
		d := p.raw.Defs[c.def]
		if num(d.Minimum) != c.min || num(d.Maximum) != c.max {
			t.Errorf("$defs/%s is [%s, %s], the Go code says [%s, %s]", c.def, d.Minimum, d.Maximum, c.min, c.max)
		}
	}
	if want := fmt.Sprintf("^[A-Za-z0-9_-]{1,%d}$", mobileproto.MaxIDLength); p.raw.Defs["id"].Pattern != want {
		t.Errorf("$defs/id pattern %q, want %q", p.raw.Defs["id"].Pattern, want)
	}
	if p.raw.Defs["requestId"].MaxLength != mobileproto.MaxRequestIDLength {
		t.Errorf("$defs/requestId maxLength %d, want %d", p.raw.Defs["requestId"].MaxLength, mobileproto.MaxRequestIDLength)
	}
	// The id pattern and the Go check agree.
	for _, id := range []string{"d-17", "driver_0042", "R9", "d.17", "d 17", "d*", ">", "ü", "", strings.Repeat("a", 64), strings.Repeat("a", 65)} {
		quoted, _ := json.Marshal(id)
		if valid := validate(p.defs["id"], quoted) == nil; valid != mobileproto.ValidID(id) {
			t.Errorf("id %q: schema says valid=%v, ValidID %v", id, valid, mobileproto.ValidID(id))
		}
	}
}

// TestSchemaCoversTheGoTypes checks that every JSON member of the Go types
// of node frames (and of the stored location object) is a property of its
// $defs, required unless the Go encoding may omit it.
func TestSchemaCoversTheGoTypes(t *testing.T) {
	p := loadProtocol(t)
	cases := []struct {
		def  string
		v    any
		more []string // members the frame adds beside the Go type's
	}{
		{"welcome", mobileproto.Welcome{}, []string{"type"}},
		{"ack", mobileproto.Ack{}, []string{"type"}},
		{"receiveLocation", mobileproto.Location{}, []string{"type"}},
		{"tracking", mobileproto.Tracking{}, []string{"type"}},
		{"untracked", mobileproto.Untracked{}, []string{"type"}},
		{"refreshed", mobileproto.Refreshed{}, []string{"type"}},
		{"driverStatus", mobileproto.DriverStatus{}, []string{"type"}},
		{"setInterval", mobileproto.SetInterval{}, []string{"type"}},
		{"error", mobileproto.Error{}, []string{"type"}},
		{"location", location.Record{}, nil},
	}
	for _, c := range cases {
		d := p.raw.Defs[c.def]
		props := slices.Collect(maps.Keys(d.Properties))
		if c.def == "receiveLocation" { // its fix members come from $defs/location
			props = append(props, slices.Collect(maps.Keys(p.raw.Defs["location"].Properties))...)
		}
		members, wantRequired := slices.Clone(c.more), slices.Clone(c.more)
		for _, m := range jsonMembers(reflect.TypeOf(c.v)) {
			members = append(members, m.name)
			if !m.omitempty {
				wantRequired = append(wantRequired, m.name)
			}
		}
		required := slices.Clone(d.Required)
		for _, l := range [][]string{props, members, required, wantRequired} {
			sort.Strings(l)
		}
		if !slices.Equal(props, members) {
			t.Errorf("$defs/%s has the properties %v; the Go type %T has the members %v", c.def, props, c.v, members)
		}
		if !slices.Equal(required, wantRequired) {
			t.Errorf("$defs/%s requires %v; the Go encoding of %T always has %v", c.def, required, c.v, wantRequired)
		}
	}
}

type member struct {
	name      string
	omitempty bool
}

// jsonMembers lists the JSON members encoding/json makes of a struct type,
// following embedded structs.
func jsonMembers(t reflect.Type) []member {
	var out []member
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("json")
		if f.Anonymous && !ok {
			out = append(out, jsonMembers(f.Type)...)
			continue
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		out = append(out, member{name: name, omitempty: strings.Contains(opts, "omitempty")})
	}
	return out
}

// TestGoEncodedFramesValidate: every frame the Go code writes is valid.
func TestGoEncodedFramesValidate(t *testing.T) {
	p := loadProtocol(t)
	yes, no := true, false
	hist, zero := 20, 0
	since := uint64(1234)
	full := location.Fix{Latitude: 12.9716, Longitude: 77.5946, Seq: 42, TS: 1764412800000, Accuracy: location.Float64(5), Speed: location.Float64(8.3), Heading: location.Float64(271)}
	edges := location.Fix{Latitude: -90, Longitude: 180, Seq: mobileproto.MaxSeq, TS: mobileproto.MaxTS, Accuracy: location.Float64(location.MaxAccuracy), Speed: location.Float64(0), Heading: location.Float64(360)}
	small := location.Fix{Latitude: 0.000001, Longitude: -0.000001, TS: location.MinTS}
	rec := location.Record{Driver: "d-17", Fix: full, Time: 1764412800311, Node: "n1"}
	bare := location.Record{Driver: "R9", Fix: location.Fix{Latitude: 1e-7, Longitude: -179.9999999}, Time: 1764412800000}
	cases := []struct {
		name  string
		def   string
		frame []byte
	}{
		{"welcome in development mode", "welcome", mobileproto.EncodeWelcome(mobileproto.Welcome{Version: mobileproto.Version, Node: "n1", Role: mobileproto.RoleRider, Client: "r-9", History: 100, MaxFrame: 4096})},
		{"welcome with a token", "welcome", mobileproto.EncodeWelcome(mobileproto.Welcome{Version: mobileproto.Version, Node: "n2", Role: mobileproto.RoleDriver, Client: "d-17", History: 100, MaxFrame: 4096, Epoch: "2025-11-29T10:00:00.123456789Z", Expires: 1764416400000})},
		{"ack", "ack", mobileproto.AppendAck(nil, mobileproto.Ack{Seq: 42, Cursor: 1234})},
		{"ack of a duplicate", "ack", mobileproto.AppendAck(nil, mobileproto.Ack{Seq: mobileproto.MaxSeq, Cursor: 1, Duplicate: true})},
		{"receive-location replayed, every field", "receiveLocation", mobileproto.AppendReceiveLocation(nil, &mobileproto.Location{Record: rec, Cursor: 1234, Replay: true})},
		{"receive-location live, with prev", "receiveLocation", mobileproto.AppendReceiveLocation(nil, &mobileproto.Location{Record: location.Record{Driver: "driver_0042", Fix: edges, Time: 1764412800311, Node: "n-3"}, Cursor: 1240, Prev: 1234})},
		{"receive-location, optional fields absent", "receiveLocation", mobileproto.AppendReceiveLocation(nil, &mobileproto.Location{Record: bare, Cursor: mobileproto.MaxSeq})},
		{"receive-location, tiny numbers", "receiveLocation", mobileproto.AppendReceiveLocation(nil, &mobileproto.Location{Record: location.Record{Driver: "d", Fix: small, Time: 0}, Cursor: 1})},
		{"tracking after history", "tracking", mobileproto.EncodeTracking(mobileproto.Tracking{Driver: "d-17", ID: "t1", Replayed: 20, Cursor: 1234, Epoch: "2025-11-29T10:00:00Z"})},
		{"tracking of a driver without fixes", "tracking", mobileproto.EncodeTracking(mobileproto.Tracking{Driver: "d-17", Replayed: 0, Cursor: 0})},
		{"tracking after since, complete", "tracking", mobileproto.EncodeTracking(mobileproto.Tracking{Driver: "d-17", ID: "t2", Replayed: 3, Cursor: 1250, Complete: &yes, Epoch: "2025-11-29T10:00:00.123456789Z"})},
		{"tracking after since, incomplete", "tracking", mobileproto.EncodeTracking(mobileproto.Tracking{Driver: "d-17", ID: "t3", Replayed: 100, Cursor: 90210, Complete: &no, Oldest: 80011, Epoch: "2025-11-29T10:00:00.123456789Z"})},
		{"untracked", "untracked", mobileproto.EncodeUntracked(mobileproto.Untracked{Driver: "d-17", ID: "u1"})},
		{"untracked without id", "untracked", mobileproto.EncodeUntracked(mobileproto.Untracked{Driver: "d-17"})},
		{"refreshed", "refreshed", mobileproto.EncodeRefreshed(mobileproto.Refreshed{ID: "k1", Expires: 1764416400000})},
		{"refreshed without id", "refreshed", mobileproto.EncodeRefreshed(mobileproto.Refreshed{Expires: 1764416400000})},
		{"driver-status online", "driverStatus", mobileproto.EncodeDriverStatus(mobileproto.DriverStatus{Driver: "d-17", State: "online", Reason: "fix", Since: 1764412790000, LastFix: 1764412800311})},
		{"driver-status stale", "driverStatus", mobileproto.EncodeDriverStatus(mobileproto.DriverStatus{Driver: "d-17", State: "stale", Reason: "no-fix", Since: 1764412830000})},
		{"driver-status of a driver never seen", "driverStatus", mobileproto.EncodeDriverStatus(mobileproto.DriverStatus{Driver: "d-99", State: "offline", Reason: "unknown"})},
		{"set-interval watched", "setInterval", mobileproto.EncodeSetInterval(mobileproto.SetInterval{IntervalMs: 1000, Reason: "watched"})},
		{"set-interval unwatched", "setInterval", mobileproto.EncodeSetInterval(mobileproto.SetInterval{IntervalMs: 30000, Reason: "unwatched"})},
		{"error, every member", "error", mobileproto.EncodeError(&mobileproto.Error{Code: mobileproto.CodeOverloaded, Message: "at capacity", Seq: 42, ID: "t1", Driver: "d-17", RetryAfter: 250})},
		{"error, message with quotes and control characters", "error", mobileproto.AppendError(nil, &mobileproto.Error{Code: mobileproto.CodeBadRequest, Message: "key \"la\ttitude\" \x01 given twice \xff"})},
		{"send-location, every field", "sendLocation", mobileproto.AppendSendLocation(nil, &full)},
		{"send-location at the limits", "sendLocation", mobileproto.AppendSendLocation(nil, &edges)},
		{"send-location, latitude and longitude only", "sendLocation", mobileproto.AppendSendLocation(nil, &location.Fix{Latitude: 12.9716, Longitude: 77.5946})},
		{"send-location, tiny numbers", "sendLocation", mobileproto.AppendSendLocation(nil, &small)},
		{"track-driver with history", "trackDriver", mobileproto.EncodeTrackDriver("d-17", "t1", mobileproto.TrackOptions{History: &hist})},
		{"track-driver with history 0", "trackDriver", mobileproto.EncodeTrackDriver("d-17", "", mobileproto.TrackOptions{History: &zero})},
		{"track-driver with since", "trackDriver", mobileproto.EncodeTrackDriver("driver_0042", "t2", mobileproto.TrackOptions{Since: &since})},
		{"track-driver, defaults", "trackDriver", mobileproto.EncodeTrackDriver("R9", "", mobileproto.TrackOptions{})},
		{"untrack-driver", "untrackDriver", mobileproto.EncodeUntrackDriver("d-17", "u1")},
		{"untrack-driver without id", "untrackDriver", mobileproto.EncodeUntrackDriver("d-17", "")},
		{"refresh-token", "refreshToken", mobileproto.EncodeRefreshToken("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkLTE3In0.c2ln", "k1")},
		{"refresh-token without id", "refreshToken", mobileproto.EncodeRefreshToken("eyJ…", "")},
		{"stored location object", "location", location.AppendJSON(nil, &rec)},
		{"stored location object, optional fields absent", "location", location.AppendJSON(nil, &bare)},
	}
	// An error frame of every code, as the node writes them.
	for _, code := range p.raw.Defs["errorCode"].Enum {
		cases = append(cases, struct {
			name  string
			def   string
			frame []byte
		}{"error " + code, "error", mobileproto.EncodeError(mobileproto.Errorf(mobileproto.Code(code), "%s happened", code))})
	}
	client, node := p.frameDefs(t, "clientFrame"), p.frameDefs(t, "nodeFrame")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := validate(p.defs[c.def], c.frame); err != nil {
				t.Fatalf("%s\nis not a valid $defs/%s: %v", c.frame, c.def, err)
			}
			if c.def == "location" {
				return
			}
			direction := p.node
			if slices.Contains(mapValues(client), c.def) {
				direction = p.client
			} else if !slices.Contains(mapValues(node), c.def) {
				t.Fatalf("$defs/%s is not a frame", c.def)
			}
			if err := validate(direction, c.frame); err != nil {
				t.Errorf("%s\nis not a valid frame of its direction: %v", c.frame, err)
			}
			if err := validate(p.root, c.frame); err != nil {
				t.Errorf("%s\nis not valid against the root schema: %v", c.frame, err)
			}
		})
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// reencodeRequest writes a decoded request back with the Go encoders. The
// request id of a send-location is not part of AppendSendLocation's frame;
// it is compared on its own.
func reencodeRequest(req mobileproto.Request) []byte {
	switch req.Type {
	case mobileproto.TypeSendLocation:
		return mobileproto.AppendSendLocation(nil, &req.Fix)
	case mobileproto.TypeTrackDriver:
		return mobileproto.EncodeTrackDriver(req.Driver, req.ID, req.Track)
	case mobileproto.TypeUntrackDriver:
		return mobileproto.EncodeUntrackDriver(req.Driver, req.ID)
	case mobileproto.TypeRefreshToken:
		return mobileproto.EncodeRefreshToken(req.Token, req.ID)
	}
	return nil
}

// reencodeFrame writes a decoded node frame back with the Go encoders.
func reencodeFrame(f mobileproto.Frame) []byte {
	switch f.Type {
	case mobileproto.TypeWelcome:
		return mobileproto.EncodeWelcome(f.Welcome)
	case mobileproto.TypeAck:
		return mobileproto.AppendAck(nil, f.Ack)
	case mobileproto.TypeReceiveLocation:
		return mobileproto.AppendReceiveLocation(nil, &f.Location)
	case mobileproto.TypeTracking:
		return mobileproto.EncodeTracking(f.Tracking)
	case mobileproto.TypeUntracked:
		return mobileproto.EncodeUntracked(f.Untracked)
	case mobileproto.TypeRefreshed:
		return mobileproto.EncodeRefreshed(f.Refreshed)
	case mobileproto.TypeDriverStatus:
		return mobileproto.EncodeDriverStatus(f.Status)
	case mobileproto.TypeSetInterval:
		return mobileproto.EncodeSetInterval(f.Interval)
	case mobileproto.TypeError:
		return mobileproto.EncodeError(&f.Error)
	}
	return nil
}

// withMember returns the JSON object data with one more member.
func withMember(data []byte, member string) []byte {
	i := bytes.LastIndexByte(data, '}')
	return append(append(slices.Clone(data[:i]), ","+member...), data[i:]...)
}

// TestSchemaExamplesDecode: every example of a client frame is accepted by
// DecodeRequest, every example of a node frame by DecodeFrame, both with
// the expected type and the same values when the Go code writes them back.
func TestSchemaExamplesDecode(t *testing.T) {
	p := loadProtocol(t)
	client, node := p.frameDefs(t, "clientFrame"), p.frameDefs(t, "nodeFrame")
	for typ, def := range client {
		examples := p.raw.Defs[def].Examples
		if len(examples) < 2 {
			t.Errorf("$defs/%s has %d examples, want several", def, len(examples))
		}
		for i, ex := range examples {
			t.Run(fmt.Sprintf("%s/%d", def, i), func(t *testing.T) {
				if err := validate(p.defs[def], ex); err != nil {
					t.Fatalf("%s is not valid against its own $defs/%s: %v", ex, def, err)
				}
				if err := validate(p.client, ex); err != nil {
					t.Fatalf("%s is not a valid clientFrame: %v", ex, err)
				}
				req, derr := mobileproto.DecodeRequest(ex)
				if derr != nil {
					t.Fatalf("DecodeRequest(%s): %v", ex, derr)
				}
				if req.Type != typ {
					t.Fatalf("DecodeRequest(%s): type %q, want %q", ex, req.Type, typ)
				}
				want, _ := decodeValue(ex)
				want = withoutNulls(want)
				if typ == mobileproto.TypeSendLocation {
					id, _ := want.(map[string]any)["id"].(string)
					if req.ID != id {
						t.Errorf("request id %q, want %q", req.ID, id)
					}
					delete(want.(map[string]any), "id")
				}
				back := reencodeRequest(req)
				got, _ := decodeValue(back)
				if !sameJSON(got, want) {
					t.Errorf("decoded and written back:\n%s\nwant the values of\n%s", back, ex)
				}
				// The node ignores a member it does not know; the schema,
				// strict for clients, refuses it.
				more := withMember(ex, `"future_member":{"x":[1,2]}`)
				if _, err := mobileproto.DecodeRequest(more); err != nil {
					t.Errorf("the node must ignore an unknown member: %s: %v", more, err)
				}
				if validate(p.client, more) == nil {
					t.Errorf("the schema must refuse an unknown member in a client frame: %s", more)
				}
			})
		}
		for i, ex := range p.raw.Defs[def].InvalidExamples {
			t.Run(fmt.Sprintf("%s/invalid/%d", def, i), func(t *testing.T) {
				checkInvalidExample(t, p, typ, ex)
			})
		}
	}
	for typ, def := range node {
		examples := p.raw.Defs[def].Examples
		if len(examples) < 2 {
			t.Errorf("$defs/%s has %d examples, want several", def, len(examples))
		}
		for i, ex := range examples {
			t.Run(fmt.Sprintf("%s/%d", def, i), func(t *testing.T) {
				if err := validate(p.node, ex); err != nil {
					t.Fatalf("%s is not a valid nodeFrame: %v", ex, err)
				}
				f, err := mobileproto.DecodeFrame(ex)
				if err != nil {
					t.Fatalf("DecodeFrame(%s): %v", ex, err)
				}
				if f.Type != typ {
					t.Fatalf("DecodeFrame(%s): type %q, want %q", ex, f.Type, typ)
				}
				back := reencodeFrame(f)
				got, _ := decodeValue(back)
				want, _ := decodeValue(ex)
				if !sameJSON(got, want) {
					t.Errorf("decoded and written back:\n%s\nwant the values of\n%s", back, ex)
				}
				// Node frames are open: a member added by a newer node is
				// valid, and a client decodes the frame all the same.
				more := withMember(ex, `"future_member":{"x":[1,2]}`)
				if err := validate(p.node, more); err != nil {
					t.Errorf("a node frame with a new member must stay valid: %s: %v", more, err)
				}
				if f2, err := mobileproto.DecodeFrame(more); err != nil || !sameJSON(mustDecode(reencodeFrame(f2)), got) {
					t.Errorf("DecodeFrame of a frame with a new member: %+v, %v", f2, err)
				}
			})
		}
	}
	for i, ex := range p.raw.Defs["location"].Examples {
		t.Run(fmt.Sprintf("location/%d", i), func(t *testing.T) {
			if err := validate(p.location, ex); err != nil {
				t.Fatalf("%s: %v", ex, err)
			}
			rec, err := location.Decode(ex)
			if err != nil {
				t.Fatalf("location.Decode(%s): %v", ex, err)
			}
			if back := location.AppendJSON(nil, &rec); !sameJSON(mustDecode(back), mustDecode(ex)) {
				t.Errorf("decoded and written back:\n%s\nwant the values of\n%s", back, ex)
			}
		})
	}
}

func mustDecode(data []byte) any {
	v, err := decodeValue(data)
	if err != nil {
		panic(err)
	}
	return v
}

// checkInvalidExample: the node refuses the example with its code, and the
// error frame it would send is valid; a JSON example is invalid against the
// schema too.
func checkInvalidExample(t *testing.T, p *protocol, typ string, ex invalidExample) {
	t.Helper()
	if (ex.Frame == nil) == (ex.Raw == "") || ex.Code == "" || ex.Description == "" {
		t.Fatalf("an invalid example needs a description, a code and one of frame or raw: %+v", ex)
	}
	text := ex.text()
	req, derr := mobileproto.DecodeRequest(text)
	if derr == nil {
		t.Fatalf("%s: DecodeRequest accepted %s as %+v; want %s", ex.Description, text, req, ex.Code)
	}
	if string(derr.Code) != ex.Code {
		t.Errorf("%s: DecodeRequest(%s): %s (%s), want %s", ex.Description, text, derr.Code, derr.Message, ex.Code)
	}
	if !errors.Is(derr, &mobileproto.Error{Code: mobileproto.Code(ex.Code)}) {
		t.Errorf("%s: errors.Is does not match code %s", ex.Description, ex.Code)
	}
	if err := validate(p.defs["error"], mobileproto.EncodeError(derr)); err != nil {
		t.Errorf("%s: the node's answer %s is not a valid error frame: %v", ex.Description, mobileproto.EncodeError(derr), err)
	}
	if ex.Frame != nil {
		if validate(p.client, ex.Frame) == nil {
			t.Errorf("%s: the schema accepts %s, which the node refuses with %s", ex.Description, ex.Frame, ex.Code)
		}
		if v, _ := decodeValue(ex.Frame); v.(map[string]any)["type"] != typ {
			t.Errorf("%s: listed under %s but its type is %v", ex.Description, typ, v.(map[string]any)["type"])
		}
	}
}

// docFrame is a JSON value found in PROTOCOL.md.
type docFrame struct {
	line    int
	section string
	text    string
}

// protocolDocFrames returns every frame written in PROTOCOL.md: the JSON
// objects of its ```json blocks (one per line or one per block), the
// frames of its session transcripts (lines "← {…}" and "→ {…}"), and the
// frames written inline in backquotes (`{"type":…}`).
func protocolDocFrames(t *testing.T) []docFrame {
	t.Helper()
	f, err := os.Open("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inline := regexp.MustCompile("`(\\{\"type\":[^`]*\\})`")
	var out []docFrame
	var block []string
	var blockLang, section string
	blockStart, inBlock := 0, false
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```") && !inBlock:
			inBlock, blockLang, blockStart, block = true, strings.TrimPrefix(trimmed, "```"), n, nil
			continue
		case strings.HasPrefix(trimmed, "```") && inBlock:
			inBlock = false
			if blockLang == "json" {
				out = append(out, jsonBlockFrames(t, blockStart, section, block)...)
			}
			continue
		case inBlock:
			block = append(block, line)
			if blockLang == "" {
				for _, arrow := range []string{"← ", "→ "} {
					if _, rest, ok := strings.Cut(trimmed, arrow); ok && strings.HasPrefix(rest, "{") && strings.HasSuffix(rest, "}") {
						out = append(out, docFrame{line: n, section: section, text: rest})
					}
				}
			}
			continue
		case strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
		for _, m := range inline.FindAllStringSubmatch(line, -1) {
			out = append(out, docFrame{line: n, section: section, text: m[1]})
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonBlockFrames splits a ```json block, whose first line is line
// start+1 of the document, into its JSON values.
func jsonBlockFrames(t *testing.T, start int, section string, lines []string) []docFrame {
	var out []docFrame
	text := strings.Join(lines, "\n")
	d := json.NewDecoder(strings.NewReader(text))
	for {
		var raw json.RawMessage
		if err := d.Decode(&raw); err == io.EOF {
			return out
		} else if err != nil {
			t.Errorf("PROTOCOL.md:%d: a json block that is not JSON: %v", start, err)
			return out
		}
		end := int(d.InputOffset())
		line := start + 1 + strings.Count(text[:end-len(raw)], "\n")
		out = append(out, docFrame{line: line, section: section, text: string(raw)})
	}
}

// knownDrift lists frames of PROTOCOL.md that the schema (which follows the
// code) refuses, with why. The test insists that each is still refused, so
// that the entry is removed when the document is corrected.
var knownDrift = map[string]string{}

// TestProtocolDocFramesValidate: every frame PROTOCOL.md shows is valid, so
// the document cannot drift from the schema unnoticed.
func TestProtocolDocFramesValidate(t *testing.T) {
	p := loadProtocol(t)
	frames := protocolDocFrames(t)
	if len(frames) < 15 {
		t.Fatalf("found only %d frames in PROTOCOL.md; is the parser broken?", len(frames))
	}
	client := p.frameDefs(t, "clientFrame")
	seen := map[string]bool{}
	for i, f := range frames {
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(f.text)); err != nil {
			t.Errorf("PROTOCOL.md:%d: %v", f.line, err)
			continue
		}
		v, err := decodeValue(compact.Bytes())
		obj, ok := v.(map[string]any)
		if err != nil || !ok {
			t.Logf("PROTOCOL.md:%d: skipped, not an object: %s", f.line, f.text)
			continue
		}
		sch, what := p.root, "frame"
		if _, framed := obj["type"]; !framed {
			if !strings.HasPrefix(f.section, "The stored location object") {
				t.Logf("PROTOCOL.md:%d: skipped, not a frame: %s", f.line, f.text)
				continue
			}
			sch, what = p.location, "stored location object"
		}
		err = validate(sch, compact.Bytes())
		if reason, drift := knownDrift[compact.String()]; drift {
			seen[compact.String()] = true
			if err == nil {
				t.Errorf("PROTOCOL.md:%d: %s is valid now: remove it from knownDrift", f.line, f.text)
			} else {
				t.Logf("PROTOCOL.md:%d: known drift: %s", f.line, reason)
			}
			continue
		}
		if err != nil && what == "frame" && client[fmt.Sprint(obj["type"])] != "" {
			// A refused request shown on purpose must be refused by the
			// node too, with the code of the error frame shown next.
			_, derr := mobileproto.DecodeRequest(compact.Bytes())
			var next mobileproto.Frame
			if i+1 < len(frames) {
				next, _ = mobileproto.DecodeFrame([]byte(frames[i+1].text))
			}
			if derr != nil && next.Type == mobileproto.TypeError && next.Error.Code == derr.Code {
				t.Logf("PROTOCOL.md:%d: a refused request, shown with its error (%s)", f.line, derr.Code)
				continue
			}
			t.Errorf("PROTOCOL.md:%d (%s): the request\n%s\nis not valid (%v), and the document does not show the node's error for it next (DecodeRequest: %v; next frame: %s)", f.line, f.section, f.text, err, derr, next.Type)
			continue
		}
		if err != nil {
			t.Errorf("PROTOCOL.md:%d (%s): the %s\n%s\nis not valid: %v", f.line, f.section, what, f.text, err)
			continue
		}
		// What the document shows, the Go code reads.
		switch {
		case what != "frame":
			if _, err := location.Decode(compact.Bytes()); err != nil {
				t.Errorf("PROTOCOL.md:%d: location.Decode: %v", f.line, err)
			}
		case validate(p.client, compact.Bytes()) == nil:
			if _, err := mobileproto.DecodeRequest(compact.Bytes()); err != nil {
				t.Errorf("PROTOCOL.md:%d: DecodeRequest(%s): %v", f.line, f.text, err)
			}
		default:
			if fr, err := mobileproto.DecodeFrame(compact.Bytes()); err != nil || fr.Type != obj["type"] {
				t.Errorf("PROTOCOL.md:%d: DecodeFrame(%s): %+v, %v", f.line, f.text, fr, err)
			}
		}
	}
	for frame := range knownDrift {
		if !seen[frame] {
			t.Errorf("knownDrift lists a frame PROTOCOL.md no longer shows: remove it: %s", frame)
		}
	}
}
