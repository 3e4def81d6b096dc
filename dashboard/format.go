package dashboard

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/liveness"
)

// formatAge is a short age: "4s", "2m05s", "3h07m", "2d".
func formatAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 48*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd", s/86400)
}

// formatSpeed shows m/s as km/h, "–" when unknown.
func formatSpeed(mps float64) string {
	if math.IsNaN(mps) {
		return "–"
	}
	return fmt.Sprintf("%.0f km/h", mps*3.6)
}

func formatPosition(lat, lon float64) string {
	return fmt.Sprintf("%.5f, %.5f", lat, lon)
}

// formatState is a state with its reason: "stale · no-fix".
func formatState(st model.State, r liveness.Reason) string {
	if r == "" {
		return string(st)
	}
	return string(st) + " · " + string(r)
}

// formatClock is a time of day in loc: "14:02:11".
func formatClock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("15:04:05")
}

// formatLiveness says when and why a driver's state last changed, then its
// earlier changes, newest first: "offline since 14:02:11 (disconnected) ·
// online 13:55:02 (fix) · online 13:54:58 (connected)". A state judged from
// the fix's age says so.
func formatLiveness(l model.Liveness, loc *time.Location) string {
	var b strings.Builder
	for i, h := range l.History {
		if i == 0 {
			fmt.Fprintf(&b, "%s since %s (%s)", h.State, formatClock(h.Since, loc), h.Reason)
			continue
		}
		fmt.Fprintf(&b, " · %s %s (%s)", h.State, formatClock(h.Since, loc), h.Reason)
	}
	if !l.Announced {
		b.WriteString(" · no status announced: judged from the fix's age")
	}
	return b.String()
}
