package dashboard

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/internal/testnode"
)

func TestParseFlags(t *testing.T) {
	t.Setenv("RTLS_NATS_PASSWORD", "")
	t.Setenv("RTLS_NATS_TOKEN", "")
	o, err := ParseFlags([]string{"-nats", "nats://127.0.0.1:4222, nats://127.0.0.1:4223,nats://127.0.0.1:4224", "-user", "disp", "-password", "pw", "-stale", "5s", "-offline", "30s", "-tiles", "http://127.0.0.1:1/{z}/{x}/{y}.png", "-size", "1024x700", "-select", "d-7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Conn.URLs) != 3 || o.Conn.URLs[1] != "nats://127.0.0.1:4223" || o.Conn.User != "disp" || o.Conn.Password != "pw" ||
		o.Thresholds != (model.Thresholds{StaleAfter: 5 * time.Second, OfflineAfter: 30 * time.Second}) || o.Width != 1024 || o.Height != 700 || o.Select != "d-7" || o.TileAttribution == "" {
		t.Fatalf("options %+v", o)
	}
	o, err = ParseFlags(nil, io.Discard)
	if err != nil || len(o.Conn.URLs) != 1 || o.Conn.URLs[0] != DefaultURL || o.TileURL != "" {
		t.Fatalf("defaults %+v %v", o, err)
	}
	t.Setenv("RTLS_NATS_TOKEN", "from-env")
	if o, err := ParseFlags(nil, io.Discard); err != nil || o.Conn.Token != "from-env" {
		t.Fatalf("token from the environment: %+v %v", o.Conn, err)
	}
	for _, args := range [][]string{
		{"-stale", "2m", "-offline", "1m"},
		{"-size", "10x10"},
		{"-nats", " , "},
		{"-creds", "x.creds", "-user", "u"},
		{"extra"},
	} {
		if _, err := ParseFlags(args, io.Discard); !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, model.ErrInvalidThresholds) {
			t.Errorf("ParseFlags(%q) = %v", args, err)
		}
	}
}

// Run wires the program against a real node; with Fyne's test app the
// window's event loop returns at once, and Run closes what it started.
func TestRunAgainstNode(t *testing.T) {
	a := test.NewTempApp(t)
	n := startNode(t)
	o, err := ParseFlags([]string{"-nats", n.ClientURL(), "-tiles", "http://127.0.0.1:1/{z}/{x}/{y}.png", "-tiles-cache", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Run(ctx, a, o, testnode.Logger()); err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, w := range a.Driver().AllWindows() {
		titles = append(titles, w.Title())
		if w.Title() == "rtls dispatcher — "+n.ClientURL() && w.Content() != nil {
			return
		}
	}
	t.Fatalf("no dashboard window among %q", titles)
}
