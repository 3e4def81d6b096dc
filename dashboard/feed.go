package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// FeedConfig configures a Feed. A zero field means the default in its
// comment.
type FeedConfig struct {
	ConnConfig
	// Fleet receives every fix. Required.
	Fleet *model.Fleet
	// Logger gets the feed's warnings. Zero value means no logging.
	Logger *slog.Logger
	// RequestTimeout bounds each snapshot. Zero value means 30 seconds.
	RequestTimeout time.Duration
	// APITimeout bounds each JetStream API call (stream info, consumer
	// creation), the wait for each message of a snapshot, and each trail
	// read. While a cluster elects a leader such calls get no answer at
	// all, so they are retried after RetryWait rather than waited for.
	// Zero value means 2 seconds.
	APITimeout time.Duration
	// RetryWait is the pause before a failed snapshot is tried again (for
	// example while the stream does not exist yet). Zero value means 2 s.
	RetryWait time.Duration
	// TrailDepth is the most fixes read for the selected driver's trail.
	// Zero value means 100.
	TrailDepth int
	// WatcherID is how this dashboard names itself when it watches a
	// driver (rtls.watch.<driver>): unique per dashboard instance, a valid
	// id (location.ValidID). Zero value means "dash-" and 12 random hex
	// digits.
	WatcherID string
	// WatchEvery is how often the watch of the selected driver is said
	// again: the nodes forget a watch not repeated within 60 s. Zero value
	// means 20 seconds.
	WatchEvery time.Duration
}

// Feed keeps a model.Fleet up to date from the cluster: it subscribes to
// every driver's live fixes, liveness announcements and every node's
// heartbeat, then loads the newest announcement and the newest stored fix
// of every driver (again after each reconnect, since core NATS loses what
// is published while disconnected), reads the selected driver's recent
// fixes on request, and watches the selected driver (Watch) so that its
// app sends fast. Its methods are safe for concurrent use.
//
// Nothing in a NATS callback waits: the handlers decode one message and
// update the fleet under a short lock; connection events only set state
// and wake the feed's own goroutines.
type Feed struct {
	cfg    FeedConfig
	log    *slog.Logger
	fleet  *model.Fleet
	nc     *nats.Conn
	js     jetstream.JetStream
	reader *fixstream.Reader
	live   *nats.Subscription
	status *nats.Subscription // rtls.status.*
	beats  *nats.Subscription // rtls.node.*

	resnap  chan struct{}   // a snapshot is due (cap 1)
	trailq  chan string     // the latest trail request (cap 1)
	watchq  chan string     // the latest driver to watch, "" for none (cap 1)
	rewatch chan struct{}   // say the watch again: reconnected (cap 1)
	base    context.Context // ends when the feed closes
	stop    context.CancelFunc
	wg      sync.WaitGroup

	closeOnce sync.Once

	mu     sync.Mutex
	state  ConnState
	lastEr error
	snap   SnapshotInfo
	stream time.Time // creation time of the stream the fleet's cursors belong to

	liveMsgs atomic.Uint64
}

// SnapshotInfo describes the last load of every driver's newest fix.
type SnapshotInfo struct {
	// Loading is true while a snapshot runs.
	Loading bool
	// Done counts completed snapshots (1 after the first, more after reconnects).
	Done int
	// Fixes is how many fixes the last snapshot read, Statuses how many
	// liveness announcements, and Took how long.
	Fixes, Statuses int
	Took            time.Duration
	// NoPresence: the cluster has no PRESENCE stream (its nodes predate the
	// liveness model), so every state is judged from the age of fixes.
	NoPresence bool
	// Err is why the last snapshot failed, if it did.
	Err error
}

// Status is the feed's connection and loading state, for the header.
type Status struct {
	State ConnState
	// Server is the name of the node the client is connected to, and URL
	// its address (with any credentials redacted).
	Server, URL string
	// Err is the last connection error, if any.
	Err error
	// Snapshot is the last snapshot's outcome.
	Snapshot SnapshotInfo
	// LiveMessages counts messages received on the live subjects.
	LiveMessages uint64
	// Dropped counts live messages (fixes, announcements, heartbeats) the
	// client dropped because the dashboard fell behind (slow consumer).
	Dropped int
}

