package bench

import (
	"fmt"
	"slices"
	"testing"
)

func TestSearchFindsTheCapacity(t *testing.T) {
	coarse := []float64{10, 20, 40, 80, 160, 320}
	for _, tc := range []struct {
		name       string
		coarse     []float64
		refine     int
		resolution float64
		sustained  func(rate float64) bool
		wantTried  []float64
		wantGood   float64
		wantBad    float64
	}{
		{
			name: "between two coarse rates", coarse: coarse, refine: 3,
			sustained: func(r float64) bool { return r <= 45 },
			wantTried: []float64{10, 20, 40, 80, 60, 50, 45}, wantGood: 45, wantBad: 50,
		},
		{
			name: "stops once the gap is within the resolution", coarse: coarse, refine: 10,
			sustained: func(r float64) bool { return r <= 53 },
			wantTried: []float64{10, 20, 40, 80, 60, 50, 55}, wantGood: 50, wantBad: 55,
		},
		{
			name: "the first rate fails", coarse: coarse, refine: 3,
			sustained: func(r float64) bool { return r <= 3 },
			wantTried: []float64{10, 5, 2.5, 3.8}, wantGood: 2.5, wantBad: 3.8,
		},
		{
			name: "nothing is sustained", coarse: coarse, refine: 2,
			sustained: func(float64) bool { return false },
			wantTried: []float64{10, 5, 2.5}, wantGood: 0, wantBad: 2.5,
		},
		{
			name: "every rate is sustained", coarse: coarse, refine: 3,
			sustained: func(float64) bool { return true },
			wantTried: coarse, wantGood: 320, wantBad: 0,
		},
		{
			name: "no refinement", coarse: coarse, refine: 0,
			sustained: func(r float64) bool { return r <= 45 },
			wantTried: []float64{10, 20, 40, 80}, wantGood: 40, wantBad: 80,
		},
		{
			name: "a coarse resolution", coarse: coarse, refine: 3, resolution: 0.6,
			sustained: func(r float64) bool { return r <= 45 },
			wantTried: []float64{10, 20, 40, 80, 60}, wantGood: 40, wantBad: 60,
		},
		{
			name: "noise: a failure below a success is not retried", coarse: []float64{10, 20, 40}, refine: 3,
			sustained: func(r float64) bool { return r != 20 },
			wantTried: []float64{10, 20, 15, 18, 19}, wantGood: 19, wantBad: 20,
		},
		{
			name: "no rates", refine: 3,
			sustained: func(float64) bool { return true },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Search{Coarse: tc.coarse, Refine: tc.refine, Resolution: tc.resolution}
			var tried []float64
			for rate, ok := s.Next(); ok; rate, ok = s.Next() {
				if len(tried) > 50 {
					t.Fatal("the search does not end")
				}
				tried = append(tried, rate)
				o := Failed
				if tc.sustained(rate) {
					o = Passed
				}
				s.Record(rate, o)
			}
			good, bad := s.Capacity()
			if !slices.Equal(tried, tc.wantTried) || good != tc.wantGood || bad != tc.wantBad {
				t.Fatalf("tried %v → capacity %g, failed %g; want %v → %g, %g", tried, good, bad, tc.wantTried, tc.wantGood, tc.wantBad)
			}
			if _, ok := s.Next(); ok {
				t.Fatal("Next goes on after the end")
			}
		})
	}
}

func TestRoundRate(t *testing.T) {
	for in, want := range map[float64]float64{0: 0, 2.5: 2.5, 3.75: 3.8, 45: 45, 52.5: 53, 120: 120, 125: 130, 1234: 1200, 0.123: 0.12} {
		if got := roundRate(in); got != want {
			t.Errorf("roundRate(%v) = %v, want %v", in, got, want)
		}
	}
	if fmt.Sprint(roundRate(2.5)) != "2.5" {
		t.Fatalf("roundRate(2.5) prints as %v", roundRate(2.5))
	}
}

func TestSearchTriesALatencyFailureOnceMore(t *testing.T) {
	for _, tc := range []struct {
		name      string
		outcomes  map[float64][]Outcome // by rate, in the order the tries get them
		wantTried []float64
		wantGood  float64
		wantBad   float64
	}{
		{
			name:      "a pause: the second try passes",
			outcomes:  map[float64][]Outcome{10: {FailedOnLatency, Passed}, 20: {Passed}, 40: {Failed}, 30: {Passed}},
			wantTried: []float64{10, 10, 20, 40, 30}, wantGood: 30, wantBad: 40,
		},
		{
			name:      "late twice: failed",
			outcomes:  map[float64][]Outcome{10: {Passed}, 20: {FailedOnLatency, FailedOnLatency}, 15: {Passed}},
			wantTried: []float64{10, 20, 20, 15}, wantGood: 15, wantBad: 20,
		},
		{
			name:      "late, then losing: failed",
			outcomes:  map[float64][]Outcome{10: {Passed}, 20: {FailedOnLatency, Failed}, 15: {FailedOnLatency, Passed}},
			wantTried: []float64{10, 20, 20, 15, 15}, wantGood: 15, wantBad: 20,
		},
		{
			name:      "losing fixes is not retried",
			outcomes:  map[float64][]Outcome{10: {Passed}, 20: {Failed}, 15: {Failed}},
			wantTried: []float64{10, 20, 15}, wantGood: 10, wantBad: 15,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Search{Coarse: []float64{10, 20, 40}, Refine: 1}
			var tried []float64
			for rate, ok := s.Next(); ok; rate, ok = s.Next() {
				if len(tried) > 20 || len(tc.outcomes[rate]) == 0 {
					t.Fatalf("unexpected try of %g after %v", rate, tried)
				}
				tried = append(tried, rate)
				o := tc.outcomes[rate][0]
				tc.outcomes[rate] = tc.outcomes[rate][1:]
				s.Record(rate, o)
			}
			good, bad := s.Capacity()
			if !slices.Equal(tried, tc.wantTried) || good != tc.wantGood || bad != tc.wantBad {
				t.Fatalf("tried %v → capacity %g, failed %g; want %v → %g, %g", tried, good, bad, tc.wantTried, tc.wantGood, tc.wantBad)
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    StepResult
		want Outcome
	}{
		{"sustained", StepResult{Latency: Latency{Count: 1, P99: 10}}, Passed},
		{"late, nothing lost", StepResult{Latency: Latency{Count: 1, P99: 400}}, FailedOnLatency},
		{"late and losing", StepResult{Lost: 3, LossRate: 0.0001, Latency: Latency{Count: 1, P99: 400}}, Failed},
		{"losing", StepResult{Lost: 300, LossRate: 0.01, Latency: Latency{Count: 1, P99: 10}}, Failed},
		{"nothing delivered", StepResult{}, Failed},
		{"connections failed", StepResult{ConnectionsFailed: 1, Latency: Latency{Count: 1, P99: 400}}, Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OutcomeOf(tc.s); got != tc.want {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
}
