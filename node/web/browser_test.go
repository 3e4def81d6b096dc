package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/web"
)

// chromiumPath finds Debian's Chromium ($RTLS_CHROMIUM overrides it). Without
// it the browser tests fail under CI (CI=1) and are skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("RTLS_CHROMIUM"), "/usr/bin/chromium"}
	if p, err := exec.LookPath("chromium"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	const hint = "headless Chromium is missing: apt-get install chromium (or set RTLS_CHROMIUM)"
	if os.Getenv("CI") != "" {
		t.Fatal(hint + "; CI must run the browser tests")
	}
	t.Skip(hint)
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and nothing that
// reaches out to the network, and stops it when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// page is one tab in a browser context of its own (its own cookies,
// storage and permissions, like a second device). It records JavaScript
// exceptions and Content-Security-Policy violations.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu       sync.Mutex
	problems []string // exceptions and CSP violations: the test fails
	logs     []string // other console errors: printed if it fails
}

func newPage(t *testing.T, browserCtx context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &page{t: t, name: name, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			p.problems = append(p.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, text))
		case *log.EventEntryAdded:
			line := fmt.Sprintf("%s %s: %s", e.Entry.Source, e.Entry.Level, e.Entry.Text)
			if strings.Contains(e.Entry.Text, "Content Security Policy") {
				p.problems = append(p.problems, line)
			} else if e.Entry.Level == log.EntryLevelError {
				p.logs = append(p.logs, line)
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if t.Failed() {
			for _, l := range p.logs {
				t.Logf("%s console: %s", name, l)
			}
		}
	})
	// A phone's screen: the layout the page is made for first.
	p.do(chromedp.EmulateViewport(420, 860))
	return p
}

// do runs steps with a deadline and fails the test on error.
func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// open loads url and waits until the page has its configuration.
func (p *page) open(url string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url))
	testnode.CheckFor(p.t, 20*time.Second, 20*time.Millisecond, func() error {
		ready, err := eval[bool](p, `document.body.dataset.ready === "1"`)
		if err == nil && !ready {
			err = errors.New("the page has not loaded its configuration")
		}
		return err
	})
}

// checkClean fails the test for any exception or CSP violation so far.
func (p *page) checkClean() {
	p.t.Helper()
	p.mu.Lock()
	problems := slices.Clone(p.problems)
	p.mu.Unlock()
	violations, err := eval[[]string](p, `window.rtlsDemo.violations`)
	if err != nil {
		p.t.Fatalf("%s: read violations: %v", p.name, err)
	}
	for _, v := range append(problems, violations...) {
		p.t.Errorf("%s: %s", p.name, v)
	}
}

// setPosition moves the emulated device.
func (p *page) setPosition(lat, lon float64) {
	p.t.Helper()
	acc := 5.0
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{
			Latitude: &lat, Longitude: &lon, Accuracy: &acc,
		})
		return err
	}))
}

// grantGeolocation lets pages of origin in this page's browser context read
// the position without asking.
func (p *page) grantGeolocation(origin string) {
	p.t.Helper()
	_, err := chromedp.CallBrowser(p.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission:       &browser.PermissionDescriptor{Name: "geolocation"},
		Setting:          browser.PermissionSettingGranted,
		Origin:           origin,
		BrowserContextID: chromedp.FromContext(p.ctx).BrowserContextID,
	})
	if err != nil {
		p.t.Fatalf("%s: grant geolocation: %v", p.name, err)
	}
}

// markerAt reads the position of the marker on the page's map.
func (p *page) markerAt(mapID string) (lat, lon float64, err error) {
	ds, err := eval[map[string]string](p, `Object.assign({}, document.getElementById("`+mapID+`").dataset)`)
	if err != nil {
		return 0, 0, err
	}
	if lat, err = strconv.ParseFloat(ds["lat"], 64); err != nil {
		return 0, 0, fmt.Errorf("no marker on #%s yet", mapID)
	}
	lon, err = strconv.ParseFloat(ds["lon"], 64)
	return lat, lon, err
}

