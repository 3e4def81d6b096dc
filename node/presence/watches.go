package presence

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// Watches knows, cluster-wide, which drivers someone watches: riders'
// nodes (one watcher per node, for every driver it has riders of) and
// dashboards (a dispatcher's selection). A watcher says so on
// rtls.watch.<driver> when it starts or stops watching, and repeats its
// whole list on rtls.watch.refresh.<watcher> every refresh interval; a
// watch not repeated within expireAfter is dropped, so a lost message or a
// dead node does not keep a driver fast for ever.
type Watches struct {
	nc          *nats.Conn
	self        string
	every       time.Duration
	expireAfter time.Duration
	log         *slog.Logger
	onChange    func(driver string, watched bool)

	mu       sync.Mutex
	watchers map[string]map[string]time.Time // driver → watcher → expiry
	mine     map[string]bool                 // drivers this node watches

	subs []*nats.Subscription
	quit chan struct{}
	wg   sync.WaitGroup
}

// watchMsg is the payload of rtls.watch.<driver>.
type watchMsg struct {
	Watcher string `json:"watcher"`
	On      bool   `json:"on"`
}

// refreshMsg is the payload of rtls.watch.refresh.<watcher>.
type refreshMsg struct {
	Watcher string   `json:"watcher"`
	Drivers []string `json:"drivers"`
}

// StartWatches starts following watches as watcher self; onChange, if set,
// is called (without locks held, never concurrently with itself for one
// driver's change... but from NATS callbacks and the refresh goroutine, so
// it must not block) when a driver becomes watched or unwatched.
func StartWatches(nc *nats.Conn, self string, every, expireAfter time.Duration, log *slog.Logger, onChange func(driver string, watched bool)) (*Watches, error) {
	w := &Watches{nc: nc, self: self, every: every, expireAfter: expireAfter, log: log, onChange: onChange,
		watchers: map[string]map[string]time.Time{}, mine: map[string]bool{}, quit: make(chan struct{})}
	for subject, h := range map[string]nats.MsgHandler{
		fixstream.WatchPrefix + "*":         w.onWatch,
		fixstream.WatchPrefix + "refresh.*": w.onRefresh,
	} {
		sub, err := nc.Subscribe(subject, h)
		if err != nil {
			w.Stop()
			return nil, err
		}
		w.subs = append(w.subs, sub)
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

// Stop stops following watches and waits for the refresh goroutine.
func (w *Watches) Stop() {
	for _, s := range w.subs {
		s.Unsubscribe()
	}
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.wg.Wait()
}

// Watch says that this node starts (on) or stops watching driver.
func (w *Watches) Watch(driver string, on bool) {
	w.mu.Lock()
	if on {
		w.mine[driver] = true
	} else {
		delete(w.mine, driver)
	}
	w.mu.Unlock()
	data, _ := json.Marshal(watchMsg{Watcher: w.self, On: on})
	w.nc.Publish(fixstream.WatchPrefix+driver, data)
}

// Watched reports whether anyone watches driver.
func (w *Watches) Watched(driver string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watchers[driver]) > 0
}

// set records one watcher's watch of driver and reports a change of the
// driver's watched state. The lock is held.
func (w *Watches) setLocked(driver, watcher string, on bool, now time.Time) (changed bool) {
	ws := w.watchers[driver]
	before := len(ws) > 0
	if on {
		if ws == nil {
			ws = map[string]time.Time{}
			w.watchers[driver] = ws
		}
		ws[watcher] = now.Add(w.expireAfter)
	} else if ws != nil {
		delete(ws, watcher)
		if len(ws) == 0 {
			delete(w.watchers, driver)
		}
	}
	return before != (len(w.watchers[driver]) > 0)
}

func (w *Watches) onWatch(m *nats.Msg) {
	driver := m.Subject[len(fixstream.WatchPrefix):]
	var msg watchMsg
	if !location.ValidID(driver) || json.Unmarshal(m.Data, &msg) != nil || !location.ValidID(msg.Watcher) {
		w.log.Debug("dropped an invalid watch message", "subject", m.Subject)
		return
	}
	w.mu.Lock()
	changed := w.setLocked(driver, msg.Watcher, msg.On, time.Now())
	w.mu.Unlock()
	if changed && w.onChange != nil {
		w.onChange(driver, msg.On)
	}
}

func (w *Watches) onRefresh(m *nats.Msg) {
	var msg refreshMsg
	if json.Unmarshal(m.Data, &msg) != nil || !location.ValidID(msg.Watcher) || m.Subject != fixstream.WatchPrefix+"refresh."+msg.Watcher {
		w.log.Debug("dropped an invalid watch refresh", "subject", m.Subject)
		return
	}
	now := time.Now()
	var became []string
	w.mu.Lock()
	for _, d := range msg.Drivers {
		if location.ValidID(d) && w.setLocked(d, msg.Watcher, true, now) {
			became = append(became, d)
		}
	}
	w.mu.Unlock()
	for _, d := range became {
		if w.onChange != nil {
			w.onChange(d, true)
		}
	}
}

// refreshBatch bounds the drivers of one refresh message.
const refreshBatch = 500

func (w *Watches) loop() {
	defer w.wg.Done()
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.quit:
			return
		case now := <-t.C:
			w.mu.Lock()
			mine := slices.Sorted(maps.Keys(w.mine))
			var gone []string
			for d, ws := range w.watchers {
				for watcher, exp := range ws {
					if now.After(exp) {
						delete(ws, watcher)
					}
				}
				if len(ws) == 0 {
					delete(w.watchers, d)
					gone = append(gone, d)
				}
			}
			w.mu.Unlock()
			for len(mine) > 0 {
				n := min(len(mine), refreshBatch)
				data, _ := json.Marshal(refreshMsg{Watcher: w.self, Drivers: mine[:n]})
				w.nc.Publish(fixstream.WatchPrefix+"refresh."+w.self, data)
				mine = mine[n:]
			}
			for _, d := range gone {
				if w.onChange != nil {
					w.onChange(d, false)
				}
			}
		}
	}
}
