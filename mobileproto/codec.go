package mobileproto

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/rtls-io/rtls/internal/flatjson"
	"github.com/rtls-io/rtls/location"
)

// rawRequest holds the members of a client → node frame that the protocol
// knows, as they were written; they are interpreted once the type is known.
type rawRequest struct {
	typ, id, driver, history, since, token flatjson.Value
	fix                                    [7]flatjson.Value // latitude … heading, by fixKeys
}

var fixKeys = [7]string{"latitude", "longitude", "seq", "ts", "accuracy", "speed", "heading"}

func (r *rawRequest) member(key string, v flatjson.Value) error {
	switch key {
	case "type":
		r.typ = v
	case "id":
		r.id = v
	case "driver":
		r.driver = v
	case "history":
		r.history = v
	case "since":
		r.since = v
	case "token":
		r.token = v
	default:
		for i, k := range fixKeys {
			if k == key {
				r.fix[i] = v
			}
		}
	}
	return nil
}

// present reports whether a member was given with a non-null value: null
// means absent for every optional field.
func present(v flatjson.Value) bool { return v.Kind != 0 && v.Kind != flatjson.Null }

// DecodeRequest decodes and validates one client → node frame. Keys are
// matched exactly as documented and may not repeat; unknown keys are
// ignored; integers may be written in any JSON spelling (13, 13.0, 1.3e1);
// null means absent for optional fields. Every problem is returned as an
// *Error with the code a node sends back; the error carries the request's
// id, seq and driver when the frame had them.
func DecodeRequest(data []byte) (Request, *Error) {
	var r rawRequest
	if err := flatjson.Parse(data, r.member); err != nil {
		return Request{}, r.annotate(parseError(err))
	}
	req := Request{}
	if present(r.id) {
		if r.id.Kind != flatjson.String {
			return req, r.annotate(Errorf(CodeBadRequest, "id must be a string, not %s", r.id.Kind))
		}
		if req.ID = r.id.Str(); len(req.ID) > MaxRequestIDLength {
			req.ID = ""
			return req, r.annotate(Errorf(CodeBadRequest, "id is longer than %d bytes", MaxRequestIDLength))
		}
	}
	switch {
	case !present(r.typ):
		return req, r.annotate(Errorf(CodeUnknownType, "type is required"))
	case r.typ.Kind != flatjson.String:
		return req, r.annotate(Errorf(CodeBadRequest, "type must be a string, not %s", r.typ.Kind))
	}
	req.Type = r.typ.Str()
	switch req.Type {
	case TypeSendLocation:
		for i, k := range fixKeys[:2] {
			if !present(r.fix[i]) {
				msg := k + " is required and must be a finite number"
				if r.fix[i].Kind == flatjson.Null {
					msg += ", not null"
				}
				return req, r.annotate(Errorf(CodeInvalidLocation, "%s", msg))
			}
		}
		var f Fix
		for i, k := range fixKeys {
			if r.fix[i].Kind == 0 {
				continue
			}
			if _, e := location.DecodeFixMember(&f, k, r.fix[i]); e != nil {
				return req, r.annotate(fieldError(e))
			}
		}
		if err := ValidateFix(&f); err != nil {
			return req, r.annotate(err)
		}
		req.Fix = f
	case TypeTrackDriver, TypeUntrackDriver:
		driver := ""
		if r.driver.Kind == flatjson.String {
			driver = r.driver.Str()
		} else if present(r.driver) {
			return req, r.annotate(Errorf(CodeBadRequest, "driver must be a string, not %s", r.driver.Kind))
		}
		if err := CheckID("driver", driver); err != nil {
			return req, r.annotate(err)
		}
		req.Driver = driver
		if req.Type == TypeTrackDriver {
			if present(r.history) {
				n, e := location.Integer("history", r.history, MaxSeq, true)
				if e != nil {
					return req, r.annotate(&Error{Code: CodeBadRequest, Message: e.Msg})
				}
				if n < 0 {
					return req, r.annotate(Errorf(CodeBadRequest, "history must be >= 0"))
				}
				h := int(n)
				req.Track.History = &h
			}
			if present(r.since) {
				n, e := location.Integer("since", r.since, MaxSeq, false)
				if e != nil {
					return req, r.annotate(&Error{Code: CodeBadRequest, Message: e.Msg})
				}
				since := uint64(n)
				req.Track.Since = &since
			}
		}
	case TypeRefreshToken:
		if r.token.Kind != flatjson.String || r.token.Str() == "" {
			return req, r.annotate(Errorf(CodeBadRequest, "token is required and must be a string"))
		}
		req.Token = r.token.Str()
	default:
		return req, r.annotate(Errorf(CodeUnknownType, "unknown type %q", truncate(req.Type, 32)))
	}
	return req, nil
}