func (p *page) waitMarker(mapID string, lat, lon float64) {
	p.t.Helper()
	testnode.CheckFor(p.t, 20*time.Second, 20*time.Millisecond, func() error {
		gotLat, gotLon, err := p.markerAt(mapID)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if !near(gotLat, lat) || !near(gotLon, lon) {
			return fmt.Errorf("%s: marker at %.7f, %.7f, want %.7f, %.7f", p.name, gotLat, gotLon, lat, lon)
		}
		return nil
	})
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func (p *page) screenshot() image.Image {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	return img
}

// What the pages expose in window.rtlsDemo.
type (
	driverState struct {
		Sent []struct {
			Seq int64 `json:"seq"`
		} `json:"sent"`
		Acked []struct {
			Seq    int64  `json:"seq"`
			Cursor uint64 `json:"cursor"`
		} `json:"acked"`
		Pending int `json:"pending"`
	}
	riderState struct {
		Received []struct {
			Seq       int64   `json:"seq"`
			Cursor    uint64  `json:"cursor"`
			Latitude  float64 `json:"latitude"`
			Longitude float64 `json:"longitude"`
			Replay    bool    `json:"replay"`
			Via       string  `json:"via"`
		} `json:"received"`
		Node    string   `json:"node"`
		Resumes int      `json:"resumes"`
		Notes   []string `json:"notes"`
	}
)

func readDriver(p *page) (driverState, error) {
	return eval[driverState](p, `(() => { const d = window.rtlsDemo.driver; return {sent: d.sent, acked: d.acked, pending: d.pending.size}; })()`)
}

func readRider(p *page) (riderState, error) {
	return eval[riderState](p, `window.rtlsDemo.rider`)
}

// TestBrowserDemo is the demo as two people would use it: a driver page on
// node 1 shares an emulated position, a rider page on node 2 (another
// browser context: another device) follows it; the rider's node stops, and
// the rider page resumes on another node without missing or repeating a fix.
func TestBrowserDemo(t *testing.T) {
	chromiumPath(t) // fail or skip before starting a cluster for nothing
	began := time.Now()
	c := clustertest.New(t, 3, func(i int, cfg *node.Config) {
		// The rider page, loaded from node 2, reconnects to the others.
		cfg.AllowedOrigins = []string{"*"}
		// No tiles: the machine is offline, and the grid must do.
		cfg.Web.Tiles = web.NoTiles
	})
	httpURL := func(i int) string { return "http://" + c.Config(i).HTTPAddr }
	wsURL := func(i int) string { return "ws://" + c.Config(i).HTTPAddr + "/v1/ws" }
	br := newBrowser(t)
	t.Logf("cluster and browser up in %v", time.Since(began).Round(time.Millisecond))

	// The driver, on node 1, walks round a block: fix k is at angle k·0.15
	// rad on a circle of about 110 m.
	const driverID = "d-web"
	step := 0
	at := func(k int) (lat, lon float64) {
		a := float64(k) * 0.15
		return 52.5200 + 0.001*math.Sin(a), 13.4050 - 0.0016*math.Cos(a)
	}
	lat, lon := at(step)
	driver := newPage(t, br, "driver")
	driver.grantGeolocation(httpURL(0))
	driver.setPosition(lat, lon)
	driver.open(httpURL(0) + "/?view=driver&id=" + driverID)
	driver.do(chromedp.Click(chromedp.CSS("#driver-start")))
	acked := func(n int) {
		t.Helper()
		testnode.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
			d, err := readDriver(driver)
			if err == nil && len(d.Acked) < n {
				err = fmt.Errorf("driver: %d fixes acked, want %d (%d sent)", len(d.Acked), n, len(d.Sent))
			}
			return err
		})
	}
	acked(1)
	driver.waitMarker("driver-map", lat, lon)

	// The rider, on node 2, with every node to fall back on.
	rider := newPage(t, br, "rider")
	nodes := strings.Join([]string{wsURL(1), wsURL(2), wsURL(0)}, ",")
	rider.open(httpURL(1) + "/?view=rider&driver=" + driverID + "&nodes=" + nodes)
	rider.do(chromedp.Click(chromedp.CSS("#rider-start")))
	rider.waitMarker("rider-map", lat, lon) // the replayed history

	// The driver moves; so does the rider's marker.
	move := func() {
		t.Helper()
		d, err := readDriver(driver)
		if err != nil {
			t.Fatal(err)
		}
		step++
		lat, lon = at(step)
		driver.setPosition(lat, lon)
		acked(len(d.Acked) + 1)
	}
	move()
	rider.waitMarker("rider-map", lat, lon)
	t.Logf("rider follows the driver after %v", time.Since(began).Round(time.Millisecond))

	// Node 2 stops gracefully while the driver keeps moving.
	stopped := make(chan error, 1)
	stopAt := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- c.Stop(ctx, 1)
	}()
	var stopTook time.Duration
	for moves, after := 0, -1; after < 30; moves++ {
		if moves > 500 {
			t.Fatal("node 2 did not stop within 500 fixes")
		}
		move()
		if after >= 0 {
			after++
			continue
		}
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatalf("stop node 2: %v", err)
			}
			stopTook = time.Since(stopAt)
			after = 0
		default:
		}
	}
	t.Logf("node 2 stopped in %v", stopTook.Round(time.Millisecond))
	rider.waitMarker("rider-map", lat, lon)

	// Every fix the driver sent was acked once; the rider received every
	// one of them from its first on, once each, in order, and its last came
	// through another node.
	d, err := readDriver(driver)
	if err != nil {
		t.Fatal(err)
	}
	r, err := readRider(rider)
	if err != nil {
		t.Fatal(err)
	}
	if d.Pending != 0 || len(d.Acked) != len(d.Sent) {
		t.Errorf("driver: %d sent, %d acked, %d pending", len(d.Sent), len(d.Acked), d.Pending)
	}
	seqOf := map[uint64]int64{}
	var cursors []uint64
	for _, a := range d.Acked {
		if _, dup := seqOf[a.Cursor]; dup {
			t.Errorf("driver: cursor %d acked twice", a.Cursor)
		}
		seqOf[a.Cursor] = a.Seq
		cursors = append(cursors, a.Cursor)
	}
	slices.Sort(cursors)
	if len(r.Received) == 0 {
		t.Fatal("rider: received nothing")
	}
	first := slices.Index(cursors, r.Received[0].Cursor)
	if first < 0 {
		t.Fatalf("rider: first fix has cursor %d, which the driver was never acked", r.Received[0].Cursor)
	}
	want := cursors[first:]
	var got []uint64
	viaOther := 0
	for _, f := range r.Received {
		got = append(got, f.Cursor)
		if f.Seq != seqOf[f.Cursor] {
			t.Errorf("rider: cursor %d has seq %d, the driver's ack says %d", f.Cursor, f.Seq, seqOf[f.Cursor])
		}
		if f.Via != "n2" {
			viaOther++
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("rider received cursors\n%v\nwant (every fix acked from its first on, once, in order)\n%v", got, want)
	}
	if r.Node == "n2" || viaOther == 0 || r.Resumes == 0 {
		t.Errorf("rider: on %s after node 2 stopped, %d fixes through other nodes, %d resumes", r.Node, viaOther, r.Resumes)
	}
	replayed := 0
	for _, f := range r.Received {
		if f.Replay {
			replayed++
		}
	}
	t.Logf("driver sent %d fixes; rider received %d (%d replayed, %d through %s after the stop), notes: %q",
		len(d.Sent), len(r.Received), replayed, viaOther, r.Node, r.Notes)
	driver.checkClean()
	rider.checkClean()

	// The picture for the README: the driver's phone beside the rider's,
	// once their maps have stopped panning.
	for _, p := range []*page{driver, rider} {
		testnode.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			panning, err := eval[bool](p, `document.querySelector(".leaflet-pan-anim") !== null`)
			if err == nil && panning {
				err = fmt.Errorf("%s: the map is still panning", p.name)
			}
			return err
		})
	}
	writeScreenshot(t, sideBySide(driver.screenshot(), rider.screenshot()))
	t.Logf("whole test %v", time.Since(began).Round(time.Millisecond))
}

// sideBySide puts the images next to each other with a gap.
func sideBySide(a, b image.Image) image.Image {
	const gap = 16
	w := a.Bounds().Dx() + gap + b.Bounds().Dx()
	h := max(a.Bounds().Dy(), b.Bounds().Dy())
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.NewUniform(image.White.C), image.Point{}, draw.Src)
	draw.Draw(out, a.Bounds().Sub(a.Bounds().Min), a, a.Bounds().Min, draw.Src)
	draw.Draw(out, b.Bounds().Sub(b.Bounds().Min).Add(image.Pt(a.Bounds().Dx()+gap, 0)), b, b.Bounds().Min, draw.Src)
	return out
}

// writeScreenshot writes img to the test's temporary directory and, when
// RTLS_SCREENSHOT names a file (relative to the repository's root), there.
func writeScreenshot(t *testing.T, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(t.TempDir(), "browser-demo.png")}
	if p := os.Getenv("RTLS_SCREENSHOT"); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join("..", "..", p) // this package is node/web
		}
		paths = append(paths, p)
	}
	for _, p := range paths {
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
		t.Logf("screenshot: %s", p)
	}
}
