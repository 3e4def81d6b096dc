package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/node/web"
)

// scriptedNode serves the page and answers its WebSocket itself, so that a
// test can send what a real node does not send today (set-interval,
// driver-status, unknown frames) and close connections when it likes.
type scriptedNode struct {
	t      *testing.T
	tokens bool
	srv    *httptest.Server
	conns  chan *scriptedConn
}

type scriptedConn struct {
	t         *testing.T
	ws        *websocket.Conn
	query     map[string]string
	protocols []string // the subprotocols the page asked for
}

func newScriptedNode(t *testing.T, cfg web.Config) *scriptedNode {
	t.Helper()
	page, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &scriptedNode{t: t, tokens: cfg.Tokens, conns: make(chan *scriptedConn, 4)}
	mux := http.NewServeMux()
	mux.Handle("/", page)
	mux.HandleFunc("/v1/ws", func(w http.ResponseWriter, r *http.Request) {
		// Like a node with tokens: echo rtls.v1 (a browser refuses a
		// handshake that picks none of the subprotocols it offered).
		up := websocket.Upgrader{}
		protocols := websocket.Subprotocols(r)
		if slices.Contains(protocols, "rtls.v1") {
			up.Subprotocols = []string{"rtls.v1"}
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		q := map[string]string{}
		for k, v := range r.URL.Query() {
			q[k] = v[0]
		}
		n.conns <- &scriptedConn{t: t, ws: ws, query: q, protocols: protocols}
	})
	n.srv = httptest.NewServer(mux)
	t.Cleanup(n.srv.Close)
	return n
}

// accept waits for the page's next connection and greets it.
func (n *scriptedNode) accept(role string) *scriptedConn {
	n.t.Helper()
	select {
	case c := <-n.conns:
		n.t.Cleanup(func() { c.ws.Close() })
		client := c.query["id"]
		if n.tokens {
			// The identity is the token's business; none goes in the URL.
			if len(c.query) != 0 || len(c.protocols) != 2 || c.protocols[0] != "rtls.v1" || !strings.HasPrefix(c.protocols[1], "bearer.") {
				n.t.Fatalf("the page connected with query %v and subprotocols %q, want none and [rtls.v1 bearer.<token>]", c.query, c.protocols)
			}
			client = "from-token"
		} else if c.query["role"] != role || c.query["id"] == "" || len(c.protocols) != 0 {
			n.t.Fatalf("the page connected with query %v and subprotocols %q, want role %s and an id", c.query, c.protocols, role)
		}
		c.send(map[string]any{"type": "welcome", "version": 1, "node": "fake", "role": role, "client": client, "history": 100, "max_frame": 4096})
		return c
	case <-time.After(20 * time.Second):
		n.t.Fatal("the page did not connect")
		return nil
	}
}

func (c *scriptedConn) send(frame map[string]any) {
	c.t.Helper()
	c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteJSON(frame); err != nil {
		c.t.Fatalf("send %v: %v", frame, err)
	}
}

// read returns the page's next frame.
func (c *scriptedConn) read() map[string]any {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read a frame from the page: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("the page sent %q: %v", b, err)
	}
	return f
}

func (c *scriptedConn) close(code int) {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	c.ws.Close()
}

// checkFix checks a send-location as PROTOCOL.md wants it: required fields,
// integers where integers belong, optional fields only with real values.
func checkFix(t *testing.T, f map[string]any) float64 {
	t.Helper()
	if f["type"] != "send-location" {
		t.Fatalf("the driver page sent %v", f)
	}
	for k, v := range f {
		n, isNum := v.(float64)
		switch k {
		case "type":
		case "latitude", "longitude":
			if !isNum {
				t.Errorf("%s = %v", k, v)
			}
		case "seq", "ts":
			if !isNum || n != math.Trunc(n) || n < 1 {
				t.Errorf("%s = %v, want a positive integer", k, v)
			}
		case "accuracy", "speed", "heading":
			if !isNum || n < 0 {
				t.Errorf("%s = %v: optional fields go only with known values", k, v)
			}
		default:
			t.Errorf("unexpected field %s = %v", k, v)
		}
	}
	return f["seq"].(float64)
}

