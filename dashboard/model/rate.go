package model

import "time"

// Rate measures events per second from a growing counter over a sliding
// window. It is not safe for concurrent use: the view owns it.
type Rate struct {
	window  time.Duration
	samples []rateSample // ascending time
}

type rateSample struct {
	at    time.Time
	count uint64
}

// NewRate returns a Rate over window (zero value means 5 s).
func NewRate(window time.Duration) *Rate {
	if window <= 0 {
		window = 5 * time.Second
	}
	return &Rate{window: window}
}

// Observe records the counter's value at now and returns the rate per
// second over the window (0 until two samples span some time).
func (r *Rate) Observe(now time.Time, count uint64) float64 {
	r.samples = append(r.samples, rateSample{now, count})
	// Keep one sample at or before the window's start.
	cut := 0
	for cut+1 < len(r.samples) && !r.samples[cut+1].at.After(now.Add(-r.window)) {
		cut++
	}
	r.samples = r.samples[cut:]
	first := r.samples[0]
	dt := now.Sub(first.at).Seconds()
	if dt <= 0 || count < first.count {
		return 0
	}
	return float64(count-first.count) / dt
}
