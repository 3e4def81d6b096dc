package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
)

// The signing algorithms a key may be pinned to.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// MinSecretBytes is the shortest HS256 secret accepted.
const MinSecretBytes = 32

// ErrBadKey is wrapped by the errors of key loading.
var ErrBadKey = errors.New("auth: bad key")

// Key is one verification key, pinned to one algorithm: a token is checked
// only with the key its "kid" names and only if it is signed with that
// key's algorithm, so "none" and HS/RS confusion are refused.
type Key struct {
	// ID is the key id tokens name in their "kid" header.
	ID string
	// Alg is HS256, RS256 or EdDSA.
	Alg string
	// verify is []byte (HS256), *rsa.PublicKey or ed25519.PublicKey.
	verify any
}

// SigningKey is a key that mints tokens (for tools and tests; the node
// never needs one).
type SigningKey struct {
	ID   string
	Alg  string
	sign any // []byte, *rsa.PrivateKey or ed25519.PrivateKey
}

// Public returns the verification key of k.
func (k SigningKey) Public() Key {
	switch s := k.sign.(type) {
	case *rsa.PrivateKey:
		return Key{ID: k.ID, Alg: k.Alg, verify: &s.PublicKey}
	case ed25519.PrivateKey:
		return Key{ID: k.ID, Alg: k.Alg, verify: s.Public()}
	default:
		return Key{ID: k.ID, Alg: k.Alg, verify: k.sign}
	}
}

// NewSecretKey returns an HS256 key for secret, which must be at least
// MinSecretBytes long.
func NewSecretKey(id string, secret []byte) (SigningKey, error) {
	if len(secret) < MinSecretBytes {
		return SigningKey{}, fmt.Errorf("%w: %s: an HS256 secret must have at least %d bytes", ErrBadKey, id, MinSecretBytes)
	}
	return SigningKey{ID: id, Alg: HS256, sign: bytes.Clone(secret)}, nil
}

// GenerateKey returns a new key pair for alg (EdDSA or RS256).
func GenerateKey(id, alg string) (SigningKey, error) {
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return SigningKey{ID: id, Alg: alg, sign: priv}, err
	case RS256:
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		return SigningKey{ID: id, Alg: alg, sign: priv}, err
	}
	return SigningKey{}, fmt.Errorf("%w: generate: algorithm %q (use %s or %s)", ErrBadKey, alg, EdDSA, RS256)
}

// PEM returns the private key (PKCS #8) and public key (PKIX) of an EdDSA
// or RS256 key in PEM.
func (k SigningKey) PEM() (private, public []byte, err error) {
	priv, err := x509.MarshalPKCS8PrivateKey(k.sign)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrBadKey, k.ID, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public().verify)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrBadKey, k.ID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

// algOf is the algorithm a public or private key type is pinned to.
func algOf(k any) (string, error) {
	switch k.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return RS256, nil
	case ed25519.PublicKey, ed25519.PrivateKey:
		return EdDSA, nil
	}
	return "", fmt.Errorf("key type %T (use Ed25519 or RSA)", k)
}

// LoadKey reads a verification key from a file: a PEM public key (PKIX or
// PKCS #1) or private key (PKCS #8 or PKCS #1; only its public half is kept),
// pinned to EdDSA or RS256 by its type, or, with alg HS256, a file holding
// the shared secret (surrounding white space is ignored). alg may be empty
// for PEM keys; when given it must match the key's type.
func LoadKey(id, alg, path string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %s: %v", ErrBadKey, id, err)
	}
	if alg == HS256 {
		sk, err := NewSecretKey(id, bytes.TrimSpace(data))
		return sk.Public(), err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return Key{}, fmt.Errorf("%w: %s: %s is not a PEM key (for an HS256 secret, say alg HS256)", ErrBadKey, id, path)
	}
	var k any
	switch block.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "PRIVATE KEY", "RSA PRIVATE KEY":
		var sk SigningKey
		if sk, err = parsePrivate(id, block); err == nil {
			k = sk.Public().verify
		}
	default:
		err = fmt.Errorf("PEM block %q", block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("%w: %s: %s: %v", ErrBadKey, id, path, err)
	}
	return pinned(id, alg, k)
}

func pinned(id, alg string, k any) (Key, error) {
	if rk, ok := k.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
		return Key{}, fmt.Errorf("%w: %s: an RSA key must have at least 2048 bits", ErrBadKey, id)
	}
	a, err := algOf(k)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %s: %v", ErrBadKey, id, err)
	}
	if alg != "" && alg != a {
		return Key{}, fmt.Errorf("%w: %s: an %T cannot be used with %s (it is %s)", ErrBadKey, id, k, alg, a)
	}
	return Key{ID: id, Alg: a, verify: k}, nil
}

func parsePrivate(id string, block *pem.Block) (SigningKey, error) {
	var k any
	var err error
	if block.Type == "RSA PRIVATE KEY" {
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return SigningKey{}, err
	}
	alg, err := algOf(k)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: id, Alg: alg, sign: k}, nil
}

// LoadSigningKey reads a key that mints tokens: a PEM private key, or with
// alg HS256 a secret file.
func LoadSigningKey(id, alg, path string) (SigningKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: %s: %v", ErrBadKey, id, err)
	}
	if alg == HS256 {
		return NewSecretKey(id, bytes.TrimSpace(data))
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return SigningKey{}, fmt.Errorf("%w: %s: %s is not a PEM private key", ErrBadKey, id, path)
	}
	sk, err := parsePrivate(id, block)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: %s: %s: %v", ErrBadKey, id, path, err)
	}
	if alg != "" && alg != sk.Alg {
		return SigningKey{}, fmt.Errorf("%w: %s: the key is for %s, not %s", ErrBadKey, id, sk.Alg, alg)
	}
	return sk, nil
}

// LoadJWKS reads a JSON Web Key Set file ({"keys":[…]}): Ed25519 ("OKP"),
// RSA and shared-secret ("oct") keys, each with a "kid". A key's "alg", when
// given, must match its type.
func LoadJWKS(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			N   string `json:"n"`
			E   string `json:"e"`
			K   string `json:"k"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	b64 := base64.RawURLEncoding.DecodeString
	var keys []Key
	for i, j := range set.Keys {
		if j.Kid == "" {
			return nil, fmt.Errorf("%w: %s: key %d has no kid", ErrBadKey, path, i)
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		var k Key
		switch j.Kty {
		case "OKP":
			x, err := b64(j.X)
			if err != nil || j.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("%w: %s: key %s: want an Ed25519 public key", ErrBadKey, path, j.Kid)
			}
			k, err = pinned(j.Kid, j.Alg, ed25519.PublicKey(x))
			if err != nil {
				return nil, err
			}
		case "RSA":
			n, err1 := b64(j.N)
			e, err2 := b64(j.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("%w: %s: key %s: bad RSA modulus or exponent", ErrBadKey, path, j.Kid)
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if k, err = pinned(j.Kid, j.Alg, pub); err != nil {
				return nil, err
			}
		case "oct":
			secret, err := b64(j.K)
			if err != nil || (j.Alg != "" && j.Alg != HS256) {
				return nil, fmt.Errorf("%w: %s: key %s: want an HS256 secret", ErrBadKey, path, j.Kid)
			}
			sk, err := NewSecretKey(j.Kid, secret)
			if err != nil {
				return nil, err
			}
			k = sk.Public()
		default:
			return nil, fmt.Errorf("%w: %s: key %s: key type %q (use OKP, RSA or oct)", ErrBadKey, path, j.Kid, j.Kty)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s: no signing keys", ErrBadKey, path)
	}
	return keys, nil
}
