package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/rtls-io/rtls/node/auth"
)

// Secrets are what a production cluster on one machine needs (task
// cluster), made once in a directory and kept there:
//
//	app.key, app.pub          the app token key pair (rtls-token -key app.key; nodes verify with app.pub)
//	route.password            the routes' shared password
//	dispatcher.nk, .pub       the dashboard's read-only NATS identity (rtls-dashboard -nkey dispatcher.nk)
//	analytics.nk, .pub        the analytics tap's NATS identity (consumer "warehouse")
//
// The configuration files in cluster/example refer to them through the
// environment variables of Env.
type Secrets struct {
	Dir                   string
	RoutePassword         string
	Dispatcher, Analytics string // public nkeys
}

// EnsureSecrets loads the secrets in dir, making the missing ones.
func EnsureSecrets(dir string) (*Secrets, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: secrets: %w", err)
	}
	s := &Secrets{Dir: dir}
	path := func(name string) string { return filepath.Join(dir, name) }
	if _, err := os.Stat(path("app.key")); errors.Is(err, os.ErrNotExist) {
		k, err := auth.GenerateKey("app", auth.EdDSA)
		if err != nil {
			return nil, err
		}
		priv, pub, err := k.PEM()
		if err != nil {
			return nil, err
		}
		if err := writeAll(path("app.key"), priv, 0o600, path("app.pub"), pub, 0o644); err != nil {
			return nil, err
		}
	}
	pw, err := ensureFile(path("route.password"), func() ([]byte, error) {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
	})
	if err != nil {
		return nil, err
	}
	s.RoutePassword = pw
	for _, role := range []struct {
		name string
		pub  *string
	}{{"dispatcher", &s.Dispatcher}, {"analytics", &s.Analytics}} {
		seed, err := ensureFile(path(role.name+".nk"), func() ([]byte, error) {
			kp, err := nkeys.CreateUser()
			if err != nil {
				return nil, err
			}
			return kp.Seed()
		})
		if err != nil {
			return nil, err
		}
		kp, err := nkeys.FromSeed([]byte(seed))
		if err != nil {
			return nil, fmt.Errorf("cluster: secrets: %s.nk: %w", role.name, err)
		}
		if *role.pub, err = kp.PublicKey(); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path(role.name+".pub"), []byte(*role.pub+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Env are the environment variables the example configuration files read.
func (s *Secrets) Env() []string {
	return []string{
		"RTLS_APP_KEY=" + filepath.Join(s.Dir, "app.pub"),
		"RTLS_ROUTE_PASSWORD=" + s.RoutePassword,
		"RTLS_DISPATCHER_NKEY=" + s.Dispatcher,
		"RTLS_ANALYTICS_NKEY=" + s.Analytics,
	}
}

// ensureFile returns the trimmed content of path, writing make's first.
func ensureFile(path string, make func() ([]byte, error)) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("cluster: secrets: %w", err)
	}
	b, err := make()
	if err != nil {
		return "", fmt.Errorf("cluster: secrets: %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("cluster: secrets: %w", err)
	}
	return string(b), nil
}

func writeAll(p1 string, b1 []byte, m1 os.FileMode, p2 string, b2 []byte, m2 os.FileMode) error {
	if err := os.WriteFile(p1, b1, m1); err != nil {
		return fmt.Errorf("cluster: secrets: %w", err)
	}
	if err := os.WriteFile(p2, b2, m2); err != nil {
		return fmt.Errorf("cluster: secrets: %w", err)
	}
	return nil
}
