package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"
)

// static holds the page's scripts, styles and the vendored Leaflet; page is
// the HTML template of "/".
//
//go:embed static
var static embed.FS

//go:embed index.html
var pageTemplate string

// staticPrefix is where the assets are served; an asset's URL is
// staticPrefix + its path under static/ + "?v=" + its hash.
const staticPrefix = "/web/static/"

// asset is one embedded file, read once at startup.
type asset struct {
	body        []byte
	hash        string // hex, the first 12 digits of its SHA-256
	contentType string
}

// contentTypes are the types of the files the page is made of; a file of
// another type is not served.
var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".png":  "image/png",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/plain; charset=utf-8",
	"":      "text/plain; charset=utf-8", // LICENSE
	".json": "application/json",
}

// loadAssets reads every embedded file and hashes it.
func loadAssets() (map[string]asset, error) {
	assets := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[strings.ToLower(path.Ext(p))]
		if !ok {
			return nil
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		assets[strings.TrimPrefix(p, "static/")] = asset{body: b, hash: hashOf(b), contentType: ct}
		return nil
	})
	return assets, err
}

// hashOf is the first 12 hex digits of b's SHA-256: enough to tell builds apart.
func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