// NewFeed connects to the cluster and starts following it. It returns with
// the client connecting in the background when no node answers yet (Status
// says so); it returns an error for an invalid config or credentials file,
// or when the servers closed the connection before the feed was set up
// (wrapping the reason, such as nats.ErrAuthorization).
func NewFeed(cfg FeedConfig) (*Feed, error) {
	if cfg.Fleet == nil {
		return nil, fmt.Errorf("%w: no Fleet", ErrInvalidConfig)
	}
	if err := cfg.ConnConfig.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.APITimeout == 0 {
		cfg.APITimeout = 2 * time.Second
	}
	if cfg.RetryWait == 0 {
		cfg.RetryWait = 2 * time.Second
	}
	if cfg.TrailDepth == 0 {
		cfg.TrailDepth = 100
	}
	if cfg.WatchEvery == 0 {
		cfg.WatchEvery = 20 * time.Second
	}
	if cfg.WatcherID == "" {
		var b [6]byte
		rand.Read(b[:])
		cfg.WatcherID = "dash-" + hex.EncodeToString(b[:])
	}
	if cfg.RequestTimeout < 0 || cfg.APITimeout < 0 || cfg.RetryWait < 0 || cfg.TrailDepth < 0 || cfg.WatchEvery <= 0 {
		return nil, fmt.Errorf("%w: negative duration or depth", ErrInvalidConfig)
	}
	if !location.ValidID(cfg.WatcherID) {
		return nil, fmt.Errorf("%w: watcher id %q", ErrInvalidConfig, cfg.WatcherID)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f := &Feed{
		cfg:     cfg,
		log:     log,
		fleet:   cfg.Fleet,
		resnap:  make(chan struct{}, 1),
		trailq:  make(chan string, 1),
		watchq:  make(chan string, 1),
		rewatch: make(chan struct{}, 1),
	}
	base, err := cfg.natsOptions()
	if err != nil {
		return nil, err
	}
	f.base, f.stop = context.WithCancel(context.Background())
	opts := append(base,
		nats.ConnectHandler(func(nc *nats.Conn) { f.setState(Connected, nil); f.wakeSnapshot() }),
		nats.ReconnectHandler(func(nc *nats.Conn) { f.setState(Connected, nil); f.wakeSnapshot() }),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) { f.setState(Reconnecting, err) }),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) { f.setState(Reconnecting, err) }),
		nats.ClosedHandler(func(nc *nats.Conn) { f.setState(Closed, nc.LastError()) }),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				f.log.Warn("dashboard is falling behind the live fixes", "err", err)
				return
			}
			f.mu.Lock()
			f.lastEr = err
			f.mu.Unlock()
			f.log.Warn("nats", "err", err)
		}),
	)
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("dashboard: connect to %v: %w", cfg.URLs, err)
	}
	f.nc = nc
	if nc.IsConnected() {
		f.setState(Connected, nil)
	}
	// fail undoes the setup. The servers may have closed the connection
	// meanwhile (refused credentials): the error then says why.
	fail := func(what string, err error) (*Feed, error) {
		if last := nc.LastError(); nc.IsClosed() && last != nil {
			err = fmt.Errorf("%w: %w", err, last)
		}
		f.stop()
		if f.reader != nil {
			f.reader.Close()
		}
		nc.Close()
		return nil, fmt.Errorf("dashboard: %s: %w", what, err)
	}
	if f.js, err = jetstream.New(nc); err != nil {
		return fail("jetstream", err)
	}
	f.reader, err = fixstream.NewReader(nc, fixstream.OnReject(func(_ string, err error) { f.fleet.Reject(err) }))
	if err != nil {
		return fail("stream reader", err)
	}
	// Live first, snapshot second: a fix or an announcement made between
	// the two arrives live, and the fleet keeps the newest (by cursor, or
	// by presence.Announcement.Newer) whichever path delivers it first.
	for _, s := range []struct {
		sub     **nats.Subscription
		subject string
		handler nats.MsgHandler
	}{
		{&f.live, fixstream.LivePrefix + "*", f.onLive},
		{&f.status, fixstream.StatusPrefix + "*", f.onStatus},
		{&f.beats, fixstream.NodePrefix + "*", f.onHeartbeat},
	} {
		sub, err := nc.Subscribe(s.subject, s.handler)
		if err == nil {
			// About 2 minutes of 10,000 drivers at 1 fix/s may wait for the handler.
			err = sub.SetPendingLimits(1<<20, 256<<20)
		}
		if err != nil {
			return fail("subscribe "+s.subject, err)
		}
		*s.sub = sub
	}
	f.wakeSnapshot()
	f.wg.Add(3)
	go f.snapshotLoop()
	go f.trailLoop()
	go f.watchLoop()
	return f, nil
}

