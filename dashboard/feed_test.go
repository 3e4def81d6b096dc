package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/cluster"
	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/node"
)

// The end-to-end test: a real node, drivers publishing through the
// WebSocket edge, and the dashboard's model sees their fixes, first from
// the snapshot, then live.
func TestFeedSnapshotThenLive(t *testing.T) {
	n := startNode(t)
	d1 := dialDriver(t, n.WebSocketURL(), "d-1")
	d2 := dialDriver(t, n.WebSocketURL(), "d-2")
	send(t, d1, 12.97, 77.59, 5)
	send(t, d1, 12.971, 77.591, 6)
	c1 := send(t, d1, 12.972, 77.592, 7) // the newest of d-1 before the dashboard starts
	c2 := send(t, d2, 12.98, 77.60, 3)

	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if err := hasFix(fleet, "d-1", c1); err != nil {
			return err
		}
		return hasFix(fleet, "d-2", c2)
	})
	d, status, _ := fleet.Driver("d-1")
	if d.Lat != 12.972 || d.Lon != 77.592 || d.Speed != 7 || d.Heading != 90 || d.Node != "n1" || status.State != model.Online {
		t.Fatalf("d-1 from the snapshot: %+v %v", d, status)
	}
	st := feed.Status()
	if st.State != Connected || st.Server != "n1" || !strings.HasPrefix(st.URL, "nats://127.0.0.1:") || st.Snapshot.Done < 1 || st.Snapshot.Fixes != 2 {
		t.Fatalf("status %+v", st)
	}

	// Live: a new fix, and a driver the snapshot did not know.
	c1 = send(t, d1, 12.973, 77.593, 8)
	d3 := dialDriver(t, n.WebSocketURL(), "d-3")
	c3 := send(t, d3, 12.99, 77.61, 1)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if err := hasFix(fleet, "d-1", c1); err != nil {
			return err
		}
		return hasFix(fleet, "d-3", c3)
	})
	if d, _, _ := fleet.Driver("d-1"); d.Lat != 12.973 || d.Speed != 8 {
		t.Fatalf("d-1 live: %+v", d)
	}
	if feed.Status().LiveMessages < 2 {
		t.Fatalf("live messages %d", feed.Status().LiveMessages)
	}
}

// A malformed payload or a bad driver id on a live subject is skipped and
// counted; the feed goes on.
func TestFeedSkipsBadMessages(t *testing.T) {
	n := startNode(t)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if feed.Status().Snapshot.Done < 1 {
			return errors.New("no snapshot yet")
		}
		return nil
	})
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub := func(subject, data string, cursor int) {
		m := nats.NewMsg(subject)
		m.Data = []byte(data)
		m.Header.Set(fixstream.SequenceHeader, strconv.Itoa(cursor))
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	pub(fixstream.LiveSubject("d-9"), `{"latitude":`, 1000)
	pub(fixstream.LiveSubject("d-9"), `{"latitude":91,"longitude":0}`, 1001)
	pub(fixstream.LiveSubject(strings.Repeat("x", 65)), `{"latitude":1,"longitude":0}`, 1002)
	pub(fixstream.LiveSubject("d-9"), `{"latitude":1,"longitude":0}`, 0) // no cursor
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	d := dialDriver(t, n.WebSocketURL(), "d-ok")
	c := send(t, d, 1, 2, 3)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if err := hasFix(fleet, "d-ok", c); err != nil {
			return err
		}
		if s := fleet.Stats(); s.Malformed != 3 || s.BadSubject != 1 {
			return fmt.Errorf("stats %+v, want 3 malformed and 1 bad subject", s)
		}
		return nil
	})
	if _, _, ok := fleet.Driver("d-9"); ok || fleet.Len() != 1 {
		t.Fatalf("a malformed fix was kept: %d drivers", fleet.Len())
	}
}

