package model

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
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
	if !mobileproto.ValidID(id) {
		return Driver{}, fmt.Errorf("%w: %q", ErrBadSubject, subject)
	}
	if cursor == 0 {
		return Driver{}, fmt.Errorf("%w: no cursor for %s", ErrMalformed, id)
	}
	var l mobileproto.Location
	if err := json.Unmarshal(data, &l); err != nil {
		return Driver{}, fmt.Errorf("%w: %s: %v", ErrMalformed, id, err)
	}
	if l.Driver != "" && l.Driver != id {
		return Driver{}, fmt.Errorf("%w: %s carries driver %q", ErrMalformed, subject, l.Driver)
	}
	l.Driver = id
	if e := l.Fix.Validate(); e != nil {
		return Driver{}, fmt.Errorf("%w: %s: %s", ErrMalformed, id, e.Message)
	}
	if l.Time < 0 {
		return Driver{}, fmt.Errorf("%w: %s: negative time", ErrMalformed, id)
	}
	return FromLocation(&l, cursor), nil
}
