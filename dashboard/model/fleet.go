package model

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/node/presence"
)

// Config configures a Fleet. A zero field means the default in its comment.
type Config struct {
	// Thresholds decide the fallback state of drivers with fixes but no
	// announcement. Zero fields mean their defaults.
	Thresholds Thresholds
	// NodeLostAfter is how long a node may send no heartbeat before it is
	// lost, and the drivers it announced offline (node-lost). Zero value
	// means 3 seconds (three heartbeats, as the nodes judge each other).
	NodeLostAfter time.Duration
	// HistoryLength is how many of a driver's changes of state the fleet
	// keeps for the detail view. Zero value means 6.
	HistoryLength int
	// Now is the clock. Zero value means time.Now.
	Now func() time.Time
	// TrailLength is how many recent fixes of the selected driver the trail
	// keeps. Zero value means 100 (the stream's default history).
	TrailLength int
}

// Fleet is every driver the cluster told of: its newest fix, its newest
// liveness announcement and what it shows (Liveness), the nodes' heartbeats,
// and the selected driver with its trail. It is safe for concurrent use.
type Fleet struct {
	th            Thresholds
	now           func() time.Time
	trailLen      int
	nodeLostAfter time.Duration
	historyLen    int

	mu         sync.RWMutex
	drivers    map[string]*entry
	nodes      map[string]*nodeState
	listenFrom time.Time // when the feed started hearing heartbeats; zero: it does not
	selected   string
	trail      []TrailPoint // of selected, ascending cursor
	counts     Counts       // as of the last Tick

	version       atomic.Uint64 // bumped by every change of state
	ingested      atomic.Uint64
	duplicates    atomic.Uint64
	malformed     atomic.Uint64
	badSubject    atomic.Uint64
	announcements atomic.Uint64
	staleStatus   atomic.Uint64
	badStatus     atomic.Uint64
}

// entry is one driver. The fields every redraw reads of every driver come
// first, so that counting and drawing touch few cache lines: the state
// shown, and whether it was announced.
type entry struct {
	shown       State           // the state last noted ("" before the first)
	shownReason liveness.Reason // and its reason
	node        *nodeState      // the node of ann; nil: no announcement yet

	Driver                        // its newest fix; Cursor 0: none yet
	key     string                // idKey(ID), for sorting
	ann     presence.Announcement // its newest announcement, when node is set
	history []liveness.Status     // the last changes of state or reason, oldest first
}

func (e *entry) announced() bool { return e.node != nil }

// current is the status last noted, nil before the first.
func (e *entry) current() *liveness.Status {
	if len(e.history) == 0 {
		return nil
	}
	return &e.history[len(e.history)-1]
}

// NewFleet returns an empty Fleet. It returns an error wrapping
// ErrInvalidThresholds for bad thresholds.
func NewFleet(cfg Config) (*Fleet, error) {
	th, err := cfg.Thresholds.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TrailLength == 0 {
		cfg.TrailLength = 100
	}
	if cfg.NodeLostAfter == 0 {
		cfg.NodeLostAfter = 3 * time.Second
	}
	if cfg.HistoryLength == 0 {
		cfg.HistoryLength = 6
	}
	if cfg.TrailLength < 0 || cfg.NodeLostAfter < 0 || cfg.HistoryLength < 0 {
		return nil, errors.New("model: TrailLength, NodeLostAfter and HistoryLength must be >= 0")
	}
	return &Fleet{th: th, now: cfg.Now, trailLen: cfg.TrailLength, nodeLostAfter: cfg.NodeLostAfter, historyLen: cfg.HistoryLength,
		drivers: make(map[string]*entry), nodes: make(map[string]*nodeState)}, nil
}

// Thresholds returns the fallback thresholds in force.
func (f *Fleet) Thresholds() Thresholds { return f.th }

// Now returns the fleet's clock reading.
func (f *Fleet) Now() time.Time { return f.now() }

// Version increases with every change of the fleet's state; a view redraws
// only when it differs from the one it drew (or when time alone ages fixes).
func (f *Fleet) Version() uint64 { return f.version.Load() }

// Ingest keeps d if it is newer (a higher cursor) than the driver's current
// fix and reports whether it did. A duplicate or an older fix arriving late
// is dropped and counted. The fix is also added to the trail when its
// driver is selected.
func (f *Fleet) Ingest(d Driver) bool {
	f.mu.Lock()
	e, ok := f.drivers[d.ID]
	if ok && e.Cursor >= d.Cursor {
		f.mu.Unlock()
		f.duplicates.Add(1)
		return false
	}
	if ok {
		e.Driver = d // a change this brings (back online) is noted by the next Tick
	} else {
		e = &entry{Driver: d, key: idKey(d.ID)}
		f.drivers[d.ID] = e
		f.noteLocked(e, f.now())
	}
	if d.ID == f.selected {
		f.trail = mergeTrail(f.trail, []TrailPoint{trailPoint(&d)}, f.trailLen)
	}
	f.mu.Unlock()
	f.ingested.Add(1)
	f.version.Add(1)
	return true
}

