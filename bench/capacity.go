package bench

import (
	"math"
)

// Outcome is how a step did, for a Search.
type Outcome int

const (
	// Failed: not sustained.
	Failed Outcome = iota
	// FailedOnLatency: not sustained on latency alone, with no loss. On a
	// shared machine a pause elsewhere is enough for that, and such a step
	// costs no drain, so a Search runs the rate once more.
	FailedOnLatency
	// Passed: sustained.
	Passed
)

// OutcomeOf judges a step (see Sustained).
func OutcomeOf(s StepResult) Outcome {
	switch {
	case Sustained(s):
		return Passed
	case s.ConnectionsFailed == 0 && s.Lost == 0 && s.LossRate == 0 && s.Latency.Count > 0:
		return FailedOnLatency
	}
	return Failed
}

// Search finds the capacity: the highest per-driver rate whose step is
// sustained (see Sustained). It tries the Coarse rates in ascending order
// until one fails, then bisects between the last sustained rate and the
// first failed one, Refine times at most, stopping earlier once the gap is
// within Resolution of the sustained rate. Each rate is rounded to two
// significant digits. The outcome of each step is given to Record; Next
// says which rate to try next. A Search is a pure state machine: it runs no
// step itself.
//
// Measurements are noisy: a rate that failed on latency alone is tried once
// more and fails only if the second try fails too; a rate that lost fixes
// is not retried. Search reports the highest rate that passed in its
// ladder, and the lowest that failed above it.
type Search struct {
	// Coarse lists the rates per driver to try first, ascending.
	Coarse []float64
	// Refine is the most bisection steps after the first failure.
	Refine int
	// Resolution ends the bisection when (failed − sustained) ≤
	// Resolution × sustained. Zero value means 0.1.
	Resolution float64

	next      int     // index into Coarse while coarse
	refined   int     // bisection steps so far
	bisecting bool    // a coarse rate failed
	good, bad float64 // highest sustained rate, lowest failed one (0: none)
	retry     float64 // a rate that failed on latency, to try once more
	retried   float64 // the rate last tried again
	done      bool
}

// Next returns the rate to try next, or false when the search is over.
func (s *Search) Next() (float64, bool) {
	if s.done {
		return 0, false
	}
	if s.retry > 0 {
		return s.retry, true
	}
	if !s.bisecting {
		if s.next >= len(s.Coarse) {
			s.done = true
			return 0, false
		}
		return s.Coarse[s.next], true
	}
	res := s.Resolution
	if res == 0 {
		res = 0.1
	}
	if s.refined >= s.Refine || (s.good > 0 && s.bad-s.good <= res*s.good) {
		s.done = true
		return 0, false
	}
	mid := roundRate((s.good + s.bad) / 2)
	if mid <= s.good || mid >= s.bad {
		s.done = true
		return 0, false
	}
	return mid, true
}

// Record gives the outcome of the step at rate.
func (s *Search) Record(rate float64, o Outcome) {
	if s.retry > 0 {
		s.retry, s.retried = 0, rate
	} else if o == FailedOnLatency && s.retried != rate {
		s.retry = rate // decided by the next try
		return
	}
	sustained := o == Passed
	if sustained {
		s.good = max(s.good, rate)
	} else if s.bad == 0 || rate < s.bad {
		s.bad = rate
	}
	if s.bisecting {
		s.refined++
		return
	}
	s.next++
	if !sustained {
		s.bisecting = true
	}
}

// Capacity returns the highest sustained rate (0: none) and the lowest
// failed rate above it (0: every rate tried was sustained, so the capacity
// is at least the rate returned).
func (s *Search) Capacity() (sustained, failed float64) {
	return s.good, s.bad
}

// roundRate rounds a rate to two significant digits.
func roundRate(r float64) float64 {
	if r <= 0 {
		return 0
	}
	e := math.Floor(math.Log10(r)) - 1
	if e >= 0 {
		p := math.Pow(10, e)
		return math.Round(r/p) * p
	}
	p := math.Pow(10, -e) // divide by an exact power of ten: 2.5, not 2.5000000000000004
	return math.Round(r*p) / p
}
