package dashboard

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"

	"github.com/rtls-io/rtls/dashboard/model"
)

// Options are the dashboard program's settings (its flags).
type Options struct {
	Conn ConnConfig
	// Thresholds judge the drivers no node announced (model.Thresholds).
	Thresholds model.Thresholds
	// Tiles, when TileURL is set.
	TileURL, TileAttribution, TileCache string
	// RedrawInterval bounds the redraw rate.
	RedrawInterval time.Duration
	// Width and Height of the window.
	Width, Height float32
	// Select is a driver to select at start ("" for none).
	Select string
}

// ParseFlags reads the rtls-dashboard command line. RTLS_NATS_PASSWORD and
// RTLS_NATS_TOKEN, when set, are the defaults of -password and -token, so
// secrets need not appear in the process list.
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("rtls-dashboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("nats", DefaultURL, "comma-separated NATS client URLs of the cluster's nodes")
	fs.StringVar(&o.Conn.CredsFile, "creds", "", "NATS credentials file")
	fs.StringVar(&o.Conn.NKeySeedFile, "nkey", "", "nkey seed file of the cluster's dispatcher identity (rtls-token -gen-nkey)")
	fs.StringVar(&o.Conn.CAFile, "ca", "", "CA certificate of the cluster's client ports (tls:// URLs)")
	fs.StringVar(&o.Conn.User, "user", "", "NATS user")
	fs.StringVar(&o.Conn.Password, "password", os.Getenv("RTLS_NATS_PASSWORD"), "NATS password (default $RTLS_NATS_PASSWORD)")
	fs.StringVar(&o.Conn.Token, "token", os.Getenv("RTLS_NATS_TOKEN"), "NATS token (default $RTLS_NATS_TOKEN)")
	fs.DurationVar(&o.Thresholds.StaleAfter, "stale", model.DefaultStaleAfter, "a driver no node announced is stale when its newest fix is this old")
	fs.DurationVar(&o.Thresholds.OfflineAfter, "offline", model.DefaultOfflineAfter, "a driver no node announced is offline when its newest fix is this old")
	fs.StringVar(&o.TileURL, "tiles", "", "raster tile URL template with {z}, {x}, {y} (default: none, a graticule map)")
	fs.StringVar(&o.TileAttribution, "tiles-attribution", "© OpenStreetMap contributors", "attribution the tile provider requires, shown on the map")
	fs.StringVar(&o.TileCache, "tiles-cache", defaultTileCache(), "directory for cached tiles (\"\" for none)")
	fs.DurationVar(&o.RedrawInterval, "redraw", 250*time.Millisecond, "shortest time between two redraws")
	size := fs.String("size", "1280x800", "window size WIDTHxHEIGHT")
	fs.StringVar(&o.Select, "select", "", "driver to select at start")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected arguments %q", ErrInvalidConfig, fs.Args())
	}
	o.Conn.URLs = SplitURLs(*urls)
	if len(o.Conn.URLs) == 0 {
		return o, fmt.Errorf("%w: -nats lists no URL", ErrInvalidConfig)
	}
	if _, err := fmt.Sscanf(*size, "%gx%g", &o.Width, &o.Height); err != nil || o.Width < 200 || o.Height < 200 {
		return o, fmt.Errorf("%w: -size %q is not WIDTHxHEIGHT of at least 200x200", ErrInvalidConfig, *size)
	}
	if o.Conn.Token != "" && o.Conn.User != "" {
		// The token came from the environment: the flags win.
		if os.Getenv("RTLS_NATS_TOKEN") == o.Conn.Token {
			o.Conn.Token = ""
		}
	}
	if err := o.Conn.setDefaults(); err != nil {
		return o, err
	}
	if _, err := o.Thresholds.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

func defaultTileCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "rtls-dashboard", "tiles")
}

// Run runs the dashboard in a with o until the window is closed or ctx
// ends, then closes everything it started.
func Run(ctx context.Context, a fyne.App, o Options, logger *slog.Logger) error {
	fleet, err := model.NewFleet(model.Config{Thresholds: o.Thresholds})
	if err != nil {
		return err
	}
	feed, err := NewFeed(FeedConfig{ConnConfig: o.Conn, Fleet: fleet, Logger: logger})
	if err != nil {
		return err
	}
	defer feed.Close()

	var dashRef atomic.Pointer[Dashboard] // for the tile fetchers' OnLoad
	var tiles *TileLayer
	if o.TileURL != "" {
		tiles, err = NewTileLayer(TileConfig{
			URL: o.TileURL, Attribution: o.TileAttribution, CacheDir: o.TileCache,
			OnLoad: func() {
				if d := dashRef.Load(); d != nil {
					d.Invalidate()
				}
			},
		})
		if err != nil {
			return err
		}
		defer tiles.Close()
	}
	dash, err := New(Config{Fleet: fleet, Feed: feed, Tiles: tiles, RedrawInterval: o.RedrawInterval})
	if err != nil {
		return err
	}
	dashRef.Store(dash)
	defer dash.Close()

	w := a.NewWindow("rtls dispatcher — " + strings.Join(o.Conn.URLs, ", "))
	w.SetContent(dash.Content())
	w.Resize(fyne.NewSize(o.Width, o.Height))
	if o.Select != "" {
		dash.Select(o.Select)
	}
	dash.Redraw()
	dash.Start()

	// Quit when ctx ends (SIGINT, SIGTERM); this goroutine ends with Run.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			fyne.Do(a.Quit)
		case <-done:
		}
	}()
	defer wg.Wait()
	defer close(done)
	w.ShowAndRun()
	return nil
}
