package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// The limits of a sustained step: the capacity is the highest offered rate
// whose step stays within both.
const (
	// MaxLossRate bounds StepResult.LossRate (0.1 %).
	MaxLossRate = 0.001
	// MaxP99 bounds the p99 latency of delivered fixes.
	MaxP99 = 250 * time.Millisecond
	// TimelyBound is the latency within which a delivered fix counts as
	// timely (StepResult.TimelyPS).
	TimelyBound = 250 * time.Millisecond
)

// StepResult is what a Workload measured.
//
// Every fix a driver offers ends in exactly one of: not sent (NotSent, the
// phone's backlog was full), acked (Acked), refused or failed (Errors, by
// code) or unanswered when the drain ended (Unanswered):
//
//	Offered = NotSent + Acked + SendErrors + Unanswered
//
// Each (fix, rider) pair a rider was due (every fix of its driver, or for a
// rider that switched drivers the acked fixes stored while it tracked each)
// is then delivered, skipped with notice or lost. Loss counts what a rider
// never got without being told, and a fix counts as delivered only if it
// was also acked:
//
//	Lost     = AckedButLost + fixes not acked × their riders
//	LossRate = Lost / pairs due (Offered × RidersPerDriver when every driver is watched)
//
// AckedButLost (acked fixes a rider never received, unannounced) must be 0
// whatever the load: an ack promises the fix is stored and will be
// delivered. SkippedAnnounced counts acked fixes the node skipped on purpose
// for a slow rider (latest wins) and said so with the next location's prev;
// they are not lost, but a step that skips is not sustained (see Sustained).
type StepResult struct {
	// Phase says why the step ran: "" (the preset's rates), "search" (the
	// capacity search) or "overload" (a multiple of the capacity).
	Phase string `json:"phase,omitempty"`
	// CapacityMultiple is, for an overload step, its rate over the capacity.
	CapacityMultiple float64 `json:"capacity_multiple,omitempty"`
	// Loop is how the generator paced the drivers (empty in results written
	// before open loop existed: closed).
	Loop              Loop    `json:"loop,omitempty"`
	Drivers           int     `json:"drivers"`
	RidersPerDriver   int     `json:"riders_per_driver"`
	RatePerDriver     float64 `json:"rate_per_driver"`
	DurationSec       float64 `json:"duration_s"`
	Connections       int     `json:"connections"`
	ConnectionsFailed int     `json:"connections_failed"`
	ConnectSec        float64 `json:"connect_s"`
	WindowSec         float64 `json:"window_s"`
	// MaxInFlight and BacklogFixes are the client's in-flight bound and the
	// phone's outbox size per driver (open loop).
	MaxInFlight  int `json:"max_in_flight,omitempty"`
	BacklogFixes int `json:"backlog_fixes,omitempty"`

	// Offered counts the fixes generated; OfferedPS per second of sending.
	Offered   int     `json:"offered"`
	OfferedPS float64 `json:"offered_per_s"`
	// NotSent counts offered fixes the phone dropped because its client
	// could not take them (in-flight bound full, socket blocked).
	NotSent int `json:"not_sent_backlog"`
	// Sent counts fixes handed to the client and written.
	Sent  int `json:"sent"`
	Acked int `json:"acked"`
	// Errors counts refused and failed fixes by the node's error code
	// ("unavailable", "internal", "rate_limited", "overloaded", …) or, for
	// failures of the client itself, "client: …". SendErrors is their sum.
	Errors     map[string]int `json:"errors,omitempty"`
	SendErrors int            `json:"send_errors"`
	// Unanswered counts fixes sent but neither acked nor refused when the
	// drain ended.
	Unanswered int `json:"unanswered"`
	// Delivered counts unique fixes received by riders; DeliveredPS (the
	// goodput) per second of sending, TimelyPS only those that arrived
	// within TimelyBound.
	Delivered    int      `json:"delivered"`
	DeliveredPS  float64  `json:"delivered_per_s"`
	TimelyPS     float64  `json:"timely_per_s"`
	Delivery     Delivery `json:"delivery"`
	AckedButLost int      `json:"acked_but_lost"`
	// SkippedAnnounced counts acked fixes a rider did not get because the
	// node skipped them for it and said so (Delivery.Skipped); SkipRate is
	// their share of the pairs due.
	SkippedAnnounced int     `json:"skipped_announced,omitempty"`
	SkipRate         float64 `json:"skip_rate,omitempty"`
	// DeliveredNotAcked counts deliveries of fixes that were not acked:
	// refused (a publish that timed out as unavailable may still be
	// stored) or unanswered. They count in the goodput, and as lost.
	DeliveredNotAcked int `json:"delivered_not_acked"`
	// Due counts the (fix, rider) pairs riders were due: what LossRate is
	// a share of.
	Due      int     `json:"due,omitempty"`
	Lost     int     `json:"lost"`
	LossRate float64 `json:"loss_rate"`
	// Latency is from when a fix was taken (entered the phone's outbox) to
	// when its rider received it; AckLatency to when its driver saw the ack.
	Latency    Latency `json:"latency"`
	AckLatency Latency `json:"ack_latency"`
	// Intervals is, for a step whose drivers obeyed set-interval or were
	// not all watched, what they were asked for and sent by watched state.
	Intervals *Intervals `json:"intervals,omitempty"`
	// GeneratorLagMaxMS is how late the generator's timer fired at worst:
	// large values mean the load generator itself was short of CPU.
	GeneratorLagMaxMS float64 `json:"generator_lag_max_ms,omitempty"`
	// DrainSec is how long after sending stopped the last answers and
	// deliveries were awaited; DrainTimedOut when Workload.Drain ran out.
	DrainSec      float64 `json:"drain_s"`
	DrainTimedOut bool    `json:"drain_timed_out,omitempty"`

	// Filled in by the caller from /proc over the measurement window.
	ServerCPUSec      float64 `json:"server_cpu_s"`
	ServerCPUPer1000  float64 `json:"server_cpu_ms_per_1000_delivered"`
	LoadGenCPUSec     float64 `json:"loadgen_cpu_s"`
	LoadGenCPUPer1000 float64 `json:"loadgen_cpu_ms_per_1000_delivered"`
	// NodesPeakRSSMiB is the highest sum of the nodes' resident memory
	// sampled during the step, NodePeakRSSMiB each node's highest sample.
	NodesPeakRSSMiB   float64   `json:"nodes_peak_rss_mib,omitempty"`
	NodePeakRSSMiB    []float64 `json:"node_peak_rss_mib,omitempty"`
	LoadGenPeakRSSMiB float64   `json:"loadgen_peak_rss_mib,omitempty"`
	// SettleSec is how long the nodes took to go quiet after the step
	// (SettleTimedOut: they had not when the wait ran out).
	SettleSec      float64 `json:"settle_s,omitempty"`
	SettleTimedOut bool    `json:"settle_timed_out,omitempty"`
}

