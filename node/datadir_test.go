package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
)

// A restart on a data directory that is missing, corrupt or unusable gets
// a clear log line or error and a documented outcome, never a hang.
func TestRestartOnABadDataDir(t *testing.T) {
	// start runs a node on dir and reports Start's error, what it logged
	// and the node (nil on error).
	start := func(t *testing.T, dir string) (*node.Node, *logRecorder, error) {
		logs := &logRecorder{}
		n, err := node.New(node.Config{Name: "n1", DataDir: dir, HTTPAddr: "127.0.0.1:0", Authenticator: auth.Dev(), Logger: logs.logger(), ReadyTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := n.Start(ctx); err != nil {
			return nil, logs, err
		}
		t.Cleanup(func() { n.Shutdown(context.Background()) })
		return n, logs, nil
	}
	// served is a data dir of a node that stored 20 fixes, and its epoch.
	served := func(t *testing.T) (string, string) {
		dir := t.TempDir()
		n, _, err := start(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		sendFixes(t, dial(t, n, mobileproto.RoleDriver, "d-1"), 1, 20)
		epoch := n.Epoch()
		if err := n.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		return dir, epoch
	}
	stored := func(t *testing.T, n *node.Node) int {
		r := dial(t, n, mobileproto.RoleRider, "r-1")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(100)})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Replayed
	}
	streamDir := func(dir string) string { return filepath.Join(dir, "jetstream", "$G", "streams", node.StreamName) }

	t.Run("intact", func(t *testing.T) {
		dir, epoch := served(t)
		n, logs, err := start(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		if n.Epoch() != epoch || stored(t, n) != 20 || logs.has("NOT THE ONE") {
			t.Fatalf("epoch %s (was %s), %d fixes", n.Epoch(), epoch, stored(t, n))
		}
	})
	t.Run("stream metadata corrupt", func(t *testing.T) {
		dir, epoch := served(t)
		if err := os.WriteFile(filepath.Join(streamDir(dir), "meta.inf"), []byte("{garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		n, logs, err := start(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		// NATS skips the stream it cannot describe; the node creates it
		// again (the store then finds the messages it can read) and says
		// so; riders see a new epoch.
		if n.Epoch() == epoch || !logs.has("THE STREAM IS NOT THE ONE THIS NODE SERVED BEFORE") {
			t.Fatalf("epoch %s (was %s); logged the new stream: %v", n.Epoch(), epoch, logs.has("NOT THE ONE"))
		}
		got := stored(t, n)
		if got > 20 {
			t.Fatalf("%d fixes, 20 were stored", got)
		}
		t.Logf("%d of 20 fixes readable in the stream created again", got)
	})
	t.Run("message block corrupt", func(t *testing.T) {
		dir, _ := served(t)
		blocks, _ := filepath.Glob(filepath.Join(streamDir(dir), "msgs", "*.blk"))
		if len(blocks) == 0 {
			t.Fatal("no message blocks")
		}
		for _, b := range blocks {
			if err := os.WriteFile(b, []byte(strings.Repeat("garbage ", 16)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		n, logs, err := start(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		// The store keeps what it can read and logs what it rebuilt; the
		// node serves.
		if !n.Ready() || !logs.has("rebuild") {
			t.Fatalf("ready %v; NATS logged the rebuild: %v", n.Ready(), logs.has("rebuild"))
		}
		t.Logf("%d of 20 fixes readable after the corruption", stored(t, n))
	})
	t.Run("data dir missing", func(t *testing.T) {
		dir, epoch := served(t)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		n, _, err := start(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		if n.Epoch() == epoch || stored(t, n) != 0 {
			t.Fatalf("epoch %s (was %s)", n.Epoch(), epoch)
		}
	})
	t.Run("data dir is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-dir")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := start(t, file)
		if err == nil || !strings.Contains(err.Error(), "data dir") {
			t.Fatalf("Start: %v, want an error about the data dir", err)
		}
		t.Log(err)
	})
}
