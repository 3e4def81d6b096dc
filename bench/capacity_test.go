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
				s.Record(rate, tc.sustained(rate))
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
