// Package liveness is the one model of whether a driver is still coming,
// shared by the node (which tells riders) and the dashboard (which shows
// dispatchers): a driver is online, stale or offline, since a given time,
// for a reason. It is pure: facts in, status out, on an injected clock.
//
// The node a driver is connected to owns the driver's status: it follows
// its connection and fixes with a Tracker and announces every change. Any
// reader derives what it shows from the announced status and whether the
// owning node is still alive (Effective): a driver whose node died is
// offline, node-lost, without anyone having to say so.
package liveness

import (
	"errors"
	"time"
)

// State is whether a driver is still coming.
type State string

// The states, from best to worst.
const (
	Online  State = "online"  // connected, sending fresh fixes
	Stale   State = "stale"   // connected, but no fresh fix
	Offline State = "offline" // not connected
)

// Severity orders states: 0 online, 1 stale, 2 offline.
func (s State) Severity() int {
	switch s {
	case Online:
		return 0
	case Stale:
		return 1
	}
	return 2
}

// Reason says why a driver is in its state.
type Reason string

// The reasons.
const (
	Connected    Reason = "connected"    // online: connected, no fix yet
	Fix          Reason = "fix"          // online: fresh fixes
	NoFix        Reason = "no-fix"       // stale: connected, no fix for StaleAfter
	GPSStale     Reason = "gps-stale"    // stale: fixes arrive, but their device time stands still
	Disconnected Reason = "disconnected" // offline: the connection closed
	Silent       Reason = "silent"       // offline: connected, but no fix for OfflineAfter
	NodeLost     Reason = "node-lost"    // offline: the driver's node stopped
	Unknown      Reason = "unknown"      // offline: the cluster has never seen the driver
)

// Status is a driver's state, the reason and when it began.
type Status struct {
	State  State     `json:"state"`
	Reason Reason    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Thresholds tune the model.
type Thresholds struct {
	// StaleAfter is how long a connected driver may send no fresh fix
	// before it is stale. Zero value means 15 seconds.
	StaleAfter time.Duration
	// OfflineAfter is how long a connected driver may send no fix before
	// it is taken for gone (offline, silent) although its connection lingers.
	// Zero value means 2 minutes.
	OfflineAfter time.Duration
}

// ErrInvalidThresholds is returned by WithDefaults.
var ErrInvalidThresholds = errors.New("liveness: stale-after must be positive and below offline-after")

// WithDefaults fills zero fields and checks the rest.
func (th Thresholds) WithDefaults() (Thresholds, error) {
	if th.StaleAfter == 0 {
		th.StaleAfter = 15 * time.Second
	}
	if th.OfflineAfter == 0 {
		th.OfflineAfter = 2 * time.Minute
	}
	if th.StaleAfter <= 0 || th.OfflineAfter <= th.StaleAfter {
		return th, ErrInvalidThresholds
	}
	return th, nil
}

// Tracker follows one driver's connection on the node that owns it and
// says its status. It is not safe for concurrent use.
type Tracker struct {
	th        Thresholds
	connected bool
	changeAt  time.Time // connect or disconnect
	lastFix   time.Time // node time of the newest fix
	lastTS    int64     // its device time
	movedAt   time.Time // when the device time last advanced
	status    Status
	// interval is what the app was last asked to send at; grace the
	// longest interval asked since the newest fix (a fix due at the old,
	// slower rate may still be on its way).
	interval, grace time.Duration
}

// NewTracker returns a tracker of a driver not connected yet.
func NewTracker(th Thresholds) *Tracker {
	return &Tracker{th: th, status: Status{State: Offline, Reason: Unknown}}
}

// Connect records that the driver connected at now.
func (t *Tracker) Connect(now time.Time) {
	t.connected, t.changeAt = true, now
}

// Disconnect records that the driver's connection closed at now.
func (t *Tracker) Disconnect(now time.Time) {
	t.connected, t.changeAt = false, now
}

// Fix records a fix received at now with the device time ts (ms; 0 when
// the app sent none, which counts as advancing).
func (t *Tracker) Fix(now time.Time, ts int64) {
	if ts == 0 || ts != t.lastTS || t.movedAt.IsZero() {
		t.movedAt = now
	}
	t.lastFix, t.lastTS = now, ts
	t.grace = t.interval
}

// Expect records that the driver's app was asked to send a fix every
// interval (set-interval). A driver is not stale before twice that (nor
// offline before four times that), whatever StaleAfter says: a driver
// nobody watches, asked to send every 15 s, is not stale between two fixes.
func (t *Tracker) Expect(interval time.Duration) {
	t.interval = interval
	t.grace = max(t.grace, interval)
}

// staleAfter and offlineAfter are the thresholds for the interval the
// app was asked for.
func (t *Tracker) staleAfter() time.Duration { return max(t.th.StaleAfter, 2*t.grace) }
func (t *Tracker) offlineAfter() time.Duration {
	return max(t.th.OfflineAfter, 4*t.grace)
}

// LastFix is when the newest fix was received (zero: none).
func (t *Tracker) LastFix() time.Time { return t.lastFix }

// Status evaluates the driver at now. It reports whether the status changed
// since the last call; Since is when the current state began.
func (t *Tracker) Status(now time.Time) (Status, bool) {
	next := t.evaluate(now)
	changed := next.State != t.status.State || next.Reason != t.status.Reason
	if changed {
		t.status = next
	}
	return t.status, changed
}

func (t *Tracker) evaluate(now time.Time) Status {
	if !t.connected {
		if t.changeAt.IsZero() {
			return Status{State: Offline, Reason: Unknown}
		}
		return Status{State: Offline, Reason: Disconnected, Since: t.changeAt}
	}
	// Silence counts from the newest fix, or from the connection when it
	// brought none (a fix before a reconnect says nothing of now).
	heard := t.lastFix
	if heard.Before(t.changeAt) {
		heard = time.Time{}
	}
	ref := heard
	if ref.IsZero() {
		ref = t.changeAt
	}
	stale, offline := t.staleAfter(), t.offlineAfter()
	switch {
	case now.Sub(ref) >= offline:
		return Status{State: Offline, Reason: Silent, Since: ref.Add(offline)}
	case now.Sub(ref) >= stale:
		return Status{State: Stale, Reason: NoFix, Since: ref.Add(stale)}
	case heard.IsZero():
		return Status{State: Online, Reason: Connected, Since: t.changeAt}
	case now.Sub(t.movedAt) >= stale:
		return Status{State: Stale, Reason: GPSStale, Since: t.movedAt.Add(stale)}
	}
	since := t.status.Since
	if t.status.State != Online || since.IsZero() {
		since = now
	}
	return Status{State: Online, Reason: Fix, Since: since}
}

// Effective is what a reader shows of an announced status: the same,
// unless the node that owns the driver is no longer alive (nodeLostAt not
// zero), when a driver it said was connected is offline, node-lost, since
// the node was lost.
func Effective(announced Status, nodeLostAt time.Time) Status {
	if nodeLostAt.IsZero() || announced.State == Offline {
		return announced
	}
	return Status{State: Offline, Reason: NodeLost, Since: nodeLostAt}
}
