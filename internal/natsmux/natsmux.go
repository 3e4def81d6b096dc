package node

import (
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// respMux routes replies to many concurrent requests through one wildcard
// inbox subscription, the way nats.go's own request multiplexer does, but it
// keeps a handler per request so that a request may get several replies (a
// batch direct get) and so that handlers run without a goroutine per request.
type respMux struct {
	prefix string
	sub    *nats.Subscription

	mu       sync.Mutex
	next     uint64
	handlers map[uint64]func(*nats.Msg)
}

func newRespMux(nc *nats.Conn) (*respMux, error) {
	m := &respMux{
		prefix:   nc.NewInbox() + ".",
		handlers: make(map[uint64]func(*nats.Msg)),
	}
	sub, err := nc.Subscribe(m.prefix+"*", m.dispatch)
	if err != nil {
		return nil, err
	}
	// Replies are small and handled quickly; never drop them as a slow consumer.
	if err := sub.SetPendingLimits(-1, 256<<20); err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	m.sub = sub
	return m, nil
}

// register returns a reply subject whose messages are passed to h until
// release is called with the same token.
func (m *respMux) register(h func(*nats.Msg)) (reply string, token uint64) {
	m.mu.Lock()
	m.next++
	token = m.next
	m.handlers[token] = h
	m.mu.Unlock()
	return m.prefix + strconv.FormatUint(token, 36), token
}

func (m *respMux) release(token uint64) {
	m.mu.Lock()
	delete(m.handlers, token)
	m.mu.Unlock()
}

func (m *respMux) dispatch(msg *nats.Msg) {
	token, err := strconv.ParseUint(strings.TrimPrefix(msg.Subject, m.prefix), 36, 64)
	if err != nil {
		return
	}
	m.mu.Lock()
	h := m.handlers[token]
	m.mu.Unlock()
	if h != nil {
		h(msg)
	}
}

func (m *respMux) close() {
	m.sub.Unsubscribe()
}
