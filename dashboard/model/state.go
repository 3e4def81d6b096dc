package model

import "github.com/rtls-io/rtls/liveness"

// State is a driver's state as the map, the list and the header see it:
// the cluster's liveness state (online, stale, offline). The map colours a
// cluster by the most severe state inside it (liveness.State.Severity), the
// status column sorts by severity, and the list's problem filter keeps the
// states for which Problem is true.
//
// The seam's first plan, an alias with Problem and String methods, cannot
// work across packages (methods cannot be added to liveness.State here), so
// Problem is a function and a State prints as the string it is.
type State = liveness.State

// The states, re-exported for the views: Online (connected, fresh fixes),
// Stale (connected, no fresh fix), Offline (not connected, or its node is
// lost, or never seen).
const (
	Online  = liveness.Online
	Stale   = liveness.Stale
	Offline = liveness.Offline
)

// FixAge is the reason of a state the dashboard judged from the age of the
// driver's newest fix alone, because no node announced the driver's
// liveness (see Thresholds).
const FixAge liveness.Reason = "fix-age"

// Problem reports whether a driver in state s needs a dispatcher's
// attention: it is not online.
func Problem(s State) bool { return s != Online }
