package fixstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/natsmux"
	"github.com/rtls-io/rtls/location"
)

// Errors of a Reader.
var (
	// ErrTimeout: the stream did not answer in time (while it elects a
	// leader or a replica catches up, requests go unanswered).
	ErrTimeout = errors.New("fixstream: stream read timed out")
	// ErrStream: the stream answered with an error status.
	ErrStream = errors.New("fixstream: stream read failed")
)

// errRetry marks an attempt worth repeating.
var errRetry = errors.New("fixstream: not answered")

// Fix is one stored fix read from the stream: its stream sequence (the
// cursor) and its decoded, validated record.
type Fix struct {
	Seq    uint64
	Record location.Record
}

// Reader reads drivers' stored fixes from the LOCATIONS stream with direct
// gets, served by the nearest replica (or, for LeaderLast, the leader).
// Every message read is decoded and validated: one that is not a valid
// record of the requested driver is dropped and counted (Rejected), never
// returned. It is safe for concurrent use.
type Reader struct {
	nc       *nats.Conn
	mux      *natsmux.Mux
	stream   string
	attempt  time.Duration
	rejected atomic.Uint64
	onReject func(driver string, err error)
}

// ReaderOption configures a Reader.
type ReaderOption func(*Reader)

// OnReject sets a function called with every message dropped as invalid
// (for logging); it must not block.
func OnReject(f func(driver string, err error)) ReaderOption {
	return func(r *Reader) { r.onReject = f }
}

