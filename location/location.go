package location

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Limits of the values of a fix.
const (
	// MaxIDLength is the longest driver or client id, in bytes.
	MaxIDLength = 64
	// MaxSeq is the largest seq: 2^53-1, the largest integer a JavaScript
	// number holds exactly.
	MaxSeq = 1<<53 - 1
	// MinTS is the smallest device time accepted, in milliseconds
	// (1973-03-03): a smaller one is almost certainly in seconds.
	MinTS = 100_000_000_000
	// MaxTS is the largest device time accepted (2100-01-01T00:00:00Z in ms).
	MaxTS = 4102444800000
	// MaxAccuracy, MaxSpeed and MaxHeading bound the optional fix fields.
	MaxAccuracy = 100000
	MaxSpeed    = 1000
	MaxHeading  = 360
)

// Fix is one GPS fix as a driver app sends it.
//
// Optional fields are zero (Seq, TS) or nil (Accuracy, Speed, Heading) when
// absent; use Float64 to set the pointers.
type Fix struct {
	// Latitude in degrees, within [-90, 90].
	Latitude float64 `json:"latitude"`
	// Longitude in degrees, within [-180, 180].
	Longitude float64 `json:"longitude"`
	// Seq is the driver's own increasing sequence number, from 1.
	Seq uint64 `json:"seq,omitempty"`
	// TS is the device time of the fix in milliseconds since the Unix epoch.
	TS int64 `json:"ts,omitempty"`
	// Accuracy is the horizontal accuracy radius in metres, within [0, 100000].
	Accuracy *float64 `json:"accuracy,omitempty"`
	// Speed in metres per second, within [0, 1000].
	Speed *float64 `json:"speed,omitempty"`
	// Heading in degrees clockwise from true north, within [0, 360].
	Heading *float64 `json:"heading,omitempty"`
}

// Float64 returns a pointer to v, for the optional fields of Fix.
func Float64(v float64) *float64 { return &v }

// Record is the stored location object: what a node writes to the stream for
// every fix, and what back-ends read from it.
type Record struct {
	// Driver is the driver's id.
	Driver string `json:"driver"`
	Fix
	// Time is when the node received the fix, in milliseconds since the Unix
	// epoch (server clock).
	Time int64 `json:"time"`
	// Node is the name of the node that received and stored the fix.
	Node string `json:"node,omitempty"`
}

// ErrInvalid is wrapped by every *FieldError.
var ErrInvalid = errors.New("location: invalid")

// FieldError says which field of a fix or record is wrong and how to fix it.
type FieldError struct {
	// Field is the JSON key of the field ("latitude", "seq", …).
	Field string
	// Msg is a sentence for humans: "latitude must be within [-90, 90]".
	Msg string
}

func (e *FieldError) Error() string { return "location: " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ValidID reports whether s can be a driver, client or node id: 1 to
// MaxIDLength ASCII letters, digits, '-' or '_'. Such an id is a single NATS
// subject token, so it is used as-is in subjects and never escaped.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// CheckID returns a *FieldError naming field when s is not a valid id.
func CheckID(field, s string) *FieldError {
	switch {
	case ValidID(s):
		return nil
	case s == "":
		return fieldErr(field, "%s is required", field)
	case len(s) > MaxIDLength:
		return fieldErr(field, "%s is longer than %d bytes", field, MaxIDLength)
	default:
		return fieldErr(field, "%s may contain only ASCII letters, digits, '-' and '_'", field)
	}
}

// Validate checks every field of the fix and returns a *FieldError
// describing the first problem.
func (f *Fix) Validate() *FieldError {
	if !inRange(f.Latitude, -90, 90) {
		return fieldErr("latitude", "latitude must be within [-90, 90]")
	}
	if !inRange(f.Longitude, -180, 180) {
		return fieldErr("longitude", "longitude must be within [-180, 180]")
	}
	if f.Seq > MaxSeq {
		return fieldErr("seq", "seq must be within [1, %d]", uint64(MaxSeq))
	}
	if f.TS != 0 {
		if e := checkTS(f.TS); e != nil {
			return e
		}
	}
	if f.Accuracy != nil && !inRange(*f.Accuracy, 0, MaxAccuracy) {
		return fieldErr("accuracy", "accuracy must be within [0, %d] metres (omit it when unknown)", MaxAccuracy)
	}
	if f.Speed != nil && !inRange(*f.Speed, 0, MaxSpeed) {
		return fieldErr("speed", "speed must be within [0, %d] m/s (omit it when unknown)", MaxSpeed)
	}
	if f.Heading != nil && !inRange(*f.Heading, 0, MaxHeading) {
		return fieldErr("heading", "heading must be within [0, %d] degrees (omit it when unknown)", MaxHeading)
	}
	return nil
}

func checkTS(ts int64) *FieldError {
	switch {
	case ts <= 0:
		return fieldErr("ts", "ts must be milliseconds since the Unix epoch, within [%d, %d]", int64(MinTS), int64(MaxTS))
	case ts < MinTS:
		return fieldErr("ts", "ts %d looks like seconds: send milliseconds since the Unix epoch", ts)
	case ts > MaxTS:
		return fieldErr("ts", "ts must be milliseconds since the Unix epoch, within [%d, %d]", int64(MinTS), int64(MaxTS))
	}
	return nil
}

// CheckClock refuses a device time further than maxAhead in the future of
// now: a phone whose clock is that wrong should omit ts, since the fix's
// time would mislead everyone who reads it.
func (f *Fix) CheckClock(now time.Time, maxAhead time.Duration) *FieldError {
	if f.TS != 0 && f.TS > now.Add(maxAhead).UnixMilli() {
		return fieldErr("ts", "ts is more than %v ahead of the node's clock: fix the device clock or omit ts", maxAhead)
	}
	return nil
}

// Validate checks a record: its driver id, its fix and its time.
func (r *Record) Validate() *FieldError {
	if e := CheckID("driver", r.Driver); e != nil {
		return e
	}
	if e := r.Fix.Validate(); e != nil {
		return e
	}
	if r.Time < 0 || r.Time > MaxTS {
		return fieldErr("time", "time must be milliseconds since the Unix epoch")
	}
	if r.Node != "" && !ValidID(r.Node) {
		return fieldErr("node", "node must be a valid node name")
	}
	return nil
}

// inRange is false for NaN and infinities.
func inRange(v, lo, hi float64) bool {
	return !math.IsNaN(v) && v >= lo && v <= hi
}

// Equal reports whether r and o hold the same values (the optional fields
// are compared by value, not by pointer).
func (r Record) Equal(o Record) bool {
	eq := func(a, b *float64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }
	return r.Driver == o.Driver && r.Time == o.Time && r.Node == o.Node &&
		r.Latitude == o.Latitude && r.Longitude == o.Longitude && r.Seq == o.Seq && r.TS == o.TS &&
		eq(r.Accuracy, o.Accuracy) && eq(r.Speed, o.Speed) && eq(r.Heading, o.Heading)
}