// IngestMessage decodes a stored location object received on subject with
// cursor and ingests it. A malformed message is counted and its error
// returned (wrapping ErrBadSubject or ErrMalformed); it never panics.
func (f *Fleet) IngestMessage(subject string, data []byte, cursor uint64) (bool, error) {
	d, err := DecodeFix(subject, data, cursor)
	if err != nil {
		f.Reject(err)
		return false, err
	}
	return f.Ingest(d), nil
}

// Reject counts a message that could not be ingested, by the kind of err.
func (f *Fleet) Reject(err error) {
	if errors.Is(err, ErrBadSubject) {
		f.badSubject.Add(1)
	} else {
		f.malformed.Add(1)
	}
}

// Reset forgets every driver's fix and the trail, keeping the selection,
// the announcements and the drivers they name. Use it when the stream of
// fixes was recreated and its cursors started again.
func (f *Fleet) Reset() {
	f.mu.Lock()
	for id, e := range f.drivers {
		if e.announced() {
			e.Driver = Driver{ID: id}
		} else {
			delete(f.drivers, id)
		}
	}
	f.trail = nil
	f.counts = Counts{}
	f.mu.Unlock()
	f.version.Add(1)
}

// Driver returns the driver's newest fix (Cursor 0 when it has none yet)
// and its liveness with the recent changes, and whether the driver is known.
func (f *Fleet) Driver(id string) (Driver, Liveness, bool) {
	now := f.now()
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.drivers[id]
	if !ok {
		return Driver{}, Liveness{}, false
	}
	return e.Driver, f.livenessLocked(e, now), true
}

// Len returns the number of drivers known.
func (f *Fleet) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.drivers)
}

// Stats are the fleet's counters.
type Stats struct {
	// Ingested counts fixes kept (newer than the driver's previous one).
	Ingested uint64
	// Duplicates counts fixes dropped because the driver already had that
	// cursor or a newer one.
	Duplicates uint64
	// Malformed counts messages whose payload was not a valid location object.
	Malformed uint64
	// BadSubject counts messages on a subject with no valid driver id.
	BadSubject uint64
	// Announcements counts liveness announcements kept (newer than the
	// driver's previous one), OlderAnnouncements those dropped as not
	// newer, and BadStatus the announcements and node heartbeats dropped
	// as invalid.
	Announcements, OlderAnnouncements, BadStatus uint64
}

// Stats returns the counters.
func (f *Fleet) Stats() Stats {
	return Stats{
		Ingested:   f.ingested.Load(),
		Duplicates: f.duplicates.Load(),
		Malformed:  f.malformed.Load(),
		BadSubject: f.badSubject.Load(),

		Announcements:      f.announcements.Load(),
		OlderAnnouncements: f.staleStatus.Load(),
		BadStatus:          f.badStatus.Load(),
	}
}

// Counts are how many drivers are in each state.
type Counts struct {
	Online, Stale, Offline int
}

// Total is the number of drivers.
func (c Counts) Total() int { return c.Online + c.Stale + c.Offline }

// Tick re-evaluates every driver at the clock's now: it notes the changes
// time alone brings (a node falls silent, a fix without announcement ages)
// in the drivers' histories and returns the counts.
func (f *Fleet) Tick() Counts {
	now := f.now()
	var c Counts
	changed := false
	f.mu.Lock()
	f.markLostLocked(now)
	for _, e := range f.drivers {
		if f.noteLocked(e, now) {
			changed = true
		}
		switch e.shown {
		case Online:
			c.Online++
		case Stale:
			c.Stale++
		default:
			c.Offline++
		}
	}
	changed = changed || c != f.counts
	f.counts = c
	f.mu.Unlock()
	if changed {
		f.version.Add(1)
	}
	return c
}

// Point is one driver on the map.
type Point struct {
	ID     string
	X, Y   float64 // Web-Mercator world coordinates in [0, 1)
	Status State
}

// Points appends the position and state at now of every driver with a fix
// to dst[:0] and returns it; reuse dst between frames to avoid allocating.
func (f *Fleet) Points(dst []Point) []Point {
	now := f.now()
	dst = dst[:0]
	f.mu.RLock()
	for id, e := range f.drivers {
		if e.HasFix() {
			st, _ := f.stateLocked(e, now)
			dst = append(dst, Point{ID: id, X: e.X, Y: e.Y, Status: st})
		}
	}
	f.mu.RUnlock()
	return dst
}

// SortKey is a column of the driver list.
type SortKey uint8

// The list's columns.
const (
	SortByID SortKey = iota
	SortByStatus
	SortByAge
	SortBySpeed
	SortByPosition
)

func (k SortKey) String() string {
	switch k {
	case SortByID:
		return "id"
	case SortByStatus:
		return "status"
	case SortByAge:
		return "age"
	case SortBySpeed:
		return "speed"
	case SortByPosition:
		return "position"
	}
	return fmt.Sprintf("SortKey(%d)", uint8(k))
}

