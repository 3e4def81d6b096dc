package model

import (
	"cmp"
	"slices"
	"time"
)

// TrailPoint is one recent fix of the selected driver.
type TrailPoint struct {
	Lat, Lon float64
	X, Y     float64 // Web-Mercator world coordinates in [0, 1)
	Cursor   uint64
	FixTime  time.Time
}

func trailPoint(d *Driver) TrailPoint {
	return TrailPoint{Lat: d.Lat, Lon: d.Lon, X: d.X, Y: d.Y, Cursor: d.Cursor, FixTime: d.FixTime}
}

// Select makes id the selected driver ("" for none) and reports whether the
// selection changed. Selecting another driver clears the trail until
// SetTrail brings its history; a driver that is not (yet) known may be
// selected.
func (f *Fleet) Select(id string) bool {
	f.mu.Lock()
	if id == f.selected {
		f.mu.Unlock()
		return false
	}
	f.selected = id
	f.trail = nil
	if e, ok := f.drivers[id]; ok {
		f.trail = []TrailPoint{trailPoint(&e.Driver)}
	}
	f.mu.Unlock()
	f.version.Add(1)
	return true
}

// Selected returns the selected driver's id, or "".
func (f *Fleet) Selected() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.selected
}

// SetTrail merges history, fixes of driver read from the stream, into the
// trail if driver is still the selected one, keeping cursors unique and
// ascending and at most TrailLength points. It reports whether it did.
func (f *Fleet) SetTrail(driver string, history []Driver) bool {
	pts := make([]TrailPoint, len(history))
	for i := range history {
		pts[i] = trailPoint(&history[i])
	}
	f.mu.Lock()
	if driver != f.selected {
		f.mu.Unlock()
		return false
	}
	f.trail = mergeTrail(f.trail, pts, f.trailLen)
	f.mu.Unlock()
	f.version.Add(1)
	return true
}

// Trail returns a copy of the selected driver's trail, oldest first.
func (f *Fleet) Trail() []TrailPoint {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]TrailPoint(nil), f.trail...)
}

// mergeTrail merges add into trail (both ascending by cursor, add in any
// order), drops duplicate cursors and keeps the newest max points.
func mergeTrail(trail, add []TrailPoint, max int) []TrailPoint {
	if max == 0 {
		return nil
	}
	// The common case: one live fix newer than everything.
	if len(add) == 1 && (len(trail) == 0 || add[0].Cursor > trail[len(trail)-1].Cursor) {
		trail = append(trail, add[0])
	} else {
		seen := make(map[uint64]bool, len(trail)+len(add))
		out := make([]TrailPoint, 0, len(trail)+len(add))
		for _, p := range append(append([]TrailPoint(nil), trail...), add...) {
			if !seen[p.Cursor] {
				seen[p.Cursor] = true
				out = append(out, p)
			}
		}
		sortTrail(out)
		trail = out
	}
	if len(trail) > max {
		trail = append(trail[:0:0], trail[len(trail)-max:]...)
	}
	return trail
}

func sortTrail(t []TrailPoint) {
	slices.SortFunc(t, func(a, b TrailPoint) int { return cmp.Compare(a.Cursor, b.Cursor) })
}
