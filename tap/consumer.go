package tap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/fixstream"
)

// requestTimeout bounds one JetStream API request: while the cluster elects
// a leader, requests go unanswered, and the tap asks again.
const requestTimeout = 5 * time.Second

// settleMargin is added to a wait for redeliveries, for the stream's timer.
const settleMargin = 250 * time.Millisecond

// open makes sure the durable consumer exists with the tap's configuration
// and settles it. It retries what is temporary until ctx ends (nil
// consumer, nil error) and returns terminal errors.
func (t *Tap) open(ctx context.Context, js jetstream.JetStream, retry *backoff) (jetstream.Consumer, uint64, error) {
	for {
		cons, next, err := t.openOnce(ctx, js)
		switch {
		case err == nil:
			return cons, next, nil
		case errors.Is(err, ErrStreamReset), errors.Is(err, ErrConsumerConfig):
			return nil, 0, err
		case ctx.Err() != nil:
			return nil, 0, nil
		case errors.Is(err, jetstream.ErrMaximumConsumersLimit):
			t.log.Error("the stream has as many consumers as it allows; retrying", "stream", fixstream.StreamName)
		case errors.Is(err, jetstream.ErrStreamNotFound):
			t.log.Warn("the stream does not exist yet; retrying", "stream", fixstream.StreamName)
		default:
			t.log.Warn("the stream or its consumer is not available; retrying", "err", err)
		}
		if !retry.wait(ctx) {
			return nil, 0, nil
		}
	}
}

func (t *Tap) openOnce(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, uint64, error) {
	actx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	st, err := js.Stream(actx, fixstream.StreamName)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", fixstream.StreamName, err)
	}
	info := st.CachedInfo()
	if err := t.checkEpoch(info); err != nil {
		return nil, 0, err
	}
	cons, err := st.CreateOrUpdateConsumer(actx, t.consumerConfig(info.Config))
	if err != nil {
		var apiErr *jetstream.APIError
		if !errors.Is(err, jetstream.ErrMaximumConsumersLimit) && errors.As(err, &apiErr) && apiErr.Code == 400 {
			return nil, 0, fmt.Errorf("%w: %s: %v (an operator can delete it: nats consumer rm %s %s)", ErrConsumerConfig, t.cfg.Consumer, err, fixstream.StreamName, t.cfg.Consumer)
		}
		return nil, 0, fmt.Errorf("consumer %s: %w", t.cfg.Consumer, err)
	}
	next, err := t.settle(ctx, cons)
	if err != nil {
		return nil, 0, fmt.Errorf("consumer %s: %w", t.cfg.Consumer, err)
	}
	return cons, next, nil
}

// checkEpoch refuses a stream whose cursors cannot follow the output's: one
// created again since the tap first saw it, or one that never reached the
// output's last cursor.
func (t *Tap) checkEpoch(info *jetstream.StreamInfo) error {
	switch {
	case t.created.IsZero():
		t.created = info.Created
		if t.last > info.State.LastSeq {
			return fmt.Errorf("%w: the output's last cursor %d is beyond the stream's last sequence %d (the stream was created again, or the output is from another cluster): write to a new output",
				ErrStreamReset, t.last, info.State.LastSeq)
		}
	case !info.Created.Equal(t.created):
		if t.last > 0 {
			return fmt.Errorf("%w: the stream was created again at %s (it was created at %s) and the output holds cursors of the old one: write to a new output",
				ErrStreamReset, info.Created.Format(time.RFC3339Nano), t.created.Format(time.RFC3339Nano))
		}
		t.created = info.Created
	}
	return nil
}

// consumerConfig is the durable consumer the tap reads: every fix from the
// first (when it is created; a durable consumer keeps its position),
// explicit acknowledgements, at most a batch unacknowledged, and removed
// by the stream when nobody has read it for as long as fixes are kept.
func (t *Tap) consumerConfig(s jetstream.StreamConfig) jetstream.ConsumerConfig {
	limit := s.ConsumerLimits.InactiveThreshold
	if limit == 0 {
		limit = s.MaxAge
	}
	idle := t.cfg.InactiveThreshold
	if limit > 0 && (idle == 0 || idle > limit) {
		idle = limit
	}
	return jetstream.ConsumerConfig{
		Durable:           t.cfg.Consumer,
		Description:       "rtls-tap: every stored fix, at least once",
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           t.cfg.AckWait,
		MaxDeliver:        -1,
		MaxAckPending:     t.cfg.Batch,
		ReplayPolicy:      jetstream.ReplayInstantPolicy,
		InactiveThreshold: idle,
	}
}

// settle prepares a consumer the tap is about to read, and returns the
// consumer sequence its next delivery will have.
//
// The output is deduplicated by cursor (anything at or below the last one
// written is skipped), which holds only if fixes are written in stream
// order. A durable consumer delivers in order, except what it delivers
// again: a fix delivered but never written (the tap crashed, or the
// delivery was lost) comes back only when its AckWait has passed, after
// newer fixes if the tap read on. So settle first waits for pull requests
// of an earlier run to expire (what they get is delivered where nobody
// writes it), and then, if anything beyond the output's last cursor was
// delivered and is not acknowledged, until all of it is due again: the
// stream then delivers it first, in order.
func (t *Tap) settle(ctx context.Context, cons jetstream.Consumer) (uint64, error) {
	start := time.Now()
	for {
		actx, cancel := context.WithTimeout(ctx, requestTimeout)
		info, err := cons.Info(actx)
		cancel()
		if err != nil {
			return 0, err
		}
		if info.NumWaiting > 0 {
			if time.Since(start) < 2*info.Config.AckWait {
				if !sleep(ctx, 100*time.Millisecond) {
					return 0, ctx.Err()
				}
				continue
			}
			t.log.Warn("another client keeps reading the consumer: run one tap per consumer, or the output may lose fixes", "consumer", t.cfg.Consumer, "pull_requests", info.NumWaiting)
		}
		next := info.Delivered.Consumer + 1
		if info.NumAckPending == 0 || info.Delivered.Stream <= t.last || info.Delivered.Last == nil {
			return next, nil
		}
		wait := info.Config.AckWait - info.TimeStamp.Sub(*info.Delivered.Last) + settleMargin
		if wait <= 0 {
			return next, nil
		}
		t.log.Info("fixes were delivered but not acknowledged (a crash?): waiting until they are delivered again, to keep the output in stream order",
			"unacknowledged", info.NumAckPending, "wait", wait.Round(time.Millisecond))
		if !sleep(ctx, wait) {
			return 0, ctx.Err()
		}
	}
}
