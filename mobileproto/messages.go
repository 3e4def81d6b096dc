package mobileproto

import "github.com/rtls-io/rtls/location"

// Version is the protocol version this package speaks; it is the "v1" in Path.
const Version = 1

// Path is the HTTP path of the WebSocket endpoint on every node.
const Path = "/v1/ws"

// Frame types. The set is open: clients must ignore types they do not know.
const (
	// Client → node.
	TypeSendLocation  = "send-location"
	TypeTrackDriver   = "track-driver"
	TypeUntrackDriver = "untrack-driver"
	TypeRefreshToken  = "refresh-token"

	// Node → client.
	TypeWelcome         = "welcome"
	TypeAck             = "ack"
	TypeReceiveLocation = "receive-location"
	TypeTracking        = "tracking"
	TypeUntracked       = "untracked"
	TypeRefreshed       = "refreshed"
	TypeDriverStatus    = "driver-status"
	TypeSetInterval     = "set-interval"
	TypeError           = "error"
)

// Role is what a connection is allowed to do.
type Role string

// The roles of the mobile apps.
const (
	RoleDriver Role = "driver"
	RoleRider  Role = "rider"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleDriver || r == RoleRider }

// Fix is one GPS fix as a driver app sends it in send-location (see
// package location for its fields and limits).
type Fix = location.Fix

// Float64 returns a pointer to v, for the optional fields of Fix.
func Float64(v float64) *float64 { return &v }

// Location is a stored fix as a rider receives it in receive-location: the
// stored location object (location.Record: driver, fix, time, node) and its
// delivery (cursor, previous cursor, replay).
type Location struct {
	location.Record
	// Cursor is the fix's position in the stream. It increases with every
	// fix of every driver; resume with track-driver "since": Cursor.
	Cursor uint64 `json:"cursor"`
	// Prev, on live fixes, is the cursor of the driver's previous fix. When
	// it is greater than the cursor of the last fix you got for this driver,
	// fixes in between were skipped (latest wins for a slow reader).
	Prev uint64 `json:"prev,omitempty"`
	// Replay is true for fixes sent from history in answer to track-driver,
	// false for live fixes.
	Replay bool `json:"replay,omitempty"`
}

// Ack confirms that a send-location with Seq is stored durably.
type Ack struct {
	Seq    uint64 `json:"seq"`
	Cursor uint64 `json:"cursor"`
	// Duplicate is true when the fix had already been stored (a retry).
	Duplicate bool `json:"duplicate,omitempty"`
}

// Welcome is the first frame a node sends on every connection.
type Welcome struct {
	Version int    `json:"version"`
	Node    string `json:"node"`
	Role    Role   `json:"role"`
	Client  string `json:"client"`
	// History is the most fixes per driver a node keeps and replays.
	History int `json:"history"`
	// MaxFrame is the largest frame in bytes the node accepts.
	MaxFrame int `json:"max_frame"`
	// Epoch names the stream the cursors belong to (see Tracking.Epoch).
	Epoch string `json:"epoch,omitempty"`
	// Expires is when the connection's token expires, in milliseconds
	// since the Unix epoch; absent (0) when it does not (development mode).
	// Send refresh-token with a fresh token before then.
	Expires int64 `json:"expires,omitempty"`
}

// DriverStatus tells a rider whether its driver is still coming: sent right
// after tracking (so a late joiner knows at once) and whenever the
// driver's state changes. It is about the driver; the rider's own
// connection state is the client's to know (see PROTOCOL.md).
type DriverStatus struct {
	Driver string `json:"driver"`
	// State is "online" (connected, fresh fixes), "stale" (connected, no
	// fresh fix) or "offline" (not connected).
	State string `json:"state"`
	// Reason says why: "connected" (online, no fix yet) or "fix" (online),
	// "no-fix" or "gps-stale" (stale),
	// "disconnected", "silent" or "node-lost" (offline), "unknown" (the
	// cluster has never seen the driver).
	Reason string `json:"reason"`
	// Since is when the driver entered the state (ms since the Unix epoch).
	Since int64 `json:"since,omitempty"`
	// LastFix is when the node received the driver's newest fix (ms), if any.
	LastFix int64 `json:"last_fix,omitempty"`
}

// SetInterval asks a driver app to send a fix every IntervalMs
// milliseconds: fast while someone watches the driver, slow while nobody
// does (to spare the phone's battery).
type SetInterval struct {
	IntervalMs int64 `json:"interval_ms"`
	// Reason is "watched" or "unwatched".
	Reason string `json:"reason"`
}

// Refreshed confirms a refresh-token: the connection now lives until Expires
// (milliseconds since the Unix epoch).
type Refreshed struct {
	ID      string `json:"id,omitempty"`
	Expires int64  `json:"expires"`
}

// Tracking confirms a track-driver. It is sent after the replayed fixes and
// before any live fix of the driver.
type Tracking struct {
	Driver string `json:"driver"`
	ID     string `json:"id,omitempty"`
	// Replayed is how many fixes were replayed from history.
	Replayed int `json:"replayed"`
	// Cursor is the cursor of the driver's newest fix known when tracking
	// started (0 if the driver has none): live fixes follow after it.
	Cursor uint64 `json:"cursor"`
	// Complete answers a track-driver with since: true when the replay
	// holds every fix of the driver stored after since; false when some may
	// have been lost (no longer kept), in which case Oldest is the cursor of
	// the oldest fix the node still has. Absent for a track with history.
	Complete *bool  `json:"complete,omitempty"`
	Oldest   uint64 `json:"oldest,omitempty"`
	// Epoch names the stream the cursors belong to. A cursor from another
	// epoch (the cluster's data was wiped, or this is another cluster)
	// means nothing here: track with history instead of since.
	Epoch string `json:"epoch,omitempty"`
}

// TrackOptions are the optional fields of track-driver.
type TrackOptions struct {
	// History is how many of the driver's most recent fixes to replay. Nil
	// means the default of 1 (the current position); the node caps it at
	// its history depth.
	History *int
	// Since, when set, replays every retained fix after this cursor instead
	// (History is then ignored): use it to resume after a reconnect.
	Since *uint64
}

// Request is a decoded client → node frame. Only the fields of its Type are
// set.
type Request struct {
	Type string
	// ID is the optional request id, echoed in the answer.
	ID string
	// Fix of a send-location.
	Fix Fix
	// Driver of a track-driver or untrack-driver.
	Driver string
	// History and Since of a track-driver.
	Track TrackOptions
	// Token of a refresh-token.
	Token string
}
