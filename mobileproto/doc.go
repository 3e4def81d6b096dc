// Package mobileproto is the wire protocol between rtls nodes and the driver
// and rider apps (JSON text frames over a WebSocket at Path), and a Go client
// for it.
//
// PROTOCOL.md in this directory is the complete description a frontend
// developer needs; this package holds the frame types, their codec and
// validation (in one place: DecodeRequest, Fix.Validate, ValidID), the error
// codes and close codes, and Client.
//
// The package knows nothing of NATS. A node decodes client frames with
// DecodeRequest, stores each fix as the location object AppendLocation
// writes, and turns that object into a receive-location frame with
// AppendReceiveLocation without decoding it again.
//
// Client is safe for concurrent use: one goroutine reads frames, calls may
// come from any goroutine, and received locations arrive on one channel in
// the order the node sent them.
package mobileproto
