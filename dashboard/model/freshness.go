package model

import (
	"errors"
	"fmt"
	"time"
)

// Status is a driver's freshness: how recent its newest fix is.
type Status uint8

// The freshness states, from fresh to gone.
const (
	// Live: the newest fix is younger than the stale threshold.
	Live Status = iota
	// Stale: the driver has gone quiet for a while.
	Stale
	// Offline: no fix for longer than the offline threshold.
	Offline
)

func (s Status) String() string {
	switch s {
	case Live:
		return "live"
	case Stale:
		return "stale"
	case Offline:
		return "offline"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Default thresholds.
const (
	DefaultStaleAfter   = 15 * time.Second
	DefaultOfflineAfter = 2 * time.Minute
)

// ErrInvalidThresholds is returned for thresholds that are not 0 < stale < offline.
var ErrInvalidThresholds = errors.New("model: thresholds must satisfy 0 < stale < offline")

// Thresholds decide a driver's Status from the age of its newest fix. A
// zero field means its default.
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

// Status returns the freshness of a fix of age age: Live below StaleAfter,
// Stale from StaleAfter, Offline from OfflineAfter. A fix from the future
// (clock skew) is Live.
func (th Thresholds) Status(age time.Duration) Status {
	switch {
	case age >= th.OfflineAfter:
		return Offline
	case age >= th.StaleAfter:
		return Stale
	}
	return Live
}
