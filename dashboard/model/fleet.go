package model

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Fleet. A zero field means the default in its comment.
type Config struct {
	// Thresholds decide freshness. Zero fields mean their defaults.
	Thresholds Thresholds
	// Now is the clock. Zero value means time.Now.
	Now func() time.Time
	// TrailLength is how many recent fixes of the selected driver the trail
	// keeps. Zero value means 100 (the stream's default history).
	TrailLength int
}

// Fleet is the newest fix of every driver, the freshness of each, and the
// selected driver with its trail. It is safe for concurrent use.
type Fleet struct {
	th       Thresholds
	now      func() time.Time
	trailLen int

	mu       sync.RWMutex
	drivers  map[string]*entry
	selected string
	trail    []TrailPoint // of selected, ascending cursor
	counts   Counts       // as of the last Tick

	version    atomic.Uint64 // bumped by every change of state
	ingested   atomic.Uint64
	duplicates atomic.Uint64
	malformed  atomic.Uint64
	badSubject atomic.Uint64
}

type entry struct {
	Driver
	status Status // as of the last Tick
	key    string // idKey(ID), for sorting
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
	if cfg.TrailLength < 0 {
		return nil, errors.New("model: TrailLength must be >= 0")
	}
	return &Fleet{th: th, now: cfg.Now, trailLen: cfg.TrailLength, drivers: make(map[string]*entry)}, nil
}

// Thresholds returns the freshness thresholds in force.
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
	if !ok {
		e = &entry{status: f.th.Status(d.Age(f.now())), key: idKey(d.ID)}
		f.drivers[d.ID] = e
	}
	e.Driver = d
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

// Reset forgets every driver and the trail, keeping the selection. Use it
// when the stream was recreated and its cursors started again.
func (f *Fleet) Reset() {
	f.mu.Lock()
	f.drivers = make(map[string]*entry)
	f.trail = nil
	f.counts = Counts{}
	f.mu.Unlock()
	f.version.Add(1)
}

// Driver returns the driver's current state.
func (f *Fleet) Driver(id string) (Driver, Status, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.drivers[id]
	if !ok {
		return Driver{}, Live, false
	}
	return e.Driver, f.th.Status(e.Age(f.now())), true
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
}

// Stats returns the counters.
func (f *Fleet) Stats() Stats {
	return Stats{
		Ingested:   f.ingested.Load(),
		Duplicates: f.duplicates.Load(),
		Malformed:  f.malformed.Load(),
		BadSubject: f.badSubject.Load(),
	}
}

// Counts are how many drivers are in each freshness state.
type Counts struct {
	Live, Stale, Offline int
}

// Active is the number of drivers that are not offline.
func (c Counts) Active() int { return c.Live + c.Stale }

// Total is the number of drivers.
func (c Counts) Total() int { return c.Live + c.Stale + c.Offline }

// Transition is a driver whose freshness changed between two Ticks.
type Transition struct {
	ID       string
	From, To Status
}

// Tick re-evaluates every driver's freshness at the clock's now and returns
// the counts and the drivers whose status changed since the last Tick (or
// since they appeared), ordered by id (CompareIDs). A driver's newer fix makes it live
// again at the next Tick.
func (f *Fleet) Tick() (Counts, []Transition) {
	now := f.now()
	var c Counts
	var tr []Transition
	f.mu.Lock()
	for id, e := range f.drivers {
		s := f.th.Status(e.Age(now))
		switch s {
		case Live:
			c.Live++
		case Stale:
			c.Stale++
		default:
			c.Offline++
		}
		if s != e.status {
			tr = append(tr, Transition{ID: id, From: e.status, To: s})
			e.status = s
		}
	}
	changed := c != f.counts || len(tr) > 0
	f.counts = c
	f.mu.Unlock()
	if changed {
		f.version.Add(1)
	}
	slices.SortFunc(tr, func(a, b Transition) int { return CompareIDs(a.ID, b.ID) })
	return c, tr
}

// Point is one driver on the map.
type Point struct {
	ID     string
	X, Y   float64 // Web-Mercator world coordinates in [0, 1)
	Status State
}

// Points appends every driver's position and freshness at now to dst[:0]
// and returns it; reuse dst between frames to avoid allocating.
func (f *Fleet) Points(dst []Point) []Point {
	now := f.now()
	dst = dst[:0]
	f.mu.RLock()
	for id, e := range f.drivers {
		dst = append(dst, Point{ID: id, X: e.X, Y: e.Y, Status: f.th.Status(e.Age(now))})
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
	// status or node name equals it. Empty keeps every driver.
	Search string
	// Problems keeps only the drivers whose state needs attention (State's
	// Problem: today stale or offline), together with Search. Sort by
	// SortByAge with Desc for "longest silent first" (ProblemsFirst).
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

// Row is one line of the driver list.
type Row struct {
	ID       string
	Status   State
	Age      time.Duration
	Speed    float64 // m/s, NaN when unknown
	Lat, Lon float64
	Node     string

	key string // idKey(ID)
}

// Rows returns the drivers matching q, ordered as q says, with ages at now.
func (f *Fleet) Rows(q Query) []Row {
	now := f.now()
	search := strings.ToLower(strings.TrimSpace(q.Search))
	f.mu.RLock()
	rows := make([]Row, 0, len(f.drivers))
	for id, e := range f.drivers {
		age := e.Age(now)
		st := f.th.Status(age)
		if q.Problems && !st.Problem() {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(id), search) &&
			search != st.String() && search != strings.ToLower(e.Node) {
			continue
		}
		rows = append(rows, Row{ID: id, Status: st, Age: age, Speed: e.Speed, Lat: e.Lat, Lon: e.Lon, Node: e.Node, key: e.key})
	}
	f.mu.RUnlock()
	sortRows(rows, q.Sort, q.Desc)
	return rows
}

func sortRows(rows []Row, key SortKey, desc bool) {
	sort.Sort(&rowOrder{rows: rows, key: key, desc: desc})
}

// rowOrder sorts rows in place; its Less takes pointers, since copying
// rows into a comparison function costs more than comparing them.
type rowOrder struct {
	rows []Row
	key  SortKey
	desc bool
}

func (o *rowOrder) Len() int      { return len(o.rows) }
func (o *rowOrder) Swap(i, j int) { o.rows[i], o.rows[j] = o.rows[j], o.rows[i] }

func (o *rowOrder) Less(i, j int) bool {
	a, b := &o.rows[i], &o.rows[j]
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
