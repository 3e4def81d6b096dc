package testnode

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
	"github.com/rtls-io/rtls/node/busauth"
)

// Secrets are what a production node needs, made for a test: an app token
// key, a route password, and the nkeys of a dispatcher, an analytics
// consumer ("warehouse") and an operator. Seeds and the public token key are
// also written to files in Dir, for process clusters and tools.
type Secrets struct {
	t             testing.TB
	Dir           string
	Key           auth.SigningKey
	RoutePassword string
	nkeys         map[string]nkeys.KeyPair
}

// The bus roles of Secrets.
const (
	Dispatcher = "dispatcher"
	Analytics  = "analytics"
	Operator   = "operator"
	// AnalyticsConsumer is the durable consumer the analytics identity owns.
	AnalyticsConsumer = "warehouse"
)

// NewSecrets makes a test's secrets.
func NewSecrets(t testing.TB) *Secrets {
	t.Helper()
	k, err := auth.GenerateKey("app", auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	s := &Secrets{t: t, Dir: t.TempDir(), Key: k, RoutePassword: "route-" + time.Now().Format("150405.000000"), nkeys: map[string]nkeys.KeyPair{}}
	_, pub, err := k.PEM()
	if err != nil {
		t.Fatal(err)
	}
	s.write("app.pub", pub)
	for _, role := range []string{Dispatcher, Analytics, Operator} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		s.write(role+".nk", seed)
		s.nkeys[role] = kp
	}
	return s
}

func (s *Secrets) write(name string, data []byte) {
	if err := os.WriteFile(filepath.Join(s.Dir, name), data, 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// Public returns the public nkey of a bus role.
func (s *Secrets) Public(role string) string {
	pub, _ := s.nkeys[role].PublicKey()
	return pub
}

// SeedFile is the file holding a bus role's nkey seed.
func (s *Secrets) SeedFile(role string) string { return filepath.Join(s.Dir, role+".nk") }

// NATS is the option that signs a NATS connection in as role.
func (s *Secrets) NATS(role string) nats.Option {
	o, err := nats.NkeyOptionFromSeed(s.SeedFile(role))
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

// Configure makes c a production node: token authentication with the
// secrets' key (almost no clock leeway) and the bus identities and route
// password.
func (s *Secrets) Configure(c *node.Config) {
	a, err := auth.NewTokens(auth.TokenConfig{Keys: []auth.Key{s.Key.Public()}, Leeway: time.Millisecond})
	if err != nil {
		s.t.Fatal(err)
	}
	c.Authenticator = a
	c.Bus = busauth.Config{
		Dispatchers: []string{s.Public(Dispatcher)},
		Analytics:   []busauth.Analytics{{NKey: s.Public(Analytics), Consumer: AnalyticsConsumer}},
		Operators:   []string{s.Public(Operator)},
		RouteUser:   "rtls",
	}
	c.Bus.RoutePassword = s.RoutePassword
}

// ConfigureFile does for a process's configuration file what Configure does
// for a Config.
func (s *Secrets) ConfigureFile(f *node.File) {
	f.Auth = node.AuthSection{Mode: "token", Keys: []node.KeyFile{{ID: "app", File: filepath.Join(s.Dir, "app.pub")}}}
}

// Token mints a token valid for ttl.
func (s *Secrets) Token(sub string, role mobileproto.Role, ttl time.Duration, drivers ...string) string {
	now := time.Now()
	tok, err := auth.Mint(s.Key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub, IssuedAt: jwt.NewNumericDate(now.Add(-time.Second)), ExpiresAt: jwt.NewNumericDate(now.Add(ttl))},
		Role:             string(role),
		Drivers:          drivers,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}