// annotate copies the request's id, seq and driver, when valid, into e.
func (r *rawRequest) annotate(e *Error) *Error {
	if r.id.Kind == flatjson.String {
		if id := r.id.Str(); len(id) <= MaxRequestIDLength {
			e.ID = id
		}
	}
	if seq, ok := r.fix[2].Integer(MaxSeq); ok && seq > 0 {
		e.Seq = uint64(seq)
	}
	if r.driver.Kind == flatjson.String {
		if d := r.driver.Str(); ValidID(d) {
			e.Driver = d
		}
	}
	return e
}

func parseError(err error) *Error {
	var de *flatjson.DuplicateKeyError
	var se *flatjson.SyntaxError
	switch {
	case errors.As(err, &de):
		return Errorf(CodeBadRequest, "key %q is given twice", truncate(de.Key, 32))
	case errors.Is(err, flatjson.ErrNotObject):
		return Errorf(CodeBadRequest, "frame must be a JSON object")
	case errors.As(err, &se):
		return Errorf(CodeBadRequest, "frame is not valid JSON: %s at offset %d", se.Msg, se.Offset)
	}
	return Errorf(CodeBadRequest, "frame is not valid JSON: %v", err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// AppendSendLocation appends a send-location frame for f to dst.
func AppendSendLocation(dst []byte, f *Fix) []byte {
	dst = append(dst, `{"type":"send-location",`...)
	dst = location.AppendFixMembers(dst, f)
	return append(dst, '}')
}

// AppendReceiveLocation appends the receive-location frame of l to dst. The
// record must be valid (location.Record.Validate): a node encodes every
// frame from a decoded, validated record and never copies stored bytes.
func AppendReceiveLocation(dst []byte, l *Location) []byte {
	dst = append(dst, `{"type":"receive-location",`...)
	dst = location.AppendMembers(dst, &l.Record)
	dst = append(dst, `,"cursor":`...)
	dst = strconv.AppendUint(dst, l.Cursor, 10)
	if l.Prev != 0 {
		dst = append(dst, `,"prev":`...)
		dst = strconv.AppendUint(dst, l.Prev, 10)
	}
	if l.Replay {
		dst = append(dst, `,"replay":true`...)
	}
	return append(dst, '}')
}

// AppendAck appends an ack frame to dst.
func AppendAck(dst []byte, a Ack) []byte {
	dst = append(dst, `{"type":"ack","seq":`...)
	dst = strconv.AppendUint(dst, a.Seq, 10)
	dst = append(dst, `,"cursor":`...)
	dst = strconv.AppendUint(dst, a.Cursor, 10)
	if a.Duplicate {
		dst = append(dst, `,"duplicate":true`...)
	}
	return append(dst, '}')
}

// typed wraps a frame body with its "type" member for encoding/json.
type typed[T any] struct {
	Type string `json:"type"`
	Body T
}

func (t typed[T]) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(t.Body)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(t.Type)+12)
	out = append(out, `{"type":`...)
	out = location.AppendString(out, t.Type)
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

func encode[T any](typ string, body T) []byte {
	b, err := json.Marshal(typed[T]{Type: typ, Body: body})
	if err != nil {
		// Only plain structs of strings and numbers are encoded here.
		panic("mobileproto: encode " + typ + ": " + err.Error())
	}
	return b
}

// EncodeWelcome returns a welcome frame.
func EncodeWelcome(w Welcome) []byte { return encode(TypeWelcome, w) }

// EncodeError returns an error frame.
func EncodeError(e *Error) []byte { return AppendError(make([]byte, 0, 96+len(e.Message)), e) }

// AppendError appends an error frame to dst, without reflection: a node
// under load answers many.
func AppendError(dst []byte, e *Error) []byte {
	dst = append(dst, `{"type":"error","code":`...)
	dst = location.AppendString(dst, string(e.Code))
	dst = append(dst, `,"message":`...)
	dst = location.AppendString(dst, e.Message)
	if e.Seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, e.Seq, 10)
	}
	if e.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = location.AppendString(dst, e.ID)
	}
	if e.Driver != "" {
		dst = append(dst, `,"driver":`...)
		dst = location.AppendString(dst, e.Driver)
	}
	if e.RetryAfter != 0 {
		dst = append(dst, `,"retry_after":`...)
		dst = strconv.AppendInt(dst, e.RetryAfter, 10)
	}
	return append(dst, '}')
}

// EncodeTracking returns a tracking frame.
func EncodeTracking(t Tracking) []byte { return encode(TypeTracking, t) }

