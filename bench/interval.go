package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// Intervals is what a step's drivers were asked for with set-interval and
// what they sent, by whether someone watched them, against what the same
// fleet would have sent at the fast interval throughout; and, when riders
// switched drivers, how soon each driver was asked for its new interval.
type Intervals struct {
	// Obeyed says the drivers followed set-interval (Workload.ObeyInterval).
	Obeyed bool `json:"obeyed"`
	// FastIntervalMS is the interval of the all-fast comparison: 1/Rate,
	// the interval watched drivers are asked for.
	FastIntervalMS float64       `json:"fast_interval_ms"`
	Groups         []DriverGroup `json:"groups"`
	// Sent is the fixes the fleet sent; AllFast what it would have sent at
	// the fast interval throughout (drivers × window / fast interval).
	Sent    int     `json:"sent"`
	AllFast float64 `json:"all_fast"`
	// Saved is AllFast − Sent; SavedPct its share of AllFast and
	// SavedPerHour the same for an hour of the fleet.
	Saved        float64 `json:"saved"`
	SavedPct     float64 `json:"saved_pct"`
	SavedPerHour float64 `json:"saved_per_hour"`
	// NotAsked counts drivers that had not been asked for the interval of
	// their watched state when sending began (Workload.IntervalWait ran
	// out).
	NotAsked int `json:"not_asked_at_start,omitempty"`

	// Switches is how many watched drivers lost their riders to an
	// unwatched one (Workload.Switches, as many as could be planned);
	// SwitchErrors how many of them failed an untrack or a track.
	Switches     int     `json:"switches,omitempty"`
	SwitchAtSec  float64 `json:"switch_at_s,omitempty"`
	SwitchErrors int     `json:"switch_errors,omitempty"`
	// ToUnwatched runs from the rider's untrack-driver to the driver left
	// receiving its slow set-interval; ToWatched from the rider's
	// track-driver to the driver tracked receiving its fast one; Switch is
	// both together. Unanswered counts drivers never asked.
	ToUnwatched Latency `json:"to_unwatched,omitzero"`
	ToWatched   Latency `json:"to_watched,omitzero"`
	Switch      Latency `json:"switch,omitzero"`
	Unanswered  int     `json:"switch_unanswered,omitempty"`
}

// DriverGroup is what one group of drivers sent.
type DriverGroup struct {
	Name    string `json:"name"`
	Drivers int    `json:"drivers"`
	Sent    int    `json:"sent"`
	// PerDriverPerMin is Sent per driver per minute of the window.
	PerDriverPerMin float64 `json:"per_driver_per_min"`
	// AskedAtStart counts the group's drivers by the interval they had last
	// been asked for when sending began, AskedAtEnd when it ended ("none":
	// never asked).
	AskedAtStart map[string]int `json:"asked_at_start"`
	AskedAtEnd   map[string]int `json:"asked_at_end"`
}

// The driver groups of Intervals.
const (
	GroupWatched   = "watched"
	GroupUnwatched = "unwatched"
	GroupLeft      = "watched, then left"
	GroupTracked   = "unwatched, then tracked"
)

// The reasons of set-interval (mobileproto.SetInterval.Reason), and what
// DriverGroup counts a driver never asked as.
const (
	reasonWatched   = "watched"
	reasonUnwatched = "unwatched"
	askedNone       = "none"
)

