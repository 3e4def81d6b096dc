package web

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// The default map tiles: OpenStreetMap's standard layer. Its tile usage
// policy asks for the attribution below and for a Referer, which the page
// sends to the tile server as its origin only.
const (
	DefaultTiles       = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
	DefaultAttribution = "© OpenStreetMap contributors"
	// NoTiles as Config.Tiles draws no tiles: the page shows the driver's
	// marker and trail on a coordinate grid, and loads nothing from outside.
	NoTiles = "none"
)

// Config configures the page. Its zero value is a development-mode page
// with OpenStreetMap tiles.
type Config struct {
	// Tiles is the map tile URL template, http or https, with {z}, {x} and
	// {y} and optionally {s} (as a whole first label of the host: a.b.c
	// subdomains) and {r} ("@2x" on high-density screens). Zero value means
	// DefaultTiles; NoTiles means none.
	Tiles string
	// Attribution is the text the tile provider requires on the map (plain
	// text, not HTML). Zero value means DefaultAttribution with the default
	// tiles, and none otherwise.
	Attribution string
	// Tokens tells the page that the node authenticates with tokens: it asks
	// for one and presents it in the WebSocket subprotocol ("rtls.v1",
	// "bearer.<token>"). Zero value (false) is the development mode: the
	// page puts role and id in the WebSocket URL's query.
	Tokens bool
}

// ErrInvalidConfig is wrapped by Validate and New for a Config they refuse.
var ErrInvalidConfig = errors.New("web: invalid config")

// placeholders are the template parameters Leaflet fills in for a tile.
var placeholders = strings.NewReplacer("{s}", "a", "{z}", "0", "{x}", "0", "{y}", "0", "{r}", "")

// tileHost is what may appear as a host in a Content-Security-Policy source
// expression: DNS labels or an IPv4 address, and a port.
var tileHost = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?$`)

// Validate reports whether c can be served: a tile template the page can
// use and a Content-Security-Policy can name. Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolved is a Config with its defaults filled in.
type resolved struct {
	tiles       string // "" for none
	attribution string
	tileOrigin  string // the CSP source for the tiles, "" for none
	tokens      bool
}

func (c Config) resolve() (resolved, error) {
	r := resolved{tiles: c.Tiles, attribution: c.Attribution, tokens: c.Tokens}
	switch c.Tiles {
	case "":
		r.tiles = DefaultTiles
	case NoTiles:
		r.tiles = ""
	}
	if r.tiles == DefaultTiles && r.attribution == "" {
		r.attribution = DefaultAttribution
	}
	bad := func(format string, args ...any) (resolved, error) {
		return resolved{}, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if len(r.attribution) > 500 {
		return bad("attribution: longer than 500 bytes")
	}
	if r.tiles == "" {
		return r, nil
	}
	for _, p := range []string{"{z}", "{x}", "{y}"} {
		if !strings.Contains(r.tiles, p) {
			return bad("tiles %q: no %s", r.tiles, p)
		}
	}
	u, err := url.Parse(placeholders.Replace(r.tiles))
	if err != nil {
		return bad("tiles %q: %v", r.tiles, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("tiles %q: use an http or https URL", r.tiles)
	}
	if u.User != nil || u.Host == "" {
		return bad("tiles %q: need a host and no user info", r.tiles)
	}
	host := u.Host
	_, afterScheme, _ := strings.Cut(r.tiles, "://")
	authority, _, _ := strings.Cut(afterScheme, "/")
	if rest, ok := strings.CutPrefix(authority, "{s}."); ok {
		host = "*." + strings.TrimPrefix(host, "a.")
		authority = rest
	}
	if strings.ContainsAny(authority, "{}") {
		return bad("tiles %q: only {s}, as the host's first label, may stand in the host", r.tiles)
	}
	if !tileHost.MatchString(host) {
		return bad("tiles %q: host %q cannot be named in a Content-Security-Policy", r.tiles, host)
	}
	if strings.ContainsAny(r.tiles, " \t\r\n\"'<>\\") {
		return bad("tiles %q: contains spaces, quotes or angle brackets", r.tiles)
	}
	r.tileOrigin = u.Scheme + "://" + host
	return r, nil
}
