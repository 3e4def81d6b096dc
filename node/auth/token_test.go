package auth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtls-io/rtls/mobileproto"
)

var now = time.Unix(1764412800, 0)

func claims(sub, role string, drivers ...string) Claims {
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
			Issuer:    "platform",
			Audience:  jwt.ClaimStrings{"rtls"},
		},
		Role:    role,
		Drivers: drivers,
	}
}

func mustMint(t *testing.T, k SigningKey, c Claims) string {
	t.Helper()
	tok, err := Mint(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenCases(t *testing.T) {
	ed, err := GenerateKey("ed-1", EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := GenerateKey("rs-1", RS256)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := NewSecretKey("hs-1", []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateKey("ed-1", EdDSA) // same kid, another key: a forger's
	tokens, err := NewTokens(TokenConfig{Keys: []Key{ed.Public(), rs.Public(), hs.Public()}, Issuer: "platform", Audience: "rtls", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	_, rsPub, _ := rs.PEM()
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("d-1", "driver"))
	confused.Header["kid"] = "rs-1"
	confusedTok, _ := confused.SignedString(rsPub) // HS256 keyed with the RSA public key's bytes
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims("d-1", "driver")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noKid := func(k SigningKey, c Claims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		s, _ := tok.SignedString(k.sign)
		return s
	}
	with := func(f func(*Claims)) Claims {
		c := claims("d-1", "driver")
		f(&c)
		return c
	}

	for _, tc := range []struct {
		name    string
		token   string
		want    Identity
		reason  string // a part of the refusal's reason
		expired bool
	}{
		{name: "valid EdDSA driver", token: mustMint(t, ed, claims("d-1", "driver")), want: Identity{Role: mobileproto.RoleDriver, ID: "d-1"}},
		{name: "valid RS256 rider with its drivers", token: mustMint(t, rs, claims("r-1", "rider", "d-1", "d-2")), want: Identity{Role: mobileproto.RoleRider, ID: "r-1", Drivers: []string{"d-1", "d-2"}}},
		{name: "valid HS256", token: mustMint(t, hs, claims("d-2", "driver")), want: Identity{Role: mobileproto.RoleDriver, ID: "d-2"}},
		{name: "expired", token: mustMint(t, ed, with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })), reason: "expired", expired: true},
		{name: "not yet valid", token: mustMint(t, ed, with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })), reason: "not valid yet"},
		{name: "issued in the future", token: mustMint(t, ed, with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), reason: "not valid yet"},
		{name: "wrong signature", token: mustMint(t, other, claims("d-1", "driver")), reason: "signature is invalid"},
		{name: "alg none", token: noneTok, reason: "signature is invalid"},
		{name: "HS256 signed with the RSA public key", token: confusedTok, reason: "signs with RS256, not HS256"},
		{name: "unknown kid", token: mustMint(t, SigningKey{ID: "nope", Alg: EdDSA, sign: ed.sign}, claims("d-1", "driver")), reason: "unknown key id"},
		{name: "no kid with several keys", token: noKid(ed, claims("d-1", "driver")), reason: "names no key"},
		{name: "missing sub", token: mustMint(t, ed, claims("", "driver")), reason: "no sub"},
		{name: "invalid sub", token: mustMint(t, ed, claims("d.1", "driver")), reason: "not a valid id"},
		{name: "missing role", token: mustMint(t, ed, claims("d-1", "")), reason: "role"},
		{name: "unknown role", token: mustMint(t, ed, claims("d-1", "admin")), reason: "role"},
		{name: "missing exp", token: mustMint(t, ed, with(func(c *Claims) { c.ExpiresAt = nil })), reason: "no exp"},
		{name: "wrong audience", token: mustMint(t, ed, with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other"} })), reason: "audience"},
		{name: "wrong issuer", token: mustMint(t, ed, with(func(c *Claims) { c.Issuer = "evil" })), reason: "issuer"},
		{name: "driver token listing drivers", token: mustMint(t, ed, claims("d-1", "driver", "d-2")), reason: "lists no drivers"},
		{name: "rider listing an invalid id", token: mustMint(t, ed, claims("r-1", "rider", "a>b")), reason: "invalid driver id"},
		{name: "garbage", token: "not.a.token", reason: "malformed"},
		{name: "empty", token: "", reason: "malformed"},
		{name: "huge", token: strings.Repeat("a", MaxTokenBytes+1), reason: "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tokens.Verify(tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if id.Role != tc.want.Role || id.ID != tc.want.ID || strings.Join(id.Drivers, ",") != strings.Join(tc.want.Drivers, ",") || !id.Expires.Equal(now.Add(time.Hour)) {
					t.Fatalf("identity %+v, want %+v", id, tc.want)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("err %v, want an *auth.Error", err)
			}
			if !strings.Contains(ae.Reason, tc.reason) {
				t.Fatalf("reason %q, want it to mention %q", ae.Reason, tc.reason)
			}
			if errors.Is(err, ErrExpired) != tc.expired {
				t.Fatalf("errors.Is(ErrExpired) = %v", !tc.expired)
			}
		})
	}
}

func TestIdentityPermissions(t *testing.T) {
	rider := Identity{Role: mobileproto.RoleRider, ID: "r-1", Drivers: []string{"d-1"}}
	driver := Identity{Role: mobileproto.RoleDriver, ID: "d-1"}
	switch {
	case !rider.CanTrack("d-1"), rider.CanTrack("d-2"), rider.CanPublish("r-1"):
		t.Fatal("rider permissions")
	case !driver.CanPublish("d-1"), driver.CanPublish("d-2"), driver.CanTrack("d-1"):
		t.Fatal("driver permissions")
	case !(Identity{Role: mobileproto.RoleRider, ID: "r", AnyDriver: true}).CanTrack("d-9"):
		t.Fatal("development rider")
	}
}

func TestTokenFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name, header, value, url, want, reason string
	}{
		{name: "bearer header", header: "Authorization", value: "Bearer abc.def.ghi", want: "abc.def.ghi"},
		{name: "bearer any case", header: "Authorization", value: "bearer abc", want: "abc"},
		{name: "basic auth", header: "Authorization", value: "Basic YTpi", reason: "must be"},
		{name: "subprotocol", header: "Sec-WebSocket-Protocol", value: "rtls.v1, bearer.abc.def", want: "abc.def"},
		{name: "query", url: "/v1/ws?access_token=abc", reason: "not accepted in the URL"},
		{name: "nothing", reason: "no token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url
			if u == "" {
				u = "/v1/ws"
			}
			r := httptest.NewRequest("GET", u, nil)
			if tc.header != "" {
				r.Header.Set(tc.header, tc.value)
			}
			got, err := TokenFromRequest(r)
			if tc.reason != "" {
				if err == nil || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("%q, %v: want a refusal mentioning %q", got, err, tc.reason)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q, %v", got, err)
			}
		})
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	ed, _ := GenerateKey("ed", EdDSA)
	priv, pub, err := ed.PEM()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubPath, privPath := write("ed.pub", pub), write("ed.key", priv)
	k, err := LoadKey("ed", "", pubPath)
	if err != nil || k.Alg != EdDSA {
		t.Fatalf("public key: %+v %v", k, err)
	}
	if _, err := LoadKey("ed", RS256, pubPath); !errors.Is(err, ErrBadKey) {
		t.Fatalf("an Ed25519 key pinned to RS256: %v", err)
	}
	if k, err := LoadKey("ed", "", privPath); err != nil || k.Alg != EdDSA {
		t.Fatalf("the public half of a private key: %v", err)
	}
	if _, err := LoadKey("s", HS256, write("short", []byte("tooshort\n"))); !errors.Is(err, ErrBadKey) {
		t.Fatalf("a short secret: %v", err)
	}
	if _, err := LoadKey("s", "", write("secret", []byte(strings.Repeat("x", 40)))); !errors.Is(err, ErrBadKey) {
		t.Fatalf("a secret without alg HS256: %v", err)
	}
	sk, err := LoadSigningKey("ed", "", privPath)
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := NewTokens(TokenConfig{Keys: []Key{k}, Now: func() time.Time { return now }})
	if _, err := tokens.Verify(mustMint(t, sk, claims("d-1", "driver"))); err != nil {
		t.Fatalf("a token minted with the loaded key: %v", err)
	}

	// A JWKS with an Ed25519, an RSA and a secret key.
	rs, _ := GenerateKey("rs", RS256)
	rsPub := rs.Public().verify.(*rsa.PublicKey)
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "OKP", "crv": "Ed25519", "kid": "k-ed", "x": b64(ed.Public().verify.(ed25519.PublicKey))},
		{"kty": "RSA", "kid": "k-rs", "n": b64(rsPub.N.Bytes()), "e": b64(big.NewInt(int64(rsPub.E)).Bytes()), "alg": "RS256"},
		{"kty": "oct", "kid": "k-hs", "k": b64([]byte(strings.Repeat("k", 32))), "alg": "HS256"},
	}})
	keys, err := LoadJWKS(write("jwks.json", jwks))
	if err != nil || len(keys) != 3 || keys[0].Alg != EdDSA || keys[1].Alg != RS256 || keys[2].Alg != HS256 {
		t.Fatalf("jwks: %+v %v", keys, err)
	}
	if _, err := LoadJWKS(write("bad.json", []byte(`{"keys":[{"kty":"EC","kid":"x"}]}`))); !errors.Is(err, ErrBadKey) {
		t.Fatalf("an EC key: %v", err)
	}
}