// waitAsked waits, at most wait, until every driver has been asked for the
// interval of its watched state, and returns how many had not.
func waitAsked(ctx context.Context, wait time.Duration, drivers []*benchDriver, watched []bool) int {
	deadline := time.Now().Add(wait)
	for {
		missing := 0
		for k, d := range drivers {
			want := reasonUnwatched
			if watched[k] {
				want = reasonWatched
			}
			if a, ok := d.lastAsk(); !ok || a.reason != want {
				missing++
			}
		}
		if missing == 0 || ctx.Err() != nil || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// switchPlan moves every rider of one watched driver to an unwatched one.
type switchPlan struct {
	from, to *benchDriver
	riders   []*benchRider

	// Set by run.
	left    time.Time // when the last untrack-driver was sent
	tracked time.Time // when the first track-driver was sent
	err     error
}

// planSwitches picks Switches watched drivers, spread evenly, and for each
// an unwatched driver on a node none of its riders is on.
func planSwitches(w Workload, drivers []*benchDriver, riders []*benchRider, watched []bool) []*switchPlan {
	if w.Switches == 0 {
		return nil
	}
	var on, off []int
	for k := range drivers {
		if watched[k] {
			on = append(on, k)
		} else {
			off = append(off, k)
		}
	}
	ridersOf := map[int][]*benchRider{}
	for _, r := range riders {
		ridersOf[r.k] = append(ridersOf[r.k], r)
	}
	n := len(w.Nodes)
	want := min(w.Switches, len(on), len(off))
	used := map[int]bool{}
	var plan []*switchPlan
	for i := range want {
		k := on[i*len(on)/want]
		busy := map[int]bool{}
		for _, r := range ridersOf[k] {
			busy[riderNode(r.k, r.j, n)] = true
		}
		start := i * len(off) / want
		for x := range off {
			to := off[(start+x)%len(off)]
			if !used[to] && !busy[to%n] {
				used[to] = true
				plan = append(plan, &switchPlan{from: drivers[k], to: drivers[to], riders: ridersOf[k]})
				break
			}
		}
	}
	return plan
}

// runSwitches runs every plan at once at the time at.
func runSwitches(ctx context.Context, at time.Time, plan []*switchPlan) {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	var wg sync.WaitGroup
	for _, p := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx)
		}()
	}
	wg.Wait()
}

// run untracks the plan's driver on each of its riders, then tracks the
// other: the rider is due the fixes of the first up to the last it got
// before leaving, and those of the second stored after it tracked it.
func (p *switchPlan) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, r := range p.riders {
		if s := r.sub(p.from.id); s != nil {
			r.mu.Lock()
			s.whole = false
			r.mu.Unlock()
			s.track.Stop()
		}
		p.left = time.Now()
		if err := r.c.Untrack(ctx, p.from.id); err != nil {
			p.err = fmt.Errorf("untrack %s: %w", p.from.id, err)
			return
		}
	}
	for i, r := range p.riders {
		s := &sub{d: p.to}
		r.mu.Lock()
		r.subs = append(r.subs, s)
		r.mu.Unlock()
		if i == 0 {
			p.tracked = time.Now()
		}
		tr, err := r.c.Track(ctx, p.to.id, mobileproto.TrackOptions{History: new(int)})
		if err != nil {
			r.mu.Lock()
			r.subs = slices.DeleteFunc(r.subs, func(x *sub) bool { return x == s })
			r.mu.Unlock()
			p.err = fmt.Errorf("track %s: %w", p.to.id, err)
			return
		}
		s.track.After(tr.Cursor)
	}
}

// intervalsOf sums up what the drivers of a step were asked and sent.
func intervalsOf(w Workload, drivers []*benchDriver, watched []bool, tallies map[*benchDriver]tally, plan []*switchPlan, windowStart time.Time, notAsked int) *Intervals {
	iv := &Intervals{Obeyed: w.ObeyInterval, FastIntervalMS: 1000 / w.Rate, NotAsked: notAsked, Switches: len(plan)}
	if len(plan) > 0 {
		iv.SwitchAtSec = w.SwitchAt.Seconds()
	}
	group := map[*benchDriver]string{}
	var toW, toU, all []time.Duration
	for _, p := range plan {
		group[p.from], group[p.to] = GroupLeft, GroupTracked
		if p.err != nil {
			iv.SwitchErrors++
			continue
		}
		for _, x := range []struct {
			d      *benchDriver
			sent   time.Time
			reason string
			into   *[]time.Duration
		}{{p.from, p.left, reasonUnwatched, &toU}, {p.to, p.tracked, reasonWatched, &toW}} {
			at, ok := x.d.answered(x.sent, x.reason)
			if !ok {
				iv.Unanswered++
				continue
			}
			*x.into = append(*x.into, at.Sub(x.sent))
			all = append(all, at.Sub(x.sent))
		}
	}
	iv.ToWatched, iv.ToUnwatched, iv.Switch = Summarize(toW), Summarize(toU), Summarize(all)

	byName := map[string]*DriverGroup{}
	for _, name := range []string{GroupWatched, GroupUnwatched, GroupLeft, GroupTracked} {
		byName[name] = &DriverGroup{Name: name, AskedAtStart: map[string]int{}, AskedAtEnd: map[string]int{}}
	}
	for k, d := range drivers {
		name, ok := group[d]
		if !ok {
			name = GroupUnwatched
			if watched[k] {
				name = GroupWatched
			}
		}
		g := byName[name]
		g.Drivers++
		g.Sent += tallies[d].sent
		iv.Sent += tallies[d].sent
		start, end := d.askedAt(windowStart)
		g.AskedAtStart[start]++
		g.AskedAtEnd[end]++
	}
	minutes := w.Duration.Minutes()
	for _, name := range []string{GroupWatched, GroupUnwatched, GroupLeft, GroupTracked} {
		g := byName[name]
		if g.Drivers == 0 {
			continue
		}
		g.PerDriverPerMin = float64(g.Sent) / float64(g.Drivers) / minutes
		iv.Groups = append(iv.Groups, *g)
	}
	iv.AllFast = float64(len(drivers)) * w.Rate * w.Duration.Seconds()
	iv.Saved = iv.AllFast - float64(iv.Sent)
	if iv.AllFast > 0 {
		iv.SavedPct = 100 * iv.Saved / iv.AllFast
	}
	iv.SavedPerHour = iv.Saved * float64(time.Hour) / float64(w.Duration)
	return iv
}

