package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
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

// Result is one run of the benchmark, written as JSON.
type Result struct {
	Preset  string    `json:"preset"`
	Started time.Time `json:"started"`
	Command string    `json:"command"`
	Host    string    `json:"host"`
	Cluster string    `json:"cluster"`

	Steps []StepResult `json:"steps"`
	// RampMaxRate is, for the ramp, the highest rate per driver sustained
	// with less than 0.1 % loss and p99 below 250 ms (0: none).
	RampMaxRate float64 `json:"ramp_max_rate_per_driver,omitempty"`

	Nodes           []NodeUsage  `json:"nodes"`
	PeakRSSTotalMiB float64      `json:"peak_rss_total_mib"`
	RSSTotalMiB     float64      `json:"rss_total_mib"`
	LoadGenCPUSec   float64      `json:"loadgen_cpu_s"`
	Baselines       []Throughput `json:"baselines"`
	Notes           []string     `json:"notes,omitempty"`
}

// RampOK reports whether a ramp step counts as sustained.
func RampOK(s StepResult) bool {
	return s.ConnectionsFailed == 0 && s.LossRate < 0.001 && s.Latency.Count > 0 && s.Latency.P99 < 250
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

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// Markdown writes the summary tables.
func (r *Result) Markdown(w io.Writer) {
	fmt.Fprintf(w, "### rtls bench `%s` — %s\n\n", r.Preset, r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "%s; %s. Command: `%s`\n\n", r.Cluster, r.Host, r.Command)
	fmt.Fprintln(w, "| drivers × riders × fixes/s | connections | offered/s | delivered/s | loss | dup | out of order | latency p50 / p90 / p99 / p99.9 / max (ms) | ack p50 / p99 (ms) | server CPU ms per 1,000 delivered | load generator CPU ms per 1,000 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.Steps {
		l, a := s.Latency, s.AckLatency
		fmt.Fprintf(w, "| %d × %d × %g | %d (%d failed) | %s | %s | %.3f %% | %d | %d | %s / %s / %s / %s / %s | %s / %s | %s | %s |\n",
			s.Drivers, s.RidersPerDriver, s.RatePerDriver, s.Connections, s.ConnectionsFailed, f1(s.OfferedPS), f1(s.DeliveredPS),
			100*s.LossRate, s.Delivery.Duplicates, s.Delivery.OutOfOrder,
			f2(l.P50), f2(l.P90), f2(l.P99), f2(l.P999), f2(l.Max), f2(a.P50), f2(a.P99), f1(s.ServerCPUPer1000), f1(s.LoadGenCPUPer1000))
	}
	if r.Preset == "ramp" {
		if r.RampMaxRate > 0 {
			fmt.Fprintf(w, "\nHighest rate sustained (loss < 0.1 %%, p99 < 250 ms): **%g fixes/s per driver**.\n", r.RampMaxRate)
		} else {
			fmt.Fprintf(w, "\nNo step was sustained (loss < 0.1 %%, p99 < 250 ms).\n")
		}
	}
	fmt.Fprintf(w, "\n| node | CPU s (whole run) | RSS MiB at the end of the load | peak RSS MiB |\n|---|---|---|---|\n")
	for _, n := range r.Nodes {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", n.Name, f1(n.CPUSec), f1(n.RSSMiB), f1(n.PeakRSSMiB))
	}
	fmt.Fprintf(w, "| **total** | | **%s** | **%s** |\n", f1(r.RSSTotalMiB), f1(r.PeakRSSTotalMiB))
	fmt.Fprintf(w, "\nLoad generator (same machine, sharing its two cores): %s CPU s over the run.\n", f1(r.LoadGenCPUSec))
	if len(r.Baselines) > 0 {
		fmt.Fprintf(w, "\n**The engine's ceiling on the same cluster, in the same run** (%d-byte messages, %d subjects):\n\n", r.Baselines[0].MsgBytes, r.Baselines[0].Subjects)
		fmt.Fprintln(w, "| raw NATS | messages/s | server CPU ms per 1,000 |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, b := range r.Baselines {
			fmt.Fprintf(w, "| %s | %s | %s |\n", b.Name, f1(b.PerSec), f1(b.ServerCPUPer1000))
		}
		if len(r.Steps) > 0 {
			last := r.Steps[len(r.Steps)-1]
			for _, b := range r.Baselines {
				if strings.HasPrefix(b.Name, "JetStream") && b.ServerCPUPer1000 > 0 {
					fmt.Fprintf(w, "\nrtls / %s: %.1f× the server CPU per fix (%s vs %s ms per 1,000).",
						b.Name, last.ServerCPUPer1000/b.ServerCPUPer1000, f1(last.ServerCPUPer1000), f1(b.ServerCPUPer1000))
					if !strings.Contains(b.Name, "/s") && b.PerSec > 0 {
						fmt.Fprintf(w, " Offered rate: %.1f %% of its ceiling.", 100*last.OfferedPS/b.PerSec)
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

// Ratio is one metric of two runs.
type Ratio struct {
	Metric   string
	Old, New float64
	// Better says which direction is an improvement: "lower" or "higher".
	Better string
}

// Compare returns the main metrics of the last step of old and new, with
// their ratios.
func Compare(old, new *Result) []Ratio {
	var out []Ratio
	if len(old.Steps) > 0 && len(new.Steps) > 0 {
		o, n := old.Steps[len(old.Steps)-1], new.Steps[len(new.Steps)-1]
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