// TestDriverPage: a simulated walk, an interval asked by the node, a frame
// type the page does not know, and un-acked fixes sent again in seq order
// after the node goes away.
func TestDriverPage(t *testing.T) {
	node := newScriptedNode(t, web.Config{Tiles: web.NoTiles})
	driver := newPage(t, newBrowser(t), "driver")
	driver.open(node.srv.URL + "/?view=driver&id=d-1&simulate=1")
	driver.do(chromedp.Click(chromedp.CSS("#driver-start")))

	c := node.accept("driver")
	c.send(map[string]any{"type": "set-interval", "interval_ms": 200})
	c.send(map[string]any{"type": "from-the-future", "x": 1})
	// Ack the first fix, keep the next two waiting.
	first := checkFix(t, c.read())
	c.send(map[string]any{"type": "ack", "seq": first, "cursor": 1})
	var unacked []float64
	for len(unacked) < 2 {
		f := c.read()
		if s := checkFix(t, f); s <= first || (len(unacked) > 0 && s <= unacked[len(unacked)-1]) {
			t.Fatalf("seq %v after %v %v: seq must increase", s, first, unacked)
		} else {
			unacked = append(unacked, s)
		}
	}
	c.close(1001)

	// After the reconnect the waiting fixes come first, in seq order.
	c = node.accept("driver")
	var resent []float64
	for len(resent) < 3 {
		s := checkFix(t, c.read())
		resent = append(resent, s)
		c.send(map[string]any{"type": "ack", "seq": s, "cursor": 10 + len(resent)})
	}
	if resent[0] != unacked[0] || resent[1] != unacked[1] || resent[2] <= unacked[1] {
		t.Errorf("after the reconnect the page sent seqs %v, want %v first, then newer", resent, unacked)
	}
	testnode.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		interval, err := eval[string](driver, `document.getElementById("driver-interval").textContent`)
		if err == nil && interval != "0.2 s (asked by the node)" {
			err = fmt.Errorf("interval shown: %q", interval)
		}
		return err
	})
	driver.do(chromedp.Click(chromedp.CSS("#driver-stop")))
	driver.checkClean()
}

// TestRiderPage: history, a driver-status, a skipped fix, a reconnect with
// backoff that resumes by cursor, and a duplicate that is not shown.
func TestRiderPage(t *testing.T) {
	node := newScriptedNode(t, web.Config{Tiles: web.NoTiles})
	rider := newPage(t, newBrowser(t), "rider")
	rider.open(node.srv.URL + "/?view=rider&driver=d-1")
	rider.do(chromedp.Click(chromedp.CSS("#rider-start")))

	fix := func(cursor, seq int, replay bool) map[string]any {
		f := map[string]any{"type": "receive-location", "driver": "d-1", "latitude": 48.85 + float64(seq)/1e4, "longitude": 2.35,
			"seq": seq, "ts": time.Now().UnixMilli(), "time": time.Now().UnixMilli(), "node": "fake", "cursor": cursor}
		if replay {
			f["replay"] = true
		}
		return f
	}
	c := node.accept("rider")
	tr := c.read()
	if tr["type"] != "track-driver" || tr["driver"] != "d-1" || tr["history"] != 20.0 || tr["since"] != nil {
		t.Fatalf("first request %v, want track-driver d-1 with history 20", tr)
	}
	c.send(fix(10, 100, true))
	c.send(fix(11, 101, true))
	c.send(map[string]any{"type": "tracking", "driver": "d-1", "id": tr["id"], "replayed": 2, "cursor": 11})
	c.send(map[string]any{"type": "driver-status", "driver": "d-1", "state": "stale", "reason": "no fix for 20 s", "since": time.Now().UnixMilli()})
	c.send(map[string]any{"type": "from-the-future"})
	c.send(fix(15, 105, false)) // seqs 102-104 never came
	rider.waitMarker("rider-map", 48.85+105/1e4, 2.35)
	c.close(1011)

	c = node.accept("rider")
	tr = c.read()
	if tr["type"] != "track-driver" || tr["since"] != 15.0 || tr["history"] != nil {
		t.Fatalf("request after the reconnect %v, want track-driver since 15", tr)
	}
	c.send(fix(15, 105, true)) // a duplicate: not shown again
	c.send(fix(16, 106, true))
	c.send(map[string]any{"type": "tracking", "driver": "d-1", "id": tr["id"], "replayed": 2, "cursor": 16})
	rider.waitMarker("rider-map", 48.85+106/1e4, 2.35)

	type riderNotes struct {
		Duplicates int      `json:"duplicates"`
		Notes      []string `json:"notes"`
	}
	var r riderNotes
	testnode.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var err error
		r, err = eval[riderNotes](rider, `window.rtlsDemo.rider`)
		if err == nil && (len(r.Notes) == 0 || !strings.HasPrefix(r.Notes[len(r.Notes)-1], "Resumed on fake")) {
			err = fmt.Errorf("notes %q", r.Notes)
		}
		return err
	})
	if r.Duplicates != 1 {
		t.Errorf("%d duplicates counted, want 1", r.Duplicates)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "3 fixes skipped") {
		t.Errorf("no note of the 3 skipped fixes in %q", r.Notes)
	}
	status, err := eval[string](rider, `document.getElementById("rider-status").textContent`)
	if err != nil || !strings.HasPrefix(status, "stale") || !strings.Contains(status, "no fix for 20 s") {
		t.Errorf("driver status shown: %q (%v)", status, err)
	}
	age, err := eval[string](rider, `document.getElementById("rider-age").textContent`)
	if err != nil || !strings.HasSuffix(age, "s ago") {
		t.Errorf("age of the last fix shown: %q (%v)", age, err)
	}
	rider.checkClean()
}