// EncodeDriverStatus returns a driver-status frame.
func EncodeDriverStatus(d DriverStatus) []byte { return encode(TypeDriverStatus, d) }

// EncodeSetInterval returns a set-interval frame.
func EncodeSetInterval(s SetInterval) []byte { return encode(TypeSetInterval, s) }

// EncodeRefreshed returns a refreshed frame.
func EncodeRefreshed(r Refreshed) []byte { return encode(TypeRefreshed, r) }

// EncodeRefreshToken returns a refresh-token frame.
func EncodeRefreshToken(token, id string) []byte {
	return encode(TypeRefreshToken, struct {
		Token string `json:"token"`
		ID    string `json:"id,omitempty"`
	}{token, id})
}

// Untracked confirms an untrack-driver.
type Untracked struct {
	Driver string `json:"driver"`
	ID     string `json:"id,omitempty"`
}

// EncodeUntracked returns an untracked frame.
func EncodeUntracked(u Untracked) []byte { return encode(TypeUntracked, u) }

type trackBody struct {
	Driver  string  `json:"driver"`
	ID      string  `json:"id,omitempty"`
	History *int    `json:"history,omitempty"`
	Since   *uint64 `json:"since,omitempty"`
}

// EncodeTrackDriver returns a track-driver frame.
func EncodeTrackDriver(driver, id string, o TrackOptions) []byte {
	return encode(TypeTrackDriver, trackBody{Driver: driver, ID: id, History: o.History, Since: o.Since})
}

// EncodeUntrackDriver returns an untrack-driver frame.
func EncodeUntrackDriver(driver, id string) []byte {
	return encode(TypeUntrackDriver, Untracked{Driver: driver, ID: id})
}

// Frame is a decoded node → client frame. Only the member for its Type is set;
// a Type this package does not know leaves them all zero.
type Frame struct {
	Type      string
	Welcome   Welcome
	Ack       Ack
	Location  Location
	Tracking  Tracking
	Untracked Untracked
	Refreshed Refreshed
	Status    DriverStatus
	Interval  SetInterval
	Error     Error
}

// rawFrame is the union of every node → client frame.
type rawFrame struct {
	Type string `json:"type"`
	Location
	Version    int    `json:"version"`
	Role       Role   `json:"role"`
	Client     string `json:"client"`
	History    int    `json:"history"`
	MaxFrame   int    `json:"max_frame"`
	Duplicate  bool   `json:"duplicate"`
	ID         string `json:"id"`
	Replayed   int    `json:"replayed"`
	Code       Code   `json:"code"`
	Message    string `json:"message"`
	Expires    int64  `json:"expires"`
	Complete   *bool  `json:"complete"`
	Oldest     uint64 `json:"oldest"`
	Epoch      string `json:"epoch"`
	State      string `json:"state"`
	Reason     string `json:"reason"`
	Since      int64  `json:"since"`
	LastFix    int64  `json:"last_fix"`
	IntervalMs int64  `json:"interval_ms"`
	// RetryAfter of an error.
	RetryAfter int64 `json:"retry_after"`
}

// DecodeFrame decodes one node → client frame.
func DecodeFrame(data []byte) (Frame, error) {
	var r rawFrame
	if err := json.Unmarshal(data, &r); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: r.Type}
	switch r.Type {
	case TypeWelcome:
		f.Welcome = Welcome{Version: r.Version, Node: r.Node, Role: r.Role, Client: r.Client, History: r.History, MaxFrame: r.MaxFrame, Expires: r.Expires, Epoch: r.Epoch}
	case TypeAck:
		f.Ack = Ack{Seq: r.Seq, Cursor: r.Cursor, Duplicate: r.Duplicate}
	case TypeReceiveLocation:
		f.Location = r.Location
	case TypeTracking:
		f.Tracking = Tracking{Driver: r.Driver, ID: r.ID, Replayed: r.Replayed, Cursor: r.Cursor, Complete: r.Complete, Oldest: r.Oldest, Epoch: r.Epoch}
	case TypeUntracked:
		f.Untracked = Untracked{Driver: r.Driver, ID: r.ID}
	case TypeRefreshed:
		f.Refreshed = Refreshed{ID: r.ID, Expires: r.Expires}
	case TypeDriverStatus:
		f.Status = DriverStatus{Driver: r.Driver, State: r.State, Reason: r.Reason, Since: r.Since, LastFix: r.LastFix}
	case TypeSetInterval:
		f.Interval = SetInterval{IntervalMs: r.IntervalMs, Reason: r.Reason}
	case TypeError:
		f.Error = Error{Code: r.Code, Message: r.Message, Seq: r.Seq, ID: r.ID, Driver: r.Driver, RetryAfter: r.RetryAfter}
	}
	return f, nil
}
