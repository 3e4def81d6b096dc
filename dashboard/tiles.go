package dashboard

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // tile servers serve PNG or JPEG
	_ "image/png"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtls-io/rtls/dashboard/model"
)

// TileConfig configures an optional raster tile layer. A zero field means
// the default in its comment.
type TileConfig struct {
	// URL is the tile URL template with {z}, {x} and {y}, for example
	// "https://tile.example.org/{z}/{x}/{y}.png". Required.
	URL string
	// Attribution is the text the tile provider's licence requires on the
	// map, for example "© OpenStreetMap contributors". Required.
	Attribution string
	// CacheDir keeps fetched tiles on disk. Zero value means no disk cache.
	CacheDir string
	// MemoryTiles is how many decoded tiles stay in memory. Zero value means 512.
	MemoryTiles int
	// Fetchers is how many tiles are fetched at once. Zero value means 4.
	Fetchers int
	// RetryAfter is how long a tile that failed is not asked for again.
	// Zero value means 30 seconds.
	RetryAfter time.Duration
	// Client fetches the tiles. Zero value means a client with a 10 s timeout.
	Client *http.Client
	// OnLoad is called (from a fetcher goroutine; it must not block) when a
	// tile has arrived, so the map can redraw.
	OnLoad func()
}

// TileLayer fetches raster tiles in the background, keeps them on disk and
// in memory, and draws those it has. A tile it does not have yet is asked
// for and simply not drawn: the map stays usable (graticule and drivers)
// without any tile server. Its methods are safe for concurrent use.
type TileLayer struct {
	cfg   TileConfig
	queue chan tileKey
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu      sync.Mutex
	mem     map[tileKey]*list.Element // of *tileEntry, LRU
	lru     *list.List
	failed  map[tileKey]time.Time
	queued  map[tileKey]bool
	fetched atomic.Uint64
	errs    atomic.Uint64
	lastErr atomic.Value // string
}

type tileKey struct{ z, x, y int }

type tileEntry struct {
	key tileKey
	img image.Image
}

// NewTileLayer validates cfg and starts the fetchers; Close stops them.
func NewTileLayer(cfg TileConfig) (*TileLayer, error) {
	for _, p := range []string{"{z}", "{x}", "{y}"} {
		if !strings.Contains(cfg.URL, p) {
			return nil, fmt.Errorf("%w: tile URL %q lacks %s", ErrInvalidConfig, cfg.URL, p)
		}
	}
	if strings.TrimSpace(cfg.Attribution) == "" {
		return nil, fmt.Errorf("%w: tiles need the provider's attribution text", ErrInvalidConfig)
	}
	if cfg.MemoryTiles == 0 {
		cfg.MemoryTiles = 512
	}
	if cfg.Fetchers == 0 {
		cfg.Fetchers = 4
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MemoryTiles < 0 || cfg.Fetchers < 0 {
		return nil, fmt.Errorf("%w: negative tile limits", ErrInvalidConfig)
	}
	t := &TileLayer{
		cfg:    cfg,
		queue:  make(chan tileKey, 256),
		mem:    make(map[tileKey]*list.Element),
		lru:    list.New(),
		failed: make(map[tileKey]time.Time),
		queued: make(map[tileKey]bool),
	}
	t.ctx, t.stop = context.WithCancel(context.Background())
	for i := 0; i < cfg.Fetchers; i++ {
		t.wg.Add(1)
		go t.fetcher()
	}
	return t, nil
}

// Attribution is the provider's attribution text.
func (t *TileLayer) Attribution() string { return t.cfg.Attribution }

// Close stops the fetchers and waits for them.
func (t *TileLayer) Close() error {
	t.stop()
	t.wg.Wait()
	return nil
}

// TileStats are the layer's counters.
type TileStats struct {
	// Fetched counts tiles loaded from the server or the disk cache;
	// Errors the tiles that could not be had, LastError the last reason.
	Fetched, Errors uint64
	LastError       string
}

// Stats returns the counters.
func (t *TileLayer) Stats() TileStats {
	s := TileStats{Fetched: t.fetched.Load(), Errors: t.errs.Load()}
	s.LastError, _ = t.lastErr.Load().(string)
	return s
}

// Tile returns the tile z/x/y if it is in memory; otherwise it asks for it
// (unless it failed recently) and returns nil.
func (t *TileLayer) Tile(z, x, y int) image.Image {
	k := tileKey{z, x, y}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.mem[k]; ok {
		t.lru.MoveToFront(e)
		return e.Value.(*tileEntry).img
	}
	if t.queued[k] {
		return nil
	}
	if at, ok := t.failed[k]; ok && time.Since(at) < t.cfg.RetryAfter {
		return nil
	}
	select {
	case t.queue <- k:
		t.queued[k] = true
	default: // the queue is full: ask again at the next redraw
	}
	return nil
}

func (t *TileLayer) fetcher() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case k := <-t.queue:
			img, err := t.load(k)
			t.mu.Lock()
			delete(t.queued, k)
			if err != nil {
				t.failed[k] = time.Now()
			} else {
				delete(t.failed, k)
				t.mem[k] = t.lru.PushFront(&tileEntry{k, img})
				for t.lru.Len() > t.cfg.MemoryTiles {
					old := t.lru.Remove(t.lru.Back()).(*tileEntry)
					delete(t.mem, old.key)
				}
			}
			t.mu.Unlock()
			if err != nil {
				if t.ctx.Err() == nil {
					t.errs.Add(1)
					t.lastErr.Store(err.Error())
				}
				continue
			}
			t.fetched.Add(1)
			if t.cfg.OnLoad != nil {
				t.cfg.OnLoad()
			}
		}
	}
}

