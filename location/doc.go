// Package location is the stored location object of rtls: a driver's GPS fix
// (Fix) as the driver app sent it, and the Record a node stores in the
// LOCATIONS stream for every fix (the fix, the driver, the node's receive
// time and the node's name). It holds their validation, their JSON encoding
// and a strict decoder, and nothing else: no WebSocket, no NATS, so that the
// node, the mobile protocol (package mobileproto) and back-ends such as the
// dashboard's model share one definition.
//
// The JSON of a Record is documented in mobileproto/PROTOCOL.md ("The stored
// location object"). Decoding is strict where it matters and forgiving where
// it is safe: keys are matched exactly and may not repeat, integers may be
// written in any JSON spelling (13, 13.0, 1.3e1), and null means absent for
// optional fields.
//
// Everything here is safe for concurrent use.
package location
