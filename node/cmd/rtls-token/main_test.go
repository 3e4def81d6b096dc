package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtls-io/rtls/node/auth"
)

// TestGenerateMintAndVerify: the tool's key and token work with the node's
// verifier, with the kid rtlsd -token-key gives the public key file.
func TestGenerateMintAndVerify(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "app")
	if err := run([]string{"-gen-key", base}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"-key", base + ".key", "-sub", "r-9", "-role", "rider", "-drivers", "d-1,d-2"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadKey("app", "", base+".pub")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(auth.TokenConfig{Keys: []auth.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := tokens.Verify(strings.TrimSpace(out.String()))
	if err != nil || id.ID != "r-9" || !id.CanTrack("d-2") || id.CanTrack("d-3") {
		t.Fatalf("%+v %v", id, err)
	}
	if err := run([]string{"-key", base + ".key"}, io.Discard, io.Discard); err == nil {
		t.Fatal("missing -sub and -role accepted")
	}
}
