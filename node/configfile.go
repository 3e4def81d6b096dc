package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/conf"

	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/node/auth"
	"github.com/rtls-io/rtls/node/busauth"
	"github.com/rtls-io/rtls/node/web"
)

// File is the content of a node configuration file, the format operators use
// for rtlsd -config. It is written in the NATS configuration syntax
// (`key: value`, `#` comments, `{ }` blocks, `[ ]` lists, `$VAR` environment
// variables); cluster/example/n1.conf is a commented example. Keys are
// checked: an unknown key is an error, so a typo does not go unnoticed.
type File struct {
	Name    string `json:"name,omitempty"`
	DataDir string `json:"data_dir,omitempty"`
	Storage string `json:"storage,omitempty"`
	HTTP    string `json:"http,omitempty"`
	NATS    string `json:"nats,omitempty"`
	Admin   struct {
		// Listen is the admin listener (/metrics, /v1/status).
		Listen string `json:"listen,omitempty"`
		// TokenFile holds the bearer token admin requests must carry.
		TokenFile string `json:"token_file,omitempty"`
	} `json:"admin"`
	Auth           AuthSection `json:"auth"`
	Bus            BusSection  `json:"bus"`
	TLS            TLSSection  `json:"tls"`
	AllowedOrigins []string    `json:"allowed_origins,omitempty"`
	TrustedProxies []string    `json:"trusted_proxies,omitempty"`
	Web            struct {
		Tiles       string `json:"tiles,omitempty"`
		Attribution string `json:"attribution,omitempty"`
	} `json:"web"`
	LogLevel string `json:"log_level,omitempty"`

	Cluster struct {
		Name   string   `json:"name,omitempty"`
		Listen string   `json:"listen,omitempty"`
		Routes []string `json:"routes,omitempty"`
	} `json:"cluster"`

	History         int      `json:"history,omitempty"`
	MaxAge          duration `json:"max_age,omitempty"`
	DuplicateWindow duration `json:"duplicate_window,omitempty"`
	Replicas        int      `json:"replicas,omitempty"`

	Limits struct {
		MaxFrameBytes   int     `json:"max_frame_bytes,omitempty"`
		MaxTracked      int     `json:"max_tracked,omitempty"`
		RateLimit       float64 `json:"rate_limit,omitempty"`
		RateBurst       int     `json:"rate_burst,omitempty"`
		PendingFixes    int     `json:"pending_fixes,omitempty"`
		MaxQueuedFrames int     `json:"max_queued_frames,omitempty"`
		// The publish path: fixes in flight and waiting on the node.
		MaxInFlight    int `json:"max_in_flight,omitempty"`
		MaxQueuedFixes int `json:"max_queued_fixes,omitempty"`
		// Connections: -1 for no limit.
		MaxConnections            int `json:"max_connections,omitempty"`
		MaxConnectionsPerIdentity int `json:"max_connections_per_identity,omitempty"`
		MaxConnectionsPerAddress  int `json:"max_connections_per_address,omitempty"`
	} `json:"limits"`

	// Liveness: when a driver is stale or offline, and the intervals its
	// app is asked to send at while watched and while not.
	Liveness struct {
		StaleAfter    duration `json:"stale_after,omitempty"`
		OfflineAfter  duration `json:"offline_after,omitempty"`
		FastInterval  duration `json:"fast_interval,omitempty"`
		SlowInterval  duration `json:"slow_interval,omitempty"`
		PresenceEvery duration `json:"presence_every,omitempty"`
	} `json:"liveness"`

	Timeouts struct {
		Write   duration `json:"write,omitempty"`
		Ping    duration `json:"ping,omitempty"`
		Publish duration `json:"publish,omitempty"`
		Ready   duration `json:"ready,omitempty"`
		Idle    duration `json:"idle,omitempty"`
		Header  duration `json:"header,omitempty"`
	} `json:"timeouts"`
}

