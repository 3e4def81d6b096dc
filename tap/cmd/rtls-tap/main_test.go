package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
)

// syncBuffer is a bytes.Buffer for two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestMain_ToFileAndStdout runs the command against a production node:
// CSV into a file, twice (the second run resumes), and JSON lines to
// stdout; each run ends when its context does, with a summary line.
func TestMain_ToFileAndStdout(t *testing.T) {
	s := testnode.NewSecrets(t)
	n := testnode.Start(t, s.Configure)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // the whole test: three runs of up to 10 s each
	defer cancel()
	d, err := mobileproto.Dial(ctx, n.WebSocketURL(), mobileproto.WithToken(s.Token("d-1", mobileproto.RoleDriver, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	send := func(from, to uint64) {
		for seq := from; seq <= to; seq++ {
			if _, err := d.SendLocation(ctx, mobileproto.Fix{Latitude: 1, Longitude: 2, Seq: seq}); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := filepath.Join(t.TempDir(), "fixes.csv")
	run := func(args []string, wantLines int, stdout *syncBuffer, read func() string) string {
		t.Helper()
		var stderr syncBuffer
		m := NewMain(stdout, &stderr)
		if err := m.ParseFlags(append([]string{"-nats", n.ClientURL(), "-nkey", s.SeedFile(testnode.Analytics), "-batch-wait", "100ms", "-ack-wait", "2s"}, args...)); err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(rctx) }()
		testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if n := strings.Count(read(), "\n"); n != wantLines {
				return fmt.Errorf("%d lines, want %d", n, wantLines)
			}
			return nil
		})
		stop()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v\n%s", err, stderr.String())
		}
		m.Close()
		return stderr.String()
	}
	file := func() string { b, _ := os.ReadFile(out); return string(b) }

	send(1, 3)
	log := run([]string{"-format", "csv", "-out", out}, 4, &syncBuffer{}, file)
	if !strings.Contains(log, "rtls-tap: 3 fixes written, 0 duplicates skipped, 0 invalid records; last cursor 3\n") {
		t.Errorf("no summary line:\n%s", log)
	}
	send(4, 5)
	log = run([]string{"-format", "csv", "-out", out}, 6, &syncBuffer{}, file)
	if !strings.Contains(log, "rtls-tap: 2 fixes written") || !strings.Contains(log, "resuming the output after its last fix") {
		t.Errorf("the second run did not resume:\n%s", log)
	}
	if lines := strings.Split(file(), "\n"); lines[0] != "cursor,driver,latitude,longitude,seq,ts,accuracy,speed,heading,time,node" || !strings.HasPrefix(lines[5], "5,d-1,1,2,5,") {
		t.Errorf("the file:\n%s", file())
	}

	// stdout gets JSON lines from the consumer's position: nothing old.
	send(6, 6)
	var stdout syncBuffer
	run([]string{"-out", "-"}, 1, &stdout, stdout.String)
	if !strings.HasPrefix(stdout.String(), `{"cursor":6,"subject":"rtls.loc.d-1","driver":"d-1",`) {
		t.Errorf("stdout: %s", stdout.String())
	}
}

func TestMain_FlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-format", "parquet"},
		{"-out", "/nonexistent/dir/fixes.jsonl"},
		{"-batch-wait", "1h"},
		{"-nkey", "a", "-creds", "b"},
		{"stray"},
	} {
		var stderr bytes.Buffer
		m := NewMain(&bytes.Buffer{}, &stderr)
		err := m.ParseFlags(args)
		if err == nil {
			err = m.Run(context.Background())
		}
		if err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: %v", args, err)
		}
	}
}
