package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtls-io/rtls/liveness"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for freshness tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func newFleet(t testing.TB, c *clock, th Thresholds) *Fleet {
	t.Helper()
	f, err := NewFleet(Config{Thresholds: th, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func drv(id string, cursor uint64, lat, lon float64, at time.Time) Driver {
	d := Driver{ID: id, Lat: lat, Lon: lon, Speed: 5, Heading: 90, Accuracy: math.NaN(), FixTime: at, Received: at, Node: "n1", Cursor: cursor}
	d.X, d.Y = Project(lat, lon)
	return d
}

func TestIngestKeepsNewestByCursor(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	// Arrival order: 5, 3 (older, late), 5 (duplicate), 7, 6 (older), 7 (duplicate).
	arrivals := []struct {
		cursor uint64
		lat    float64
		kept   bool
	}{{5, 1.5, true}, {3, 1.3, false}, {5, 9.9, false}, {7, 1.7, true}, {6, 1.6, false}, {7, 9.9, false}}
	for _, a := range arrivals {
		if got := f.Ingest(drv("d-1", a.cursor, a.lat, 2, t0)); got != a.kept {
			t.Errorf("Ingest cursor %d = %v, want %v", a.cursor, got, a.kept)
		}
	}
	d, _, ok := f.Driver("d-1")
	if !ok || d.Cursor != 7 || d.Lat != 1.7 {
		t.Fatalf("driver = %+v %v, want cursor 7 at lat 1.7", d, ok)
	}
	if s := f.Stats(); s.Ingested != 2 || s.Duplicates != 4 {
		t.Fatalf("stats = %+v, want 2 ingested, 4 duplicates", s)
	}
	if f.Len() != 1 {
		t.Fatalf("Len = %d", f.Len())
	}
}

func TestIngestConcurrentKeepsNewest(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	var wg sync.WaitGroup
	const drivers, fixes = 50, 200
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			// Each worker sends every cursor in a different order.
			for i := 0; i < fixes; i++ {
				cur := uint64((i*(w+3))%fixes + 1)
				for d := 0; d < drivers; d++ {
					f.Ingest(drv(fmt.Sprintf("d-%d", d), cur, float64(cur)/1000, 0, t0))
				}
			}
		}(w)
	}
	wg.Wait()
	for d := 0; d < drivers; d++ {
		got, _, _ := f.Driver(fmt.Sprintf("d-%d", d))
		if got.Cursor != fixes || got.Lat != float64(fixes)/1000 {
			t.Fatalf("driver d-%d = cursor %d lat %v, want %d", d, got.Cursor, got.Lat, fixes)
		}
	}
}

// A driver no node announced: its state follows its fix's age (reason
// fix-age), each change noted in its history with the time it happened.
func TestFallbackFreshnessAtThresholds(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{StaleAfter: 10 * time.Second, OfflineAfter: time.Minute})
	f.Ingest(drv("a", 1, 0, 0, t0))
	f.Ingest(drv("b", 2, 0, 0, t0.Add(5*time.Second)))

	steps := []struct {
		at     time.Duration
		counts Counts
		a      State
	}{
		{0, Counts{Online: 2}, Online},
		{10*time.Second - time.Millisecond, Counts{Online: 2}, Online},
		{10 * time.Second, Counts{Online: 1, Stale: 1}, Stale},
		{15 * time.Second, Counts{Stale: 2}, Stale},
		{time.Minute - time.Nanosecond, Counts{Stale: 2}, Stale},
		{time.Minute, Counts{Stale: 1, Offline: 1}, Offline},
		{65 * time.Second, Counts{Offline: 2}, Offline},
	}
	for _, s := range steps {
		c.Set(t0.Add(s.at))
		if counts := f.Tick(); counts != s.counts {
			t.Fatalf("at +%v: counts %+v, want %+v", s.at, counts, s.counts)
		}
		if _, l, _ := f.Driver("a"); l.State != s.a || l.Reason != FixAge || l.Announced {
			t.Fatalf("at +%v: a is %+v, want %s (fix-age)", s.at, l, s.a)
		}
	}
	if n := f.Rows(Query{})[0]; n.Status != Offline || n.Reason != FixAge {
		t.Fatalf("row status %v %v, want offline fix-age", n.Status, n.Reason)
	}
	// A new fix brings a driver back.
	f.Ingest(drv("a", 3, 0, 0, c.Now()))
	counts := f.Tick()
	if want := (Counts{Online: 1, Offline: 1}); counts != want || counts.Total() != 2 {
		t.Fatalf("after a new fix: %+v", counts)
	}
	_, l, _ := f.Driver("a")
	want := []liveness.Status{
		{State: Online, Reason: FixAge, Since: t0.Add(65 * time.Second)},
		{State: Offline, Reason: FixAge, Since: t0.Add(time.Minute)},
		{State: Stale, Reason: FixAge, Since: t0.Add(10 * time.Second)},
		{State: Online, Reason: FixAge, Since: t0},
	}
	if !reflect.DeepEqual(l.History, want) || l.Since != want[0].Since {
		t.Fatalf("history %+v\nwant %+v", l.History, want)
	}
}

