package model

import (
	"errors"
	"fmt"
	"time"

	"github.com/rtls-io/rtls/liveness"
)

// Default thresholds.
const (
	DefaultStaleAfter   = 15 * time.Second
	DefaultOfflineAfter = 2 * time.Minute
)

// ErrInvalidThresholds is returned for thresholds that are not 0 < stale < offline.
var ErrInvalidThresholds = errors.New("model: thresholds must satisfy 0 < stale < offline")

// Thresholds decide the state of a driver the cluster announced nothing
// about, from the age of its newest fix alone: the fallback for a driver
// with fixes but no announcement (a node older than the liveness model, or
// an announcement the PRESENCE stream no longer keeps). Such a driver's
// reason is FixAge. A driver whose node announced its liveness shows that,
// whatever the age of its fix. A zero field means its default.
type Thresholds struct {
	// StaleAfter: a fix at least this old is stale. Zero value means 15 s.
	StaleAfter time.Duration
	// OfflineAfter: a fix at least this old is offline. Zero value means 2 min.
	OfflineAfter time.Duration
}

// Validate returns th with its defaults filled in, or an error wrapping
// ErrInvalidThresholds.
func (th Thresholds) Validate() (Thresholds, error) { return th.withDefaults() }

// withDefaults fills zero fields and validates.
func (th Thresholds) withDefaults() (Thresholds, error) {
	if th.StaleAfter == 0 {
		th.StaleAfter = DefaultStaleAfter
	}
	if th.OfflineAfter == 0 {
		th.OfflineAfter = DefaultOfflineAfter
	}
	if th.StaleAfter <= 0 || th.OfflineAfter <= th.StaleAfter {
		return th, fmt.Errorf("%w (stale %v, offline %v)", ErrInvalidThresholds, th.StaleAfter, th.OfflineAfter)
	}
	return th, nil
}

// Status returns the state of a fix of age age: Online below StaleAfter,
// Stale from StaleAfter, Offline from OfflineAfter. A fix from the future
// (clock skew) is Online.
func (th Thresholds) Status(age time.Duration) State {
	switch {
	case age >= th.OfflineAfter:
		return Offline
	case age >= th.StaleAfter:
		return Stale
	}
	return Online
}

// fallback is the status of a driver with no announcement whose newest fix
// was taken at fix: its state by age, reason FixAge, since the fix (online)
// or since the fix crossed the threshold.
func (th Thresholds) fallback(fix, now time.Time) liveness.Status {
	switch st := th.Status(now.Sub(fix)); st {
	case Offline:
		return liveness.Status{State: st, Reason: FixAge, Since: fix.Add(th.OfflineAfter)}
	case Stale:
		return liveness.Status{State: st, Reason: FixAge, Since: fix.Add(th.StaleAfter)}
	}
	return liveness.Status{State: Online, Reason: FixAge, Since: fix}
}
