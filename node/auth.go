package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rtls-io/rtls/mobileproto"
)

// Identity is who a WebSocket connection is, as established by an
// Authenticator when it connects. Authorisation decisions are its methods, so
// that a token-based Authenticator can narrow them.
type Identity struct {
	Role mobileproto.Role
	// ID is the driver's or rider's id: a valid mobileproto id.
	ID string
	// Drivers, when non-nil, lists the only drivers a rider may track. Nil
	// means any driver (development mode).
	Drivers []string
}

// CanPublish reports whether the identity may send fixes as driver.
func (id Identity) CanPublish(driver string) bool {
	return id.Role == mobileproto.RoleDriver && id.ID == driver
}

// CanTrack reports whether the identity may track driver.
func (id Identity) CanTrack(driver string) bool {
	if id.Role != mobileproto.RoleRider {
		return false
	}
	if id.Drivers == nil {
		return true
	}
	for _, d := range id.Drivers {
		if d == driver {
			return true
		}
	}
	return false
}

// ErrUnauthenticated is wrapped by an Authenticator that refuses a connection.
var ErrUnauthenticated = errors.New("node: unauthenticated")

// Authenticator establishes the identity of a connecting client from its
// handshake request. It returns an error wrapping ErrUnauthenticated to
// refuse it; the message is sent to the client.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// DevAuthenticator returns the development-mode authenticator: a client says
// who it is in the URL query, ?role=driver|rider&id=<id>, and is believed.
// Never expose a node in this mode to untrusted clients.
func DevAuthenticator() Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (Identity, error) {
		q := r.URL.Query()
		role := mobileproto.Role(q.Get("role"))
		if !role.Valid() {
			return Identity{}, fmt.Errorf("%w: development mode needs ?role=driver or ?role=rider", ErrUnauthenticated)
		}
		id := q.Get("id")
		if err := mobileproto.CheckID("id", id); err != nil {
			return Identity{}, fmt.Errorf("%w: %s", ErrUnauthenticated, err.Message)
		}
		return Identity{Role: role, ID: id}, nil
	})
}
