package auth

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
)

// Claims are the claims of an rtls app token.
type Claims struct {
	jwt.RegisteredClaims
	// Role is "driver" or "rider".
	Role string `json:"role"`
	// Drivers lists, for a rider, the driver ids it may track (the driver
	// of the rider's order).
	Drivers []string `json:"drivers,omitempty"`
}

// MaxTokenBytes bounds a token, and MaxTokenDrivers the drivers a rider's
// token may list.
const (
	MaxTokenBytes   = 8192
	MaxTokenDrivers = 1000
)

// SubprotocolPrefix marks the WebSocket subprotocol that carries a token
// from a browser, which cannot set headers on a WebSocket:
// new WebSocket(url, ["rtls.v1", "bearer." + token]).
const SubprotocolPrefix = "bearer."

// TokenConfig configures Tokens.
type TokenConfig struct {
	// Keys verify tokens; at least one. Several keys (distinct IDs) allow a
	// rotation: tokens name theirs with "kid".
	Keys []Key
	// Issuer and Audience, when set, must be the token's "iss" and be in
	// its "aud".
	Issuer, Audience string
	// Leeway allows for clock skew in exp, nbf and iat. Zero value means 30
	// seconds.
	Leeway time.Duration
	// Now is the clock. Zero value means time.Now.
	Now func() time.Time
}

// Tokens is the Authenticator of signed app tokens (JWT).
type Tokens struct {
	cfg    TokenConfig
	keys   map[string]Key
	parser *jwt.Parser
}

// ErrInvalidConfig is wrapped by NewTokens for a bad configuration.
var ErrInvalidConfig = errors.New("auth: invalid config")

// NewTokens returns an Authenticator that verifies tokens with cfg's keys.
func NewTokens(cfg TokenConfig) (*Tokens, error) {
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("%w: no token keys", ErrInvalidConfig)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Tokens{cfg: cfg, keys: map[string]Key{}}
	var algs []string
	for _, k := range cfg.Keys {
		if k.verify == nil {
			return nil, fmt.Errorf("%w: key %q was not loaded", ErrInvalidConfig, k.ID)
		}
		if _, dup := t.keys[k.ID]; dup {
			return nil, fmt.Errorf("%w: key id %q is given twice", ErrInvalidConfig, k.ID)
		}
		t.keys[k.ID] = k
		if !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway), jwt.WithTimeFunc(func() time.Time { return t.cfg.Now() }),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	t.parser = jwt.NewParser(opts...)
	return t, nil
}

// Authenticate verifies the token of a WebSocket handshake, taken from
// "Authorization: Bearer <token>" (apps) or the subprotocol
// "bearer.<token>" (browsers). Tokens in the URL are refused: URLs end up in
// access logs, histories and Referer headers.
func (t *Tokens) Authenticate(r *http.Request) (Identity, error) {
	tok, err := TokenFromRequest(r)
	if err != nil {
		return Identity{}, err
	}
	return t.Verify(tok)
}

// TokenFromRequest returns the token of a handshake request (see
// Tokens.Authenticate), or an *Error.
func TokenFromRequest(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", refuse("the Authorization header must be \"Bearer <token>\"")
		}
		return strings.TrimSpace(tok), nil
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); strings.HasPrefix(p, SubprotocolPrefix) {
				return p[len(SubprotocolPrefix):], nil
			}
		}
	}
	q := r.URL.Query()
	if q.Has("token") || q.Has("access_token") {
		return "", refuse("tokens are not accepted in the URL: send Authorization: Bearer <token>, or from a browser the subprotocol %s<token>", SubprotocolPrefix)
	}
	return "", refuse("no token: send Authorization: Bearer <token>, or from a browser the subprotocol %s<token>", SubprotocolPrefix)
}

// Verify checks a token and returns its identity, or an *Error saying what
// is wrong with it.
func (t *Tokens) Verify(token string) (Identity, error) {
	if len(token) > MaxTokenBytes {
		return Identity{}, refuse("the token is longer than %d bytes", MaxTokenBytes)
	}
	var c Claims
	_, err := t.parser.ParseWithClaims(token, &c, t.key)
	if err != nil {
		return Identity{}, tokenError(err)
	}
	id := Identity{Role: mobileproto.Role(c.Role), ID: c.Subject, Drivers: c.Drivers, Expires: c.ExpiresAt.Time}
	switch {
	case c.Subject == "":
		return Identity{}, refuse("the token has no sub (the driver or rider id)")
	case !location.ValidID(c.Subject):
		return Identity{}, refuse("the token's sub is not a valid id (1-%d ASCII letters, digits, '-' or '_')", location.MaxIDLength)
	case !id.Role.Valid():
		return Identity{}, refuse("the token's role must be \"driver\" or \"rider\"")
	case id.Role == mobileproto.RoleDriver && len(c.Drivers) > 0:
		return Identity{}, refuse("a driver's token lists no drivers")
	case len(c.Drivers) > MaxTokenDrivers:
		return Identity{}, refuse("the token lists more than %d drivers", MaxTokenDrivers)
	}
	for _, d := range c.Drivers {
		if !location.ValidID(d) {
			return Identity{}, refuse("the token lists an invalid driver id")
		}
	}
	return id, nil
}

// key is the jwt.Keyfunc: the key the token's kid names, only for the
// algorithm it is pinned to.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	var k Key
	switch {
	case kid != "":
		var ok bool
		if k, ok = t.keys[kid]; !ok {
			return nil, refuse("unknown key id %q", kid)
		}
	case len(t.keys) == 1:
		for _, only := range t.keys {
			k = only
		}
	default:
		return nil, refuse("the token names no key (kid) and the node has several")
	}
	if tok.Method.Alg() != k.Alg {
		return nil, refuse("key %q signs with %s, not %s", k.ID, k.Alg, tok.Method.Alg())
	}
	return k.verify, nil
}

// tokenError turns a jwt error into an *Error with a useful reason.
func tokenError(err error) *Error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, jwt.ErrTokenExpired):
		return &Error{Reason: "the token has expired: get a fresh one", Expired: true}
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse("the token is not valid yet (nbf or iat in the future)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse("the token has no exp (expiry is required)")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse("the token is for another audience")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse("the token is from another issuer")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("the token's signature is invalid")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return refuse("the token cannot be verified (its algorithm is not allowed)")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse("the token is malformed")
	}
	return refuse("the token is invalid")
}

// Mint signs claims with key, naming the key's id in the "kid" header.
func Mint(key SigningKey, c Claims) (string, error) {
	var m jwt.SigningMethod
	switch key.Alg {
	case HS256:
		m = jwt.SigningMethodHS256
	case RS256:
		m = jwt.SigningMethodRS256
	case EdDSA:
		m = jwt.SigningMethodEdDSA
	default:
		return "", fmt.Errorf("%w: algorithm %q", ErrBadKey, key.Alg)
	}
	tok := jwt.NewWithClaims(m, c)
	tok.Header["kid"] = key.ID
	return tok.SignedString(key.sign)
}
