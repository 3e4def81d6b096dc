package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/rtls-io/rtls/node/auth"
)

func TestFlagsAndConfigFile(t *testing.T) {
	if _, _, err := parseFlags(nil, io.Discard); err == nil {
		t.Fatal("no -dev and no config file must be refused")
	}
	cfg, level, err := parseFlags([]string{"-dev", "-history", "7"}, io.Discard)
	if err != nil || cfg.Authenticator == nil || cfg.History != 7 || cfg.HTTPAddr != "127.0.0.1:8080" || cfg.ClientAddr != "127.0.0.1:4222" || level != "info" {
		t.Fatalf("flags: %+v %q %v", cfg, level, err)
	}
	t.Setenv("RTLS_APP_KEY", filepath.Join(t.TempDir(), "app.pub"))
	k, _ := auth.GenerateKey("app", auth.EdDSA)
	_, pub, _ := k.PEM()
	os.WriteFile(os.Getenv("RTLS_APP_KEY"), pub, 0o644)
	t.Setenv("RTLS_ROUTE_PASSWORD", "secret")
	kp, _ := nkeys.CreateUser()
	pk, _ := kp.PublicKey()
	t.Setenv("RTLS_DISPATCHER_NKEY", pk)
	kp2, _ := nkeys.CreateUser()
	pk2, _ := kp2.PublicKey()
	t.Setenv("RTLS_ANALYTICS_NKEY", pk2)
	file := filepath.Join("..", "..", "..", "cluster", "example", "n2.conf")
	cfg, level, err = parseFlags([]string{"-config", file, "-http", "127.0.0.1:0", "-log-level", "debug"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "n2" || cfg.HTTPAddr != "127.0.0.1:0" || cfg.ClientAddr != "127.0.0.1:4223" || cfg.MaxAge != 24*time.Hour || len(cfg.Routes) != 3 || level != "debug" {
		t.Fatalf("file with overrides: %+v %q", cfg, level)
	}
	if _, _, err := parseFlags([]string{"-config", file, "-dev"}, io.Discard); err == nil {
		t.Fatal("-dev beside a file with token keys must be refused")
	}
	if _, _, err := parseFlags([]string{"-config", "does-not-exist.conf"}, io.Discard); err == nil {
		t.Fatal("a missing config file must be an error")
	}
}
