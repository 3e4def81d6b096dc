// Package model is the dispatcher dashboard's state, with no user interface:
// every driver the cluster told of, with its newest fix and its liveness
// (online, stale or offline, with a reason and since when: the status its
// node announced, offline node-lost once that node falls silent, and only
// for a driver with fixes but no announcement a state judged from the fix's
// age), a short history of its changes, counts per state on an injected
// clock, the list's filtering and sorting (ids in natural order,
// CompareIDs; "stale or offline, longest first", ProblemsFirst), the
// selected driver and its trail, the Web-Mercator projection the map draws
// with, and the map's aggregation of crowded drivers into counts per screen
// cell coloured by the worst state inside (Clustering).
//
// Concurrency: Fleet is safe for concurrent use. Network goroutines call its
// Ingest, Announce and Heartbeat methods; the user interface reads
// consistent copies (Points, Rows, Driver, Trail) at its own bounded rate,
// so a NATS callback never waits for drawing and drawing never holds the
// lock while it works. Viewport,
// Clustering and the other value types are not synchronised: each belongs
// to one goroutine.
package model
