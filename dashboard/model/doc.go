// Package model is the dispatcher dashboard's state, with no user interface:
// the newest fix of every driver, freshness (live, stale, offline) against
// an injected clock, the list's filtering and sorting (ids in natural order,
// CompareIDs; "stale or offline, longest first", ProblemsFirst), the
// selected driver and its trail, the Web-Mercator projection the map draws
// with, and the map's aggregation of crowded drivers into counts per screen
// cell (Clustering). What the map and the list need of a driver's state is
// the State seam (state.go), where the liveness model will plug in.
//
// Concurrency: Fleet is safe for concurrent use. Network goroutines call its
// Ingest methods; the user interface reads consistent copies (Points, Rows,
// Driver, Trail) at its own bounded rate, so a NATS callback never waits for
// drawing and drawing never holds the lock while it works. Viewport,
// Clustering and the other value types are not synchronised: each belongs
// to one goroutine.
package model
