package tap

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// Tap copies every fix stored in the LOCATIONS stream to an output, through
// its durable consumer. Make one with New and call Run once.
type Tap struct {
	cfg  Config
	log  *slog.Logger
	w    *bufio.Writer
	sync func() error // Output's Sync, if it has one

	started                      atomic.Bool
	written, duplicates, invalid atomic.Uint64
	lastCursor                   atomic.Uint64

	// Run's own state.
	last    uint64    // cursor of the last fix written
	created time.Time // when the stream the tap reads was created
	line    []byte
}

// Stats counts what a Tap did.
type Stats struct {
	// Written counts the fixes written to the output (and acknowledged).
	Written uint64
	// Duplicates counts fixes delivered again that the output already
	// held (at or below its last cursor): skipped and acknowledged.
	Duplicates uint64
	// Invalid counts messages in the stream that were not valid stored
	// records of their subject's driver: logged, terminated (never
	// delivered again) and not written.
	Invalid uint64
	// Last is the cursor of the last fix in the output.
	Last uint64
}

// New checks cfg, fills in its defaults and returns a Tap. Its errors wrap
// ErrInvalidConfig.
func New(cfg Config) (*Tap, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	t := &Tap{cfg: cfg, log: cfg.Logger, w: bufio.NewWriterSize(cfg.Output, 64<<10), last: cfg.After}
	if s, ok := cfg.Output.(interface{ Sync() error }); ok {
		t.sync = s.Sync
	}
	t.lastCursor.Store(cfg.After)
	return t, nil
}

// Stats returns what the tap did so far. It is safe to call at any time.
func (t *Tap) Stats() Stats {
	return Stats{Written: t.written.Load(), Duplicates: t.duplicates.Load(), Invalid: t.invalid.Load(), Last: t.lastCursor.Load()}
}

// Run connects to the cluster and copies fixes to the output until ctx
// ends: it then finishes the batch it is reading (within about BatchWait),
// writes and acknowledges it, closes its connection and returns nil. It
// waits out what is only temporary: no node reachable, the stream missing,
// a leader election, the consumer deleted (it is created again). It
// returns early with an error wrapping ErrPermission, ErrClosed,
// ErrConsumerConfig, ErrStreamReset or ErrOutput. Run may be called once.
func (t *Tap) Run(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	opts, err := t.natsOptions(fail)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(strings.Join(t.cfg.URLs, ","), opts...)
	if err != nil {
		return fmt.Errorf("tap: connect: %w", err)
	}
	defer func() {
		fail(nil) // before Close, whose handler would report ErrClosed
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	if h := t.cfg.Format.Header(); t.cfg.Header && h != nil {
		t.w.Write(h)
		if err := t.flush(); err != nil {
			return err
		}
	}
	t.log.Info("tap starting", "consumer", t.cfg.Consumer, "format", t.cfg.Format, "after", t.last)
	if err := t.consume(ctx, js); err != nil {
		return err
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrPermission) || errors.Is(cause, ErrClosed) {
		return cause
	}
	return nil
}

// delivery is a fetched message and its stream sequence (cursor).
type delivery struct {
	msg    jetstream.Msg
	cursor uint64
}

// consume reads batches until ctx ends or a terminal error. A batch is
// fetched, written, flushed and synced, and only then acknowledged, so a
// crash at any point loses nothing: what was not acknowledged is
// delivered again, and what of it the output already holds is skipped by
// its cursor.
func (t *Tap) consume(ctx context.Context, js jetstream.JetStream) error {
	retry := backoff{max: t.cfg.MaxRetryWait}
	var cons jetstream.Consumer
	var next uint64 // the consumer sequence the next delivery must have
	for ctx.Err() == nil {
		if cons == nil {
			var err error
			if cons, next, err = t.open(ctx, js, &retry); cons == nil {
				return err
			}
		}
		// No ctx here: a fetch ends by itself within BatchWait, and what
		// it got is written and acknowledged before Run returns.
		batch, err := cons.Fetch(t.cfg.Batch, jetstream.FetchMaxWait(t.cfg.BatchWait))
		if err != nil {
			t.log.Warn("cannot fetch from the consumer; retrying", "err", err)
			retry.wait(ctx)
			continue
		}
		msgs, gap := t.collect(batch, &next)
		if err := t.write(ctx, msgs); err != nil {
			return err
		}
		switch err := batch.Error(); {
		case gap:
			// A delivery never reached the tap (a leader change, a
			// reconnect, another client reading the consumer): it is
			// pending on the stream and must be written before anything
			// after it, so settle again.
			t.log.Info("a delivery did not reach the tap; waiting for the stream to deliver it again")
			cons = nil
		case err != nil:
			// Consumer deleted, leader changed, no responders while the
			// stream elects one: open the consumer again.
			t.log.Warn("reading the consumer failed; opening it again", "err", err)
			cons = nil
			retry.wait(ctx)
		default:
			retry.reset()
		}
	}
	return nil
}

// collect drains a fetched batch and returns its deliveries in cursor
// order. Deliveries are numbered by the consumer (consumer sequence), and
// collect keeps only those that follow on from the last one seen: after
// a missing one it keeps nothing, reports the gap, and leaves the rest
// unacknowledged, to be delivered again after the missing one.
func (t *Tap) collect(batch jetstream.MessageBatch, next *uint64) (msgs []delivery, gap bool) {
	for m := range batch.Messages() {
		if gap {
			continue
		}
		meta, err := m.Metadata()
		if err != nil || meta.Sequence.Consumer != *next {
			gap = true
			continue
		}
		*next++
		msgs = append(msgs, delivery{msg: m, cursor: meta.Sequence.Stream})
	}
	// Redeliveries come first and in order; sorting is cheap insurance.
	slices.SortStableFunc(msgs, func(a, b delivery) int { return cmp.Compare(a.cursor, b.cursor) })
	return msgs, gap
}

// write writes a batch's new fixes, flushes and syncs the output, and
// then acknowledges the whole batch. Invalid records are terminated at
// once; duplicates are acknowledged with the batch.
func (t *Tap) write(ctx context.Context, msgs []delivery) error {
	var written, dups uint64
	acks := msgs[:0:0]
	for _, d := range msgs {
		if d.cursor <= t.last {
			dups++
			acks = append(acks, d)
			continue
		}
		rec, err := record(d.msg)
		if err != nil {
			t.reject(d, err)
			continue
		}
		t.line = t.cfg.Format.AppendLine(t.line[:0], d.cursor, &rec)
		if _, err := t.w.Write(t.line); err != nil {
			return fmt.Errorf("%w: %w", ErrOutput, err)
		}
		t.last = d.cursor
		written++
		acks = append(acks, d)
	}
	if written > 0 {
		if err := t.flush(); err != nil {
			return err
		}
		t.lastCursor.Store(t.last)
	}
	t.written.Add(written)
	t.duplicates.Add(dups)
	t.ack(ctx, acks)
	return nil
}

// flush writes the buffer to the output and syncs it.
func (t *Tap) flush() error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrOutput, err)
	}
	if t.sync != nil {
		if err := t.sync(); err != nil {
			return fmt.Errorf("%w: sync: %w", ErrOutput, err)
		}
	}
	return nil
}

