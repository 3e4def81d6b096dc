package bench

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Summarize returns the percentiles of samples (nearest rank). It sorts
// samples in place.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latency{
		Count: len(samples),
		P50:   ms(Percentile(samples, 50)),
		P90:   ms(Percentile(samples, 90)),
		P99:   ms(Percentile(samples, 99)),
		P999:  ms(Percentile(samples, 99.9)),
		Max:   ms(samples[len(samples)-1]),
		Mean:  ms(sum / time.Duration(len(samples))),
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted samples: the smallest sample such that at least p % of the samples
// are at or below it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9)) // 1e-9: 99.9 is not exact in binary
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Delivery counts what one rider received of its driver's fixes.
type Delivery struct {
	// Received counts every location, duplicates included.
	Received int `json:"received"`
	// Unique counts distinct seqs.
	Unique int `json:"unique"`
	// Duplicates counts locations whose seq had been received before.
	Duplicates int `json:"duplicates"`
	// OutOfOrder counts new seqs lower than one received before.
	OutOfOrder int `json:"out_of_order"`
	// Lost counts seqs the driver sent (and had acked) that never arrived
	// and that the node never said it skipped.
	Lost int `json:"lost"`
	// Skipped counts acked seqs that never arrived because the node skipped
	// them on purpose and said so: latest wins for a slow reader, and the
	// next location's prev (the driver's previous cursor) lies beyond the
	// last cursor the rider got.
	Skipped int `json:"skipped_announced,omitempty"`
}

// Add sums d and o.
func (d Delivery) Add(o Delivery) Delivery {
	return Delivery{d.Received + o.Received, d.Unique + o.Unique, d.Duplicates + o.Duplicates, d.OutOfOrder + o.OutOfOrder, d.Lost + o.Lost, d.Skipped + o.Skipped}
}

// Stored is an acked fix: its seq and the cursor its ack gave.
type Stored struct {
	Seq, Cursor uint64
}

// span is the cursors in (after, upTo].
type span struct{ after, upTo uint64 }

// Tracker follows one rider's locations of one driver, by seq (from 1), and
// the skips the node announced: a location whose prev is beyond the cursor
// of the last location the rider got says that the driver's fixes in
// between were skipped on purpose. It may cover only part of the driver's
// fixes (After, Stop): a rider that tracked the driver late or left it.
// It is safe for concurrent use.
type Tracker struct {
	mu      sync.Mutex
	seen    []bool // by seq
	max     uint64
	from    uint64 // fixes at or before it are not expected
	started bool   // After was called
	got     bool   // a location was received
	first   uint64 // the driver's fix before the first location received
	last    uint64 // cursor of the newest location received, or the tracking's
	stopped bool   // no location beyond last counts
	skips   []span
	d       Delivery
}

// After says that tracking started with the driver's fix at cursor
// (Tracking.Cursor) as its newest: fixes at or before it are not the
// rider's to get, except those the node delivered live while it read
// history, before the tracking frame (the tracking's cursor covers them
// too). The first location received tells which: the fixes after its prev
// are the rider's.
func (t *Tracker) After(cursor uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.started, t.from = true, cursor
	if t.got {
		t.from = min(t.from, t.first)
	}
	t.last = max(t.last, cursor)
}

// Stop ends the tracking: locations received from now on, beyond the last
// one received, are ignored, and so are the fixes stored after it.
func (t *Tracker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
}

// Observe records a received location (its seq, cursor and prev, 0 when the
// node sent none) and reports whether it was new and within the tracking.
func (t *Tracker) Observe(seq, cursor, prev uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped && cursor > t.last {
		return false
	}
	t.d.Received++
	if !t.got {
		// The driver's fix before the first one received: its prev, or
		// (unknown) just before it.
		t.got, t.first = true, prev
		if prev == 0 && cursor > 0 {
			t.first = cursor - 1
		}
		if t.started {
			t.from = min(t.from, t.first)
		}
	}
	if prev != 0 && prev > t.last && cursor > prev {
		t.skips = append(t.skips, span{t.last, prev})
	}
	t.last = max(t.last, cursor)
	for uint64(len(t.seen)) <= seq {
		t.seen = append(t.seen, false)
	}
	if t.seen[seq] {
		t.d.Duplicates++
		return false
	}
	t.seen[seq] = true
	t.d.Unique++
	if seq < t.max {
		t.d.OutOfOrder++
	}
	t.max = max(t.max, seq)
	return true
}

// Seen reports whether seq has been received.
func (t *Tracker) Seen(seq uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seenLocked(seq)
}

func (t *Tracker) seenLocked(seq uint64) bool {
	return seq < uint64(len(t.seen)) && t.seen[seq]
}

// skippedLocked reports whether the node announced that it skipped the fix
// at cursor. The lock is held.
func (t *Tracker) skippedLocked(cursor uint64) bool {
	for _, s := range t.skips {
		if cursor > s.after && cursor <= s.upTo {
			return true
		}
	}
	return false
}

// Settled reports whether the rider is done with an acked fix: received,
// skipped with notice, or not its to get.
func (t *Tracker) Settled(s Stored) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seenLocked(s.Seq) || !t.coversLocked(s) || t.skippedLocked(s.Cursor)
}

// coversLocked reports whether an acked fix is within the tracking: stored
// after its start and, once stopped, at or before the last location
// received. A fix without a cursor is covered by a tracking from the start
// that runs. The lock is held.
func (t *Tracker) coversLocked(s Stored) bool {
	if s.Cursor == 0 {
		return t.from == 0 && !t.stopped
	}
	return s.Cursor > t.from && (!t.stopped || s.Cursor <= t.last)
}

// Result returns the counts, with Lost and Skipped counting the acked fixes
// in expected that never arrived (skipped: the node said so), and how many
// of expected the tracking covered.
func (t *Tracker) Result(expected []Stored) (Delivery, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, covered := t.d, 0
	for _, s := range expected {
		if !t.coversLocked(s) {
			continue
		}
		covered++
		switch {
		case t.seenLocked(s.Seq):
		case s.Cursor != 0 && t.skippedLocked(s.Cursor):
			d.Skipped++
		default:
			d.Lost++
		}
	}
	return d, covered
}
