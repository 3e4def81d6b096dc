package mobileproto

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// rawRequest is the union of every client → node frame. Pointers tell an
// absent field from a zero one.
type rawRequest struct {
	Type      string   `json:"type"`
	ID        string   `json:"id"`
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
	Seq       *uint64  `json:"seq"`
	TS        *int64   `json:"ts"`
	Accuracy  *float64 `json:"accuracy"`
	Speed     *float64 `json:"speed"`
	Heading   *float64 `json:"heading"`
	Driver    string   `json:"driver"`
	History   *int     `json:"history"`
	Since     *uint64  `json:"since"`
}

// locationFields are the fields whose type errors are invalid_location.
var locationFields = map[string]bool{
	"latitude": true, "longitude": true, "ts": true, "accuracy": true, "speed": true, "heading": true,
}

// DecodeRequest decodes and validates one client → node frame. Every problem
// is returned as an *Error with the code a node sends back; the error carries
// the request's id, seq and driver when the frame had them.
func DecodeRequest(data []byte) (Request, *Error) {
	var r rawRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return Request{}, r.annotate(decodeError(err))
	}
	if len(r.ID) > MaxRequestIDLength {
		return Request{}, Errorf(CodeBadRequest, "id is longer than %d bytes", MaxRequestIDLength)
	}
	req := Request{Type: r.Type, ID: r.ID}
	switch r.Type {
	case TypeSendLocation:
		if r.Latitude == nil {
			return req, r.annotate(Errorf(CodeInvalidLocation, "latitude is required and must be a finite number"))
		}
		if r.Longitude == nil {
			return req, r.annotate(Errorf(CodeInvalidLocation, "longitude is required and must be a finite number"))
		}
		f := Fix{Latitude: *r.Latitude, Longitude: *r.Longitude, Accuracy: r.Accuracy, Speed: r.Speed, Heading: r.Heading}
		if r.Seq != nil {
			if *r.Seq == 0 {
				return req, r.annotate(Errorf(CodeBadRequest, "seq must be within [1, %d]", uint64(MaxSeq)))
			}
			f.Seq = *r.Seq
		}
		if r.TS != nil {
			if *r.TS <= 0 {
				return req, r.annotate(Errorf(CodeInvalidLocation, "ts must be milliseconds since the Unix epoch, within [1, %d]", int64(MaxTS)))
			}
			f.TS = *r.TS
		}
		if err := f.Validate(); err != nil {
			return req, r.annotate(err)
		}
		req.Fix = f
	case TypeTrackDriver, TypeUntrackDriver:
		if err := CheckID("driver", r.Driver); err != nil {
			return req, r.annotate(err)
		}
		req.Driver = r.Driver
		if r.Type == TypeTrackDriver {
			if r.History != nil && *r.History < 0 {
				return req, r.annotate(Errorf(CodeBadRequest, "history must be >= 0"))
			}
			req.Track = TrackOptions{History: r.History, Since: r.Since}
		}
	case "":
		return req, r.annotate(Errorf(CodeUnknownType, "type is required"))
	default:
		return req, r.annotate(Errorf(CodeUnknownType, "unknown type %q", truncate(r.Type, 32)))
	}
	return req, nil
}

// annotate copies the request's id, seq and driver into e.
func (r *rawRequest) annotate(e *Error) *Error {
	if len(r.ID) <= MaxRequestIDLength {
		e.ID = r.ID
	}
	if r.Seq != nil && *r.Seq <= MaxSeq {
		e.Seq = *r.Seq
	}
	if ValidID(r.Driver) {
		e.Driver = r.Driver
	}
	return e
}

func decodeError(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		switch {
		case te.Field == "":
			return Errorf(CodeBadRequest, "frame must be a JSON object, not %s", te.Value)
		case locationFields[te.Field]:
			return Errorf(CodeInvalidLocation, "%s must be a finite number in range, not %s", te.Field, te.Value)
		case te.Field == "seq" || te.Field == "since" || te.Field == "history":
			return Errorf(CodeBadRequest, "%s must be a non-negative integer, not %s", te.Field, te.Value)
		default:
			return Errorf(CodeBadRequest, "%s must not be %s", te.Field, te.Value)
		}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Errorf(CodeBadRequest, "frame is not valid JSON (offset %d): %s", se.Offset, se.Error())
	}
	return Errorf(CodeBadRequest, "frame is not valid JSON: %s", err.Error())
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
	dst = appendFixFields(dst, f)
	return append(dst, '}')
}