// FuzzVerify: any token string is refused with an *Error or accepted as a
// valid identity; never a panic.
func FuzzVerify(f *testing.F) {
	ed, _ := GenerateKey("ed-1", EdDSA)
	tokens, _ := NewTokens(TokenConfig{Keys: []Key{ed.Public()}, Now: func() time.Time { return now }})
	f.Add(mustMintF(ed, claims("d-1", "driver")))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJkIn0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := tokens.Verify(tok)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Reason == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if !id.Role.Valid() || id.ID == "" {
			t.Fatalf("accepted %q as %+v", tok, id)
		}
	})
}

func mustMintF(k SigningKey, c Claims) string {
	tok, err := Mint(k, c)
	if err != nil {
		panic(err)
	}
	return tok
}

// FuzzHandshake: any Authorization or Sec-WebSocket-Protocol header value
// gives a token or a refusal with a reason, and whatever token comes out is
// refused or verified without a panic.
func FuzzHandshake(f *testing.F) {
	ed, _ := GenerateKey("ed-1", EdDSA)
	tokens, _ := NewTokens(TokenConfig{Keys: []Key{ed.Public()}, Now: func() time.Time { return now }})
	f.Add("Bearer "+mustMintF(ed, claims("d-1", "driver")), "")
	f.Add("", "rtls.v1, bearer.a.b.c")
	f.Add("Basic eDp5", "bearer.")
	f.Add("bearer", ",,,bearer.x,")
	f.Fuzz(func(t *testing.T, authz, proto string) {
		r := httptest.NewRequest("GET", "/v1/ws", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if proto != "" {
			r.Header.Set("Sec-WebSocket-Protocol", proto)
		}
		id, err := tokens.Authenticate(r)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Reason == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if !id.Role.Valid() || id.ID == "" {
			t.Fatalf("accepted %q / %q as %+v", authz, proto, id)
		}
	})
}