func TestThresholds(t *testing.T) {
	for _, th := range []Thresholds{{StaleAfter: time.Minute, OfflineAfter: time.Second}, {StaleAfter: -1}, {StaleAfter: time.Hour}} {
		if _, err := NewFleet(Config{Thresholds: th}); !errors.Is(err, ErrInvalidThresholds) {
			t.Errorf("NewFleet(%+v) = %v, want ErrInvalidThresholds", th, err)
		}
	}
	f, err := NewFleet(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Thresholds(); got.StaleAfter != DefaultStaleAfter || got.OfflineAfter != DefaultOfflineAfter {
		t.Fatalf("defaults = %+v", got)
	}
	if got := f.Thresholds().Status(-time.Hour); got != Online {
		t.Fatalf("a fix from the future is %v", got)
	}
}

func TestFixTimeUsesOlderDeviceTime(t *testing.T) {
	// A phone repeating an old fix: device time 10 min before the node received it.
	d, err := DecodeFix("rtls.live.d-1", []byte(`{"driver":"d-1","latitude":1,"longitude":2,"ts":1764412200000,"time":1764412800000}`), 9)
	if err != nil {
		t.Fatal(err)
	}
	if !d.FixTime.Equal(time.UnixMilli(1764412200000)) {
		t.Fatalf("FixTime %v, want the device time", d.FixTime)
	}
	// A device clock ahead of the node's: the node's time counts.
	d, _ = DecodeFix("rtls.live.d-1", []byte(`{"driver":"d-1","latitude":1,"longitude":2,"ts":1764412900000,"time":1764412800000}`), 9)
	if !d.FixTime.Equal(time.UnixMilli(1764412800000)) {
		t.Fatalf("FixTime %v, want the node time", d.FixTime)
	}
}

func TestDecodeFix(t *testing.T) {
	good := `{"driver":"d-1","latitude":12.9716,"longitude":77.5946,"seq":42,"ts":1764412800000,"speed":8.3,"heading":271,"time":1764412800311,"node":"n1"}`
	d, err := DecodeFix("rtls.live.d-1", []byte(good), 1234)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "d-1" || d.Lat != 12.9716 || d.Lon != 77.5946 || d.Speed != 8.3 || d.Heading != 271 || d.Node != "n1" || d.Cursor != 1234 || d.Seq != 42 || !math.IsNaN(d.Accuracy) {
		t.Fatalf("decoded %+v", d)
	}
	for _, tc := range []struct {
		name, subject, data string
		cursor              uint64
		want                error
	}{
		{"not json", "rtls.live.d-1", `{"latitude":`, 1, ErrMalformed},
		{"not an object", "rtls.live.d-1", `[1,2]`, 1, ErrMalformed},
		{"latitude out of range", "rtls.live.d-1", `{"latitude":95,"longitude":0}`, 1, ErrMalformed},
		{"other driver", "rtls.live.d-1", `{"driver":"d-2","latitude":1,"longitude":0}`, 1, ErrMalformed},
		{"negative speed", "rtls.live.d-1", `{"latitude":1,"longitude":0,"speed":-1}`, 1, ErrMalformed},
		{"no cursor", "rtls.live.d-1", good, 0, ErrMalformed},
		{"bad id", "rtls.live.d\u00fc", good, 1, ErrBadSubject},
		{"other subject", "rtls.other.d-1", good, 1, ErrBadSubject},
		{"empty id", "rtls.live.", good, 1, ErrBadSubject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{now: t0}
			f := newFleet(t, c, Thresholds{})
			_, err := f.IngestMessage(tc.subject, []byte(tc.data), tc.cursor)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			s := f.Stats()
			if f.Len() != 0 || s.Malformed+s.BadSubject != 1 || (tc.want == ErrBadSubject) != (s.BadSubject == 1) {
				t.Fatalf("len %d stats %+v", f.Len(), s)
			}
		})
	}
}