// AuthSection is how app connections authenticate: "auth: dev" for the
// development mode, or a block for signed tokens:
//
//	auth {
//	  mode: token
//	  keys: [ { id: "app-2026-11", file: "secrets/app.pub" } ]   # alg: HS256 for a secret file
//	  jwks: "secrets/jwks.json"
//	  issuer: "https://platform.example.com"
//	  audience: "rtls"
//	}
type AuthSection struct {
	Mode     string    `json:"mode,omitempty"` // "token" or "dev"
	Keys     []KeyFile `json:"keys,omitempty"`
	JWKS     string    `json:"jwks,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	Audience string    `json:"audience,omitempty"`
	Leeway   duration  `json:"leeway,omitempty"`
}

// KeyFile names a token verification key file (see auth.LoadKey).
type KeyFile struct {
	ID   string `json:"id"`
	File string `json:"file"`
	Alg  string `json:"alg,omitempty"`
}

// UnmarshalJSON accepts "dev" as well as the block.
func (a *AuthSection) UnmarshalJSON(b []byte) error {
	var mode string
	if json.Unmarshal(b, &mode) == nil {
		*a = AuthSection{Mode: mode}
		return nil
	}
	type plain AuthSection
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(a))
}

// BusSection says who may use the NATS bus (see package busauth) and how
// its client port and routes are secured:
//
//	bus {
//	  dispatchers: [ "UD…" ]                                  # read-only back-ends (the dashboard)
//	  analytics: [ { nkey: "UA…", consumer: "warehouse" } ]   # its own durable consumer
//	  operators: []                                           # may manage the stream; none by default
//	  tls { cert: "…", key: "…", ca: "…", verify: true }       # the client port
//	  routes { user: "rtls", password: $RTLS_ROUTE_PASSWORD, tls { cert: "…", key: "…", ca: "…" } }
//	}
type BusSection struct {
	Dispatchers []string         `json:"dispatchers,omitempty"`
	Analytics   []AnalyticsEntry `json:"analytics,omitempty"`
	Operators   []string         `json:"operators,omitempty"`
	TLS         TLSSection       `json:"tls"`
	Routes      struct {
		User     string     `json:"user,omitempty"`
		Password string     `json:"password,omitempty"`
		TLS      TLSSection `json:"tls"`
	} `json:"routes"`
}

// AnalyticsEntry is one analytics identity and its durable consumer.
type AnalyticsEntry struct {
	NKey     string `json:"nkey"`
	Consumer string `json:"consumer"`
}

// TLSSection names a listener's certificate files: tls { cert: "…", key:
// "…" }, and for the bus a CA whose certificates clients (or peers) must
// present when verify is true (routes verify whenever a CA is given).
type TLSSection struct {
	Cert   string `json:"cert,omitempty"`
	Key    string `json:"key,omitempty"`
	CA     string `json:"ca,omitempty"`
	Verify bool   `json:"verify,omitempty"`
}

// duration is a time.Duration written as a string ("24h", "500ms").
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	if d == 0 {
		return []byte(`""`), nil
	}
	return json.Marshal(time.Duration(d).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a quoted string like \"24h\" or \"500ms\"")
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// ReadConfigFile parses a node configuration file. A relative data_dir is
// taken relative to the working directory, as on the command line.
func ReadConfigFile(path string) (*File, error) {
	m, err := conf.ParseFileWithChecks(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, path, err)
	}
	// The parser gives plain maps; strict JSON decoding checks every key and type.
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, filepath.Base(path), strings.TrimPrefix(err.Error(), "json: "))
	}
	return &f, nil
}

// FileFor returns the File describing cfg, with the development mode for
// auth (an Authenticator cannot be written down: set f.Auth for tokens) and
// the given log level. Write it with encoding/json: JSON is valid NATS
// configuration syntax.
func FileFor(cfg Config, logLevel string) *File {
	f := &File{
		Name: cfg.Name, DataDir: cfg.DataDir, Storage: string(cfg.Storage), HTTP: cfg.HTTPAddr, NATS: cfg.ClientAddr,
		Auth: AuthSection{Mode: "dev"}, TLS: TLSSection{Cert: cfg.TLSCertFile, Key: cfg.TLSKeyFile},
		AllowedOrigins: cfg.AllowedOrigins, TrustedProxies: cfg.TrustedProxies, LogLevel: logLevel,
		History: cfg.History, MaxAge: duration(cfg.MaxAge), DuplicateWindow: duration(cfg.DuplicateWindow), Replicas: cfg.Replicas,
	}
	f.Cluster.Name, f.Cluster.Listen, f.Cluster.Routes = cfg.ClusterName, cfg.ClusterAddr, cfg.Routes
	f.Admin.Listen = cfg.AdminAddr // a token cannot be written down: set f.Admin.TokenFile
	f.Web.Tiles, f.Web.Attribution = cfg.Web.Tiles, cfg.Web.Attribution
	f.Bus.Dispatchers, f.Bus.Operators = cfg.Bus.Dispatchers, cfg.Bus.Operators
	for _, a := range cfg.Bus.Analytics {
		f.Bus.Analytics = append(f.Bus.Analytics, AnalyticsEntry{a.NKey, a.Consumer})
	}
	f.Bus.Routes.User, f.Bus.Routes.Password = cfg.Bus.RouteUser, cfg.Bus.RoutePassword
	f.Bus.TLS = TLSSection{Cert: cfg.ClientTLS.Cert, Key: cfg.ClientTLS.Key, CA: cfg.ClientTLS.CA, Verify: cfg.ClientTLS.Verify}
	f.Bus.Routes.TLS = TLSSection{Cert: cfg.RouteTLS.Cert, Key: cfg.RouteTLS.Key, CA: cfg.RouteTLS.CA}
	f.Limits.MaxFrameBytes, f.Limits.MaxTracked = cfg.MaxFrameBytes, cfg.MaxTracked
	f.Limits.RateLimit, f.Limits.RateBurst = cfg.RateLimit, cfg.RateBurst
	f.Limits.PendingFixes, f.Limits.MaxQueuedFrames = cfg.PendingFixes, cfg.MaxQueuedFrames
	f.Limits.MaxInFlight, f.Limits.MaxQueuedFixes = cfg.MaxInFlight, cfg.MaxQueuedFixes
	f.Limits.MaxConnections, f.Limits.MaxConnectionsPerIdentity, f.Limits.MaxConnectionsPerAddress = cfg.MaxConnections, cfg.MaxConnectionsPerIdentity, cfg.MaxConnectionsPerAddress
	f.Liveness.StaleAfter, f.Liveness.OfflineAfter = duration(cfg.Liveness.StaleAfter), duration(cfg.Liveness.OfflineAfter)
	f.Liveness.FastInterval, f.Liveness.SlowInterval = duration(cfg.FastInterval), duration(cfg.SlowInterval)
	f.Liveness.PresenceEvery = duration(cfg.PresenceEvery)
	f.Timeouts.Idle, f.Timeouts.Header = duration(cfg.IdleTimeout), duration(cfg.HeaderTimeout)
	f.Timeouts.Write, f.Timeouts.Ping = duration(cfg.WriteTimeout), duration(cfg.PingInterval)
	f.Timeouts.Publish, f.Timeouts.Ready = duration(cfg.PublishTimeout), duration(cfg.ReadyTimeout)
	return f
}

// Config returns the node Config the file describes (defaults are filled in
// by New). The log level is the caller's to apply.
func (f *File) Config() (Config, error) {
	c := Config{
		Name:                      f.Name,
		DataDir:                   f.DataDir,
		Storage:                   Storage(f.Storage),
		HTTPAddr:                  f.HTTP,
		AdminAddr:                 f.Admin.Listen,
		ClientAddr:                f.NATS,
		ClusterName:               f.Cluster.Name,
		ClusterAddr:               f.Cluster.Listen,
		Routes:                    f.Cluster.Routes,
		History:                   f.History,
		MaxAge:                    time.Duration(f.MaxAge),
		DuplicateWindow:           time.Duration(f.DuplicateWindow),
		Replicas:                  f.Replicas,
		AllowedOrigins:            f.AllowedOrigins,
		MaxFrameBytes:             f.Limits.MaxFrameBytes,
		MaxTracked:                f.Limits.MaxTracked,
		RateLimit:                 f.Limits.RateLimit,
		RateBurst:                 f.Limits.RateBurst,
		PendingFixes:              f.Limits.PendingFixes,
		MaxQueuedFrames:           f.Limits.MaxQueuedFrames,
		MaxInFlight:               f.Limits.MaxInFlight,
		MaxQueuedFixes:            f.Limits.MaxQueuedFixes,
		MaxConnections:            f.Limits.MaxConnections,
		MaxConnectionsPerIdentity: f.Limits.MaxConnectionsPerIdentity,
		MaxConnectionsPerAddress:  f.Limits.MaxConnectionsPerAddress,
		TrustedProxies:            f.TrustedProxies,
		Web:                       web.Config{Tiles: f.Web.Tiles, Attribution: f.Web.Attribution},
		Bus: busauth.Config{
			Dispatchers: f.Bus.Dispatchers, Operators: f.Bus.Operators,
			RouteUser: f.Bus.Routes.User, RoutePassword: f.Bus.Routes.Password,
		},
		ClientTLS:      TLSFiles{Cert: f.Bus.TLS.Cert, Key: f.Bus.TLS.Key, CA: f.Bus.TLS.CA, Verify: f.Bus.TLS.Verify},
		RouteTLS:       TLSFiles{Cert: f.Bus.Routes.TLS.Cert, Key: f.Bus.Routes.TLS.Key, CA: f.Bus.Routes.TLS.CA, Verify: f.Bus.Routes.TLS.CA != ""},
		TLSCertFile:    f.TLS.Cert,
		TLSKeyFile:     f.TLS.Key,
		IdleTimeout:    time.Duration(f.Timeouts.Idle),
		HeaderTimeout:  time.Duration(f.Timeouts.Header),
		WriteTimeout:   time.Duration(f.Timeouts.Write),
		PingInterval:   time.Duration(f.Timeouts.Ping),
		PublishTimeout: time.Duration(f.Timeouts.Publish),
		ReadyTimeout:   time.Duration(f.Timeouts.Ready),
		Liveness:       liveness.Thresholds{StaleAfter: time.Duration(f.Liveness.StaleAfter), OfflineAfter: time.Duration(f.Liveness.OfflineAfter)},
		FastInterval:   time.Duration(f.Liveness.FastInterval),
		SlowInterval:   time.Duration(f.Liveness.SlowInterval),
		PresenceEvery:  time.Duration(f.Liveness.PresenceEvery),
	}
	for _, a := range f.Bus.Analytics {
		c.Bus.Analytics = append(c.Bus.Analytics, busauth.Analytics{NKey: a.NKey, Consumer: a.Consumer})
	}
	if f.Admin.TokenFile != "" {
		tok, err := ReadAdminToken(f.Admin.TokenFile)
		if err != nil {
			return c, err
		}
		c.AdminToken = tok
	}
	var err error
	c.Authenticator, err = f.Auth.Authenticator()
	return c, err
}

// ReadAdminToken reads an admin token file: the token, surrounding white
// space ignored.
func ReadAdminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: admin token: %v", ErrInvalidConfig, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%w: admin token file %s is empty", ErrInvalidConfig, path)
	}
	return tok, nil
}

// Authenticator returns the Authenticator the section describes, with its
// keys loaded.
func (a *AuthSection) Authenticator() (auth.Authenticator, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: auth: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch a.Mode {
	case "dev":
		if len(a.Keys) > 0 || a.JWKS != "" {
			return nil, bad("the development mode is refused when token keys are configured: remove the keys, or use mode: token")
		}
		return auth.Dev(), nil
	case "token":
	case "":
		return nil, bad("required: auth { mode: token, keys: [ … ] } for signed tokens, or auth: dev for the development mode")
	default:
		return nil, bad("mode %q: use token or dev", a.Mode)
	}
	var keys []auth.Key
	for _, k := range a.Keys {
		if k.ID == "" || k.File == "" {
			return nil, bad("every key needs an id and a file")
		}
		key, err := auth.LoadKey(k.ID, k.Alg, k.File)
		if err != nil {
			return nil, bad("%v", err)
		}
		keys = append(keys, key)
	}
	if a.JWKS != "" {
		more, err := auth.LoadJWKS(a.JWKS)
		if err != nil {
			return nil, bad("%v", err)
		}
		keys = append(keys, more...)
	}
	if len(keys) == 0 {
		return nil, bad("mode token needs keys or jwks")
	}
	t, err := auth.NewTokens(auth.TokenConfig{Keys: keys, Issuer: a.Issuer, Audience: a.Audience, Leeway: time.Duration(a.Leeway)})
	if err != nil {
		return nil, bad("%v", err)
	}
	return t, nil
}
