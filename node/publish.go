package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/natsmux"
)

// pubAck is JetStream's answer to a publish.
type pubAck struct {
	Stream    string `json:"stream"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
}

// Errors a publish can end with.
var (
	errBadAck         = errors.New("node: unreadable publish ack")
	errPublishTimeout = errors.New("node: fix not stored in time")
	errPublishClosed  = errors.New("node: publisher stopped")
)

// jsError is a JetStream API error in a PubAck.
type jsError struct {
	Code        int
	Description string
}

func (e *jsError) Error() string { return "jetstream: " + e.Description }

// publisher stores fixes with JetStream through asynchronous publishes whose
// acks arrive on a respMux. A fix that gets no ack in attemptTimeout, or
// "no responders" while the stream has no leader, is published again with
// the same Nats-Msg-Id (so it is stored once) until the total timeout.
type publisher struct {
	nc      *nats.Conn
	mux     *natsmux.Mux
	attempt time.Duration
	total   time.Duration

	mu      sync.Mutex
	pending map[uint64]*pubReq
	idle    *sync.Cond // signalled when pending becomes empty
	stopped bool

	quit chan struct{}
	wg   sync.WaitGroup
}

type pubReq struct {
	msg      *nats.Msg
	token    uint64
	deadline time.Time // give up after
	retryAt  time.Time // publish again after
	done     func(pubAck, error)
}

func newPublisher(nc *nats.Conn, mux *natsmux.Mux, attempt, total time.Duration) *publisher {
	p := &publisher{
		nc:      nc,
		mux:     mux,
		attempt: attempt,
		total:   total,
		pending: make(map[uint64]*pubReq),
		quit:    make(chan struct{}),
	}
	p.idle = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.sweep()
	return p
}

// publish stores data on subject with the given message id; done is called
// exactly once, from another goroutine, with the ack or an error. done must
// not block.
func (p *publisher) publish(subject, msgID string, data []byte, done func(pubAck, error)) {
	now := time.Now()
	r := &pubReq{
		msg:      &nats.Msg{Subject: subject, Data: data, Header: nats.Header{nats.MsgIdHdr: []string{msgID}}},
		deadline: now.Add(p.total),
		retryAt:  now.Add(p.attempt),
		done:     done,
	}
	r.msg.Reply, r.token = p.mux.Register(func(m *nats.Msg) { p.onReply(r, m) })
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.mux.Release(r.token)
		done(pubAck{}, errPublishClosed)
		return
	}
	p.pending[r.token] = r
	p.mu.Unlock()
	// A failed publish (connection closed) is retried by the sweeper.
	p.nc.PublishMsg(r.msg)
}

func (p *publisher) onReply(r *pubReq, m *nats.Msg) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		// No responders: the stream has no leader right now. Retry soon.
		p.mu.Lock()
		r.retryAt = time.Now().Add(100 * time.Millisecond)
		p.mu.Unlock()
		return
	}
	var ack pubAck
	err := json.Unmarshal(m.Data, &ack)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", errBadAck, err)
	case ack.Error != nil:
		if ack.Error.Code == 503 {
			p.mu.Lock()
			r.retryAt = time.Now().Add(100 * time.Millisecond)
			p.mu.Unlock()
			return
		}
		err = &jsError{Code: ack.Error.Code, Description: ack.Error.Description}
	}
	if p.finish(r) {
		r.done(ack, err)
	}
}

// finish removes r from pending and reports whether it was still there.
func (p *publisher) finish(r *pubReq) bool {
	p.mu.Lock()
	_, ok := p.pending[r.token]
	delete(p.pending, r.token)
	if len(p.pending) == 0 {
		p.idle.Broadcast()
	}
	p.mu.Unlock()
	if ok {
		p.mux.Release(r.token)
	}
	return ok
}

func (p *publisher) sweep() {
	defer p.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var retry, expired []*pubReq
	for {
		select {
		case <-p.quit:
			return
		case now := <-t.C:
			retry, expired = retry[:0], expired[:0]
			p.mu.Lock()
			for _, r := range p.pending {
				switch {
				case now.After(r.deadline):
					expired = append(expired, r)
				case now.After(r.retryAt):
					r.retryAt = now.Add(p.attempt)
					retry = append(retry, r)
				}
			}
			p.mu.Unlock()
			for _, r := range retry {
				p.nc.PublishMsg(r.msg)
			}
			for _, r := range expired {
				if p.finish(r) {
					r.done(pubAck{}, errPublishTimeout)
				}
			}
		}
	}
}

// pendingCount is the number of fixes waiting for their ack.
func (p *publisher) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// waitIdle waits until no publish is pending or until the deadline.
func (p *publisher) waitIdle(deadline time.Time) bool {
	t := time.AfterFunc(time.Until(deadline), func() {
		p.mu.Lock()
		p.idle.Broadcast()
		p.mu.Unlock()
	})
	defer t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.pending) > 0 && time.Now().Before(deadline) {
		p.idle.Wait()
	}
	return len(p.pending) == 0
}

// stop fails every pending publish and stops the sweeper.
func (p *publisher) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	left := make([]*pubReq, 0, len(p.pending))
	for _, r := range p.pending {
		left = append(left, r)
	}
	p.mu.Unlock()
	close(p.quit)
	p.wg.Wait()
	for _, r := range left {
		if p.finish(r) {
			r.done(pubAck{}, errPublishClosed)
		}
	}
}