// The selected driver's trail is read from the stream and merged with live fixes.
func TestFeedTrail(t *testing.T) {
	n := startNode(t)
	d := dialDriver(t, n.WebSocketURL(), "d-1")
	var cursors []uint64
	for i := 0; i < 5; i++ {
		cursors = append(cursors, send(t, d, 12.97+float64(i)*1e-3, 77.59, 5))
	}
	other := dialDriver(t, n.WebSocketURL(), "d-2")
	send(t, other, 1, 1, 1)

	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error { return hasFix(fleet, "d-1", cursors[4]) })
	fleet.Select("d-1")
	feed.LoadTrail("d-1")
	cursors = append(cursors, send(t, d, 12.98, 77.59, 5)) // live, appended to the trail
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		tr := fleet.Trail()
		got := make([]uint64, len(tr))
		for i, p := range tr {
			got[i] = p.Cursor
		}
		if fmt.Sprint(got) != fmt.Sprint(cursors) {
			return fmt.Errorf("trail cursors %v, want %v", got, cursors)
		}
		return nil
	})
	if tr := fleet.Trail(); tr[0].Lat != 12.97 || tr[5].Lat != 12.98 {
		t.Fatalf("trail %+v", tr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if h, err := feed.ReadHistory(ctx, "nobody", 10); err != nil || len(h) != 0 {
		t.Fatalf("history of an unknown driver: %v %v", h, err)
	}
	if _, err := feed.ReadHistory(ctx, "bad.id", 10); err == nil {
		t.Fatal("history of a bad id read")
	}
}

// The node goes away: the feed says it is reconnecting; it comes back on the
// same address and data: the feed reconnects, loads the snapshot again and
// follows new fixes.
func TestFeedReconnects(t *testing.T) {
	dir := t.TempDir()
	// A client port below the ephemeral range: one from it could be taken
	// by an outgoing connection (the feed's own reconnects among them)
	// while the node is down, and the second node could not bind it.
	ports, err := cluster.FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	n := startNode(t, func(c *node.Config) { c.DataDir = dir; c.ClientAddr = addr })
	d := dialDriver(t, n.WebSocketURL(), "d-1")
	send(t, d, 1, 1, 1)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, n.ClientURL())
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if feed.Status().Snapshot.Done < 1 || fleet.Len() != 1 {
			return errors.New("no snapshot yet")
		}
		return nil
	})
	stopNode(t, n)
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := feed.Status(); s.State != Reconnecting {
			return fmt.Errorf("state %v", s.State)
		}
		return nil
	})
	if feed.Status().Server != "" {
		t.Fatal("a server name while disconnected")
	}
	// The same client port (the one the first node was given) and data.
	n2 := startNode(t, func(c *node.Config) { c.DataDir = dir; c.ClientAddr = addr; c.Name = "n1b" })
	d = dialDriver(t, n2.WebSocketURL(), "d-2")
	c := send(t, d, 2, 2, 2)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		s := feed.Status()
		if s.State != Connected || s.Server != "n1b" || s.Snapshot.Done < 2 {
			return fmt.Errorf("status %+v", s)
		}
		return hasFix(fleet, "d-2", c)
	})
	if fleet.Len() != 2 {
		t.Fatalf("%d drivers after reconnect", fleet.Len())
	}
}

// startAuthServer starts a plain NATS server that requires credentials.
func startAuthServer(t *testing.T, opts server.Options) string {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	s, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	return s.ClientURL()
}

func TestFeedCredentials(t *testing.T) {
	userURL := startAuthServer(t, server.Options{Username: "dispatch", Password: "s3cret"})
	tokenURL := startAuthServer(t, server.Options{Authorization: "tok"})
	for _, tc := range []struct {
		name string
		conn ConnConfig
		ok   bool
	}{
		{"user and password", ConnConfig{URLs: []string{userURL}, User: "dispatch", Password: "s3cret"}, true},
		{"wrong password", ConnConfig{URLs: []string{userURL}, User: "dispatch", Password: "nope"}, false},
		{"none", ConnConfig{URLs: []string{userURL}}, false},
		{"token", ConnConfig{URLs: []string{tokenURL}, Token: "tok"}, true},
		{"wrong token", ConnConfig{URLs: []string{tokenURL}, Token: "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.conn.ReconnectWait = 50 * time.Millisecond
			f, err := NewFeed(FeedConfig{ConnConfig: tc.conn, Fleet: newFleet(t), RetryWait: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				s := f.Status()
				if tc.ok && s.State != Connected {
					return fmt.Errorf("state %v err %v", s.State, s.Err)
				}
				if !tc.ok && (s.State == Connected || !errors.Is(s.Err, nats.ErrAuthorization)) {
					return fmt.Errorf("state %v err %v, want an authorization error", s.State, s.Err)
				}
				return nil
			})
			if tc.ok {
				// This server has no stream: the snapshot fails and says why.
				checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
					if s := f.Status().Snapshot; s.Err == nil || s.Done != 0 {
						return fmt.Errorf("snapshot %+v", s)
					}
					return nil
				})
			}
		})
	}
	for _, bad := range []ConnConfig{{User: "u", Token: "t"}, {Password: "p"}, {CredsFile: "c", User: "u"}} {
		if _, err := NewFeed(FeedConfig{ConnConfig: bad, Fleet: newFleet(t)}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewFeed(%+v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := NewFeed(FeedConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewFeed without a fleet = %v", err)
	}
}

// With no node answering, the feed starts anyway and says it is connecting.
func TestFeedStartsWithoutCluster(t *testing.T) {
	n := startNode(t)
	u := n.ClientURL()
	stopNode(t, n) // a loopback address where nothing listens any more
	f := startFeed(t, newFleet(t), u)
	if s := f.Status(); s.State == Connected {
		t.Fatalf("state %v", s.State)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if s := f.Status(); s.State != Closed {
		t.Fatalf("state after Close %v", s.State)
	}
}
