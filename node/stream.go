package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/fixstream"
)

// The stream and its subjects (see internal/fixstream).
const (
	// StreamName is the JetStream stream that keeps every driver's recent fixes.
	StreamName = fixstream.StreamName
	// LocationSubjectPrefix + driver is where fixes are published and stored.
	LocationSubjectPrefix = fixstream.LocationPrefix
	// LiveSubjectPrefix + driver is where the stream leader republishes each
	// stored fix, with Nats-Sequence and Nats-Last-Sequence headers.
	LiveSubjectPrefix = fixstream.LivePrefix
)

// LocationSubject is the subject a driver's fixes are stored on.
func LocationSubject(driver string) string { return fixstream.LocationSubject(driver) }

// LiveSubject is the subject a driver's stored fixes are republished on.
func LiveSubject(driver string) string { return fixstream.LiveSubject(driver) }

func (n *Node) streamConfig() jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if n.cfg.Storage == MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "rtls: the last fixes of every driver",
		Subjects:          []string{LocationSubjectPrefix + "*"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		Storage:           storage,
		Replicas:          n.cfg.Replicas,
		MaxMsgsPerSubject: int64(n.cfg.History),
		MaxAge:            n.cfg.MaxAge,
		Duplicates:        n.cfg.DuplicateWindow,
		AllowDirect:       true,
		// Back-ends create consumers (the dashboard's ordered consumer for
		// its snapshot, an analytics tap's durable one): there are at most
		// maxConsumers, and one idle for as long as fixes are kept is
		// removed, since everything it could read has expired.
		MaxConsumers:   maxConsumers,
		ConsumerLimits: jetstream.StreamConsumerLimits{InactiveThreshold: n.cfg.MaxAge},
		RePublish: &jetstream.RePublish{
			Source:      LocationSubjectPrefix + "*",
			Destination: LiveSubjectPrefix + "{{wildcard(1)}}",
		},
	}
}

