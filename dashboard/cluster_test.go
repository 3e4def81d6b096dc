package dashboard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// The feed follows a three-node cluster, fails over when its node goes,
// loads the snapshot again and keeps following.
func TestFeedFailsOverInACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node cluster and a leader election")
	}
	c := clustertest.New(t, 3)
	c1 := send(t, dialDriver(t, c.Node(0).WebSocketURL(), "d-1"), 1, 1, 1)
	fleet := newFleet(t)
	feed := startFeed(t, fleet, c.ClientURLs()...)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if s := feed.Status(); s.State != Connected || s.Snapshot.Done < 1 {
			return fmt.Errorf("status %+v", s)
		}
		return hasFix(fleet, "d-1", c1)
	})
	first := feed.Status().Server
	var survivor *node.Node
	for i := 0; i < c.Size(); i++ {
		if c.Node(i).Name() == first {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := c.Stop(ctx, i); err != nil {
				t.Fatal(err)
			}
			cancel()
		} else {
			survivor = c.Node(i)
		}
	}
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		s := feed.Status()
		if s.State != Connected || s.Server == first || s.Server == "" || s.Snapshot.Done < 2 {
			return fmt.Errorf("status %+v (was on %s)", s, first)
		}
		return nil
	})
	c2 := send(t, dialDriver(t, survivor.WebSocketURL(), "d-2"), 2, 2, 2)
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error { return hasFix(fleet, "d-2", c2) })
	if err := hasFix(fleet, "d-1", c1); err != nil {
		t.Fatal(err)
	}
}

// TestFeedWithReadOnlyCredentials: against a production cluster of rtlsd
// processes (tokens, authenticated bus), the dashboard signs in with the
// dispatcher's nkey and gets the snapshot, live fixes and trails; without
// credentials it is refused.
func TestFeedWithReadOnlyCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-process cluster")
	}
	s := testnode.NewSecrets(t)
	ps := clustertest.NewSecureProcesses(t, 3, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := mobileproto.Dial(ctx, ps.WebSocketURL(0), mobileproto.WithToken(s.Token("d-1", mobileproto.RoleDriver, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c1 := send(t, d, 1, 1, 1)

	fleet := newFleet(t)
	f, err := NewFeed(FeedConfig{ConnConfig: ConnConfig{URLs: ps.ClientURLs(), NKeySeedFile: s.SeedFile(testnode.Dispatcher), ReconnectWait: 50 * time.Millisecond},
		Fleet: fleet, RetryWait: 100 * time.Millisecond, Logger: testnode.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if st := f.Status(); st.State != Connected || st.Snapshot.Done < 1 {
			return fmt.Errorf("status %+v", st)
		}
		return hasFix(fleet, "d-1", c1)
	})
	c2 := send(t, d, 2, 2, 2)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error { return hasFix(fleet, "d-1", c2) })
	trail, err := f.ReadHistory(ctx, "d-1", 10)
	if err != nil || len(trail) != 2 {
		t.Fatalf("trail: %d fixes, %v", len(trail), err)
	}

	// Without credentials, nothing: refused while the feed is set up, or
	// right after.
	other := newFleet(t)
	anon, err := NewFeed(FeedConfig{ConnConfig: ConnConfig{URLs: ps.ClientURLs(), ReconnectWait: 50 * time.Millisecond}, Fleet: other})
	switch {
	case err != nil && !errors.Is(err, nats.ErrAuthorization):
		t.Fatal(err)
	case err == nil:
		defer anon.Close()
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if st := anon.Status(); st.Err == nil || !strings.Contains(strings.ToLower(st.Err.Error()), "authorization") {
				return fmt.Errorf("anonymous feed: %+v", st)
			}
			return nil
		})
	}
	if other.Len() != 0 {
		t.Fatalf("an anonymous dashboard got %d drivers", other.Len())
	}
}
