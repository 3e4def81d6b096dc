package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// ensureStream creates the stream or updates it to this node's configuration.
// JetStream answers nothing until a meta leader exists, so every call has a
// short timeout and the whole is retried until ctx ends.
func (n *Node) ensureStream(ctx context.Context) error {
	cfg := n.streamConfig()
	var last error
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := n.js.CreateOrUpdateStream(actx, cfg)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			continue // another node created it between our update and create
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 400 {
			return fmt.Errorf("configure stream %s: %w", StreamName, err)
		}
		n.log.Debug("stream not ready yet", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("configure stream %s: %w (last error: %v)", StreamName, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
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
// end-of-batch marker, a "not found", or max messages.
func (n *Node) directGet(ctx context.Context, subject string, req []byte, max int) ([]storedFix, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
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
			return out, fmt.Errorf("%w: %v", errHistoryTimeout, ctx.Err())
		case m := <-ch:
			switch status := m.Header.Get("Status"); status {
			case "":
			case "204", "404": // end of batch, or nothing (more) to return
				return out, nil
			case "503":
				return out, fmt.Errorf("history: stream %s unavailable", StreamName)
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
