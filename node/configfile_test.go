package node

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/rtls-io/rtls/node/auth"
)

// exampleSecrets sets the environment variables the example configuration
// files read (rtls-cluster sets them from its secrets directory).
func exampleSecrets(t *testing.T) {
	t.Helper()
	k, err := auth.GenerateKey("app", auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	_, pub, _ := k.PEM()
	p := filepath.Join(t.TempDir(), "app.pub")
	if err := os.WriteFile(p, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RTLS_APP_KEY", p)
	t.Setenv("RTLS_ROUTE_PASSWORD", "secret")
	for _, v := range []string{"RTLS_DISPATCHER_NKEY", "RTLS_ANALYTICS_NKEY"} {
		kp, _ := nkeys.CreateUser()
		pk, _ := kp.PublicKey()
		t.Setenv(v, pk)
	}
}

func TestExampleClusterConfigFilesParse(t *testing.T) {
	exampleSecrets(t)
	for i, name := range []string{"n1", "n2", "n3"} {
		f, err := ReadConfigFile(filepath.Join("..", "cluster", "example", name+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.Config()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.setDefaults(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantHTTP := []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082"}[i]
		if c.Name != name || c.HTTPAddr != wantHTTP || c.Replicas != 3 || c.MaxAge != 24*time.Hour ||
			c.DuplicateWindow != 30*time.Second || len(c.Routes) != 3 || c.PublishTimeout != 10*time.Second || f.LogLevel != "info" {
			t.Fatalf("%s parsed as %+v", name, c)
		}
		// Secure by default: tokens, an authenticated bus and routes.
		if auth.IsDevelopment(c.Authenticator) || c.Bus.RouteUser != "rtls" || c.Bus.RoutePassword != "secret" ||
			len(c.Bus.Dispatchers) != 1 || len(c.Bus.Analytics) != 1 || len(c.Bus.Operators) != 0 {
			t.Fatalf("%s is not secure by default: %+v", name, c.Bus)
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"unknown key":    "name: n1\nauth: dev\nhistroy: 5\n",
		"bad duration":   "name: n1\nauth: dev\nmax_age: 5\n",
		"no auth":        "name: n1\n",
		"unknown auth":   "name: n1\nauth: ldap\n",
		"not the syntax": "name: {\n",
		"wrong type":     "name: n1\nauth: dev\nhistory: \"many\"\n",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.conf")
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := ReadConfigFile(p)
			if err == nil {
				_, err = f.Config()
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestFileForRoundTrips(t *testing.T) {
	cfg := Config{Name: "n7", DataDir: "/tmp/x", HTTPAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:6000",
		Routes: []string{"nats://127.0.0.1:6000", "nats://127.0.0.1:6001"}, MaxAge: time.Hour, PublishTimeout: 3 * time.Second, RateLimit: 1e6,
		AdminAddr: "127.0.0.1:0", FastInterval: 2 * time.Second, SlowInterval: 20 * time.Second}
	cfg.Liveness.StaleAfter = 30 * time.Second
	b, err := json.Marshal(FileFor(cfg, "warn"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "n7.conf")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadConfigFile(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	got, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "n7" || got.ClusterAddr != cfg.ClusterAddr || len(got.Routes) != 2 || got.MaxAge != time.Hour ||
		got.PublishTimeout != 3*time.Second || got.RateLimit != 1e6 || got.Authenticator == nil || f.LogLevel != "warn" ||
		got.AdminAddr != cfg.AdminAddr || got.FastInterval != 2*time.Second || got.SlowInterval != 20*time.Second || got.Liveness.StaleAfter != 30*time.Second {
		t.Fatalf("round trip: %+v", got)
	}
}
