package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// NodeUsage is one node process over the whole run.
type NodeUsage struct {
	Name       string  `json:"name"`
	CPUSec     float64 `json:"cpu_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// RSSMiB is the resident set at the end of the workload, with every
	// connection still open.
	RSSMiB float64 `json:"rss_mib"`
}

// Capacity is what the overload preset found (or was given).
type Capacity struct {
	// Criteria says what a sustained step is.
	Criteria string `json:"criteria"`
	// RatePerDriver is the highest sustained per-driver rate (0: none).
	RatePerDriver float64 `json:"rate_per_driver"`
	// OfferedPS and GoodputPS are the offered and delivered rates of the
	// step at capacity.
	OfferedPS float64 `json:"offered_per_s"`
	GoodputPS float64 `json:"goodput_per_s"`
	// Step is the index in Result.Steps of the step at capacity (-1: none).
	Step int `json:"step"`
	// FailedRatePerDriver is the lowest rate above the capacity that failed
	// (0: every rate tried was sustained; the capacity is at least
	// RatePerDriver).
	FailedRatePerDriver float64 `json:"failed_rate_per_driver,omitempty"`
	// Given is set when the capacity was given (-rate), not searched.
	Given bool `json:"given,omitempty"`
}

// Result is one run of the benchmark, written as JSON.
type Result struct {
	Preset  string    `json:"preset"`
	Started time.Time `json:"started"`
	Command string    `json:"command"`
	Host    string    `json:"host"`
	Cluster string    `json:"cluster"`

	Steps []StepResult `json:"steps"`
	// RampMaxRate is, for the ramp, the highest rate per driver sustained
	// (see Sustained; 0: none).
	RampMaxRate float64 `json:"ramp_max_rate_per_driver,omitempty"`
	// Capacity is, for the overload preset, the capacity its search found.
	Capacity *Capacity `json:"capacity,omitempty"`

	Nodes             []NodeUsage  `json:"nodes"`
	PeakRSSTotalMiB   float64      `json:"peak_rss_total_mib"`
	RSSTotalMiB       float64      `json:"rss_total_mib"`
	LoadGenCPUSec     float64      `json:"loadgen_cpu_s"`
	LoadGenPeakRSSMiB float64      `json:"loadgen_peak_rss_mib,omitempty"`
	Baselines         []Throughput `json:"baselines"`
	Notes             []string     `json:"notes,omitempty"`
}

// referenceStep is the step the baselines are paced at and the comparison
// reads: the step at capacity, or else the last step (nil: no step).
func (r *Result) referenceStep() *StepResult {
	if c := r.Capacity; c != nil && c.Step >= 0 && c.Step < len(r.Steps) {
		return &r.Steps[c.Step]
	}
	if len(r.Steps) == 0 {
		return nil
	}
	return &r.Steps[len(r.Steps)-1]
}

// WriteJSON writes r to path.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResult reads a result written by WriteJSON.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	return &r, nil
}

// Write writes r into dir as <time>-<preset>.json, .md and .png, and the
// Markdown (with the comparison to old, if given) to stdout too. It returns
// the files' common path without extension.
func (r *Result) Write(dir string, stdout io.Writer, old *Result) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := filepath.Join(dir, r.Started.UTC().Format("20060102-150405")+"-"+r.Preset)
	if err := r.WriteJSON(base + ".json"); err != nil {
		return base, err
	}
	md, err := os.Create(base + ".md")
	if err != nil {
		return base, err
	}
	out := io.MultiWriter(stdout, md)
	r.Markdown(out)
	if old != nil {
		WriteComparison(out, old, r)
	}
	if err := md.Close(); err != nil {
		return base, err
	}
	if err := PlotLatency(base+".png", r); err != nil {
		return base, fmt.Errorf("bench: plot: %w", err)
	}
	return base, nil
}

// Replot renders the result saved at path again: its Markdown to w and its
// latency plot beside it (the same name, .png).
func Replot(path string, w io.Writer) error {
	r, err := ReadResult(path)
	if err != nil {
		return err
	}
	r.Markdown(w)
	return PlotLatency(strings.TrimSuffix(path, ".json")+".png", r)
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// f0 formats v rounded, with thousands separators.
func f0(v float64) string { return count(int(math.Round(v))) }

// f1c formats v with one decimal and thousands separators.
func f1c(v float64) string {
	tenths := int(math.Round(v * 10))
	sign := ""
	if tenths < 0 {
		sign, tenths = "-", -tenths
	}
	return fmt.Sprintf("%s%s.%d", sign, count(tenths/10), tenths%10)
}

// label names a step in the tables: its number and phase.
func (s StepResult) label(i int) string {
	l := fmt.Sprint(i + 1)
	switch {
	case s.Phase == PhaseOverload:
		l += fmt.Sprintf(" (%g× capacity)", s.CapacityMultiple)
	case s.Phase != "":
		l += " (" + s.Phase + ")"
	}
	return l
}

func loopText(l Loop) string {
	if l == "" {
		return string(LoopClosed)
	}
	return string(l)
}

// Markdown writes the summary tables.
func (r *Result) Markdown(w io.Writer) {
	fmt.Fprintf(w, "### rtls bench `%s` — %s\n\n", r.Preset, r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "%s; %s. Command: `%s`\n\n", r.Cluster, r.Host, r.Command)
	fmt.Fprintln(w, "| step | drivers × riders × fixes/s | loop | offered/s | sent | acked | goodput/s | loss | acked-but-lost | skipped (announced) | errors by code | not sent (phone backlog) | unanswered | delivered though not acked |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for i, s := range r.Steps {
		drivers := fmt.Sprint(s.Drivers)
		if s.Intervals != nil {
			drivers += " (" + watchedShare(s, s.Intervals) + " watched)"
		}
		fmt.Fprintf(w, "| %s | %s × %d × %g | %s | %s | %s | %s | %s | %.3f %% | %s | %s | %s | %s | %s | %s |\n",
			s.label(i), drivers, s.RidersPerDriver, s.RatePerDriver, loopText(s.Loop), f1c(s.OfferedPS), count(s.Sent), count(s.Acked),
			f1c(s.DeliveredPS), 100*s.LossRate, count(s.AckedButLost), count(s.SkippedAnnounced), errorsText(s.Errors), count(s.NotSent), count(s.Unanswered), count(s.DeliveredNotAcked))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| step | latency p50 / p90 / p99 / p99.9 / max (ms) | ack p50 / p99 (ms) | dup, out of order | connections (failed) | server CPU ms per 1,000 delivered | load generator CPU ms per 1,000 | generator late by, max (ms) | nodes' peak RSS in the step (MiB) | drain / settle (s) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for i, s := range r.Steps {
		l, a := s.Latency, s.AckLatency
		drain := f1(s.DrainSec)
		if s.DrainTimedOut {
			drain += " (timed out)"
		}
		settle := f1(s.SettleSec)
		if s.SettleTimedOut {
			settle += " (still busy)"
		}
		fmt.Fprintf(w, "| %s | %s / %s / %s / %s / %s | %s / %s | %d, %d | %d (%d) | %s | %s | %s | %s | %s / %s |\n",
			s.label(i), f2(l.P50), f2(l.P90), f2(l.P99), f2(l.P999), f2(l.Max), f2(a.P50), f2(a.P99),
			s.Delivery.Duplicates, s.Delivery.OutOfOrder, s.Connections, s.ConnectionsFailed,
			f1(s.ServerCPUPer1000), f1(s.LoadGenCPUPer1000), f0(s.GeneratorLagMaxMS), f0(s.NodesPeakRSSMiB), drain, settle)
	}
	fmt.Fprintf(w, "\nLoss counts what riders never got of the offered fixes without being told, a fix counting as delivered only if it was also acked: acked-but-lost plus every fix not acked (not sent, refused, unanswered), over the (fix, rider) pairs due (offered × riders when every driver is watched). Acked-but-lost must be 0 at any load. Skipped (announced) are acked fixes the node skipped for a slow rider and said so (latest wins: the next location's prev is beyond the last the rider got); they are not lost, but a step counts as sustained only if loss and skips together stay under the limit. Goodput is unique fixes delivered to riders per second of sending, acked or not. Latency runs from when a phone took a fix to when its rider got it. A generator late by more than a few intervals means the load generator itself was short of CPU.\n")
	for i, s := range r.Steps {
		if s.BacklogFixes > 0 && s.RatePerDriver > 0 && s.NotSent > 0 && s.GeneratorLagMaxMS > 1000*float64(s.BacklogFixes)/s.RatePerDriver {
			fmt.Fprintf(w, "\nStep %d: the generator was late by up to %s ms, longer than the phones' backlog of %d fixes: some of its %s fixes not sent may be the load generator's own stall.\n",
				i+1, f0(s.GeneratorLagMaxMS), s.BacklogFixes, count(s.NotSent))
		}
	}
	for i, s := range r.Steps {
		if s.Intervals != nil {
			s.intervalsMarkdown(w, i)
		}
	}
	if r.Preset == "ramp" {
		if r.RampMaxRate > 0 {
			fmt.Fprintf(w, "\nHighest rate sustained (loss with announced skips < %g %%, p99 < %v): **%g fixes/s per driver**.\n", 100*MaxLossRate, MaxP99, r.RampMaxRate)
		} else {
			fmt.Fprintf(w, "\nNo step was sustained (loss with announced skips < %g %%, p99 < %v).\n", 100*MaxLossRate, MaxP99)
		}
	}
	if r.Capacity != nil {
		r.overloadMarkdown(w)
	}
	fmt.Fprintf(w, "\n| node | CPU s (whole run) | RSS MiB at the end of the load | peak RSS MiB (whole run) |\n|---|---|---|---|\n")
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", n.Name, f1(n.CPUSec), f1(n.RSSMiB), f1(n.PeakRSSMiB))
	}
	fmt.Fprintf(w, "| **total** | | **%s** | **%s** |\n", f1(r.RSSTotalMiB), f1(r.PeakRSSTotalMiB))
	fmt.Fprintf(w, "\nLoad generator (same machine, sharing its cores): %s CPU s over the run", f1(r.LoadGenCPUSec))
	if r.LoadGenPeakRSSMiB > 0 {
		fmt.Fprintf(w, ", peak RSS %s MiB", f0(r.LoadGenPeakRSSMiB))
	}
	fmt.Fprintln(w, ".")
	if ref := r.referenceStep(); len(r.Baselines) > 0 {
		fmt.Fprintf(w, "\n**The engine's ceiling on the same cluster, in the same run** (%d-byte messages, %d subjects):\n\n", r.Baselines[0].MsgBytes, r.Baselines[0].Subjects)
		fmt.Fprintln(w, "| raw NATS | messages/s | server CPU ms per 1,000 |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, b := range r.Baselines {
			fmt.Fprintf(w, "| %s | %s | %s |\n", b.Name, f1(b.PerSec), f1(b.ServerCPUPer1000))
		}
		if ref != nil {
			what := "the last step"
			if r.Capacity != nil {
				what = "the step at capacity"
			}
			for _, b := range r.Baselines {
				if strings.HasPrefix(b.Name, "JetStream") && b.ServerCPUPer1000 > 0 {
					fmt.Fprintf(w, "\nrtls (%s) / %s: %.1f× the server CPU per fix (%s vs %s ms per 1,000).",
						what, b.Name, ref.ServerCPUPer1000/b.ServerCPUPer1000, f1(ref.ServerCPUPer1000), f1(b.ServerCPUPer1000))
					if !strings.Contains(b.Name, "/s") && b.PerSec > 0 {
						fmt.Fprintf(w, " Offered rate: %.1f %% of its ceiling.", 100*ref.OfferedPS/b.PerSec)
					}
					fmt.Fprintln(w)
				}
			}
			fmt.Fprintln(w, "\n(Beyond a JetStream publish, rtls reads each fix from a WebSocket, acks it on that WebSocket, republishes it to the rider's node and writes it to the rider's WebSocket.)")
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

// overloadVerdict judges a step offered beyond capacity against the goodput
// at capacity: an overloaded service should keep delivering about its
// capacity, on time, and refuse the excess explicitly; it must never lose
// an acked fix.
func overloadVerdict(s StepResult, capacityGoodput float64) string {
	var v string
	g := 0.0
	if capacityGoodput > 0 {
		g = s.DeliveredPS / capacityGoodput
	}
	switch {
	case Sustained(s):
		v = "sustained: the capacity was underestimated (noise?)"
	case g >= 0.9 && s.Latency.Count > 0 && s.Latency.P99 < ms(MaxP99):
		v = "holds capacity"
	case g >= 0.9:
		v = "holds goodput, late (p99 " + seconds(s.Latency.P99) + ")"
	case g >= 0.5:
		v = "degrades"
	default:
		v = "collapses"
	}
	if s.AckedButLost > 0 {
		v = "**loses acked fixes**; " + v
	}
	if s.DrainTimedOut {
		v += "; drain timed out"
	}
	return v
}

// seconds formats milliseconds for a verdict: "850 ms", "20.2 s".
func seconds(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

func (r *Result) overloadMarkdown(w io.Writer) {
	c := r.Capacity
	fmt.Fprintf(w, "\n#### Overload\n\n")
	if c.RatePerDriver == 0 {
		fmt.Fprintf(w, "No rate tried was sustained (%s): no capacity found.\n", c.Criteria)
		return
	}
	how := "found by the search"
	if c.Given {
		how = "given with -rate"
	}
	fmt.Fprintf(w, "Capacity (%s; %s): **%g fixes/s per driver, %s fixes/s offered, goodput %s/s**",
		c.Criteria, how, c.RatePerDriver, f0(c.OfferedPS), f0(c.GoodputPS))
	if c.Step >= 0 && c.Step < len(r.Steps) {
		s := r.Steps[c.Step]
		fmt.Fprintf(w, " (step %d: loss %.3f %%, p99 %s ms)", c.Step+1, 100*s.LossRate, f1(s.Latency.P99))
		if !Sustained(s) {
			fmt.Fprintf(w, " — **not sustained itself: %s**", strings.Join(whyNotSustained(s), ", "))
		}
	}
	fmt.Fprintln(w, ".")
	switch {
	case c.Given:
	case c.FailedRatePerDriver > 0:
		for i, s := range r.Steps {
			if s.Phase == PhaseSearch && s.RatePerDriver == c.FailedRatePerDriver && !Sustained(s) {
				fmt.Fprintf(w, "The lowest rate that failed: %g fixes/s per driver (step %d: %s).\n", s.RatePerDriver, i+1, strings.Join(whyNotSustained(s), ", "))
				break
			}
		}
	default:
		fmt.Fprintln(w, "Every rate tried was sustained: the capacity is at least this (add higher -search-rates).")
	}
	fmt.Fprintf(w, "\n| offered | goodput/s | goodput, %% of capacity | delivered within %v, /s | acked-but-lost | errors by code | not sent (phone backlog) | unanswered | p99 of delivered (ms) | nodes' peak RSS (MiB) | verdict |\n", TimelyBound)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	rows := 0
	for _, s := range r.Steps {
		if s.Phase != PhaseOverload {
			continue
		}
		rows++
		pct := "—"
		if c.GoodputPS > 0 {
			pct = fmt.Sprintf("%.0f %%", 100*s.DeliveredPS/c.GoodputPS)
		}
		fmt.Fprintf(w, "| %g× = %s/s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.CapacityMultiple, f0(s.OfferedPS), f0(s.DeliveredPS), pct, f0(s.TimelyPS), count(s.AckedButLost),
			errorsText(s.Errors), count(s.NotSent), count(s.Unanswered), f1(s.Latency.P99), f0(s.NodesPeakRSSMiB),
			overloadVerdict(s, c.GoodputPS))
	}
	if rows == 0 {
		fmt.Fprintln(w, "| (no overload step ran) | | | | | | | | | | |")
	}
	fmt.Fprintln(w, "\n\"sustained\": within the capacity's own limits, so the search was misled by noise and the capacity is higher; \"holds capacity\": goodput ≥ 90 % of capacity with p99 under the limit; \"holds goodput, late\": the same goodput, p99 over it; \"degrades\": 50–90 %; \"collapses\": under 50 %.")
}

// Ratio is one metric of two runs.
type Ratio struct {
	Metric   string
	Old, New float64
	// Better says which direction is an improvement: "lower" or "higher".
	Better string
}

// Compare returns the main metrics of the reference steps of old and new
// (the step at capacity, or the last step), the capacity and the goodput of
// each overload multiple both ran, with their ratios.
func Compare(old, new *Result) []Ratio {
	var out []Ratio
	if o, n := old.referenceStep(), new.referenceStep(); o != nil && n != nil {
		out = append(out,
			Ratio{"delivered/s", o.DeliveredPS, n.DeliveredPS, "higher"},
			Ratio{"loss rate", o.LossRate, n.LossRate, "lower"},
			Ratio{"latency p50 ms", o.Latency.P50, n.Latency.P50, "lower"},
			Ratio{"latency p99 ms", o.Latency.P99, n.Latency.P99, "lower"},
			Ratio{"latency max ms", o.Latency.Max, n.Latency.Max, "lower"},
			Ratio{"ack p99 ms", o.AckLatency.P99, n.AckLatency.P99, "lower"},
			Ratio{"server CPU ms per 1,000 delivered", o.ServerCPUPer1000, n.ServerCPUPer1000, "lower"},
		)
	}
	out = append(out, Ratio{"peak RSS total MiB", old.PeakRSSTotalMiB, new.PeakRSSTotalMiB, "lower"})
	if old.RampMaxRate > 0 || new.RampMaxRate > 0 {
		out = append(out, Ratio{"ramp max rate per driver", old.RampMaxRate, new.RampMaxRate, "higher"})
	}
	if old.Capacity != nil && new.Capacity != nil {
		out = append(out, Ratio{"capacity, offered fixes/s", old.Capacity.OfferedPS, new.Capacity.OfferedPS, "higher"})
		for _, o := range old.Steps {
			if o.Phase != PhaseOverload {
				continue
			}
			for _, n := range new.Steps {
				if n.Phase == PhaseOverload && n.CapacityMultiple == o.CapacityMultiple {
					out = append(out,
						Ratio{fmt.Sprintf("%g× capacity: goodput/s", o.CapacityMultiple), o.DeliveredPS, n.DeliveredPS, "higher"},
						Ratio{fmt.Sprintf("%g× capacity: nodes' peak RSS MiB", o.CapacityMultiple), o.NodesPeakRSSMiB, n.NodesPeakRSSMiB, "lower"})
				}
			}
		}
	}
	return out
}

// WriteComparison prints Compare's ratios as a table.
func WriteComparison(w io.Writer, old, new *Result) {
	fmt.Fprintf(w, "\n### Compared with %s run of %s\n\n| metric | old | new | new/old |\n|---|---|---|---|\n", old.Preset, old.Started.UTC().Format("2006-01-02 15:04"))
	for _, r := range Compare(old, new) {
		ratio := "—"
		if r.Old != 0 {
			q := r.New / r.Old
			mark := ""
			if (r.Better == "lower" && q < 0.95) || (r.Better == "higher" && q > 1.05) {
				mark = " (better)"
			} else if (r.Better == "lower" && q > 1.05) || (r.Better == "higher" && q < 0.95) {
				mark = " (worse)"
			}
			ratio = fmt.Sprintf("%.2f%s", q, mark)
		}
		fmt.Fprintf(w, "| %s | %.3g | %.3g | %s |\n", r.Metric, r.Old, r.New, ratio)
	}
}
