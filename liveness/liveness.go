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
	// interval is what the app was last asked to send at (set-interval);
	// staleDue and offlineDue are when, at that rate, the driver is stale
	// or gone without a fix (zero: the thresholds alone decide).
	interval             time.Duration
	staleDue, offlineDue time.Time
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
	if t.interval > 0 {
		t.staleDue, t.offlineDue = now.Add(2*t.interval), now.Add(4*t.interval)
	}
}

// Expect records that the driver's app was asked at now to send a fix
// every interval (set-interval). A driver is stale only once it has sent
// no fix for twice the interval, and offline for four times, whatever
// StaleAfter and OfflineAfter say: a driver nobody watches, asked for a fix
// every 15 s, is not stale between two fixes. Asked to send faster, an app
// sends its next fix within the new interval from now; asked to send
// slower, within the new interval from its last fix.
func (t *Tracker) Expect(now time.Time, interval time.Duration) {
	old := t.interval
	t.interval = interval
	ref := t.lastFix
	if ref.Before(t.changeAt) {
		ref = t.changeAt // no fix on this connection yet
	}
	if old == 0 || interval > old {
		t.staleDue = later(t.staleDue, ref.Add(2*interval))
		t.offlineDue = later(t.offlineDue, ref.Add(4*interval))
		return
	}
	t.staleDue = earlier(t.staleDue, now.Add(2*interval))
	t.offlineDue = earlier(t.offlineDue, now.Add(4*interval))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
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
	stale, offline := later(ref.Add(t.th.StaleAfter), t.staleDue), later(ref.Add(t.th.OfflineAfter), t.offlineDue)
	switch {
	case !now.Before(offline):
		return Status{State: Offline, Reason: Silent, Since: offline}
	case !now.Before(stale):
		return Status{State: Stale, Reason: NoFix, Since: stale}
	case heard.IsZero():
		return Status{State: Online, Reason: Connected, Since: t.changeAt}
	}
	// Fixes arrive; their device time must move too. At the asked rate,
	// it moves at each fix: stale once it has not for as long as a fix
	// may take.
	if moved := t.movedAt.Add(stale.Sub(ref)); !now.Before(moved) {
		return Status{State: Stale, Reason: GPSStale, Since: moved}
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
