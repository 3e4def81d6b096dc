package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// Handler serves the page, its configuration and its assets:
//
//	GET /                    the page (Cache-Control: no-cache)
//	GET /web/config.json     {"auth":"dev"|"token","tiles":…,"attribution":…}
//	GET /web/static/<path>   scripts, styles, Leaflet; cached for a year when
//	                         asked for with ?v=<the file's hash>, as the page does
//
// and 404 for anything else. Every answer carries a strict
// Content-Security-Policy, X-Content-Type-Options: nosniff and
// Referrer-Policy: no-referrer.
type Handler struct {
	mux      *http.ServeMux
	assets   map[string]asset
	page     []byte
	pageETag string
	config   []byte
	csp      string
}

// New validates cfg and builds the page. It returns an error wrapping
// ErrInvalidConfig for a Config that Validate refuses.
func New(cfg Config) (*Handler, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, fmt.Errorf("web: read embedded assets: %w", err)
	}
	h := &Handler{assets: assets, csp: contentSecurityPolicy(rc.tileOrigin)}
	if h.page, err = renderPage(assets); err != nil {
		return nil, err
	}
	h.pageETag = `"` + hashOf(h.page) + `"`
	auth := "dev"
	if rc.tokens {
		auth = "token"
	}
	h.config, _ = json.Marshal(map[string]string{"auth": auth, "tiles": rc.tiles, "attribution": rc.attribution})

	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", h.servePage)
	h.mux.HandleFunc("GET /web/config.json", h.serveConfig)
	h.mux.HandleFunc("GET "+staticPrefix+"{path...}", h.serveAsset)
	return h, nil
}

// ServeHTTP serves the page, its configuration and its assets.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows the page's own scripts and styles only (no
// inline ones), WebSockets to any node (the page may be given other nodes'
// URLs), and images from itself, data: URLs (Leaflet's CSS) and the tile
// server.
func contentSecurityPolicy(tileOrigin string) string {
	img := "'self' data:"
	if tileOrigin != "" {
		img += " " + tileOrigin
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src " + img,
		"connect-src 'self' ws: wss:",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// renderPage fills the page template's asset URLs with their hashes.
func renderPage(assets map[string]asset) ([]byte, error) {
	t, err := template.New("index.html").Funcs(template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := assets[name]
			if !ok {
				return "", fmt.Errorf("no asset %q", name)
			}
			return staticPrefix + name + "?v=" + a.hash, nil
		},
	}).Parse(pageTemplate)
	if err != nil {
		return nil, fmt.Errorf("web: page template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return nil, fmt.Errorf("web: page template: %w", err)
	}
	return b.Bytes(), nil
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", h.pageETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page))
}

func (h *Handler) serveConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(h.config)
}

// serveAsset serves an embedded file. Asked for with its current hash
// (?v=…, as the page does) it may be cached for a year: a new build changes
// the hash and so the URL. Without it, or with an old hash, it must be
// revalidated (its ETag is the hash).
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("path")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == a.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", `"`+a.hash+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