// ack acknowledges written deliveries: the last one with a confirmed
// acknowledgement, so that the stream has them all before the next fetch
// (the acknowledgements travel in order on one connection). A lost
// acknowledgement costs a duplicate delivery, which is skipped.
func (t *Tap) ack(ctx context.Context, acks []delivery) {
	if len(acks) == 0 {
		return
	}
	for _, d := range acks[:len(acks)-1] {
		if err := d.msg.Ack(); err != nil {
			t.log.Debug("acknowledgement not sent; the fix will be delivered again and skipped", "cursor", d.cursor, "err", err)
		}
	}
	// Run's ctx may have ended: the last batch is still acknowledged.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if d := acks[len(acks)-1]; d.msg.DoubleAck(actx) != nil {
		t.log.Debug("acknowledgement not confirmed; the batch may be delivered again and skipped", "cursor", d.cursor)
	}
}

// reject counts, logs and terminates a message that is not a valid stored
// record, so that it is never delivered again.
func (t *Tap) reject(d delivery, err error) {
	n := t.invalid.Add(1)
	if n <= 10 || n%1000 == 0 {
		t.log.Warn("not a valid stored record: skipped", "cursor", d.cursor, "subject", d.msg.Subject(), "err", err, "invalid_so_far", n)
	}
	if err := d.msg.TermWithReason("rtls-tap: not a valid stored record"); err != nil {
		t.log.Debug("termination not sent; the message will be delivered again", "cursor", d.cursor, "err", err)
	}
}

// record decodes a stored message: a valid record of the driver its
// subject names.
func record(m jetstream.Msg) (location.Record, error) {
	subject := m.Subject()
	if !strings.HasPrefix(subject, fixstream.LocationPrefix) {
		return location.Record{}, fmt.Errorf("subject %.100q is not a driver's location subject", subject)
	}
	rec, err := location.Decode(m.Data())
	if err != nil {
		return location.Record{}, err
	}
	if rec.Driver != fixstream.DriverOf(subject) {
		return location.Record{}, fmt.Errorf("a record of driver %q stored on %s", rec.Driver, subject)
	}
	return rec, nil
}

// backoff is the pause between attempts: from a twentieth of max, doubling.
type backoff struct{ cur, max time.Duration }

// wait pauses and reports whether ctx is still alive.
func (b *backoff) wait(ctx context.Context) bool {
	if b.cur == 0 {
		b.cur = b.max / 20
	}
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	return sleep(ctx, d)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d and reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