func TestRowsSearchAndSort(t *testing.T) {
	c := &clock{now: t0.Add(30 * time.Second)}
	f := newFleet(t, c, Thresholds{StaleAfter: 10 * time.Second, OfflineAfter: 25 * time.Second})
	a := drv("alpha", 1, 10, 10, t0.Add(25*time.Second)) // live, age 5 s
	a.Speed = 3
	b := drv("bravo", 2, 30, 5, t0.Add(15*time.Second)) // stale, age 15 s
	b.Speed = math.NaN()
	b.Node = "n2"
	cc := drv("Charlie-1", 3, 20, 0, t0) // offline, age 30 s
	cc.Speed = 9
	for _, d := range []Driver{a, b, cc} {
		f.Ingest(d)
	}
	ids := func(rows []Row) []string {
		out := []string{}
		for _, r := range rows {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    Query
		want []string
	}{
		{Query{}, []string{"alpha", "bravo", "Charlie-1"}}, // case ignored (CompareIDs)
		{Query{Desc: true}, []string{"Charlie-1", "bravo", "alpha"}},
		{Query{Sort: SortByStatus}, []string{"alpha", "bravo", "Charlie-1"}},
		{Query{Sort: SortByAge, Desc: true}, []string{"Charlie-1", "bravo", "alpha"}},
		{Query{Sort: SortBySpeed}, []string{"bravo", "alpha", "Charlie-1"}},
		{Query{Sort: SortByPosition}, []string{"alpha", "Charlie-1", "bravo"}},
		{Query{Search: "AL"}, []string{"alpha"}},
		{Query{Search: "charlie"}, []string{"Charlie-1"}},
		{Query{Search: " stale "}, []string{"bravo"}},
		{Query{Search: "n2"}, []string{"bravo"}},
		{Query{Search: "zulu"}, []string{}},
		{Query{Problems: true}, []string{"bravo", "Charlie-1"}},
		{ProblemsFirst(""), []string{"Charlie-1", "bravo"}},
		{ProblemsFirst("BRA"), []string{"bravo"}},
		{ProblemsFirst("alpha"), []string{}},
		{ProblemsFirst("offline"), []string{"Charlie-1"}},
	} {
		if got := ids(f.Rows(tc.q)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Rows(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	r := f.Rows(Query{Search: "alpha"})[0]
	if r.Age != 5*time.Second || r.Status != Online || r.Reason != FixAge || !r.HasFix || r.Speed != 3 || r.Lat != 10 {
		t.Fatalf("row %+v", r)
	}
}

// The list's "stale or offline, longest first": only drivers that are not
// live, the longest silent first, ties by natural id; it follows the clock
// and combines with the search box.
func TestRowsProblemsFirst(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{StaleAfter: 10 * time.Second, OfflineAfter: time.Minute})
	ages := map[string]time.Duration{
		"sim-1": 2 * time.Second, "sim-2": 20 * time.Second, "sim-10": 20 * time.Second, "sim-3": 90 * time.Second,
		"sim-11": 11 * time.Second, "taxi-9": 5 * time.Minute, "sim-4": 9 * time.Second, "sim-20": 20 * time.Second,
	}
	var cursor uint64
	for _, id := range []string{"sim-1", "sim-2", "sim-10", "sim-3", "sim-11", "taxi-9", "sim-4", "sim-20"} {
		cursor++
		f.Ingest(drv(id, cursor, 1, 1, t0.Add(-ages[id])))
	}
	rows := func(q Query) string {
		var out []string
		for _, r := range f.Rows(q) {
			if !Problem(r.Status) {
				t.Errorf("row %s is %v, not a problem", r.ID, r.Status)
			}
			out = append(out, r.ID)
		}
		return strings.Join(out, " ")
	}
	if got, want := rows(ProblemsFirst("")), "taxi-9 sim-3 sim-2 sim-10 sim-20 sim-11"; got != want {
		t.Fatalf("problems first:\n got %s\nwant %s", got, want)
	}
	if got, want := rows(ProblemsFirst("sim")), "sim-3 sim-2 sim-10 sim-20 sim-11"; got != want {
		t.Fatalf("problems first, searching sim: %s", got)
	}
	if got, want := rows(ProblemsFirst("stale")), "sim-2 sim-10 sim-20 sim-11"; got != want {
		t.Fatalf("problems first, searching stale: %s", got)
	}
	// Time passes: sim-4 goes stale and joins at the end, sim-11 is still
	// the shortest silent of the others.
	c.Set(t0.Add(2 * time.Second))
	if got, want := rows(ProblemsFirst("")), "taxi-9 sim-3 sim-2 sim-10 sim-20 sim-11 sim-4"; got != want {
		t.Fatalf("two seconds later:\n got %s\nwant %s", got, want)
	}
	// A new fix makes a driver live: it leaves the list.
	cursor++
	f.Ingest(drv("sim-3", cursor, 1, 1, c.Now()))
	if got, want := rows(ProblemsFirst("")), "taxi-9 sim-2 sim-10 sim-20 sim-11 sim-4"; got != want {
		t.Fatalf("after sim-3 reported: %s", got)
	}
}

// Ids sort naturally in the list, and break ties of other columns.
func TestRowsNaturalIDOrder(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	for i, id := range []string{"sim-10", "sim-2", "Sim-3", "sim-1", "sim-100", "sim-02"} {
		f.Ingest(drv(id, uint64(i+1), 1, 1, t0))
	}
	ids := func(q Query) string {
		var out []string
		for _, r := range f.Rows(q) {
			out = append(out, r.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		q    Query
		want string
	}{
		{Query{}, "sim-1 sim-2 sim-02 Sim-3 sim-10 sim-100"},
		{Query{Desc: true}, "sim-100 sim-10 Sim-3 sim-02 sim-2 sim-1"},
		// Equal speeds: ties by id, ascending even when descending.
		{Query{Sort: SortBySpeed}, "sim-1 sim-2 sim-02 Sim-3 sim-10 sim-100"},
		{Query{Sort: SortBySpeed, Desc: true}, "sim-1 sim-2 sim-02 Sim-3 sim-10 sim-100"},
	} {
		if got := ids(tc.q); got != tc.want {
			t.Errorf("Rows(%+v):\n got %s\nwant %s", tc.q, got, tc.want)
		}
	}
}

func TestSelectionAndTrail(t *testing.T) {
	c := &clock{now: t0}
	f, err := NewFleet(Config{Now: c.Now, TrailLength: 4})
	if err != nil {
		t.Fatal(err)
	}
	f.Ingest(drv("d-1", 10, 1, 1, t0))
	f.Ingest(drv("d-2", 11, 2, 2, t0))
	if !f.Select("d-1") || f.Select("d-1") {
		t.Fatal("Select reports changes wrongly")
	}
	if f.Selected() != "d-1" {
		t.Fatal(f.Selected())
	}
	cursors := func() []uint64 {
		out := []uint64{}
		for _, p := range f.Trail() {
			out = append(out, p.Cursor)
		}
		return out
	}
	if got := cursors(); !reflect.DeepEqual(got, []uint64{10}) {
		t.Fatalf("trail after select %v", got)
	}
	// A live fix arrives before the history read returns.
	f.Ingest(drv("d-1", 12, 1.1, 1, t0))
	f.Ingest(drv("d-2", 13, 2.1, 2, t0)) // not selected: not in the trail
	if !f.SetTrail("d-1", []Driver{drv("d-1", 3, 0, 0, t0), drv("d-1", 7, 0, 0, t0), drv("d-1", 10, 1, 1, t0), drv("d-1", 5, 0, 0, t0)}) {
		t.Fatal("SetTrail for the selected driver refused")
	}
	if got := cursors(); !reflect.DeepEqual(got, []uint64{5, 7, 10, 12}) {
		t.Fatalf("merged trail %v, want the newest 4 ascending", got)
	}
	if f.SetTrail("d-2", []Driver{drv("d-2", 1, 0, 0, t0)}) {
		t.Fatal("SetTrail for another driver accepted")
	}
	f.Select("d-2")
	if got := cursors(); !reflect.DeepEqual(got, []uint64{13}) {
		t.Fatalf("trail after selecting d-2 %v", got)
	}
	f.Select("")
	if len(f.Trail()) != 0 {
		t.Fatal("trail without selection")
	}
	f.Reset()
	if f.Len() != 0 {
		t.Fatal("Reset kept drivers")
	}
}

func TestPointsAndVersion(t *testing.T) {
	c := &clock{now: t0}
	f := newFleet(t, c, Thresholds{})
	v0 := f.Version()
	f.Ingest(drv("d-1", 1, 0, 0, t0))
	if f.Version() == v0 {
		t.Fatal("version unchanged by ingest")
	}
	pts := f.Points(nil)
	if len(pts) != 1 || pts[0].ID != "d-1" || pts[0].X != 0.5 || pts[0].Y != 0.5 || pts[0].Status != Online {
		t.Fatalf("points %+v", pts)
	}
}

func TestRate(t *testing.T) {
	r := NewRate(2 * time.Second)
	if got := r.Observe(t0, 100); got != 0 {
		t.Fatalf("first sample rate %v", got)
	}
	r.Observe(t0.Add(time.Second), 200)
	if got := r.Observe(t0.Add(2*time.Second), 500); got != 200 {
		t.Fatalf("rate %v, want 200/s over 2 s", got)
	}
	if got := r.Observe(t0.Add(3*time.Second), 500); got != 150 {
		t.Fatalf("rate %v, want (500-200)/2", got)
	}
}

// sortRows moves every row once through a permutation: the result is the
// same rows, each pair in order, for every column and direction.
func TestSortRowsPermutation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 500} {
		for key := SortByID; key <= SortByPosition; key++ {
			for _, desc := range []bool{false, true} {
				rows := make([]Row, n)
				for i := range rows {
					id := fmt.Sprintf("d-%d", r.IntN(1000)*1000+i) // unique
					rows[i] = Row{ID: id, key: idKey(id), Status: [...]State{Online, Stale, Offline}[r.IntN(3)],
						Age: time.Duration(r.IntN(5)) * time.Second, Speed: float64(r.IntN(4)), Lat: float64(r.IntN(3)), Lon: float64(r.IntN(3))}
				}
				want := map[string]Row{}
				for _, row := range rows {
					want[row.ID] = row
				}
				sortRows(rows, key, desc)
				o := &rowOrder{rows: rows, perm: make([]int32, len(rows)), key: key, desc: desc}
				for i := range o.perm {
					o.perm[i] = int32(i)
				}
				for i := 1; i < len(rows); i++ {
					if o.Less(i, i-1) {
						t.Fatalf("n %d key %v desc %v: rows %d and %d out of order: %+v %+v", n, key, desc, i-1, i, rows[i-1], rows[i])
					}
				}
				for _, row := range rows {
					if want[row.ID] != row {
						t.Fatalf("row %s changed or repeated", row.ID)
					}
					delete(want, row.ID)
				}
				if len(want) != 0 {
					t.Fatalf("%d rows lost", len(want))
				}
			}
		}
	}
}
