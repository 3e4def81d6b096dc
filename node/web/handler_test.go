package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// checkSecurityHeaders checks the headers every answer carries.
func checkSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self' ws: wss:", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", resp.Request.URL.Path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("%s: Content-Security-Policy %q allows something unsafe", resp.Request.URL.Path, csp)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", resp.Request.URL.Path, got)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q", resp.Request.URL.Path, got)
	}
}

var assetURL = regexp.MustCompile(`(?:src|href)="(/web/static/[^"?]+)\?v=([0-9a-f]{12})"`)

func TestPage(t *testing.T) {
	srv := newServer(t, Config{})
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	checkSecurityHeaders(t, resp)
	if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", got)
	}
	// The CSP forbids inline code; the page must not need any.
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`), regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`)} {
		if m := bad.FindString(body); m != "" {
			t.Errorf("the page has inline code or style: %q", m)
		}
	}
	pageETag := resp.Header.Get("Etag")
	// Every asset the page names carries its current hash.
	found := assetURL.FindAllStringSubmatch(body, -1)
	if len(found) < 8 {
		t.Fatalf("the page names %d hashed assets, want at least 8:\n%s", len(found), body)
	}
	for _, m := range found {
		resp, _ := get(t, srv.URL+m[1]+"?v="+m[2])
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", m[1], resp.Status)
		}
		if got := resp.Header.Get("Etag"); got != `"`+m[2]+`"` {
			t.Errorf("%s: ETag %s, the page names hash %s", m[1], got, m[2])
		}
	}

	// The page itself is revalidated by its ETag.
	if pageETag == "" {
		t.Fatal("the page has no ETag")
	}
	resp, _ = get(t, srv.URL+"/", "If-None-Match", pageETag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET / with If-None-Match: %s, want 304", resp.Status)
	}
}

func TestAssets(t *testing.T) {
	srv := newServer(t, Config{})
	h, _ := New(Config{})
	hashOfAsset := func(name string) string { return h.assets[name].hash }
	tests := []struct {
		path, contentType string
	}{
		{"app.js", "text/javascript; charset=utf-8"},
		{"conn.js", "text/javascript; charset=utf-8"},
		{"app.css", "text/css; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
		{"vendor/leaflet/leaflet.js", "text/javascript; charset=utf-8"},
		{"vendor/leaflet/leaflet.css", "text/css; charset=utf-8"},
		{"vendor/leaflet/images/layers.png", "image/png"},
		{"vendor/leaflet/images/marker-icon.png", "image/png"},
		{"vendor/leaflet/LICENSE", "text/plain; charset=utf-8"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			hash := hashOfAsset(tc.path)
			if hash == "" {
				t.Fatalf("%s is not embedded", tc.path)
			}
			url := srv.URL + staticPrefix + tc.path
			for _, c := range []struct{ query, cache string }{
				{"?v=" + hash, "public, max-age=31536000, immutable"},
				{"", "no-cache"},
				{"?v=000000000000", "no-cache"}, // an old page's URL: revalidate
			} {
				resp, body := get(t, url+c.query)
				if resp.StatusCode != http.StatusOK || body == "" {
					t.Fatalf("GET %s: %s, %d bytes", c.query, resp.Status, len(body))
				}
				checkSecurityHeaders(t, resp)
				if got := resp.Header.Get("Content-Type"); got != tc.contentType {
					t.Errorf("Content-Type %q, want %q", got, tc.contentType)
				}
				if got := resp.Header.Get("Cache-Control"); got != c.cache {
					t.Errorf("%q: Cache-Control %q, want %q", c.query, got, c.cache)
				}
			}
			resp, _ := get(t, url, "If-None-Match", `"`+hash+`"`)
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match with the current hash: %s, want 304", resp.Status)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	srv := newServer(t, Config{})
	for _, p := range []string{
		"/favicon.ico",
		"/index.html",
		"/web/",
		"/web/static/",
		"/web/static/nope.js",
		"/web/static/vendor/leaflet/leaflet.js.map",
		"/web/static/../index.html",
		"/web/static/%2e%2e/config.go",
		"/web/config.json/x",
	} {
		resp, _ := get(t, srv.URL+p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
		checkSecurityHeaders(t, resp)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s, want 405", resp.Status)
	}
}

func TestConfigJSON(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		want      map[string]string
		imgSource string // in the CSP's img-src, "" for no tile server
	}{
		{"default", Config{},
			map[string]string{"auth": "dev", "tiles": DefaultTiles, "attribution": DefaultAttribution},
			"https://tile.openstreetmap.org"},
		{"default tiles named", Config{Tiles: DefaultTiles, Tokens: true},
			map[string]string{"auth": "token", "tiles": DefaultTiles, "attribution": DefaultAttribution},
			"https://tile.openstreetmap.org"},
		{"no tiles", Config{Tiles: NoTiles},
			map[string]string{"auth": "dev", "tiles": "", "attribution": ""},
			""},
		{"subdomains and a port", Config{Tiles: "https://{s}.tiles.example.com:8443/{z}/{x}/{y}{r}.png", Attribution: "© Example <b>"},
			map[string]string{"auth": "dev", "tiles": "https://{s}.tiles.example.com:8443/{z}/{x}/{y}{r}.png", "attribution": "© Example <b>"},
			"https://*.tiles.example.com:8443"},
		{"local tile server", Config{Tiles: "http://127.0.0.1:9000/t/{z}/{x}/{y}.png"},
			map[string]string{"auth": "dev", "tiles": "http://127.0.0.1:9000/t/{z}/{x}/{y}.png", "attribution": ""},
			"http://127.0.0.1:9000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.cfg)
			resp, body := get(t, srv.URL+"/web/config.json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /web/config.json: %s", resp.Status)
			}
			checkSecurityHeaders(t, resp)
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q", got)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			csp := resp.Header.Get("Content-Security-Policy")
			img := regexp.MustCompile(`img-src ([^;]*)`).FindStringSubmatch(csp)[1]
			want := "'self' data:"
			if tc.imgSource != "" {
				want += " " + tc.imgSource
			}
			if img != want {
				t.Errorf("img-src %q, want %q", img, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	bad := []string{
		"ftp://tiles.example.com/{z}/{x}/{y}.png",
		"https://tiles.example.com/{z}/{x}.png",
		"//tiles.example.com/{z}/{x}/{y}.png",
		"https://user:pw@tiles.example.com/{z}/{x}/{y}.png",
		"https://{z}.tiles.example.com/{z}/{x}/{y}.png",
		"https://x{s}.tiles.example.com/{z}/{x}/{y}.png",
		"https://tiles.example.com/{z}/{x}/{y}.png; script-src *",
		"https://tiles.example.com/{z}/{x}/{y}.png'",
		"https://tiles.example.com;/{z}/{x}/{y}.png",
		"https://[::1]:8080/{z}/{x}/{y}.png",
	}
	for _, tiles := range bad {
		if err := (Config{Tiles: tiles}).Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%q) = %v, want ErrInvalidConfig", tiles, err)
		}
		if _, err := New(Config{Tiles: tiles}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%q) = %v, want ErrInvalidConfig", tiles, err)
		}
	}
	if err := (Config{Attribution: strings.Repeat("x", 501)}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("a 501-byte attribution: %v, want ErrInvalidConfig", err)
	}
	for _, tiles := range []string{"", NoTiles, DefaultTiles, "https://{s}.tile.openstreetmap.fr/hot/{z}/{x}/{y}.png", "http://localhost:8081/{z}/{x}/{y}@2x.png?key=abc"} {
		if err := (Config{Tiles: tiles}).Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", tiles, err)
		}
	}
}
