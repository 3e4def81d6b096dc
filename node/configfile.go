package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/conf"
)

// File is the content of a node configuration file, the format operators use
// for rtlsd -config. It is written in the NATS configuration syntax
// (`key: value`, `#` comments, `{ }` blocks, `[ ]` lists, `$VAR` environment
// variables); cluster/example/n1.conf is a commented example. Keys are
// checked: an unknown key is an error, so a typo does not go unnoticed.
type File struct {
	Name           string   `json:"name,omitempty"`
	DataDir        string   `json:"data_dir,omitempty"`
	Storage        string   `json:"storage,omitempty"`
	HTTP           string   `json:"http,omitempty"`
	NATS           string   `json:"nats,omitempty"`
	Auth           string   `json:"auth,omitempty"` // "dev": the development mode
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	LogLevel       string   `json:"log_level,omitempty"`

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
	} `json:"limits"`

	Timeouts struct {
		Write   duration `json:"write,omitempty"`
		Ping    duration `json:"ping,omitempty"`
		Publish duration `json:"publish,omitempty"`
		Ready   duration `json:"ready,omitempty"`
	} `json:"timeouts"`
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

// FileFor returns the File describing cfg, with auth "dev" (the only
// Authenticator a file can name so far) and the given log level. Write it
// with encoding/json: JSON is valid NATS configuration syntax.
func FileFor(cfg Config, logLevel string) *File {
	f := &File{
		Name: cfg.Name, DataDir: cfg.DataDir, Storage: string(cfg.Storage), HTTP: cfg.HTTPAddr, NATS: cfg.ClientAddr,
		Auth: "dev", AllowedOrigins: cfg.AllowedOrigins, LogLevel: logLevel,
		History: cfg.History, MaxAge: duration(cfg.MaxAge), DuplicateWindow: duration(cfg.DuplicateWindow), Replicas: cfg.Replicas,
	}
	f.Cluster.Name, f.Cluster.Listen, f.Cluster.Routes = cfg.ClusterName, cfg.ClusterAddr, cfg.Routes
	f.Limits.MaxFrameBytes, f.Limits.MaxTracked = cfg.MaxFrameBytes, cfg.MaxTracked
	f.Limits.RateLimit, f.Limits.RateBurst = cfg.RateLimit, cfg.RateBurst
	f.Limits.PendingFixes, f.Limits.MaxQueuedFrames = cfg.PendingFixes, cfg.MaxQueuedFrames
	f.Timeouts.Write, f.Timeouts.Ping = duration(cfg.WriteTimeout), duration(cfg.PingInterval)
	f.Timeouts.Publish, f.Timeouts.Ready = duration(cfg.PublishTimeout), duration(cfg.ReadyTimeout)
	return f
}

// Config returns the node Config the file describes (defaults are filled in
// by New). The log level is the caller's to apply.
func (f *File) Config() (Config, error) {
	c := Config{
		Name:            f.Name,
		DataDir:         f.DataDir,
		Storage:         Storage(f.Storage),
		HTTPAddr:        f.HTTP,
		ClientAddr:      f.NATS,
		ClusterName:     f.Cluster.Name,
		ClusterAddr:     f.Cluster.Listen,
		Routes:          f.Cluster.Routes,
		History:         f.History,
		MaxAge:          time.Duration(f.MaxAge),
		DuplicateWindow: time.Duration(f.DuplicateWindow),
		Replicas:        f.Replicas,
		AllowedOrigins:  f.AllowedOrigins,
		MaxFrameBytes:   f.Limits.MaxFrameBytes,
		MaxTracked:      f.Limits.MaxTracked,
		RateLimit:       f.Limits.RateLimit,
		RateBurst:       f.Limits.RateBurst,
		PendingFixes:    f.Limits.PendingFixes,
		MaxQueuedFrames: f.Limits.MaxQueuedFrames,
		WriteTimeout:    time.Duration(f.Timeouts.Write),
		PingInterval:    time.Duration(f.Timeouts.Ping),
		PublishTimeout:  time.Duration(f.Timeouts.Publish),
		ReadyTimeout:    time.Duration(f.Timeouts.Ready),
	}
	switch f.Auth {
	case "dev":
		c.Authenticator = DevAuthenticator()
	case "":
		return c, fmt.Errorf("%w: auth is required; use auth: dev for the development mode", ErrInvalidConfig)
	default:
		return c, fmt.Errorf("%w: auth %q: only \"dev\" exists so far", ErrInvalidConfig, f.Auth)
	}
	return c, nil
}