// Query selects and orders the list's rows.
type Query struct {
	// Search keeps drivers whose id contains it (case-insensitive), or whose
	// state, reason or node name equals it. Empty keeps every driver.
	Search string
	// Problems keeps only the drivers whose state needs attention
	// (Problem: stale or offline), together with Search. Sort by SortByAge
	// with Desc for "longest silent first" (ProblemsFirst).
	Problems bool
	// Sort is the column; Desc reverses it. Ids are ordered naturally
	// (CompareIDs), and ties of every other column by id, ascending even
	// when Desc is set.
	Sort SortKey
	Desc bool
}

// ProblemsFirst is the list's "stale or offline, longest first" query: the
// drivers that need attention, the longest silent first, filtered by search.
func ProblemsFirst(search string) Query {
	return Query{Search: search, Problems: true, Sort: SortByAge, Desc: true}
}

// Never is the Age of a driver never seen sending a fix: it sorts as the
// longest silent.
const Never = time.Duration(math.MaxInt64)

// Row is one line of the driver list.
type Row struct {
	ID     string
	Status State
	Reason liveness.Reason
	// Age is how long ago the driver's newest fix was taken, or Never.
	Age time.Duration
	// HasFix is false for a driver announced but with no fix yet: Speed,
	// Lat and Lon are then NaN.
	HasFix   bool
	Speed    float64 // m/s, NaN when unknown
	Lat, Lon float64
	// Node owns the driver's connection (as announced), or stored its fix.
	Node string

	key string // idKey(ID)
}

// Rows returns the drivers matching q, ordered as q says, with ages and
// states at now.
func (f *Fleet) Rows(q Query) []Row {
	now := f.now()
	search := strings.ToLower(strings.TrimSpace(q.Search))
	f.mu.RLock()
	rows := make([]Row, 0, len(f.drivers))
	for id, e := range f.drivers {
		state, reason := f.stateLocked(e, now)
		if q.Problems && !Problem(state) {
			continue
		}
		node := e.Node
		if e.announced() {
			node = e.ann.Node
		}
		if search != "" && !strings.Contains(strings.ToLower(id), search) &&
			search != string(state) && search != string(reason) && search != strings.ToLower(node) {
			continue
		}
		r := Row{ID: id, Status: state, Reason: reason, Age: Never, Speed: math.NaN(), Lat: math.NaN(), Lon: math.NaN(), Node: node, key: e.key}
		switch {
		case e.HasFix():
			r.Age, r.HasFix, r.Speed, r.Lat, r.Lon = e.Age(now), true, e.Speed, e.Lat, e.Lon
		case e.announced() && e.ann.LastFix > 0:
			r.Age = now.Sub(time.UnixMilli(e.ann.LastFix))
		}
		rows = append(rows, r)
	}
	f.mu.RUnlock()
	sortRows(rows, q.Sort, q.Desc)
	return rows
}

// sortRows sorts rows in place. A row is large and holds pointers:
// sorting a permutation and then moving each row once costs less than
// swapping rows (each swap a copy with the GC's write barriers).
func sortRows(rows []Row, key SortKey, desc bool) {
	o := &rowOrder{rows: rows, perm: make([]int32, len(rows)), key: key, desc: desc}
	for i := range o.perm {
		o.perm[i] = int32(i)
	}
	sort.Sort(o)
	// Apply the permutation in place, one cycle at a time: position i
	// receives the row at perm[i].
	for i := range o.perm {
		if o.perm[i] < 0 || int(o.perm[i]) == i {
			continue
		}
		tmp := rows[i]
		j := i
		for {
			k := int(o.perm[j])
			o.perm[j] = -1
			if k == i {
				rows[j] = tmp
				break
			}
			rows[j] = rows[k]
			j = k
		}
	}
}

// rowOrder sorts a permutation of rows; its Less takes pointers, since
// copying rows into a comparison function costs more than comparing them.
type rowOrder struct {
	rows []Row
	perm []int32 // perm[i] is the index in rows of the i-th row in order
	key  SortKey
	desc bool
}

func (o *rowOrder) Len() int      { return len(o.perm) }
func (o *rowOrder) Swap(i, j int) { o.perm[i], o.perm[j] = o.perm[j], o.perm[i] }

func (o *rowOrder) Less(i, j int) bool {
	a, b := &o.rows[o.perm[i]], &o.rows[o.perm[j]]
	c := o.column(a, b)
	if o.desc {
		c = -c
	}
	if c == 0 && o.key != SortByID {
		c = compareKeyed(a.ID, a.key, b.ID, b.key) // ties ascending either way
	}
	return c < 0
}

// column compares a and b on the sort column only: -1, 0 or 1.
func (o *rowOrder) column(a, b *Row) int {
	switch o.key {
	case SortByID:
		return compareKeyed(a.ID, a.key, b.ID, b.key)
	case SortByStatus:
		return cmp.Compare(a.Status.Severity(), b.Status.Severity())
	case SortByAge:
		return cmp.Compare(a.Age, b.Age)
	case SortBySpeed:
		// Unknown speeds sort below every known one.
		return cmp.Compare(a.Speed, b.Speed) // NaN sorts first
	case SortByPosition:
		if c := cmp.Compare(a.Lat, b.Lat); c != 0 {
			return c
		}
		return cmp.Compare(a.Lon, b.Lon)
	}
	return 0
}
