package node

import (
	"errors"
	"testing"
	"time"

	"github.com/rtls-io/rtls/node/auth"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Authenticator: auth.Dev()}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.Name == "" || c.History != 100 || c.MaxAge != 24*time.Hour || c.Replicas != 1 || c.HTTPAddr != "127.0.0.1:8080" || c.Storage != FileStorage {
		t.Fatalf("defaults: %+v", c)
	}
	three := Config{Authenticator: auth.Dev(), ClusterAddr: "127.0.0.1:6222",
		Routes: []string{"nats://127.0.0.1:6222", "nats://127.0.0.1:6223", "nats://127.0.0.1:6224"}}
	if err := three.setDefaults(); err != nil || three.Replicas != 3 {
		t.Fatalf("three nodes (own route listed): replicas %d, %v", three.Replicas, err)
	}
	five := Config{Authenticator: auth.Dev(), ClusterAddr: "127.0.0.1:6222",
		Routes: []string{"nats://a:1", "nats://b:1", "nats://c:1", "nats://d:1"}}
	if err := five.setDefaults(); err != nil || five.Replicas != 3 {
		t.Fatalf("five nodes: replicas %d, %v", five.Replicas, err)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no authenticator", Config{}},
		{"bad name", Config{Name: "a.b"}},
		{"bad storage", Config{Storage: "tape"}},
		{"bad http addr", Config{HTTPAddr: "nope"}},
		{"routes without cluster", Config{Routes: []string{"nats://x:1"}}},
		{"history too deep", Config{History: 20000}},
		{"negative history", Config{History: -1}},
		{"max age too short", Config{MaxAge: time.Millisecond}},
		{"dedupe beyond max age", Config{MaxAge: time.Minute, DuplicateWindow: time.Hour}},
		{"more replicas than nodes", Config{Replicas: 3}},
		{"tiny frames", Config{MaxFrameBytes: 10}},
		{"negative pending", Config{PendingFixes: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if tc.name != "no authenticator" {
				cfg.Authenticator = auth.Dev()
			}
			_, err := New(cfg)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{"host.example.com": "host-example-com", "": "rtls", "ok_1": "ok_1"} {
		if got := sanitizeName(in); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}
