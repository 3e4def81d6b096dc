// Package presence carries drivers' liveness across a cluster over NATS:
// the statuses the owning nodes announce (Announcement, on
// rtls.status.<driver>, the newest kept in the PRESENCE stream), the nodes'
// heartbeats (Nodes: a driver whose node falls silent is offline,
// node-lost), and who watches which driver (Watches: riders' nodes and
// dashboards, so that a driver's app sends fast only while someone looks).
//
// Everything read from the bus is validated; what does not parse, or names
// an invalid driver or node, is dropped and counted. The types here own
// their goroutines: Stop waits for them. They are safe for concurrent use.
package presence

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/location"
)

// Announcement is a driver's status as its node announces it.
type Announcement struct {
	Driver  string          `json:"driver"`
	State   liveness.State  `json:"state"`
	Reason  liveness.Reason `json:"reason"`
	Since   int64           `json:"since"`              // ms
	LastFix int64           `json:"last_fix,omitempty"` // ms
	// Node is the node that owns the driver's connection; Session (the
	// connection's admission time, ns) and N (a counter within it) order
	// announcements: a reader keeps the newest session's newest.
	Node    string `json:"node"`
	Session int64  `json:"session"`
	N       uint64 `json:"n"`
}

// ErrInvalid is wrapped by Decode.
var ErrInvalid = errors.New("presence: invalid announcement")

// Status returns the announced liveness status.
func (a Announcement) Status() liveness.Status {
	var since time.Time
	if a.Since > 0 {
		since = time.UnixMilli(a.Since)
	}
	return liveness.Status{State: a.State, Reason: a.Reason, Since: since}
}

// Newer reports whether a replaces b: a later session, or later in the
// same session.
func (a Announcement) Newer(b Announcement) bool {
	if a.Session != b.Session {
		return a.Session > b.Session
	}
	return a.N > b.N
}

// Decode parses and validates an announcement of driver.
func Decode(driver string, data []byte) (Announcement, error) {
	var a Announcement
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch {
	case a.Driver != driver || !location.ValidID(driver):
		return a, fmt.Errorf("%w: driver %q on the subject of %q", ErrInvalid, a.Driver, driver)
	case !location.ValidID(a.Node):
		return a, fmt.Errorf("%w: node %q", ErrInvalid, a.Node)
	case a.State != liveness.Online && a.State != liveness.Stale && a.State != liveness.Offline:
		return a, fmt.Errorf("%w: state %q", ErrInvalid, a.State)
	case a.Reason == "" || len(a.Reason) > 32 || a.Since < 0 || a.LastFix < 0 || a.Session <= 0:
		return a, fmt.Errorf("%w: fields out of range", ErrInvalid)
	}
	return a, nil
}