// TestMapTiles: tiles from another origin load under the page's
// Content-Security-Policy, get only the page's origin as Referer, and where
// one is missing the coordinate grid shows through.
func TestMapTiles(t *testing.T) {
	var tile bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{0xe8, 0xf0, 0xe0, 0xff}), image.Point{}, draw.Src)
	png.Encode(&tile, img)
	var (
		mu       sync.Mutex
		referers = map[string]int{}
	)
	tiles := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		referers[r.Referer()]++
		mu.Unlock()
		// /t/{z}/{x}/{y}.png: no tiles for odd x, as if they could not be fetched.
		parts := strings.Split(r.URL.Path, "/")
		if x, err := strconv.Atoi(parts[len(parts)-2]); err != nil || x%2 == 1 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(tile.Bytes())
	}))
	t.Cleanup(tiles.Close)

	node := newScriptedNode(t, web.Config{Tiles: tiles.URL + "/t/{z}/{x}/{y}.png", Attribution: "Test tiles <b>"})
	p := newPage(t, newBrowser(t), "rider")
	p.open(node.srv.URL + "/?view=rider&driver=d-1")
	type mapState struct {
		Loaded, Missing, GridLines int
		GridUnderTiles             bool
		Attribution                string
	}
	testnode.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		s, err := eval[mapState](p, `(() => {
			const imgs = Array.from(document.querySelectorAll("#rider-map img.leaflet-tile"));
			return {
				Loaded: imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
				Missing: imgs.filter((i) => i.complete && i.naturalWidth === 0).length,
				GridLines: document.querySelectorAll("#rider-map .leaflet-grid-pane path").length,
				GridUnderTiles: Number(getComputedStyle(document.querySelector("#rider-map .leaflet-grid-pane")).zIndex) <
					Number(getComputedStyle(document.querySelector("#rider-map .leaflet-tile-pane")).zIndex),
				Attribution: document.querySelector("#rider-map .leaflet-control-attribution").textContent,
			};
		})()`)
		if err == nil && (s.Loaded == 0 || s.Missing == 0 || s.GridLines == 0 || !s.GridUnderTiles || !strings.Contains(s.Attribution, "Test tiles <b>")) {
			err = fmt.Errorf("map: %+v, want loaded and missing tiles, grid lines and the attribution as text", s)
		}
		return err
	})
	mu.Lock()
	if len(referers) == 0 {
		t.Error("the tile server saw no request")
	}
	for ref, n := range referers {
		if ref != node.srv.URL+"/" {
			t.Errorf("%d tile requests with Referer %q, want only the page's origin %q", n, ref, node.srv.URL+"/")
		}
	}
	mu.Unlock()
	p.checkClean()
}

// TestTokenIdentity: with tokens the page asks for one and presents it in the
// WebSocket subprotocol, since a browser cannot set headers on a WebSocket.
func TestTokenIdentity(t *testing.T) {
	node := newScriptedNode(t, web.Config{Tiles: web.NoTiles, Tokens: true})
	br := newBrowser(t)
	for _, role := range []string{"driver", "rider"} {
		p := newPage(t, br, role)
		p.open(node.srv.URL + "/?view=" + role + "&simulate=1")
		visible, err := eval[map[string]bool](p, `({
			token: !document.getElementById("`+role+`-token").closest("label").hidden,
			riderID: !document.getElementById("rider-id").closest("label").hidden,
		})`)
		if err != nil || !visible["token"] || visible["riderID"] {
			t.Fatalf("%s: token field shown %v, rider id field shown %v (%v)", role, visible["token"], visible["riderID"], err)
		}
		// Without a token the page does not connect.
		p.do(chromedp.Click(chromedp.CSS("#" + role + "-start")))
		msg, err := eval[string](p, `document.getElementById("`+role+`-message").textContent`)
		if err != nil || !strings.Contains(msg, "token") {
			t.Errorf("%s: started without a token, message %q (%v)", role, msg, err)
		}
		p.do(chromedp.SendKeys(chromedp.CSS("#"+role+"-token"), "eyJhbGciOi.J9-x_y"),
			chromedp.Click(chromedp.CSS("#"+role+"-start")))
		c := node.accept(role)
		if c.protocols[1] != "bearer.eyJhbGciOi.J9-x_y" {
			t.Errorf("%s: subprotocols %q", role, c.protocols)
		}
		if f := c.read(); (role == "driver" && f["type"] != "send-location") || (role == "rider" && f["type"] != "track-driver") {
			t.Errorf("%s: first frame %v", role, f)
		}
		// An expired token is final: the page stops and asks for a new one
		// instead of reconnecting with the same token.
		c.close(4003)
		testnode.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			st, err := eval[map[string]string](p, `(() => {
				const el = document.getElementById("`+role+`-conn");
				return {state: el.dataset.state, text: el.textContent, start: String(!document.getElementById("`+role+`-start").disabled)};
			})()`)
			if err == nil && (st["state"] != "failed" || !strings.Contains(st["text"], "token expired") || st["start"] != "true") {
				err = fmt.Errorf("%s after close 4003: %v", role, st)
			}
			return err
		})
		p.checkClean()
	}
}
