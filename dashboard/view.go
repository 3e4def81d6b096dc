package dashboard

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/rtls-io/rtls/dashboard/model"
)

// Config configures a Dashboard. A zero field means the default in its comment.
type Config struct {
	// Fleet is the state shown. Required.
	Fleet *model.Fleet
	// Feed keeps the fleet current and reports the connection. Required.
	Feed *Feed
	// Tiles draws raster tiles under the drivers. Zero value means none:
	// a graticule and a scale bar only.
	Tiles *TileLayer
	// RedrawInterval is the shortest time between two redraws. Zero value
	// means 250 ms (4 redraws per second at most).
	RedrawInterval time.Duration
	// Center (latitude, longitude) and Zoom are the map's view until the
	// first drivers arrive and are fitted. Zero values mean (20, 0) and 2.
	Center [2]float64
	Zoom   float64
	// Location is the time zone the detail view shows times of day in.
	// Zero value means time.Local.
	Location *time.Location
}

// Dashboard is the dispatcher's window content: header, map and driver
// list. Create it with New, put Content in a window, call Start to redraw
// as the fleet changes, and Close to stop. Its methods other than Start,
// Close and Redraws must be called on the Fyne goroutine.
type Dashboard struct {
	cfg     Config
	fleet   *model.Fleet
	feed    *Feed
	header  *header
	mapView *MapView
	list    *driverList
	details *widget.Label
	side    *fyne.Container // the list above the details
	content fyne.CanvasObject
	rate    *model.Rate

	pending atomic.Bool   // a redraw is queued with fyne.Do
	dirty   atomic.Bool   // something outside the fleet changed (a tile arrived)
	redraws atomic.Uint64 // redraws done
	quit    chan struct{}
	wg      sync.WaitGroup
	started atomic.Bool
	closed  sync.Once
}

