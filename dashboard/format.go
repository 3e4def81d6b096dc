package dashboard

import (
	"fmt"
	"math"
	"time"
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