// onLive runs on the subscription's delivery goroutine: decode, keep the
// newest, count what is malformed. It never blocks.
func (f *Feed) onLive(m *nats.Msg) {
	f.liveMsgs.Add(1)
	cursor, _ := strconv.ParseUint(m.Header.Get(fixstream.SequenceHeader), 10, 64)
	f.fleet.IngestMessage(m.Subject, m.Data, cursor) // errors are counted by the fleet
}

// onStatus and onHeartbeat run on their subscriptions' delivery
// goroutines: decode, keep, count what is invalid. They never block.
func (f *Feed) onStatus(m *nats.Msg) {
	f.fleet.IngestStatus(m.Subject, m.Data) // errors are counted by the fleet
}

func (f *Feed) onHeartbeat(m *nats.Msg) {
	f.fleet.IngestHeartbeat(m.Subject, m.Data) // errors are counted by the fleet
}

// setState records the connection's state. The fleet judges nodes' silence
// only while the feed is connected (it hears no heartbeat otherwise), and
// after a reconnect the selected driver's watch is said again.
func (f *Feed) setState(s ConnState, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == Closed {
		return
	}
	f.state = s
	if err != nil {
		f.lastEr = err
	} else if s == Connected {
		f.lastEr = nil
	}
	f.fleet.Listening(s == Connected)
	if s == Connected {
		select {
		case f.rewatch <- struct{}{}:
		default:
		}
	}
}

func (f *Feed) wakeSnapshot() {
	select {
	case f.resnap <- struct{}{}:
	default:
	}
}

// Status returns the connection and loading state.
func (f *Feed) Status() Status {
	f.mu.Lock()
	st := Status{State: f.state, Err: f.lastEr, Snapshot: f.snap}
	f.mu.Unlock()
	if st.State == Connected {
		st.Server = f.nc.ConnectedServerName()
		st.URL = f.nc.ConnectedUrlRedacted()
	}
	st.LiveMessages = f.liveMsgs.Load()
	for _, sub := range []*nats.Subscription{f.live, f.status, f.beats} {
		if d, err := sub.Dropped(); err == nil {
			st.Dropped += d
		}
	}
	return st
}

// Snapshot asks for a new load of every driver's newest fix (the feed does
// this by itself after every reconnect).
func (f *Feed) Snapshot() { f.wakeSnapshot() }

// LoadTrail asks for driver's recent fixes to be read into the fleet's
// trail; a newer request replaces one not yet started.
func (f *Feed) LoadTrail(driver string) {
	for {
		select {
		case f.trailq <- driver:
			return
		default:
		}
		select { // replace the waiting request
		case <-f.trailq:
		default:
		}
	}
}

// Close stops the feed's goroutines (the watch of the selected driver is
// withdrawn first) and closes the connection. It is idempotent.
func (f *Feed) Close() error {
	f.closeOnce.Do(func() {
		f.stop()
		f.wg.Wait()
		f.reader.Close()
		f.nc.Close()
		f.setState(Closed, nil)
	})
	return nil
}

// ctx returns a context that ends after RequestTimeout or when the feed closes.
func (f *Feed) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.base, f.cfg.RequestTimeout)
}
