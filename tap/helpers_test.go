package tap_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/tap"
)

// startNode starts a production node (token auth, bus identities) that
// keeps enough fixes per driver for a whole test.
func startNode(t testing.TB, s *testnode.Secrets) *node.Node {
	t.Helper()
	return testnode.Start(t, s.Configure, func(c *node.Config) { c.History = 10000 })
}

// tapConfig is a tap of the analytics identity on urls, writing to out,
// with waits short enough for tests.
func tapConfig(s *testnode.Secrets, out *tap.File, urls ...string) tap.Config {
	return tap.Config{
		URLs:         urls,
		NKeySeedFile: s.SeedFile(testnode.Analytics),
		Consumer:     testnode.AnalyticsConsumer,
		Output:       out,
		Format:       out.Format,
		After:        out.Last,
		BatchWait:    200 * time.Millisecond,
		AckWait:      2 * time.Second,
		MaxRetryWait: time.Second,
		Logger:       testnode.Logger(),
	}
}

// running is a tap running in a goroutine.
type running struct {
	tap    *tap.Tap
	cancel context.CancelFunc
	done   chan error
}

func runTap(t testing.TB, cfg tap.Config) *running {
	t.Helper()
	tp, err := tap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{tap: tp, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- tp.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the tap and returns what Run returned.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	return r.wait(t, 15*time.Second)
}

// wait waits for Run to return.
func (r *running) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(d):
		t.Fatalf("the tap did not return within %v", d)
		return nil
	}
}

// openOutput opens (or reopens) an output file.
func openOutput(t testing.TB, path string, f tap.Format) *tap.File {
	t.Helper()
	out, err := tap.Append(path, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

// fix is a valid fix with the given seq, at a position derived from it.
func fix(seq uint64) mobileproto.Fix {
	return mobileproto.Fix{
		Latitude:  12.9716 + float64(seq)*1e-5,
		Longitude: 77.5946 - float64(seq)*1e-5,
		Seq:       seq,
		TS:        1764412800000 + int64(seq)*1000,
		Speed:     mobileproto.Float64(8.5),
	}
}

// dialDriver connects driver id to a node's WebSocket edge with a token.
func dialDriver(t testing.TB, s *testnode.Secrets, url, id string) *mobileproto.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := mobileproto.Dial(ctx, url, mobileproto.WithToken(s.Token(id, mobileproto.RoleDriver, time.Hour)))
	if err != nil {
		t.Fatalf("dial %s as driver %s: %v", url, id, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// sendFixes sends seqs from..to and waits for their acks.
func sendFixes(t testing.TB, d *mobileproto.Client, from, to uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for seq := from; seq <= to; seq++ {
		if _, err := d.SendLocation(ctx, fix(seq)); err != nil {
			t.Fatalf("send seq %d: %v", seq, err)
		}
	}
}

// fleet is drivers sending fixes one after another (each waits for its
// ack, as an app does) until stopped.
type fleet struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	sent     map[string]uint64 // acked fixes per driver
	errs     []error
}

func startFleet(t testing.TB, s *testnode.Secrets, urls []string, ids ...string) *fleet {
	t.Helper()
	f := &fleet{sent: map[string]uint64{}}
	for i, id := range ids {
		d := dialDriver(t, s, urls[i%len(urls)], id)
		f.wg.Add(1)
		go f.drive(d, id)
	}
	t.Cleanup(f.stop)
	return f
}

// drive sends until the fleet stops; a fix in flight then is still
// waited for, so that every stored fix is counted.
func (f *fleet) drive(d *mobileproto.Client, id string) {
	defer f.wg.Done()
	for seq := uint64(1); !f.stopping.Load(); {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err := d.SendLocation(ctx, fix(seq))
		cancel()
		var perr *mobileproto.Error
		switch {
		case err == nil:
			f.mu.Lock()
			f.sent[id] = seq
			f.mu.Unlock()
			seq++
		case errors.As(err, &perr) && perr.Temporary():
			// The stream is electing a leader: the app sends the same
			// fix again (the node stores it once), after a pause.
			time.Sleep(50 * time.Millisecond)
		default:
			f.mu.Lock()
			f.errs = append(f.errs, fmt.Errorf("driver %s seq %d: %w", id, seq, err))
			f.mu.Unlock()
			return
		}
	}
}

// total is how many fixes the drivers have had acknowledged.
func (f *fleet) total() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n uint64
	for _, s := range f.sent {
		n += s
	}
	return n
}

func (f *fleet) stop() {
	f.stopping.Store(true)
	f.wg.Wait()
}

// check stops the fleet and fails on a driver's error.
func (f *fleet) check(t testing.TB) map[string]uint64 {
	t.Helper()
	f.stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, err := range f.errs {
		t.Error(err)
	}
	return f.sent
}

// operator connects to urls as the operator (who may read and manage the
// stream).
func operator(t testing.TB, s *testnode.Secrets, urls ...string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","), s.NATS(testnode.Operator))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// stored reads every fix of drivers from the stream.
func stored(t testing.TB, nc *nats.Conn, drivers ...string) map[uint64]fixstream.Fix {
	t.Helper()
	r, err := fixstream.NewReader(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[uint64]fixstream.Fix{}
	for _, d := range drivers {
		for after := uint64(0); ; {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			fixes, err := r.After(ctx, d, after, 500)
			cancel()
			if err != nil {
				t.Fatalf("read %s from the stream: %v", d, err)
			}
			if len(fixes) == 0 {
				break
			}
			for _, f := range fixes {
				out[f.Seq] = f
			}
			after = fixes[len(fixes)-1].Seq
		}
	}
	return out
}

// line is one JSON line of a tap output.
type line struct {
	Cursor  uint64 `json:"cursor"`
	Subject string `json:"subject"`
	location.Record
}

// readJSONLines reads a JSON-lines output; every line must be whole.
func readJSONLines(t testing.TB, path string) []line {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Bytes(), err)
		}
		out = append(out, l)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("the output ends with a torn line: %q", data[max(0, len(data)-80):])
	}
	return out
}

// checkExactlyOnce checks that lines hold every fix of want exactly once,
// in stream order, each equal to the stored record.
func checkExactlyOnce(t testing.TB, lines []line, want map[uint64]fixstream.Fix) {
	t.Helper()
	seen := map[uint64]bool{}
	for i, l := range lines {
		if seen[l.Cursor] {
			t.Errorf("line %d: cursor %d written twice", i+1, l.Cursor)
		}
		seen[l.Cursor] = true
		if i > 0 && l.Cursor <= lines[i-1].Cursor {
			t.Errorf("line %d: cursor %d after %d: not in stream order", i+1, l.Cursor, lines[i-1].Cursor)
		}
		f, ok := want[l.Cursor]
		switch {
		case !ok:
			t.Errorf("line %d: cursor %d is not a stored fix", i+1, l.Cursor)
		case !f.Record.Equal(l.Record):
			t.Errorf("line %d: %+v, stored %+v", i+1, l.Record, f.Record)
		case l.Subject != fixstream.LocationSubject(l.Driver):
			t.Errorf("line %d: subject %q for driver %q", i+1, l.Subject, l.Driver)
		}
	}
	var missing []uint64
	for c := range want {
		if !seen[c] {
			missing = append(missing, c)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%d stored fixes are not in the output: %v", len(missing), missing[:min(len(missing), 20)])
	}
	if t.Failed() {
		t.FailNow()
	}
}

// countLines counts the complete lines of a file.
func countLines(path string) (int, error) {
	data, err := os.ReadFile(path)
	return bytes.Count(data, []byte{'\n'}), err
}