// NewReader returns a Reader using nc, with one wildcard reply subscription
// on nc's inbox prefix. Close releases it.
func NewReader(nc *nats.Conn, opts ...ReaderOption) (*Reader, error) {
	mux, err := natsmux.New(nc)
	if err != nil {
		return nil, fmt.Errorf("fixstream: reply subscription: %w", err)
	}
	r := &Reader{nc: nc, mux: mux, stream: StreamName, attempt: 500 * time.Millisecond}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Close releases the reply subscription.
func (r *Reader) Close() { r.mux.Close() }

// Rejected counts messages dropped as invalid.
func (r *Reader) Rejected() uint64 { return r.rejected.Load() }

// After returns up to limit fixes of driver with a sequence above after,
// oldest first, with one batched direct get.
func (r *Reader) After(ctx context.Context, driver string, after uint64, limit int) ([]Fix, error) {
	if limit <= 0 {
		return nil, nil
	}
	req, _ := json.Marshal(map[string]any{"seq": after + 1, "next_by_subj": LocationSubject(driver), "batch": limit})
	return r.get(ctx, driver, "$JS.API.DIRECT.GET."+r.stream, req, limit)
}

// Last returns the newest fix of driver; ok is false when it has none.
func (r *Reader) Last(ctx context.Context, driver string) (f Fix, ok bool, err error) {
	out, err := r.get(ctx, driver, "$JS.API.DIRECT.GET."+r.stream+"."+LocationSubject(driver), nil, 1)
	if err != nil || len(out) == 0 {
		return Fix{}, false, err
	}
	return out[0], true, nil
}

// LeaderLast asks the stream leader (not the nearest replica) for the
// sequence of driver's newest fix, 0 if it has none. The request travels to
// the leader's server over the same route as this connection's
// subscriptions, so when the answer arrives the leader also knows every
// subscription made before it.
func (r *Reader) LeaderLast(ctx context.Context, driver string) (uint64, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	req, _ := json.Marshal(map[string]string{"last_by_subj": LocationSubject(driver)})
	var last error
	for {
		// While the stream elects a leader nobody answers: ask again soon.
		actx, acancel := context.WithTimeout(ctx, r.attempt)
		msg, err := r.nc.RequestWithContext(actx, "$JS.API.STREAM.MSG.GET."+r.stream, req)
		acancel()
		if err == nil {
			var resp struct {
				Message *struct {
					Seq uint64 `json:"seq"`
				} `json:"message"`
				Error *struct {
					Code        int    `json:"code"`
					Description string `json:"description"`
				} `json:"error"`
			}
			switch err = json.Unmarshal(msg.Data, &resp); {
			case err != nil:
			case resp.Error != nil && resp.Error.Code == 404:
				return 0, nil
			case resp.Error != nil && resp.Error.Code == 503:
				err = fmt.Errorf("%w: %s", errRetry, resp.Error.Description)
			case resp.Error != nil:
				return 0, fmt.Errorf("%w: %d %s", ErrStream, resp.Error.Code, resp.Error.Description)
			case resp.Message != nil:
				return resp.Message.Seq, nil
			default:
				err = fmt.Errorf("stream leader answered %.100q", msg.Data)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: asking the stream leader: %v", ErrTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// At asks the stream leader for the message stored at seq and reports
// whether it is exactly f: a fix of driver with the same record. It is how a
// live message that claims an unexpected sequence is checked against the
// stream before anyone gets it; the leader answers, so a lagging replica
// cannot make a genuine fix look forged.
func (r *Reader) At(ctx context.Context, driver string, f Fix) (bool, error) {
	got, subject, err := r.Get(ctx, f.Seq)
	if err != nil || subject == "" {
		return false, err
	}
	return subject == LocationSubject(driver) && got.Record.Equal(f.Record), nil
}

// Get asks the stream leader for the fix stored at seq, and the subject it
// is stored on; subject is "" when nothing is stored there. A message that
// is not a valid record is returned with its subject and an error.
func (r *Reader) Get(ctx context.Context, seq uint64) (f Fix, subject string, err error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	req, _ := json.Marshal(map[string]uint64{"seq": seq})
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, r.attempt)
		msg, err := r.nc.RequestWithContext(actx, "$JS.API.STREAM.MSG.GET."+r.stream, req)
		acancel()
		if err == nil {
			var resp struct {
				Message *struct {
					Subject string `json:"subject"`
					Seq     uint64 `json:"seq"`
					Data    []byte `json:"data"`
				} `json:"message"`
				Error *struct {
					Code        int    `json:"code"`
					Description string `json:"description"`
				} `json:"error"`
			}
			switch err = json.Unmarshal(msg.Data, &resp); {
			case err != nil:
			case resp.Error != nil && resp.Error.Code == 404:
				return Fix{}, "", nil // nothing stored there (or no longer)
			case resp.Error != nil && resp.Error.Code == 503:
				err = fmt.Errorf("%w: %s", errRetry, resp.Error.Description)
			case resp.Error != nil:
				return Fix{}, "", fmt.Errorf("%w: %d %s", ErrStream, resp.Error.Code, resp.Error.Description)
			case resp.Message != nil && resp.Message.Seq == seq:
				rec, derr := location.Decode(resp.Message.Data)
				if derr != nil {
					return Fix{}, resp.Message.Subject, derr
				}
				return Fix{Seq: seq, Record: rec}, resp.Message.Subject, nil
			default:
				err = fmt.Errorf("stream leader answered %.100q", msg.Data)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return Fix{}, "", fmt.Errorf("%w: asking the stream leader: %v", ErrTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StreamState is what the stream's leader says of the stream as a whole.
type StreamState struct {
	// FirstSeq and LastSeq bound the sequences the stream holds.
	FirstSeq, LastSeq uint64
	// Created is when the stream was created: a stream created again (a
	// new cluster, wiped data) starts its sequences again, so cursors of
	// the old one mean nothing in it.
	Created time.Time
}

// State asks the stream's leader for the stream's state.
func (r *Reader) State(ctx context.Context) (StreamState, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, r.attempt)
		msg, err := r.nc.RequestWithContext(actx, "$JS.API.STREAM.INFO."+r.stream, nil)
		acancel()
		if err == nil {
			var resp struct {
				Created time.Time `json:"created"`
				State   struct {
					FirstSeq uint64 `json:"first_seq"`
					LastSeq  uint64 `json:"last_seq"`
				} `json:"state"`
				Error *struct {
					Code        int    `json:"code"`
					Description string `json:"description"`
				} `json:"error"`
			}
			switch err = json.Unmarshal(msg.Data, &resp); {
			case err != nil:
			case resp.Error != nil && resp.Error.Code == 503:
				err = fmt.Errorf("%w: %s", errRetry, resp.Error.Description)
			case resp.Error != nil:
				return StreamState{}, fmt.Errorf("%w: %d %s", ErrStream, resp.Error.Code, resp.Error.Description)
			default:
				return StreamState{FirstSeq: resp.State.FirstSeq, LastSeq: resp.State.LastSeq, Created: resp.Created}, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return StreamState{}, fmt.Errorf("%w: asking the stream leader: %v", ErrTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Epoch names a stream's incarnation for clients: cursors are meaningful
// only within one epoch.
func (s StreamState) Epoch() string { return s.Created.UTC().Format(time.RFC3339Nano) }

// withDefaultTimeout gives ctx a 5 s deadline when it has none.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, 5*time.Second)
}

// get sends a direct get request and collects its replies until the
// end-of-batch marker, a "not found", or max messages. While the stream
// elects a leader or a replica catches up a request may go unanswered or
// find no responders: each attempt waits half a second, and attempts are
// repeated until ctx ends (5 s when ctx has no deadline).
func (r *Reader) get(ctx context.Context, driver, subject string, req []byte, max int) ([]Fix, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, r.attempt)
		out, err := r.getOnce(actx, driver, subject, req, max)
		acancel()
		if err == nil || !errors.Is(err, errRetry) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *Reader) getOnce(ctx context.Context, driver, subject string, req []byte, max int) ([]Fix, error) {
	ch := make(chan *nats.Msg, max+1)
	reply, token := r.mux.Register(func(m *nats.Msg) {
		select {
		case ch <- m:
		default: // more replies than asked for: impossible, drop
		}
	})
	defer r.mux.Release(token)
	if err := r.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Data: req}); err != nil {
		return nil, fmt.Errorf("%w: %v", errRetry, err)
	}
	batch := req != nil
	want := LocationSubject(driver)
	var out []Fix
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", errRetry, ctx.Err())
		case m := <-ch:
			switch status := m.Header.Get("Status"); status {
			case "":
			case "204", "404": // end of batch, or nothing (more) to return
				return out, nil
			case "503":
				return nil, fmt.Errorf("%w: no responders for %s", errRetry, subject)
			default:
				return out, fmt.Errorf("%w: direct get: %s %s", ErrStream, status, m.Header.Get("Description"))
			}
			if f, err := r.decode(driver, want, m); err == nil {
				out = append(out, f)
			}
			if !batch || len(out) >= max {
				// A batch's end marker may still come: once released it is dropped.
				return out, nil
			}
		}
	}
}

// decode checks one stored message: from the driver's subject, with a
// sequence, holding a valid record of that driver.
func (r *Reader) decode(driver, subject string, m *nats.Msg) (Fix, error) {
	seq, err := strconv.ParseUint(m.Header.Get(SequenceHeader), 10, 64)
	switch {
	case err != nil || seq == 0:
		err = fmt.Errorf("bad %s header %q", SequenceHeader, m.Header.Get(SequenceHeader))
	case m.Header.Get(SubjectHeader) != subject:
		err = fmt.Errorf("message of subject %q in an answer about %s", m.Header.Get(SubjectHeader), subject)
	default:
		var rec location.Record
		if rec, err = location.Decode(m.Data); err == nil && rec.Driver != driver {
			err = fmt.Errorf("record of driver %q stored on %s", rec.Driver, subject)
		}
		if err == nil {
			return Fix{Seq: seq, Record: rec}, nil
		}
	}
	r.rejected.Add(1)
	if r.onReject != nil {
		r.onReject(driver, err)
	}
	return Fix{}, err
}