func appendFixFields(dst []byte, f *Fix) []byte {
	dst = append(dst, `"latitude":`...)
	dst = appendFloat(dst, f.Latitude)
	dst = append(dst, `,"longitude":`...)
	dst = appendFloat(dst, f.Longitude)
	if f.Seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, f.Seq, 10)
	}
	if f.TS != 0 {
		dst = append(dst, `,"ts":`...)
		dst = strconv.AppendInt(dst, f.TS, 10)
	}
	if f.Accuracy != nil {
		dst = append(dst, `,"accuracy":`...)
		dst = appendFloat(dst, *f.Accuracy)
	}
	if f.Speed != nil {
		dst = append(dst, `,"speed":`...)
		dst = appendFloat(dst, *f.Speed)
	}
	if f.Heading != nil {
		dst = append(dst, `,"heading":`...)
		dst = appendFloat(dst, *f.Heading)
	}
	return dst
}

// AppendLocation appends the location object of l (without its Cursor and
// Replay) to dst: {"driver":…,"latitude":…,…,"time":…,"node":…}. This is the
// payload a node stores in the stream; AppendReceiveLocation turns it into a
// frame without decoding it. The fix must be valid (see Fix.Validate).
func AppendLocation(dst []byte, l *Location) []byte {
	dst = append(dst, `{"driver":`...)
	dst = appendString(dst, l.Driver)
	dst = append(dst, ',')
	dst = appendFixFields(dst, &l.Fix)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, l.Time, 10)
	if l.Node != "" {
		dst = append(dst, `,"node":`...)
		dst = appendString(dst, l.Node)
	}
	return append(dst, '}')
}

// ErrNotLocation is returned by AppendReceiveLocation for a payload that is not
// a non-empty JSON object.
var ErrNotLocation = errors.New("mobileproto: payload is not a location object")

// AppendReceiveLocation appends a receive-location frame to dst, made from a
// location object as written by AppendLocation, its cursor and whether it is
// replayed. The object's members are copied, not decoded.
func AppendReceiveLocation(dst, location []byte, cursor uint64, replay bool) ([]byte, error) {
	n := len(location)
	if n < 3 || location[0] != '{' || location[n-1] != '}' {
		return dst, ErrNotLocation
	}
	dst = append(dst, `{"type":"receive-location",`...)
	dst = append(dst, location[1:n-1]...)
	dst = append(dst, `,"cursor":`...)
	dst = strconv.AppendUint(dst, cursor, 10)
	if replay {
		dst = append(dst, `,"replay":true`...)
	}
	return append(dst, '}'), nil
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
	out = appendString(out, t.Type)
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
func EncodeError(e *Error) []byte { return encode(TypeError, e) }

// EncodeTracking returns a tracking frame.
func EncodeTracking(t Tracking) []byte { return encode(TypeTracking, t) }

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
	Error     Error
}

// rawFrame is the union of every node → client frame.
type rawFrame struct {
	Type string `json:"type"`
	Location
	Version   int    `json:"version"`
	Role      Role   `json:"role"`
	Client    string `json:"client"`
	History   int    `json:"history"`
	MaxFrame  int    `json:"max_frame"`
	Duplicate bool   `json:"duplicate"`
	ID        string `json:"id"`
	Replayed  int    `json:"replayed"`
	Code      Code   `json:"code"`
	Message   string `json:"message"`
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
		f.Welcome = Welcome{Version: r.Version, Node: r.Node, Role: r.Role, Client: r.Client, History: r.History, MaxFrame: r.MaxFrame}
	case TypeAck:
		f.Ack = Ack{Seq: r.Seq, Cursor: r.Cursor, Duplicate: r.Duplicate}
	case TypeReceiveLocation:
		f.Location = r.Location
	case TypeTracking:
		f.Tracking = Tracking{Driver: r.Driver, ID: r.ID, Replayed: r.Replayed, Cursor: r.Cursor}
	case TypeUntracked:
		f.Untracked = Untracked{Driver: r.Driver, ID: r.ID}
	case TypeError:
		f.Error = Error{Code: r.Code, Message: r.Message, Seq: r.Seq, ID: r.ID, Driver: r.Driver}
	}
	return f, nil
}

func appendFloat(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
