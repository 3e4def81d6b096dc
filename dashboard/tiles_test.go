package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/rtls-io/rtls/dashboard/model"
)

var tileColour = color.RGBA{0xcc, 0x33, 0xcc, 0xff}

// tileServer serves solid 256×256 PNG tiles and counts requests.
func tileServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = tileColour.R, tileColour.G, tileColour.B, tileColour.A
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.Header.Get("User-Agent") == "" {
			http.Error(w, "no user agent", http.StatusForbidden)
			return
		}
		var z, x, y int
		if _, err := fmt.Sscanf(r.URL.Path, "/%d/%d/%d.png", &z, &x, &y); err != nil || x >= 1<<z || y >= 1<<z {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newTiles(t *testing.T, url, cache string) *TileLayer {
	t.Helper()
	tl, err := NewTileLayer(TileConfig{URL: url + "/{z}/{x}/{y}.png", Attribution: "© Test tiles", CacheDir: cache, RetryAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	return tl
}

// mapWith shows a map of one driver over the given tiles in a test window.
func mapWith(t *testing.T, tiles *TileLayer) *MapView {
	t.Helper()
	fleet := newFleet(t)
	d := model.Driver{ID: "d-1", Lat: 12.97, Lon: 77.59, Cursor: 1, FixTime: time.Now(), Received: time.Now()}
	d.X, d.Y = model.Project(d.Lat, d.Lon)
	fleet.Ingest(d)
	m := newMapView(fleet, tiles, [2]float64{12.97, 77.59}, 14, nil)
	w := test.NewTempWindow(t, m)
	w.Resize(fyne.NewSize(400, 300))
	m.update()
	return m
}

func cornerPixel(m *MapView) color.RGBA { return renderMap(m).RGBAAt(30, 200) }

func TestTilesFetchCacheAndFallBack(t *testing.T) {
	test.NewTempApp(t)
	srv, requests := tileServer(t)
	cache := t.TempDir()

	// Online: tiles are fetched, drawn, and written to the disk cache.
	m := mapWith(t, newTiles(t, srv.URL, cache))
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if c := cornerPixel(m); c != tileColour {
			return fmt.Errorf("pixel %v, want the tile's colour", c)
		}
		return nil
	})
	if m.attribution.Text != "© Test tiles" || !m.attribution.Visible() {
		t.Fatalf("attribution %q", m.attribution.Text)
	}
	// Once every visible tile has arrived, drawing again fetches nothing:
	// the tiles are in memory.
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		renderMap(m)
		tl := m.tiles
		tl.mu.Lock()
		queued := len(tl.queued)
		tl.mu.Unlock()
		if queued > 0 || tl.Stats().Fetched != uint64(requests.Load()) {
			return fmt.Errorf("%d tiles queued, %d fetched of %d requested", queued, tl.Stats().Fetched, requests.Load())
		}
		return nil
	})
	fetched := requests.Load()
	renderMap(m)
	if requests.Load() != fetched {
		t.Fatalf("redraw fetched again: %d requests, was %d", requests.Load(), fetched)
	}
	var files int64
	filepath.Walk(cache, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Ext(p) == ".tile" {
			files++
		}
		return nil
	})
	if files != fetched {
		t.Fatalf("%d cached tiles after %d fetched", files, fetched)
	}

	// Offline with the cache: the same tiles come from disk.
	srv.Close()
	m2 := mapWith(t, newTiles(t, srv.URL, cache))
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if c := cornerPixel(m2); c != tileColour {
			return fmt.Errorf("pixel %v, want the cached tile's colour", c)
		}
		return nil
	})

	// Offline without a cache: no tiles, the graticule map, and the errors counted.
	tl := newTiles(t, srv.URL, t.TempDir())
	m3 := mapWith(t, tl)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		renderMap(m3)
		if s := tl.Stats(); s.Errors == 0 || s.LastError == "" {
			return fmt.Errorf("tile stats %+v", s)
		}
		return nil
	})
	if c := cornerPixel(m3); c != colBackground && c != colGraticule {
		t.Fatalf("pixel %v without tiles", c)
	}
	if m3.drawn {
		t.Fatal("tiles reported drawn")
	}
}

func TestTileConfigErrors(t *testing.T) {
	for _, cfg := range []TileConfig{
		{URL: "http://x/{z}/{x}.png", Attribution: "a"},
		{URL: "http://x/{z}/{x}/{y}.png"},
	} {
		if _, err := NewTileLayer(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewTileLayer(%+v) = %v", cfg, err)
		}
	}
}
