package dashboard

import (
	"encoding/json"
	"time"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// Watching the selected driver. While a dispatcher has a driver selected,
// the dashboard says so on rtls.watch.<driver> ({"watcher": its id,
// "on": true}) at once, again every WatchEvery (the nodes forget a watch
// not repeated within a minute) and after every reconnect; the driver's
// node then asks the driver's app for fast updates. When the selection
// changes, or the feed closes, it says {"on": false}, so the app goes slow
// again at once rather than when the watch expires.

// watchMsg is the payload of rtls.watch.<driver> (package node/presence).
type watchMsg struct {
	Watcher string `json:"watcher"`
	On      bool   `json:"on"`
}

// Watch makes driver the one this dashboard watches ("" for none). It never
// blocks: the feed's watch goroutine publishes, and a newer call replaces a
// request not yet taken. An invalid driver id is taken as none.
func (f *Feed) Watch(driver string) {
	if !location.ValidID(driver) {
		driver = ""
	}
	for {
		select {
		case f.watchq <- driver:
			return
		default:
		}
		select { // replace the waiting request
		case <-f.watchq:
		default:
		}
	}
}

// WatcherID is the id this dashboard watches drivers as.
func (f *Feed) WatcherID() string { return f.cfg.WatcherID }

// watchLoop owns the watch: it is the only goroutine that publishes on
// rtls.watch.*.
func (f *Feed) watchLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.WatchEvery)
	defer t.Stop()
	var cur string
	for {
		select {
		case <-f.base.Done():
			if cur != "" {
				f.publishWatch(cur, false)
				if f.nc.IsConnected() {
					f.nc.FlushTimeout(time.Second) // before Close drops the connection
				}
			}
			return
		case d := <-f.watchq:
			if d == cur {
				continue
			}
			if cur != "" {
				f.publishWatch(cur, false)
			}
			cur = d
			if cur != "" {
				f.publishWatch(cur, true)
			}
			t.Reset(f.cfg.WatchEvery)
		case <-f.rewatch:
			if cur != "" {
				f.publishWatch(cur, true)
			}
		case <-t.C:
			if cur != "" {
				f.publishWatch(cur, true)
			}
		}
	}
}

func (f *Feed) publishWatch(driver string, on bool) {
	data, _ := json.Marshal(watchMsg{Watcher: f.cfg.WatcherID, On: on})
	if err := f.nc.Publish(fixstream.WatchPrefix+driver, data); err != nil {
		f.log.Warn("could not say which driver the dashboard watches", "driver", driver, "on", on, "err", err)
	}
}