// presenceConfig is the stream that keeps every driver's newest status.
func (n *Node) presenceConfig() jetstream.StreamConfig {
	loc := n.streamConfig()
	return jetstream.StreamConfig{
		Name:              fixstream.PresenceStream,
		Description:       "rtls: the newest status of every driver",
		Subjects:          []string{fixstream.StatusPrefix + "*"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		Storage:           loc.Storage,
		Replicas:          loc.Replicas,
		MaxMsgsPerSubject: 1,
		MaxAge:            loc.MaxAge,
		AllowDirect:       true,
		MaxConsumers:      maxConsumers,
		ConsumerLimits:    loc.ConsumerLimits,
	}
}

// maxConsumers bounds the consumers of the stream.
const maxConsumers = 1000

// errCodeNoSuitablePeers is JetStream's "no suitable peers for placement".
const errCodeNoSuitablePeers jetstream.ErrorCode = 10005

// ensureStream creates the stream or updates it to this node's configuration.
// JetStream answers nothing until a meta leader exists, so it first waits for
// one, and every call has a short timeout and is retried until ctx ends.
func (n *Node) ensureStream(ctx context.Context) error {
	for _, cfg := range []jetstream.StreamConfig{n.streamConfig(), n.presenceConfig()} {
		if err := n.ensureOne(ctx, cfg); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) ensureOne(ctx context.Context, cfg jetstream.StreamConfig) error {
	var last error
	for attempt := 0; ; attempt++ {
		if n.srv.JetStreamIsCurrent() {
			last = n.createOrUpdateStream(ctx, cfg)
			if last == nil {
				return nil
			}
			// A bad request is final, except "no suitable peers": at startup
			// the meta leader may not have seen every peer yet.
			var apiErr *jetstream.APIError
			if errors.As(last, &apiErr) && apiErr.Code == 400 && apiErr.ErrorCode != errCodeNoSuitablePeers {
				return fmt.Errorf("configure stream %s: %w", cfg.Name, last)
			}
			n.log.Debug("stream not ready yet", "attempt", attempt, "err", last)
		} else {
			last = errors.New("no JetStream meta leader yet")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("configure stream %s: %w (last error: %v)", cfg.Name, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createOrUpdateStream leaves a stream that already has this configuration
// alone, so that nodes starting together do not update it in turn.
func (n *Node) createOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if s, err := n.js.Stream(ctx, cfg.Name); err == nil {
		if info, err := s.Info(ctx); err == nil && sameStreamConfig(info.Config, cfg) {
			return nil
		}
	}
	_, err := n.js.CreateOrUpdateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		_, err = n.js.UpdateStream(ctx, cfg) // another node created it meanwhile
	}
	return err
}

func sameRePublish(a, b *jetstream.RePublish) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func sameStreamConfig(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Storage == want.Storage && have.Replicas == want.Replicas &&
		have.MaxMsgsPerSubject == want.MaxMsgsPerSubject && have.MaxAge == want.MaxAge && have.Duplicates == want.Duplicates &&
		have.AllowDirect == want.AllowDirect && sameRePublish(have.RePublish, want.RePublish) &&
		have.Discard == want.Discard && have.Retention == want.Retention &&
		have.MaxConsumers == want.MaxConsumers && have.ConsumerLimits == want.ConsumerLimits
}

// guardEvery is how often the stream guard looks at the stream when no
// JetStream advisory wakes it sooner.
const guardEvery = 2 * time.Second

// recreateAfter is how long the guard waits before it creates a deleted
// stream again.
const recreateAfter = 500 * time.Millisecond

// guardStream keeps the stream as the node configures it. It looks at the
// stream every guardEvery and at once after any JetStream advisory about
// it: a missing stream (deleted by an operator, or a wiped cluster) is
// created again, a configuration that drifted (say, RePublish removed, which
// silences every rider) is restored, both are logged loudly, and /readyz
// says "not ready" with the reason until the stream is right. Its view of
// the stream's last sequence also tells the hub which live fixes are
// plausible. It runs until the node stops.
func (n *Node) guardStream() {
	wake := make(chan struct{}, 1)
	sub, err := n.nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.*."+StreamName, func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		n.log.Error("stream guard: cannot watch JetStream advisories; checking on a timer only", "err", err)
	} else {
		defer sub.Unsubscribe()
	}
	t := time.NewTicker(guardEvery)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-n.base.Done():
			return
		case <-t.C:
		case <-wake:
		}
		failures = n.checkStream(failures)
	}
}

// checkStream looks at the stream once and repairs what it can; failures
// counts checks in a row that got no answer (a leader election lasts
// seconds; longer is a problem worth reporting).
func (n *Node) checkStream(failures int) int {
	ctx, cancel := context.WithTimeout(n.base, 2*time.Second)
	defer cancel()
	// The presence stream only needs to exist: statuses are announced again
	// by their nodes.
	if _, err := n.js.Stream(ctx, fixstream.PresenceStream); errors.Is(err, jetstream.ErrStreamNotFound) {
		n.log.Error("PRESENCE STREAM MISSING (deleted?); creating it again", "stream", fixstream.PresenceStream)
		if err := n.createOrUpdateStream(ctx, n.presenceConfig()); err != nil {
			n.log.Error("could not create the presence stream again", "err", err)
		}
	}
	want := n.streamConfig()
	s, err := n.js.Stream(ctx, StreamName)
	if err == nil {
		var info *jetstream.StreamInfo
		if info, err = s.Info(ctx); err == nil {
			n.streamInfo.Store(&streamSnapshot{info: info, at: time.Now()})
			n.hub.observe(info.State.LastSeq)
			n.setEpoch(fixstream.StreamState{FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq, Created: info.Created})
			if sameStreamConfig(info.Config, want) {
				n.setStreamProblem("")
				return 0
			}
			n.setStreamProblem("stream " + StreamName + " was reconfigured")
			n.log.Error("STREAM RECONFIGURED by someone else; restoring this node's configuration", "stream", StreamName, "republish", info.Config.RePublish)
			if err := n.createOrUpdateStream(ctx, want); err != nil {
				n.log.Error("could not restore the stream's configuration", "err", err)
				return 0
			}
			n.log.Warn("stream configuration restored", "stream", StreamName)
			n.setStreamProblem("")
			return 0
		}
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		n.setStreamProblem("stream " + StreamName + " is missing")
		n.log.Error("STREAM MISSING (deleted?); creating it again", "stream", StreamName)
		// The deletion's advisory can come while the server still tears
		// the old stream down; a stream created at once then sometimes
		// captured nothing (its publishes went unanswered until the node
		// stopped). A moment's patience avoids it.
		select {
		case <-time.After(recreateAfter):
		case <-ctx.Done():
			return failures
		}
		if err := n.createOrUpdateStream(ctx, want); err != nil {
			n.log.Error("could not create the stream again", "err", err)
			return 0
		}
		n.log.Warn("stream created again; fixes stored before are gone", "stream", StreamName)
		n.setStreamProblem("")
		return 0
	}
	if failures++; failures >= 5 {
		n.setStreamProblem("stream " + StreamName + " does not answer: " + err.Error())
		if failures == 5 {
			n.log.Error("the stream does not answer", "stream", StreamName, "for", time.Duration(failures)*guardEvery, "err", err)
		}
	}
	return failures
}

func (n *Node) setStreamProblem(p string) {
	n.streamMu.Lock()
	n.streamProblem = p
	n.streamMu.Unlock()
}

// StreamProblem says what is wrong with the stream as the node last saw it,
// or "" when nothing is.
func (n *Node) StreamProblem() string {
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	return n.streamProblem
}