// New builds the dashboard's widgets. Call it on the Fyne goroutine (or
// before the app runs).
func New(cfg Config) (*Dashboard, error) {
	if cfg.Fleet == nil || cfg.Feed == nil {
		return nil, fmt.Errorf("%w: a dashboard needs a Fleet and a Feed", ErrInvalidConfig)
	}
	if cfg.RedrawInterval == 0 {
		cfg.RedrawInterval = 250 * time.Millisecond
	}
	if cfg.RedrawInterval < 0 {
		return nil, fmt.Errorf("%w: negative RedrawInterval", ErrInvalidConfig)
	}
	if cfg.Center == [2]float64{} {
		cfg.Center = [2]float64{20, 0}
	}
	if cfg.Zoom == 0 {
		cfg.Zoom = 2
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	d := &Dashboard{cfg: cfg, fleet: cfg.Fleet, feed: cfg.Feed, rate: model.NewRate(5 * time.Second), quit: make(chan struct{})}
	d.header = newHeader()
	d.mapView = newMapView(cfg.Fleet, cfg.Tiles, cfg.Center, cfg.Zoom, d.selectFromMap)
	d.list = newDriverList(cfg.Fleet, d.Select)
	d.details = widget.NewLabel("Select a driver on the map or in the list.")
	d.details.Wrapping = fyne.TextWrapWord
	d.side = container.NewBorder(nil, d.details, nil, nil, d.list.content)
	split := container.NewHSplit(d.mapView, d.side)
	split.Offset = 0.58
	d.content = container.NewBorder(d.header.content, nil, nil, nil, split)
	return d, nil
}

// Content is the dashboard's root object.
func (d *Dashboard) Content() fyne.CanvasObject { return d.content }

// Map returns the map widget.
func (d *Dashboard) Map() *MapView { return d.mapView }

// Select selects a driver ("" for none) on the map and in the list, asks
// the feed for its trail, and has the feed watch it (so that its app sends
// fast while it is selected). It does not wait for the network.
func (d *Dashboard) Select(id string) {
	if d.fleet.Select(id) && id != "" {
		d.feed.LoadTrail(id)
	}
	d.feed.Watch(id)
	d.Redraw()
}

func (d *Dashboard) selectFromMap(id string) {
	d.Select(id)
	d.list.reveal()
}

// Redraw brings every widget up to date with the fleet and the feed. Call
// it on the Fyne goroutine; Start calls it at a bounded rate.
func (d *Dashboard) Redraw() {
	counts := d.fleet.Tick()
	st := d.feed.Status()
	d.header.update(counts, d.rate.Observe(d.fleet.Now(), st.LiveMessages), st, d.fleet.Stats())
	d.mapView.update()
	d.list.update()
	d.updateDetails()
	d.redraws.Add(1)
}

func (d *Dashboard) updateDetails() {
	id := d.fleet.Selected()
	if id == "" {
		d.setDetails("Select a driver on the map or in the list.")
		return
	}
	dr, l, ok := d.fleet.Driver(id)
	if !ok {
		d.setDetails(id + ": not known to the cluster")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s · %s", id, formatState(l.State, l.Reason))
	if dr.HasFix() {
		heading := "–"
		if !math.IsNaN(dr.Heading) {
			heading = fmt.Sprintf("%.0f°", dr.Heading)
		}
		fmt.Fprintf(&b, " · seen %s ago · %s, heading %s", formatAge(dr.Age(d.fleet.Now())), formatSpeed(dr.Speed), heading)
	} else {
		b.WriteString(" · no fix yet")
	}
	b.WriteString("\n" + formatLiveness(l, d.cfg.Location))
	if dr.HasFix() {
		fmt.Fprintf(&b, "\n%s · ", formatPosition(dr.Lat, dr.Lon))
	} else {
		b.WriteString("\n")
	}
	if l.Announced {
		fmt.Fprintf(&b, "announced by %s", l.Node)
		if dr.HasFix() {
			b.WriteString(" · ")
		}
	}
	if dr.HasFix() {
		fmt.Fprintf(&b, "stored by %s · cursor %d · trail of %d fixes", dr.Node, dr.Cursor, len(d.fleet.Trail()))
	}
	d.setDetails(b.String())
}

// setDetails shows text under the list. A wrapped label's height follows
// its text, but its container lays it out only when asked: do so when the
// number of lines changed, or the last lines would be cut off (or blank
// space left).
func (d *Dashboard) setDetails(text string) {
	if d.details.Text == text {
		return
	}
	d.details.SetText(text)
	if d.side.Size().Height > 0 && d.details.MinSize().Height != d.details.Size().Height {
		d.side.Layout.Layout(d.side.Objects, d.side.Size())
	}
}

// Invalidate asks for a redraw at the next tick of the redraw loop even if
// the fleet has not changed (for example when a map tile arrived). It is
// safe to call from any goroutine and never blocks.
func (d *Dashboard) Invalidate() { d.dirty.Store(true) }

// Redraws counts the redraws done.
func (d *Dashboard) Redraws() uint64 { return d.redraws.Load() }

// Start starts the redraw loop: every RedrawInterval it queues a redraw on
// the Fyne goroutine (fyne.Do) if the fleet or the feed changed, and at
// least once a second since ages grow; never more than one queued at once,
// so a slow UI skips redraws instead of piling them up. Network goroutines
// never touch widgets.
func (d *Dashboard) Start() {
	if !d.started.CompareAndSwap(false, true) {
		return
	}
	d.wg.Add(1)
	go d.loop()
}

func (d *Dashboard) loop() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.RedrawInterval)
	defer t.Stop()
	var lastVersion, lastLive uint64
	var lastState ConnState
	lastFull := time.Time{}
	for {
		select {
		case <-d.quit:
			return
		case <-t.C:
		}
		v, st := d.fleet.Version(), d.feed.Status()
		if v == lastVersion && st.LiveMessages == lastLive && st.State == lastState && time.Since(lastFull) < time.Second && !d.dirty.Load() {
			continue
		}
		if !d.pending.CompareAndSwap(false, true) {
			continue // the last one has not run yet
		}
		lastVersion, lastLive, lastState, lastFull = v, st.LiveMessages, st.State, time.Now()
		d.dirty.Store(false)
		fyne.Do(func() {
			d.pending.Store(false)
			select {
			case <-d.quit:
			default:
				d.Redraw()
			}
		})
	}
}

// Close stops the redraw loop and waits for it. It does not close the feed
// or the tiles, which the caller owns.
func (d *Dashboard) Close() error {
	d.closed.Do(func() {
		close(d.quit)
		d.wg.Wait()
	})
	return nil
}
