package mobileproto

import "github.com/rtls-io/rtls/location"

// Limits of the protocol that do not depend on a node's configuration (see
// package location for the fields of a fix).
const (
	// MaxIDLength is the longest driver or client id, in bytes.
	MaxIDLength = location.MaxIDLength
	// MaxRequestIDLength is the longest request id, in bytes.
	MaxRequestIDLength = 64
	// MaxSeq is the largest seq: 2^53-1, the largest integer a JavaScript
	// number holds exactly.
	MaxSeq = location.MaxSeq
	// MaxTS is the largest device time accepted (2100-01-01T00:00:00Z in ms).
	MaxTS = location.MaxTS
)

// ValidID reports whether s can be a driver or client id: 1 to MaxIDLength
// ASCII letters, digits, '-' or '_'. Such an id is a single NATS subject token,
// so it is used as-is in subjects and never escaped.
func ValidID(s string) bool { return location.ValidID(s) }

// CheckID returns a CodeInvalidID error naming what when s is not a valid id.
func CheckID(what, s string) *Error {
	if e := location.CheckID(what, s); e != nil {
		return &Error{Code: CodeInvalidID, Message: e.Msg}
	}
	return nil
}

// ValidateFix checks every field of f and returns the error frame a node
// sends for the first problem: bad_request for seq, invalid_location for the
// others.
func ValidateFix(f *Fix) *Error {
	return fieldError(f.Validate())
}

// fieldError maps a location field error to its wire code.
func fieldError(e *location.FieldError) *Error {
	if e == nil {
		return nil
	}
	code := CodeInvalidLocation
	if e.Field == "seq" {
		code = CodeBadRequest
	}
	return &Error{Code: code, Message: e.Msg}
}
