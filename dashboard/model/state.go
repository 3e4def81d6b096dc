package model

// State is a driver's state as the map's clusters and the list's problem
// filter see it. Today it is the freshness Status.
//
// The liveness model (online, stale, offline, with reasons) plugs in here:
// make State an alias of its type, which needs the two methods below and a
// String. Binning (Cluster.Bin), the problem filter (Query.Problems) and the
// status column's order use nothing else; Fleet computes each driver's State
// in Points and Rows, and the view colours states in paint.go
// (StatusColour), both of which change with it.
type State = Status

// Severity ranks s from best (0) to worst: a map cell is coloured by the
// most severe state inside it, and the status column sorts by it.
func (s Status) Severity() int { return int(s) }

// Problem reports whether a driver in state s needs a dispatcher's
// attention: it is not live.
func (s Status) Problem() bool { return s != Live }
