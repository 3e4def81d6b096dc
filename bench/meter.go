package bench

import (
	"context"
	"sync"
	"time"
)

// window is what a meter measured between Begin and End.
type window struct {
	// ServerCPU is the nodes' CPU time, SelfCPU this process's.
	ServerCPU, SelfCPU time.Duration
	// NodePeakRSS is each node's highest resident set sampled, PeakTotalRSS
	// the highest sum over the nodes of one sample, SelfPeakRSS this
	// process's highest; EndRSS each node's at End. In bytes.
	NodePeakRSS  []uint64
	PeakTotalRSS uint64
	SelfPeakRSS  uint64
	EndRSS       []uint64
}

// meter reads the nodes' and this process's CPU time at the start and the
// end of a window, and samples their resident memory every Interval while
// the window is open: VmHWM is a high-water mark over a process's whole
// life, so it cannot tell one step's peak from an earlier one's.
type meter struct {
	pids     func() []int // the nodes' process ids (0: not running)
	interval time.Duration

	mu      sync.Mutex
	server0 time.Duration
	self0   time.Duration
	stop    chan struct{}
	done    chan struct{}
	last    window
}

func newMeter(pids func() []int) *meter {
	return &meter{pids: pids, interval: 100 * time.Millisecond}
}

func (m *meter) cpu() (server, self time.Duration) {
	for _, pid := range m.pids() {
		if pid == 0 {
			continue
		}
		if st, err := ReadProc(pid); err == nil {
			server += st.CPU
		}
	}
	if st, err := ReadProc(0); err == nil {
		self = st.CPU
	}
	return server, self
}

// sample takes one reading of the resident sets into w.
func (m *meter) sample(w *window) {
	pids := m.pids()
	if len(w.NodePeakRSS) < len(pids) {
		w.NodePeakRSS = append(w.NodePeakRSS, make([]uint64, len(pids)-len(w.NodePeakRSS))...)
	}
	w.EndRSS = w.EndRSS[:0]
	var total uint64
	for i, pid := range pids {
		var rss uint64
		if pid != 0 {
			if st, err := ReadProc(pid); err == nil {
				rss = st.RSS
			}
		}
		w.NodePeakRSS[i] = max(w.NodePeakRSS[i], rss)
		w.EndRSS = append(w.EndRSS, rss)
		total += rss
	}
	w.PeakTotalRSS = max(w.PeakTotalRSS, total)
	if st, err := ReadProc(0); err == nil {
		w.SelfPeakRSS = max(w.SelfPeakRSS, st.RSS)
	}
}

// Begin opens a window; a window still open is closed first.
func (m *meter) Begin() {
	m.End()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.server0, m.self0 = m.cpu()
	m.last = window{}
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	stop, done := m.stop, m.done
	go func() {
		defer close(done)
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			m.mu.Lock()
			m.sample(&m.last)
			m.mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

// End closes the window opened by Begin (if any); Last then returns it.
func (m *meter) End() {
	m.mu.Lock()
	stop, done := m.stop, m.done
	m.stop, m.done = nil, nil
	m.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sample(&m.last)
	s, me := m.cpu()
	m.last.ServerCPU, m.last.SelfCPU = s-m.server0, me-m.self0
}

// Last returns the last closed window.
func (m *meter) Last() window {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.last
	w.NodePeakRSS = append([]uint64(nil), w.NodePeakRSS...)
	w.EndRSS = append([]uint64(nil), w.EndRSS...)
	return w
}

// quiet waits until the nodes use less than maxCores of CPU over a period
// (so a step's backlog inside the cluster does not spill into the next
// step), or ctx ends. It reports how long it waited and whether the nodes
// went quiet.
func (m *meter) quiet(ctx context.Context, maxCores float64, period time.Duration) (time.Duration, bool) {
	start := time.Now()
	prev, _ := m.cpu()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-t.C:
		}
		cur, _ := m.cpu()
		if float64(cur-prev) < maxCores*float64(period) {
			return time.Since(start), true
		}
		prev = cur
	}
}
