package mobileproto

import "math"

// Limits of the protocol that do not depend on a node's configuration.
const (
	// MaxIDLength is the longest driver or client id, in bytes.
	MaxIDLength = 64
	// MaxRequestIDLength is the longest request id, in bytes.
	MaxRequestIDLength = 64
	// MaxSeq is the largest seq: 2^53-1, the largest integer a JavaScript
	// number holds exactly.
	MaxSeq = 1<<53 - 1
	// MaxTS is the largest device time accepted (2100-01-01T00:00:00Z in ms).
	MaxTS = 4102444800000
	// MaxAccuracy, MaxSpeed and MaxHeading bound the optional fix fields.
	MaxAccuracy = 100000
	MaxSpeed    = 1000
	MaxHeading  = 360
)

// ValidID reports whether s can be a driver or client id: 1 to MaxIDLength
// ASCII letters, digits, '-' or '_'. Such an id is a single NATS subject token,
// so it is used as-is in subjects and never escaped.
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

// CheckID returns a CodeInvalidID error naming what when s is not a valid id.
func CheckID(what, s string) *Error {
	if ValidID(s) {
		return nil
	}
	switch {
	case s == "":
		return Errorf(CodeInvalidID, "%s is required", what)
	case len(s) > MaxIDLength:
		return Errorf(CodeInvalidID, "%s is longer than %d bytes", what, MaxIDLength)
	default:
		return Errorf(CodeInvalidID, "%s may contain only ASCII letters, digits, '-' and '_'", what)
	}
}

// Validate checks every field of the fix and returns a CodeInvalidLocation
// (or, for Seq, CodeBadRequest) error describing the first problem.
func (f *Fix) Validate() *Error {
	if !inRange(f.Latitude, -90, 90) {
		return Errorf(CodeInvalidLocation, "latitude must be within [-90, 90]")
	}
	if !inRange(f.Longitude, -180, 180) {
		return Errorf(CodeInvalidLocation, "longitude must be within [-180, 180]")
	}
	if f.Seq > MaxSeq {
		return Errorf(CodeBadRequest, "seq must be within [1, %d]", uint64(MaxSeq))
	}
	if f.TS < 0 || f.TS > MaxTS {
		return Errorf(CodeInvalidLocation, "ts must be milliseconds since the Unix epoch, within [1, %d]", int64(MaxTS))
	}
	if f.Accuracy != nil && !inRange(*f.Accuracy, 0, MaxAccuracy) {
		return Errorf(CodeInvalidLocation, "accuracy must be within [0, %d] metres (omit it when unknown)", MaxAccuracy)
	}
	if f.Speed != nil && !inRange(*f.Speed, 0, MaxSpeed) {
		return Errorf(CodeInvalidLocation, "speed must be within [0, %d] m/s (omit it when unknown)", MaxSpeed)
	}
	if f.Heading != nil && !inRange(*f.Heading, 0, MaxHeading) {
		return Errorf(CodeInvalidLocation, "heading must be within [0, %d] degrees (omit it when unknown)", MaxHeading)
	}
	return nil
}

// inRange is false for NaN and infinities.
func inRange(v, lo, hi float64) bool {
	return !math.IsNaN(v) && v >= lo && v <= hi
}
