package node

import (
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
)

// sessions keeps one connection per driver, cluster-wide: the newest wins.
// A node that admits a driver closes that driver's older connection of its
// own and announces the new one on rtls.session.<driver>; every node closes
// its connection of that driver when it is older than the announced one. So
// an impostor (or a second device) cannot interleave its fixes with the
// driver's: one of the two is closed with session_replaced (4009).
type sessions struct {
	n   *Node
	sub *nats.Subscription

	mu      sync.Mutex
	drivers map[string]*conn // the current connection of each driver on this node
}

// announcement is the payload of rtls.session.<driver>.
type announcement struct {
	Node string `json:"node"`
	Conn uint64 `json:"conn"`
	At   int64  `json:"at"` // when the connection was admitted, Unix ns
}

func newSessions(n *Node) (*sessions, error) {
	s := &sessions{n: n, drivers: make(map[string]*conn)}
	sub, err := n.nc.Subscribe(fixstream.SessionPrefix+"*", s.onAnnounce)
	if err != nil {
		return nil, err
	}
	s.sub = sub
	return s, nil
}

func (s *sessions) stop() {
	if s != nil && s.sub != nil {
		s.sub.Unsubscribe()
	}
}

// newer reports whether a connection admitted at (at, node, conn) is newer
// than c; ties are broken by node name and connection number, so that two
// nodes agree.
func newer(c *conn, at int64, node string, id uint64) bool {
	ca := c.started.UnixNano()
	switch {
	case at != ca:
		return at > ca
	case node != c.n.cfg.Name:
		return node > c.n.cfg.Name
	}
	return id > c.sid
}

// claim makes c its driver's connection: an older one on this node is
// closed, and the cluster is told.
func (s *sessions) claim(c *conn) {
	s.mu.Lock()
	old := s.drivers[c.who]
	s.drivers[c.who] = c
	s.mu.Unlock()
	if old != nil {
		old.replaced()
	}
	data, _ := json.Marshal(announcement{Node: s.n.cfg.Name, Conn: c.sid, At: c.started.UnixNano()})
	if err := s.n.nc.Publish(fixstream.SessionSubject(c.who), data); err != nil {
		s.n.log.Warn("could not announce a driver's session", "driver", c.who, "err", err)
	}
}

// get returns driver's connection on this node, or nil.
func (s *sessions) get(driver string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drivers[driver]
}

// all returns the driver connections of this node.
func (s *sessions) all() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.drivers))
	for _, c := range s.drivers {
		out = append(out, c)
	}
	return out
}

// release forgets c when it is still its driver's connection.
func (s *sessions) release(c *conn) {
	s.mu.Lock()
	if s.drivers[c.who] == c {
		delete(s.drivers, c.who)
	}
	s.mu.Unlock()
}

// onAnnounce closes this node's connection of the announced driver when the
// announced one is newer. Announcements are validated like everything else
// from the bus.
func (s *sessions) onAnnounce(m *nats.Msg) {
	driver := m.Subject[len(fixstream.SessionPrefix):]
	var a announcement
	if !location.ValidID(driver) || json.Unmarshal(m.Data, &a) != nil || !location.ValidID(a.Node) || a.At <= 0 {
		s.n.log.Warn("dropped an invalid session announcement", "subject", m.Subject)
		return
	}
	if a.Node == s.n.cfg.Name {
		return // our own
	}
	s.mu.Lock()
	c := s.drivers[driver]
	if c == nil || !newer(c, a.At, a.Node, a.Conn) {
		s.mu.Unlock()
		return
	}
	delete(s.drivers, driver)
	s.mu.Unlock()
	c.replaced()
}

// replaced closes a driver's connection that a newer one replaced.
func (c *conn) replaced() {
	c.wasReplaced.Store(true)
	c.n.log.Info("driver connected again; closing its older connection", "driver", c.who, "addr", c.addr)
	c.sendError(mobileproto.Errorf(mobileproto.CodeSessionReplaced, "driver %s connected again elsewhere; this connection is closed", c.who))
	c.shutdown(mobileproto.CloseSessionReplaced, "replaced by a newer connection")
}
