package model

import (
	"math"
	"time"

	"github.com/rtls-io/rtls/location"
)

// Driver is the dashboard's state of one driver: its newest fix.
type Driver struct {
	// ID is the driver's id.
	ID string
	// Lat and Lon are the position in degrees.
	Lat, Lon float64
	// X and Y are the position projected to Web-Mercator world coordinates
	// in [0, 1) (see Project), computed once at ingest for drawing.
	X, Y float64
	// Speed in m/s and Heading in degrees; NaN when the driver did not send them.
	Speed, Heading float64
	// Accuracy in metres; NaN when unknown.
	Accuracy float64
	// FixTime is when the fix was taken: the device time when it is earlier
	// than the node's receive time, the receive time otherwise. A phone that
	// keeps sending an old fix therefore ages, it does not look live.
	FixTime time.Time
	// Received is when the node stored the fix (server clock).
	Received time.Time
	// Node is the name of the node that stored the fix.
	Node string
	// Cursor is the fix's stream sequence; the newest fix has the highest.
	Cursor uint64
	// Seq is the driver's own sequence number of the fix (0 if absent).
	Seq uint64
}

// HasFix reports whether d holds a fix: a driver the cluster announced may
// have sent none yet (a fix's cursor is never 0).
func (d *Driver) HasFix() bool { return d.Cursor != 0 }

// Age is how old the driver's fix is at now.
func (d *Driver) Age(now time.Time) time.Duration { return now.Sub(d.FixTime) }

// FromLocation builds a Driver from a stored location object and its cursor.
func FromLocation(l *location.Record, cursor uint64) Driver {
	d := Driver{
		ID:       l.Driver,
		Lat:      l.Latitude,
		Lon:      l.Longitude,
		Speed:    optional(l.Speed),
		Heading:  optional(l.Heading),
		Accuracy: optional(l.Accuracy),
		Received: time.UnixMilli(l.Time),
		Node:     l.Node,
		Cursor:   cursor,
		Seq:      l.Seq,
	}
	d.FixTime = d.Received
	if l.TS > 0 && (l.Time == 0 || l.TS < l.Time) {
		d.FixTime = time.UnixMilli(l.TS)
	}
	d.X, d.Y = Project(d.Lat, d.Lon)
	return d
}

func optional(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
