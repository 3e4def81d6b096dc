// Package fixstream names the JetStream stream and the subjects that carry
// drivers' fixes, and reads them back (Reader). The node writes them;
// back-ends such as the dashboard read them. Driver ids are single subject
// tokens (location.ValidID), used as-is.
package fixstream

import "github.com/rtls-io/rtls/location"

const (
	// StreamName is the stream that keeps every driver's recent fixes.
	StreamName = "LOCATIONS"
	// LocationPrefix + driver is the subject a driver's fixes are stored on.
	LocationPrefix = "rtls.loc."
	// LivePrefix + driver is where the stream leader republishes each
	// stored fix, with the headers below.
	LivePrefix = "rtls.live."

	// SessionPrefix + driver is where nodes announce a driver's newest
	// connection, so that older ones elsewhere are closed.
	SessionPrefix = "rtls.session."

	// PresenceStream keeps every driver's newest status (StatusPrefix +
	// driver), so that a node or a dashboard that starts knows it.
	PresenceStream = "PRESENCE"
	// StatusPrefix + driver is where the node a driver is connected to
	// announces the driver's liveness (package liveness) when it changes.
	StatusPrefix = "rtls.status."
	// NodePrefix + node is where each node says, every second, that it is
	// alive: a driver whose node falls silent is offline (node-lost).
	NodePrefix = "rtls.node."
	// WatchPrefix + driver is where riders' nodes and dashboards say that
	// someone watches a driver (or no longer does), so that the driver's
	// node asks its app for fast or slow updates; WatchPrefix + "refresh."
	// + watcher carries a watcher's whole list now and then.
	WatchPrefix = "rtls.watch."

	// SequenceHeader carries a fix's stream sequence (its cursor).
	SequenceHeader = "Nats-Sequence"
	// LastSequenceHeader carries the sequence of the driver's previous fix
	// (0 for its first), so a reader detects a gap without a round trip.
	LastSequenceHeader = "Nats-Last-Sequence"
	// SubjectHeader carries the subject a message was stored on.
	SubjectHeader = "Nats-Subject"
	// TimeStampHeader carries the time the stream stored the fix (RFC 3339).
	TimeStampHeader = "Nats-Time-Stamp"
)

// LocationSubject is the subject driver's fixes are stored on.
func LocationSubject(driver string) string { return LocationPrefix + driver }

// LiveSubject is the subject driver's stored fixes are republished on.
func LiveSubject(driver string) string { return LivePrefix + driver }

// SessionSubject is the subject a driver's new connections are announced on.
func SessionSubject(driver string) string { return SessionPrefix + driver }

// DriverOf returns the driver id of a location or live subject, or "" when
// subject is neither or its last token is not a valid driver id.
func DriverOf(subject string) string {
	for _, p := range [...]string{LivePrefix, LocationPrefix} {
		if len(subject) > len(p) && subject[:len(p)] == p {
			if d := subject[len(p):]; location.ValidID(d) {
				return d
			}
		}
	}
	return ""
}
