package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// leaderLast asks the stream leader (not the nearest replica) for the
// sequence of driver's newest fix, 0 if it has none. The request travels to
// the leader's server over the same route as this node's subscriptions, so
// when the answer arrives the leader also knows every subscription made
// before it.
func (n *Node) leaderLast(ctx context.Context, driver string) (uint64, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": LocationSubject(driver)})
	var last error
	for {
		// While the stream elects a leader nobody answers: ask again soon.
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		msg, err := n.nc.RequestWithContext(actx, "$JS.API.STREAM.MSG.GET."+StreamName, req)
		cancel()
		if err == nil {
			var resp struct {
				Message *struct {
					Seq uint64 `json:"seq"`
				} `json:"message"`
				Error *struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			switch err = json.Unmarshal(msg.Data, &resp); {
			case err != nil:
			case resp.Error != nil && resp.Error.Code == 404:
				return 0, nil
			case resp.Message != nil:
				return resp.Message.Seq, nil
			default:
				err = fmt.Errorf("stream leader answered %s", msg.Data)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: asking the stream leader: %v", errHistoryTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// storedFix is one fix read from the stream.
type storedFix struct {
	seq  uint64
	data []byte // the location object (mobileproto.AppendLocation)
}

var errHistoryTimeout = errors.New("node: history read timed out")

// fetchAfter returns up to limit fixes of driver with a sequence above after,
// oldest first, using a batched direct get served by the nearest replica.
func (n *Node) fetchAfter(ctx context.Context, driver string, after uint64, limit int) ([]storedFix, error) {
	req, _ := json.Marshal(map[string]any{"seq": after + 1, "next_by_subj": LocationSubject(driver), "batch": limit})
	return n.directGet(ctx, "$JS.API.DIRECT.GET."+StreamName, req, limit)
}

// fetchLast returns the newest fix of driver, if any.
func (n *Node) fetchLast(ctx context.Context, driver string) ([]storedFix, error) {
	return n.directGet(ctx, "$JS.API.DIRECT.GET."+StreamName+"."+LocationSubject(driver), nil, 1)
}

// fetchTail returns the newest k fixes of driver, oldest first.
func (n *Node) fetchTail(ctx context.Context, driver string, k int) ([]storedFix, error) {
	if k <= 1 {
		return n.fetchLast(ctx, driver)
	}
	// The stream keeps at most History fixes per driver, so reading them all
	// from the start and keeping the last k is bounded.
	all, err := n.fetchAfter(ctx, driver, 0, n.cfg.History)
	if err != nil {
		return nil, err
	}
	if len(all) > k {
		all = all[len(all)-k:]
	}
	return all, nil
}

// directGet sends a direct get request and collects its replies until the
// end-of-batch marker, a "not found", or max messages. While the stream
// elects a leader or a replica catches up a request may go unanswered or find
// no responders: each attempt waits half a second, and attempts are repeated
// until ctx ends (5 s when ctx has no deadline).
func (n *Node) directGet(ctx context.Context, subject string, req []byte, max int) ([]storedFix, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		out, err := n.directGetOnce(actx, subject, req, max)
		cancel()
		if err == nil || !errors.Is(err, errHistoryRetry) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", errHistoryTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errHistoryRetry marks a direct get attempt worth repeating.
var errHistoryRetry = errors.New("node: history read not answered")

func (n *Node) directGetOnce(ctx context.Context, subject string, req []byte, max int) ([]storedFix, error) {
	ch := make(chan *nats.Msg, max+1)
	reply, token := n.mux.register(func(m *nats.Msg) {
		select {
		case ch <- m:
		default: // more replies than asked for: impossible, drop
		}
	})
	defer n.mux.release(token)
	if err := n.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Data: req}); err != nil {
		return nil, err
	}
	batch := req != nil
	var out []storedFix
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", errHistoryRetry, ctx.Err())
		case m := <-ch:
			switch status := m.Header.Get("Status"); status {
			case "":
			case "204", "404": // end of batch, or nothing (more) to return
				return out, nil
			case "503":
				return nil, fmt.Errorf("%w: no responders for %s", errHistoryRetry, subject)
			default:
				return out, fmt.Errorf("history: direct get: %s %s", status, m.Header.Get("Description"))
			}
			seq, err := strconv.ParseUint(m.Header.Get(fixstream.SequenceHeader), 10, 64)
			if err != nil {
				return out, fmt.Errorf("history: bad %s header: %w", fixstream.SequenceHeader, err)
			}
			out = append(out, storedFix{seq: seq, data: m.Data})
			if !batch || len(out) >= max {
				// A batch's end marker may still come: once released it is dropped.
				return out, nil
			}
		}
	}
}
