package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
		RePublish: &jetstream.RePublish{
			Source:      LocationSubjectPrefix + "*",
			Destination: LiveSubjectPrefix + "{{wildcard(1)}}",
		},
	}
}

// errCodeNoSuitablePeers is JetStream's "no suitable peers for placement".
const errCodeNoSuitablePeers jetstream.ErrorCode = 10005

// ensureStream creates the stream or updates it to this node's configuration.
// JetStream answers nothing until a meta leader exists, so it first waits for
// one, and every call has a short timeout and is retried until ctx ends.
func (n *Node) ensureStream(ctx context.Context) error {
	cfg := n.streamConfig()
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
				return fmt.Errorf("configure stream %s: %w", StreamName, last)
			}
			n.log.Debug("stream not ready yet", "attempt", attempt, "err", last)
		} else {
			last = errors.New("no JetStream meta leader yet")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("configure stream %s: %w (last error: %v)", StreamName, ctx.Err(), last)
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

func sameStreamConfig(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Storage == want.Storage && have.Replicas == want.Replicas &&
		have.MaxMsgsPerSubject == want.MaxMsgsPerSubject && have.MaxAge == want.MaxAge && have.Duplicates == want.Duplicates &&
		have.AllowDirect == want.AllowDirect && have.RePublish != nil && *have.RePublish == *want.RePublish &&
		have.Discard == want.Discard && have.Retention == want.Retention
}