func (t *TileLayer) cachePath(k tileKey) string {
	if t.cfg.CacheDir == "" {
		return ""
	}
	return filepath.Join(t.cfg.CacheDir, strconv.Itoa(k.z), strconv.Itoa(k.x), strconv.Itoa(k.y)+".tile")
}

// load reads a tile from the disk cache, or fetches it and stores it there.
func (t *TileLayer) load(k tileKey) (image.Image, error) {
	path := t.cachePath(k)
	if path != "" {
		if data, err := os.ReadFile(path); err == nil {
			if img, _, err := image.Decode(bytes.NewReader(data)); err == nil {
				return img, nil
			}
		}
	}
	r := strings.NewReplacer("{z}", strconv.Itoa(k.z), "{x}", strconv.Itoa(k.x), "{y}", strconv.Itoa(k.y))
	req, err := http.NewRequestWithContext(t.ctx, http.MethodGet, r.Replace(t.cfg.URL), nil)
	if err != nil {
		return nil, err
	}
	// Tile providers' usage policies ask for an identifying User-Agent.
	req.Header.Set("User-Agent", "rtls-dashboard/1 (+https://github.com/rtls-io/rtls)")
	resp, err := t.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tile %d/%d/%d: %w", k.z, k.x, k.y, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tile %d/%d/%d: HTTP %d", k.z, k.x, k.y, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("tile %d/%d/%d: %w", k.z, k.x, k.y, err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("tile %d/%d/%d: %w", k.z, k.x, k.y, err)
	}
	if path != "" {
		if err := writeFileAtomic(path, data); err != nil {
			t.errs.Add(1)
			t.lastErr.Store(err.Error())
		}
	}
	return img, nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tile-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// paint draws the tiles it has for vp (in screen units, scale pixels per
// unit) into img, nearest-neighbour scaled, and reports whether it drew any.
func (t *TileLayer) paint(img *image.RGBA, vp *model.Viewport, scale float64) bool {
	z := int(math.Round(vp.Zoom))
	z = max(0, min(model.MaxZoom, z))
	n := 1 << z
	tileUnits := vp.WorldSize() / float64(n) // a tile's size in screen units
	x0, y0 := vp.FromScreen(0, 0)
	x1, y1 := vp.FromScreen(vp.Width, vp.Height)
	tx0, tx1 := max(0, int(math.Floor(x0*float64(n)))), min(n-1, int(math.Floor(x1*float64(n))))
	ty0, ty1 := max(0, int(math.Floor(y0*float64(n)))), min(n-1, int(math.Floor(y1*float64(n))))
	drawn := false
	for ty := ty0; ty <= ty1; ty++ {
		for tx := tx0; tx <= tx1; tx++ {
			tile := t.Tile(z, tx, ty)
			if tile == nil {
				continue
			}
			sx, sy := vp.ToScreen(float64(tx)/float64(n), float64(ty)/float64(n))
			blitScaled(img, tile, sx*scale, sy*scale, tileUnits*scale)
			drawn = true
		}
	}
	return drawn
}

// blitScaled draws src scaled to a size×size square at (dx, dy), clipped.
func blitScaled(dst *image.RGBA, src image.Image, dx, dy, size float64) {
	sb := src.Bounds()
	db := dst.Bounds()
	px0, py0 := max(db.Min.X, int(math.Floor(dx))), max(db.Min.Y, int(math.Floor(dy)))
	px1, py1 := min(db.Max.X, int(math.Ceil(dx+size))), min(db.Max.Y, int(math.Ceil(dy+size)))
	sw, sh := float64(sb.Dx()), float64(sb.Dy())
	for y := py0; y < py1; y++ {
		syf := (float64(y) + 0.5 - dy) / size * sh
		sy := sb.Min.Y + min(sb.Dy()-1, max(0, int(syf)))
		for x := px0; x < px1; x++ {
			sxf := (float64(x) + 0.5 - dx) / size * sw
			sx := sb.Min.X + min(sb.Dx()-1, max(0, int(sxf)))
			r, g, b, a := src.At(sx, sy).RGBA()
			if a == 0 {
				continue
			}
			dst.SetRGBA(x, y, color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff})
		}
	}
}
