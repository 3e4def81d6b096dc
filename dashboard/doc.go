// Package dashboard is the dispatcher's desktop dashboard: a NATS client of
// the cluster (Feed) that keeps a model.Fleet current, and the Fyne views
// that draw it (New, the map, the driver list and the header).
//
// The feed connects to any node's client port with nats.go, like any
// back-end; it imports neither the node nor the WebSocket edge. On start
// it subscribes to rtls.live.* first, then loads the newest stored fix of
// every driver with an ordered consumer (last message per subject of
// rtls.loc.*), and keeps per driver the fix with the highest stream
// sequence (cursor), whichever path brought it: so nothing stored between
// the snapshot and the live subscription is missed, and duplicates and
// late arrivals are dropped. After a reconnect it loads the snapshot again,
// because core NATS does not replay what was published while it was away.
//
// Concurrency: network goroutines (the live subscription's handler, the
// feed's snapshot and trail goroutines) only update the fleet, which is
// safe for concurrent use. The view reads the fleet at a bounded rate and
// changes widgets only on the Fyne goroutine (fyne.Do). Every goroutine a
// Feed or a Dashboard starts is stopped and waited for by its Close.
package dashboard
