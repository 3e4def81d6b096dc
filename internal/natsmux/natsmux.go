// Package natsmux routes replies to many concurrent requests through one
// wildcard inbox subscription, the way nats.go's own request multiplexer
// does, but with a handler per request, so that a request may get several
// replies (a batched direct get) and handlers run without a goroutine per
// request. The node's publisher and the stream reader share it.
package natsmux

import (
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// Mux is one wildcard inbox subscription dispatching replies by token. Its
// methods are safe for concurrent use; handlers run on the subscription's
// delivery goroutine and must not block.
type Mux struct {
	prefix string
	sub    *nats.Subscription

	mu       sync.Mutex
	next     uint64
	handlers map[uint64]func(*nats.Msg)
}

// New subscribes to a fresh inbox prefix of nc (nc's custom inbox prefix,
// if it has one, so that permissions can keep others from reading it).
func New(nc *nats.Conn) (*Mux, error) {
	m := &Mux{
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

// Register returns a reply subject whose messages are passed to h until
// Release is called with the same token.
func (m *Mux) Register(h func(*nats.Msg)) (reply string, token uint64) {
	m.mu.Lock()
	m.next++
	token = m.next
	m.handlers[token] = h
	m.mu.Unlock()
	return m.prefix + strconv.FormatUint(token, 36), token
}

// Release forgets a handler.
func (m *Mux) Release(token uint64) {
	m.mu.Lock()
	delete(m.handlers, token)
	m.mu.Unlock()
}

func (m *Mux) dispatch(msg *nats.Msg) {
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

// Close unsubscribes.
func (m *Mux) Close() {
	m.sub.Unsubscribe()
}
