// Package dashboard is the dispatcher's desktop dashboard: a NATS client of
// the cluster (Feed) that keeps a model.Fleet current, and the Fyne views
// that draw it (New, the map, the driver list and the header).
//
// The feed connects to any node's client port with nats.go, like any
// back-end; it imports neither the node nor the WebSocket edge. On start
// it subscribes to rtls.live.* (fixes), rtls.status.* (drivers' liveness,
// announced by the node each driver is connected to) and rtls.node.* (the
// nodes' heartbeats) first, then loads the newest announcement of every
// driver from the PRESENCE stream and the newest stored fix of every
// driver (last message per subject of rtls.loc.*), both with ordered
// consumers. Per driver it keeps the fix with the highest stream sequence
// (cursor) and the newest announcement (presence.Announcement.Newer),
// whichever path brought them: so nothing published between the snapshot
// and the subscriptions is missed, and duplicates and late arrivals are
// dropped. After a reconnect it loads both again, because core NATS does
// not replay what was published while it was away.
//
// A driver shows the liveness its node announced (online, stale or
// offline, with a reason), offline node-lost once that node has been
// silent for 3 s; only a driver with fixes but no announcement is judged
// from its fix's age (see package model). While a driver is selected, the
// feed says on rtls.watch.<driver> that this dashboard watches it (Watch),
// so that the driver's node asks its app for fast updates; it withdraws the
// watch when the selection changes or the feed closes.
//
// Concurrency: network goroutines (the subscriptions' handlers, the
// feed's snapshot, trail and watch goroutines) only update the fleet, which is
// safe for concurrent use. The view reads the fleet at a bounded rate and
// changes widgets only on the Fyne goroutine (fyne.Do). Every goroutine a
// Feed or a Dashboard starts is stopped and waited for by its Close. Lock
// order: a Feed's mutex may be held while the fleet's is taken (a change
// of connection state tells the fleet whether it hears the nodes), never
// the reverse; the fleet calls nothing outside itself under its lock.
package dashboard
