// Package node is one rtls node: an embedded NATS server with JetStream, the
// LOCATIONS stream, and the WebSocket edge that driver and rider apps connect
// to (see package mobileproto for the protocol).
//
// Data flow. A driver's send-location is validated, turned into a location
// object and published to rtls.loc.<driver> with a Nats-Msg-Id made of the
// driver, seq and device time, so that a retry is stored once; the ack
// carries the stream sequence (the cursor). The stream keeps History fixes
// per driver and republishes each stored fix to rtls.live.<driver> with its
// sequence and the sequence of the driver's previous fix. A node holds one
// subscription per driver that any of its clients tracks, encodes each fix
// once and queues the same frame to every watcher. A watcher replays history
// from the stream with a batched direct get, and a fix whose previous
// sequence it has not seen reveals a gap that is filled from the stream, so
// riders get every fix once and in order.
//
// Back-ends read the same stream and live subjects over the client port: the
// payload of every message is the JSON location object documented in
// mobileproto/PROTOCOL.md.
//
// Lifecycle: New validates a Config, Start starts everything and returns
// when the node is ready, Shutdown stops it gracefully. Every goroutine a
// node starts is stopped and waited for by Shutdown. Node's methods are safe
// for concurrent use.
//
// Identity comes from an Authenticator; DevAuthenticator is the explicitly
// named development mode that believes the URL query.
package node