// tally is what a step's drivers counted, frozen when the drain ended.
type tally struct {
	offered, notSent, sent, acked int
	errors                        map[string]int
}

func (t *tally) add(o tally) {
	t.offered += o.offered
	t.notSent += o.notSent
	t.sent += o.sent
	t.acked += o.acked
	for k, v := range o.errors {
		if t.errors == nil {
			t.errors = map[string]int{}
		}
		t.errors[k] += v
	}
}

// due is what the riders of a step were due: (fix, rider) pairs, and of
// them those whose fix was never acked (they count as lost).
type due struct {
	pairs, notAcked int
}

// everyDriverWatched is what riders riders per driver are due of t's fixes
// when every driver is watched for the whole step.
func everyDriverWatched(t tally, riders int) due {
	return due{pairs: t.offered * riders, notAcked: max(0, t.offered-t.acked) * riders}
}

// account fills the counts and rates of s from the drivers' tally, the
// riders' deliveries, what they were due, the number of timely deliveries
// and the seconds of sending.
func (s *StepResult) account(t tally, d Delivery, e due, timely int, sendSec float64) {
	s.Offered, s.NotSent, s.Sent, s.Acked = t.offered, t.notSent, t.sent, t.acked
	s.Errors = nil
	if len(t.errors) > 0 {
		s.Errors = maps.Clone(t.errors)
	}
	s.SendErrors = 0
	for _, n := range t.errors {
		s.SendErrors += n
	}
	s.Unanswered = max(0, s.Offered-s.NotSent-s.Acked-s.SendErrors)
	s.Delivery = d
	s.Delivered = d.Unique
	s.AckedButLost, s.SkippedAnnounced = d.Lost, d.Skipped
	s.DeliveredNotAcked = max(0, s.Delivered-(e.pairs-e.notAcked-s.AckedButLost-s.SkippedAnnounced))
	s.Lost = s.AckedButLost + e.notAcked
	s.Due = e.pairs
	s.LossRate, s.SkipRate = 0, 0
	if e.pairs > 0 {
		s.LossRate = float64(s.Lost) / float64(e.pairs)
		s.SkipRate = float64(s.SkippedAnnounced) / float64(e.pairs)
	}
	s.OfferedPS, s.DeliveredPS, s.TimelyPS = 0, 0, 0
	if sendSec > 0 {
		s.OfferedPS = float64(s.Offered) / sendSec
		s.DeliveredPS = float64(s.Delivered) / sendSec
		s.TimelyPS = float64(timely) / sendSec
	}
}

// errorKey names the failure of a fix for StepResult.Errors: the node's
// error code, or what went wrong in the client.
func errorKey(err error) string {
	var pe *mobileproto.Error
	var ce *mobileproto.CloseError
	switch {
	case errors.As(err, &pe):
		if pe.Code == "" {
			return "(no code)"
		}
		return string(pe.Code)
	case errors.As(err, &ce):
		return fmt.Sprintf("client: closed by node %d", ce.Code)
	case errors.Is(err, mobileproto.ErrClosed):
		return "client: closed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "client: timed out"
	default:
		return "client: connection failed"
	}
}

// Sustained reports whether a step stayed within the limits: every
// connection made, loss below MaxLossRate (fixes skipped with notice
// included: a rider that falls behind is not served), something delivered,
// and p99 below MaxP99.
func Sustained(s StepResult) bool {
	return len(whyNotSustained(s)) == 0
}

// whyNotSustained lists the limits a step broke.
func whyNotSustained(s StepResult) []string {
	var why []string
	if s.ConnectionsFailed > 0 {
		why = append(why, fmt.Sprintf("%d connections failed", s.ConnectionsFailed))
	}
	switch {
	case s.LossRate >= MaxLossRate:
		why = append(why, fmt.Sprintf("loss %.2f %%", 100*s.LossRate))
	case s.LossRate+s.SkipRate >= MaxLossRate:
		why = append(why, fmt.Sprintf("loss %.2f %% + skipped (announced) %.2f %%", 100*s.LossRate, 100*s.SkipRate))
	}
	switch {
	case s.Latency.Count == 0:
		why = append(why, "nothing delivered")
	case s.Latency.P99 >= ms(MaxP99):
		why = append(why, fmt.Sprintf("p99 %.0f ms", s.Latency.P99))
	}
	return why
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errorsText renders errors by code, most frequent first: "internal 12,
// unavailable 3" ("0" when there are none).
func errorsText(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s", k, count(m[k]))
	}
	return strings.Join(parts, ", ")
}

// count formats n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(max(n, -n))
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
