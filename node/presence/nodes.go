package presence

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// Nodes sends this node's heartbeat every interval and follows the other
// nodes': one silent for lostAfter is lost, and so are the drivers it said
// it had.
type Nodes struct {
	nc        *nats.Conn
	name      string
	every     time.Duration
	lostAfter time.Duration
	log       *slog.Logger
	onLost    func(node string, at time.Time)
	started   time.Time

	mu     sync.Mutex
	seen   map[string]time.Time
	lost   map[string]time.Time
	starts map[string]time.Time // when each node's process started, by its heartbeats

	sub  *nats.Subscription
	quit chan struct{}
	wg   sync.WaitGroup
}

type heartbeat struct {
	Node string `json:"node"`
	At   int64  `json:"at"`
	// Started is when the node's process started (ms): a driver session
	// a node announced before it is gone with the old process.
	Started int64 `json:"started,omitempty"`
}

// StartNodes starts the heartbeat of node name; onLost, if set, is called
// (without locks held, from the heartbeat goroutine) when a node is lost.
func StartNodes(nc *nats.Conn, name string, every, lostAfter time.Duration, log *slog.Logger, onLost func(node string, at time.Time)) (*Nodes, error) {
	n := &Nodes{nc: nc, name: name, every: every, lostAfter: lostAfter, log: log, onLost: onLost,
		started: time.Now(), seen: map[string]time.Time{}, lost: map[string]time.Time{}, starts: map[string]time.Time{}, quit: make(chan struct{})}
	n.starts[name] = n.started
	sub, err := nc.Subscribe(fixstream.NodePrefix+"*", n.onHeartbeat)
	if err != nil {
		return nil, err
	}
	n.sub = sub
	n.beat()
	n.wg.Add(1)
	go n.loop()
	return n, nil
}

// Stop stops the heartbeat and waits for its goroutine.
func (n *Nodes) Stop() {
	n.sub.Unsubscribe()
	close(n.quit)
	n.wg.Wait()
}

func (n *Nodes) beat() {
	data, _ := json.Marshal(heartbeat{Node: n.name, At: time.Now().UnixMilli(), Started: n.started.UnixMilli()})
	n.nc.Publish(fixstream.NodePrefix+n.name, data)
}

func (n *Nodes) onHeartbeat(m *nats.Msg) {
	name := m.Subject[len(fixstream.NodePrefix):]
	var h heartbeat
	if !location.ValidID(name) || json.Unmarshal(m.Data, &h) != nil || h.Node != name {
		n.log.Debug("dropped an invalid node heartbeat", "subject", m.Subject)
		return
	}
	var restarted time.Time
	n.mu.Lock()
	n.seen[name] = time.Now()
	if _, was := n.lost[name]; was {
		delete(n.lost, name)
		n.log.Info("node is back", "node", name)
	}
	if h.Started > 0 && name != n.name {
		st := time.UnixMilli(h.Started)
		if prev, ok := n.starts[name]; !ok || st.After(prev) {
			// A start first heard of may be a restart too (the process
			// before it may have died before this node heard it).
			n.starts[name] = st
			restarted = st
		}
	}
	n.mu.Unlock()
	if !restarted.IsZero() && n.onLost != nil {
		// Quicker than a heartbeat timeout: its old sessions are gone.
		n.log.Debug("node started; driver sessions it announced before are gone", "node", name, "started", restarted)
		n.onLost(name, restarted)
	}
}

func (n *Nodes) loop() {
	defer n.wg.Done()
	t := time.NewTicker(n.every)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case now := <-t.C:
			n.beat()
			var lost []string
			n.mu.Lock()
			for name, at := range n.seen {
				if _, was := n.lost[name]; !was && name != n.name && now.Sub(at) > n.lostAfter {
					n.lost[name] = at
					lost = append(lost, name)
				}
			}
			n.mu.Unlock()
			for _, name := range lost {
				n.log.Warn("node lost: it fell silent", "node", name)
				if n.onLost != nil {
					n.onLost(name, n.LostAt(name))
				}
			}
		}
	}
}

// LostFor says since when a driver session that node announced is lost:
// the node is lost (LostAt), or it has restarted since the session began
// (session: the session's start, ns since the Unix epoch), which ended the
// session with the old process. Zero while the session may live.
func (n *Nodes) LostFor(node string, session int64) time.Time {
	if at := n.LostAt(node); !at.IsZero() {
		return at
	}
	n.mu.Lock()
	st := n.starts[node]
	n.mu.Unlock()
	if !st.IsZero() && session > 0 && session < st.UnixNano() {
		return st
	}
	return time.Time{}
}

// LostAt says since when node is lost (its last heartbeat), or zero while
// it is alive. A node never heard of is lost since this one started, once
// it has had the time to hear it.
func (n *Nodes) LostAt(node string) time.Time {
	if node == n.name {
		return time.Time{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if at, ok := n.lost[node]; ok {
		return at
	}
	if _, ok := n.seen[node]; !ok && time.Since(n.started) > n.lostAfter {
		return n.started
	}
	return time.Time{}
}

// Peer is a node as its heartbeats show it.
type Peer struct {
	Name     string
	LastSeen time.Time
	Lost     bool
}

// Peers lists the nodes heard of, this one included, by name.
func (n *Nodes) Peers() []Peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	peers := make([]Peer, 0, len(n.seen))
	for name, at := range n.seen {
		_, lost := n.lost[name]
		peers = append(peers, Peer{Name: name, LastSeen: at, Lost: lost})
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return peers
}
