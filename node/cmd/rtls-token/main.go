// Command rtls-token makes keys and app tokens for trying rtls in its secure
// mode. In production the delivery platform's back-end mints the tokens (any
// JWT library: EdDSA, RS256 or HS256, claims sub, role, exp and for riders
// drivers); this tool does the same from a key file.
//
//	rtls-token -gen-key secrets/app                  # secrets/app.key (private) and secrets/app.pub
//	rtlsd -token-key secrets/app.pub                 # a node that verifies tokens signed with it
//	rtls-token -key secrets/app.key -sub d-17 -role driver -ttl 1h
//	rtls-token -key secrets/app.key -sub r-9 -role rider -drivers d-17
//	rtls-token -gen-nkey secrets/dispatcher           # a NATS identity: secrets/dispatcher.nk (seed), prints its public key
//
// The token is printed on standard output. Its "kid" is the key file's base
// name without extension, as rtlsd -token-key names keys.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nkeys"

	"github.com/rtls-io/rtls/internal/commalist"
	"github.com/rtls-io/rtls/node/auth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtls-token:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtls-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gen := fs.String("gen-key", "", "write a new key pair to PATH.key and PATH.pub and exit")
	genNKey := fs.String("gen-nkey", "", "write a new NATS user nkey seed to PATH.nk, print its public key (for the node's bus section) and exit")
	alg := fs.String("alg", auth.EdDSA, "algorithm of -gen-key (EdDSA or RS256), or HS256 when -key is a secret file")
	keyPath := fs.String("key", "", "the private key (PEM) or, with -alg HS256, the secret file that signs")
	kid := fs.String("kid", "", "key id (default: the key file's base name without extension)")
	sub := fs.String("sub", "", "the driver's or rider's id")
	role := fs.String("role", "", "driver or rider")
	drivers := fs.String("drivers", "", "for a rider: comma-separated driver ids it may track")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	iss := fs.String("iss", "", "issuer (iss), if the node checks it")
	aud := fs.String("aud", "", "audience (aud), if the node checks it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *gen != "" {
		return generate(*gen, *alg, stderr)
	}
	if *genNKey != "" {
		return generateNKey(*genNKey, stdout, stderr)
	}
	if *keyPath == "" || *sub == "" || *role == "" {
		fs.Usage()
		return errors.New("-key, -sub and -role are required (or -gen-key)")
	}
	if *kid == "" {
		*kid = strings.TrimSuffix(filepath.Base(*keyPath), filepath.Ext(*keyPath))
	}
	signAlg := ""
	if *alg == auth.HS256 {
		signAlg = auth.HS256
	}
	key, err := auth.LoadSigningKey(*kid, signAlg, *keyPath)
	if err != nil {
		return err
	}
	now := time.Now()
	c := auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   *sub,
			Issuer:    *iss,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(*ttl)),
		},
		Role:    *role,
		Drivers: commalist.Split(*drivers),
	}
	if *aud != "" {
		c.Audience = jwt.ClaimStrings{*aud}
	}
	tok, err := auth.Mint(key, c)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// generateNKey writes a user nkey seed to path.nk and prints the public key:
// the seed signs a NATS connection in (the dashboard's -nkey), the public
// key goes in the node's configuration (bus { dispatchers: [ … ] }).
func generateNKey(path string, stdout, stderr io.Writer) error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	seed, err := kp.Seed()
	if err != nil {
		return err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path+".nk", append(seed, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(path+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, pub)
	fmt.Fprintf(stderr, "rtls-token: wrote %s.nk (the seed: keep it secret) and %s.pub (%s, for the node's configuration)\n", path, path, pub)
	return nil
}

func generate(path, alg string, stderr io.Writer) error {
	k, err := auth.GenerateKey(filepath.Base(path), alg)
	if err != nil {
		return err
	}
	priv, pub, err := k.PEM()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path+".key", priv, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "rtls-token: wrote %s.key (keep it secret) and %s.pub (give it to rtlsd -token-key)\n", path, path)
	return nil
}
