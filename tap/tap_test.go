package tap_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/tap"
)

// errCrash is what crashWriter fails with.
var errCrash = errors.New("crash")

// crashWriter stands for a tap process that dies while writing: after
// syncs whole batches, the next write passes half of its lines through,
// then half of the next line, and fails. Nothing of that batch is
// acknowledged, yet part of it is in the file (whole lines and a torn
// one), which is exactly a crash between write and ack.
type crashWriter struct {
	f     *tap.File
	syncs int

	mu             sync.Mutex
	crashed        bool
	linesInCrashed int // whole lines of the write that failed
}

func (w *crashWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.crashed:
		return 0, errCrash
	case w.syncs > 0:
		return w.f.Write(p)
	}
	w.crashed = true
	w.linesInCrashed = bytes.Count(p, []byte{'\n'}) / 2
	n := 0
	for range w.linesInCrashed {
		n += bytes.IndexByte(p[n:], '\n') + 1
	}
	n += (bytes.IndexByte(p[n:], '\n') + 1) / 2
	m, _ := w.f.Write(p[:n])
	return m, errCrash
}

func (w *crashWriter) Sync() error {
	w.mu.Lock()
	w.syncs--
	w.mu.Unlock()
	return w.f.Sync()
}

// TestExactlyOnceAcrossCrash: drivers send fixes through the WebSocket
// edge without pause; the tap dies between writing part of a batch and
// acknowledging it (leaving whole lines and a torn one behind); a new tap
// on the same file cuts the torn line, skips what the file holds when it
// is delivered again, and writes the rest. In the end the file holds every
// stored fix once, in stream order.
func TestExactlyOnceAcrossCrash(t *testing.T) {
	s := testnode.NewSecrets(t)
	n := startNode(t, s)
	path := filepath.Join(t.TempDir(), "fixes.jsonl")
	drivers := []string{"d-1", "d-2", "d-3"}
	fl := startFleet(t, s, []string{n.WebSocketURL()}, drivers...)

	// First run: dies while writing its third batch. It starts with a
	// backlog; its later batches hold what the drivers send meanwhile.
	testnode.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := fl.total(); n < 60 {
			return fmt.Errorf("%d fixes sent", n)
		}
		return nil
	})
	out := openOutput(t, path, tap.JSONLines)
	crash := &crashWriter{f: out, syncs: 2}
	cfg := tapConfig(s, out, n.ClientURL())
	cfg.Output = crash
	first := runTap(t, cfg)
	err := first.wait(t, 30*time.Second)
	if !errors.Is(err, tap.ErrOutput) || !errors.Is(err, errCrash) {
		t.Fatalf("the first run returned %v, want the output's failure", err)
	}
	st := first.tap.Stats()
	cons, err := jetstream.New(operator(t, s, n.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Consumer(context.Background(), fixstream.StreamName, testnode.AnalyticsConsumer)
	if err != nil {
		t.Fatal(err)
	}
	pending := info.CachedInfo().NumAckPending
	t.Logf("first run: %+v; the crash left %d whole lines of its batch of %d unacknowledged", st, crash.linesInCrashed, pending)
	if st.Written == 0 || crash.linesInCrashed == 0 {
		t.Fatalf("the crash came too early to test anything: %d fixes written before, %d in the crashed batch", st.Written, crash.linesInCrashed)
	}
	// The crashed batch was not a full one: the consumer may deliver new
	// fixes beside the unacknowledged ones, and the second run must still
	// write those first.
	if pending >= 1000 {
		t.Fatalf("the crashed batch has %d fixes: a full batch does not test the order of redeliveries", pending)
	}
	out.Close()

	// Second run, on the same file, while the drivers keep sending.
	out = openOutput(t, path, tap.JSONLines)
	if out.Cut == 0 {
		t.Fatal("Append cut no torn line")
	}
	lines := readJSONLines(t, path)
	if w := int(st.Written) + crash.linesInCrashed; len(lines) != w || out.Last != lines[w-1].Cursor {
		t.Fatalf("after the crash the file has %d lines and Append says the last cursor is %d", len(lines), out.Last)
	}
	second := runTap(t, tapConfig(s, out, n.ClientURL()))
	before := fl.total()
	testnode.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if w := second.tap.Stats().Written; w < 100 || fl.total() < before+100 {
			return fmt.Errorf("the second run has written %d fixes, the drivers sent %d more", w, fl.total()-before)
		}
		return nil
	})
	sent := fl.check(t)
	want := stored(t, operator(t, s, n.ClientURL()), drivers...)
	var total uint64
	for _, n := range sent {
		total += n
	}
	if uint64(len(want)) != total {
		t.Fatalf("the stream holds %d fixes, the drivers had %d acknowledged", len(want), total)
	}
	testnode.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n, err := countLines(path); err != nil || n != len(want) {
			return fmt.Errorf("%d lines, want %d (%v)", n, len(want), err)
		}
		return nil
	})
	if err := second.stop(t); err != nil {
		t.Fatalf("the second run returned %v", err)
	}
	st2 := second.tap.Stats()
	t.Logf("second run: %+v; %d fixes stored", st2, len(want))
	// It skips at least the crashed batch's whole lines; more only if the
	// stream delivered a batch again because writing it outlasted the
	// tests' 2 s ack wait (a busy machine). The file's content, checked
	// next, tells a skip too many from a redelivery.
	if st2.Duplicates < uint64(crash.linesInCrashed) {
		t.Errorf("the second run skipped %d duplicates, want at least the %d whole lines of the crashed batch", st2.Duplicates, crash.linesInCrashed)
	}
	checkExactlyOnce(t, readJSONLines(t, path), want)

	// A third run finds nothing new and writes nothing.
	out.Close()
	out = openOutput(t, path, tap.JSONLines)
	third := runTap(t, tapConfig(s, out, n.ClientURL()))
	if err := third.stop(t); err != nil {
		t.Fatal(err)
	}
	if st := third.tap.Stats(); st.Written != 0 {
		t.Errorf("a run with nothing new wrote %d fixes", st.Written)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("the output's mode is %v: fixes are personal data", fi.Mode().Perm())
	}
}

func TestNewRefusesBadConfigs(t *testing.T) {
	out := &os.File{}
	for name, cfg := range map[string]tap.Config{
		"no output":          {},
		"bad consumer":       {Output: out, Consumer: "a.b"},
		"nkey and creds":     {Output: out, NKeySeedFile: "a", CredsFile: "b"},
		"cert without key":   {Output: out, CertFile: "c"},
		"huge batch":         {Output: out, Batch: 100000},
		"ack wait too short": {Output: out, AckWait: 500 * 1e6},
		"unknown format":     {Output: out, Format: 7},
	} {
		if _, err := tap.New(cfg); !errors.Is(err, tap.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
