package tap_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/tap"
)

// TestTheTapMayDoNothingElse: with the analytics identity the tap reads
// its own consumer and nothing else. Asking for another consumer is
// refused by the bus, and Run says so at once with ErrPermission; an
// identity the node does not know is refused at the door (ErrClosed).
func TestTheTapMayDoNothingElse(t *testing.T) {
	s := testnode.NewSecrets(t)
	n := startNode(t, s)
	dir := t.TempDir()

	t.Run("another consumer", func(t *testing.T) {
		cfg := tapConfig(s, openOutput(t, filepath.Join(dir, "other.jsonl"), tap.JSONLines), n.ClientURL())
		cfg.Consumer = "other"
		start := time.Now()
		err := runTap(t, cfg).wait(t, 10*time.Second)
		if !errors.Is(err, tap.ErrPermission) {
			t.Fatalf("Run returned %v, want ErrPermission", err)
		}
		if !strings.Contains(err.Error(), "$JS.API.CONSUMER.CREATE.LOCATIONS.other") || !strings.Contains(err.Error(), `"other"`) {
			t.Errorf("the error does not say what was refused: %v", err)
		}
		// A refusal noticed only when a request timed out would take at
		// least the tap's request timeout (5 s).
		if d := time.Since(start); d >= 5*time.Second {
			t.Errorf("the refusal took %v to surface: it should not wait for a timeout", d)
		}
		t.Log(err)
	})

	t.Run("an unknown identity", func(t *testing.T) {
		kp, _ := nkeys.CreateUser()
		seed, _ := kp.Seed()
		file := filepath.Join(dir, "stranger.nk")
		if err := os.WriteFile(file, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := tapConfig(s, openOutput(t, filepath.Join(dir, "stranger.jsonl"), tap.JSONLines), n.ClientURL())
		cfg.NKeySeedFile = file
		err := runTap(t, cfg).wait(t, 20*time.Second)
		if !errors.Is(err, tap.ErrClosed) {
			t.Fatalf("Run returned %v, want ErrClosed", err)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Errorf("the error does not say why: %v", err)
		}
		t.Log(err)
	})

	t.Run("the identity's other doors", func(t *testing.T) {
		// The same seed the tap signs in with may not publish a fix or
		// purge the stream (node/busauth's own tests cover the rest).
		refused := make(chan error, 4)
		nc, err := nats.Connect(n.ClientURL(), s.NATS(testnode.Analytics),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		for _, subject := range []string{fixstream.LocationSubject("forged"), "$JS.API.STREAM.PURGE." + fixstream.StreamName} {
			nc.Publish(subject, []byte(`{}`))
			nc.Flush()
			select {
			case err := <-refused:
				if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
					t.Errorf("publishing to %s: %v", subject, err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("publishing to %s was not refused", subject)
			}
		}
		if _, err := nc.Request("$JS.API.CONSUMER.DELETE."+fixstream.StreamName+"."+testnode.AnalyticsConsumer, nil, time.Second); err == nil {
			t.Error("the analytics identity deleted its consumer")
		}
	})
}
