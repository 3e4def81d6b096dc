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
	// Lost counts seqs the driver sent (and had acked) that never arrived.
	Lost int `json:"lost"`
}

// Add sums d and o.
func (d Delivery) Add(o Delivery) Delivery {
	return Delivery{d.Received + o.Received, d.Unique + o.Unique, d.Duplicates + o.Duplicates, d.OutOfOrder + o.OutOfOrder, d.Lost + o.Lost}
}

// Tracker follows one rider's locations of one driver, by seq (from 1).
// It is safe for concurrent use.
type Tracker struct {
	mu   sync.Mutex
	seen []bool // by seq
	max  uint64
	d    Delivery
}

// Observe records a received seq and reports whether it was new.
func (t *Tracker) Observe(seq uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.d.Received++
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
	return seq < uint64(len(t.seen)) && t.seen[seq]
}

// Result returns the counts, with Lost counting the seqs in expected that
// never arrived.
func (t *Tracker) Result(expected []uint64) Delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.d
	for _, s := range expected {
		if s >= uint64(len(t.seen)) || !t.seen[s] {
			d.Lost++
		}
	}
	return d
}