// askedAt names the interval the driver had last been asked for at t and
// at the end ("none": not asked).
func (d *benchDriver) askedAt(t time.Time) (atT, atEnd string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	atT, atEnd = askedNone, askedNone
	for _, a := range d.asks {
		if a.at.Before(t) {
			atT = a.interval.String()
		}
		atEnd = a.interval.String()
	}
	return atT, atEnd
}

// group returns the named group (nil: none).
func (iv *Intervals) group(name string) *DriverGroup {
	for i := range iv.Groups {
		if iv.Groups[i].Name == name {
			return &iv.Groups[i]
		}
	}
	return nil
}

// askedText renders a count of drivers by interval: "15s 799, none 1".
func askedText(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s × %s", count(m[k]), k)
	}
	return strings.Join(parts, ", ")
}

// askedSummary renders a count of drivers by interval as the interval when
// they all had the same, else as askedText.
func askedSummary(m map[string]int) string {
	if len(m) == 1 {
		for k := range m {
			return k
		}
	}
	return askedText(m)
}

// intervalsMarkdown writes the step's intervals: the groups, the fixes
// saved, the switches and a short table for the README.
func (s StepResult) intervalsMarkdown(w io.Writer, i int) {
	iv := s.Intervals
	obey := "obeyed set-interval"
	if !iv.Obeyed {
		obey = "ignored set-interval (fixed rate)"
	}
	fmt.Fprintf(w, "\n#### Step %d: fixes by watched state (drivers %s)\n\n", i+1, obey)
	fmt.Fprintln(w, "| drivers | count | fixes sent | per driver per minute | asked for, when sending began | asked for, at the end |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, g := range iv.Groups {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", g.Name, count(g.Drivers), count(g.Sent), f1(g.PerDriverPerMin), askedText(g.AskedAtStart), askedText(g.AskedAtEnd))
	}
	fmt.Fprintf(w, "| **fleet** | %s | %s | %s | | |\n", count(s.Drivers), count(iv.Sent), f1(float64(iv.Sent)/float64(max(s.Drivers, 1))/(s.DurationSec/60)))
	fmt.Fprintf(w, "\nAt the fast interval (%s ms) throughout, the same fleet would have sent %s fixes in %g s: **%s fewer fixes (%.1f %%), %s per hour for the fleet**.\n",
		f0(iv.FastIntervalMS), f0(iv.AllFast), s.DurationSec, f0(iv.Saved), iv.SavedPct, f0(iv.SavedPerHour))
	if iv.NotAsked > 0 {
		fmt.Fprintf(w, "\n**%s drivers had not been asked for the interval of their watched state when sending began.**\n", count(iv.NotAsked))
	}
	if iv.Switches > 0 {
		fmt.Fprintf(w, "\nAt %s s, %d watched drivers lost their riders to as many unwatched drivers (each rider on another node than both). From the rider's request to the driver app receiving its new set-interval:\n\n", f1(iv.SwitchAtSec), iv.Switches)
		fmt.Fprintln(w, "| switch | count | p50 (ms) | p99 (ms) | max (ms) |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, x := range []struct {
			name string
			l    Latency
		}{{"untrack → driver asked to slow down", iv.ToUnwatched}, {"track → driver asked to speed up", iv.ToWatched}, {"both", iv.Switch}} {
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", x.name, x.l.Count, f1(x.l.P50), f1(x.l.P99), f1(x.l.Max))
		}
		if iv.SwitchErrors > 0 || iv.Unanswered > 0 {
			fmt.Fprintf(w, "\n**%d switches failed (untrack or track refused); %d drivers were never asked for their new interval.**\n", iv.SwitchErrors, iv.Unanswered)
		}
	}
	fmt.Fprintln(w, "\nFor the README:")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| %s drivers, %s watched, %g s | drivers | fixes per driver per minute | fixes per hour |\n", count(s.Drivers), watchedShare(s, iv), s.DurationSec)
	fmt.Fprintln(w, "|---|---|---|---|")
	perMin := func(sent, drivers int) string {
		return f1(float64(sent) / float64(max(drivers, 1)) / (s.DurationSec / 60))
	}
	perHour := func(n float64) string { return f0(n * 3600 / s.DurationSec) }
	var switched DriverGroup
	for _, g := range iv.Groups {
		switch g.Name {
		case GroupWatched, GroupUnwatched:
			fmt.Fprintf(w, "| %s (asked for %s) | %s | %s | %s |\n", g.Name, askedSummary(g.AskedAtEnd), count(g.Drivers), f1(g.PerDriverPerMin), perHour(float64(g.Sent)))
		default:
			switched.Drivers += g.Drivers
			switched.Sent += g.Sent
		}
	}
	if switched.Drivers > 0 {
		fmt.Fprintf(w, "| watch switched at %s s | %s | %s | %s |\n", f0(iv.SwitchAtSec), count(switched.Drivers), perMin(switched.Sent, switched.Drivers), perHour(float64(switched.Sent)))
	}
	fast := time.Duration(iv.FastIntervalMS * float64(time.Millisecond))
	allFastPerMin := f1(iv.AllFast / float64(max(s.Drivers, 1)) / (s.DurationSec / 60))
	fmt.Fprintf(w, "| fleet, obeying set-interval | %s | %s | %s |\n", count(s.Drivers), perMin(iv.Sent, s.Drivers), perHour(float64(iv.Sent)))
	fmt.Fprintf(w, "| fleet, all at %s | %s | %s | %s |\n", fast, count(s.Drivers), allFastPerMin, perHour(iv.AllFast))
	fmt.Fprintf(w, "| **saved** | | **%s** | **%s (%.0f %%)** |\n", f1(iv.Saved/float64(max(s.Drivers, 1))/(s.DurationSec/60)), f0(iv.SavedPerHour), iv.SavedPct)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| riders of watched drivers | |")
	fmt.Fprintln(w, "|---|---|")
	fmt.Fprintf(w, "| fixes due / lost / skipped (announced) | %s / %s / %s |\n", count(s.Due), count(s.Lost), count(s.SkippedAnnounced))
	fmt.Fprintf(w, "| latency p50 / p99 | %s / %s ms |\n", f1(s.Latency.P50), f1(s.Latency.P99))
	if iv.Switch.Count > 0 {
		fmt.Fprintf(w, "| rider switched drivers → each driver app asked anew, p50 / p99 / max | %s / %s / %s ms (%d set-intervals) |\n", f1(iv.Switch.P50), f1(iv.Switch.P99), f1(iv.Switch.Max), iv.Switch.Count)
	}
}

// watchedShare renders the share of watched drivers at the start: "20 %".
func watchedShare(s StepResult, iv *Intervals) string {
	n := 0
	for _, g := range iv.Groups {
		if g.Name == GroupWatched || g.Name == GroupLeft {
			n += g.Drivers
		}
	}
	return fmt.Sprintf("%.0f %%", 100*float64(n)/float64(max(s.Drivers, 1)))
}
