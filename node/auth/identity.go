package auth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
)

// Identity is who a WebSocket connection is. Authorisation decisions are
// its methods.
type Identity struct {
	Role mobileproto.Role
	// ID is the driver's or rider's id: a valid location id.
	ID string
	// Drivers, for a rider, lists the only drivers it may track. AnyDriver
	// lifts the restriction (development mode only).
	Drivers   []string
	AnyDriver bool
	// Expires is when the identity's token expires; zero for never
	// (development mode).
	Expires time.Time
}

// CanPublish reports whether the identity may send fixes as driver.
func (id Identity) CanPublish(driver string) bool {
	return id.Role == mobileproto.RoleDriver && id.ID == driver
}

// CanTrack reports whether the identity may track driver.
func (id Identity) CanTrack(driver string) bool {
	return id.Role == mobileproto.RoleRider && (id.AnyDriver || slices.Contains(id.Drivers, driver))
}

// Errors matched with errors.Is.
var (
	// ErrUnauthenticated matches every refusal.
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrExpired matches the refusal of a token that has expired: get a
	// fresh one and try again.
	ErrExpired = errors.New("auth: token expired")
)

// Error is why an Authenticator refused a connection (or a token). Reason
// says what to fix and may be sent to the client: it never reveals a key or
// whether a driver exists.
type Error struct {
	Reason  string
	Expired bool
}

func (e *Error) Error() string { return "auth: " + e.Reason }

// Is matches ErrUnauthenticated, and ErrExpired for an expired token.
func (e *Error) Is(target error) bool {
	return target == ErrUnauthenticated || (e.Expired && target == ErrExpired)
}

func refuse(format string, args ...any) *Error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Authenticator establishes the identity of a connecting client from its
// handshake request. It returns an *Error to refuse it; any other error is
// a failure of the authenticator itself (logged, and the client is told
// only that authentication failed).
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// Dev returns the development-mode authenticator: a client says who it is
// in the URL query, ?role=driver|rider&id=<id>, and is believed; a rider may
// track any driver. Never expose a node in this mode to untrusted clients.
func Dev() Authenticator { return dev{} }

type dev struct{}

// Development marks the development mode, so that a node can warn about it.
func (dev) Development() bool { return true }

// IsDevelopment reports whether a is the development mode.
func IsDevelopment(a Authenticator) bool {
	d, ok := a.(interface{ Development() bool })
	return ok && d.Development()
}

func (dev) Authenticate(r *http.Request) (Identity, error) {
	q := r.URL.Query()
	role := mobileproto.Role(q.Get("role"))
	if !role.Valid() {
		return Identity{}, refuse("development mode needs ?role=driver or ?role=rider")
	}
	id := q.Get("id")
	if err := location.CheckID("id", id); err != nil {
		return Identity{}, refuse("%s", err.Msg)
	}
	return Identity{Role: role, ID: id, AnyDriver: true}, nil
}
