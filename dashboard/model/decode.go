package model

import (
	"errors"
	"fmt"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// Errors of DecodeFix.
var (
	// ErrBadSubject: the subject is not rtls.loc.<driver> or
	// rtls.live.<driver> with a valid driver id.
	ErrBadSubject = errors.New("model: subject has no valid driver id")
	// ErrMalformed: the payload is not a valid location object of the
	// subject's driver, or the cursor is missing.
	ErrMalformed = errors.New("model: malformed location object")
)

// DecodeFix decodes the stored location object data, received on subject
// (a location or live subject) with the stream sequence cursor. The driver
// comes from the subject; a payload naming another driver is malformed.
func DecodeFix(subject string, data []byte, cursor uint64) (Driver, error) {
	id := fixstream.DriverOf(subject)
	if id == "" {
		return Driver{}, fmt.Errorf("%w: %q", ErrBadSubject, subject)
	}
	if cursor == 0 {
		return Driver{}, fmt.Errorf("%w: no cursor for %s", ErrMalformed, id)
	}
	rec, err := location.Decode(data)
	if err != nil {
		return Driver{}, fmt.Errorf("%w: %s: %v", ErrMalformed, id, err)
	}
	if rec.Driver != id {
		return Driver{}, fmt.Errorf("%w: %s carries driver %q", ErrMalformed, subject, rec.Driver)
	}
	return FromLocation(&rec, cursor), nil
}
