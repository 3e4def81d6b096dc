package node

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node/presence"
)

// Liveness, node side. The node a driver is connected to owns the driver's
// status: a liveness.Tracker per driver connection, evaluated when a fix
// arrives and every PresenceEvery, announced on rtls.status.<driver> when it
// changes (and again every announceAgain, so that a lost announcement or
// the presence stream's loss heals). Every node follows every announcement
// and every node's heartbeat, and tells the riders of a driver its status
// right after tracking and whenever it changes: at most one driver-status
// per driver per statusEvery (a flapping driver does not flood riders; the
// newest status wins). Watches make a driver's app send fast while anyone
// watches it and slow while nobody does.
const (
	announceAgain = 30 * time.Second
	statusEvery   = time.Second
	watchRefresh  = 20 * time.Second
	watchExpiry   = 3 * watchRefresh
	lostAfterBeat = 3 // heartbeats missed before a node is lost
)

// presenceState is what a node knows of every driver's status.
type presenceState struct {
	nodes   *presence.Nodes
	watches *presence.Watches
	sub     *nats.Subscription

	mu    sync.Mutex
	known map[string]presence.Announcement // the newest announcement of each driver

	rejected atomic.Uint64 // announcements dropped as invalid
}

// startPresence starts the heartbeat, the watches, the status subscription
// and the owner loop.
func (n *Node) startPresence() error {
	p := &presenceState{known: map[string]presence.Announcement{}}
	n.presence = p
	var err error
	every := n.cfg.PresenceEvery
	if p.nodes, err = presence.StartNodes(n.nc, n.cfg.Name, every, lostAfterBeat*every, n.log, n.onNodeLost); err != nil {
		return err
	}
	if p.watches, err = presence.StartWatches(n.nc, n.cfg.Name, watchRefresh, watchExpiry, n.log, n.onWatchChange); err != nil {
		return err
	}
	if p.sub, err = n.nc.Subscribe(fixstream.StatusPrefix+"*", n.onStatus); err != nil {
		return err
	}
	n.hub.onRoom = p.watches.Watch
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.ownerLoop()
	}()
	return nil
}

func (p *presenceState) stop() {
	if p == nil {
		return
	}
	if p.sub != nil {
		p.sub.Unsubscribe()
	}
	if p.watches != nil {
		p.watches.Stop()
	}
	if p.nodes != nil {
		p.nodes.Stop()
	}
}

// ownerLoop evaluates the drivers connected to this node.
func (n *Node) ownerLoop() {
	t := time.NewTicker(n.cfg.PresenceEvery)
	defer t.Stop()
	again := time.Now().Add(announceAgain)
	for {
		select {
		case <-n.base.Done():
			return
		case now := <-t.C:
			all := now.After(again)
			if all {
				again = now.Add(announceAgain)
			}
			for _, c := range n.sessions.all() {
				c.evaluate(now, all)
			}
		}
	}
}

// liveConn is a driver connection's liveness, on the node that owns it.
type liveConn struct {
	mu       sync.Mutex
	tracker  *liveness.Tracker
	n        uint64 // announcements made
	interval time.Duration
}

// connected starts tracking a driver connection and announces it.
func (c *conn) connected(now time.Time) {
	c.live.mu.Lock()
	c.live.tracker = liveness.NewTracker(c.n.cfg.Liveness)
	c.live.tracker.Connect(now)
	c.live.mu.Unlock()
	c.evaluate(now, true)
	c.setInterval(c.n.presence.watches.Watched(c.who))
}

// fixed records a fix of the connection's driver.
func (c *conn) fixed(now time.Time, ts int64) {
	c.live.mu.Lock()
	if c.live.tracker == nil {
		c.live.mu.Unlock()
		return
	}
	c.live.tracker.Fix(now, ts)
	c.live.mu.Unlock()
	c.evaluate(now, false)
}

// disconnected announces that the driver's connection closed, unless a
// newer connection of the driver replaced it (which announces itself).
func (c *conn) disconnected(now time.Time, replaced bool) {
	c.live.mu.Lock()
	t := c.live.tracker
	c.live.mu.Unlock()
	if t == nil || replaced {
		return
	}
	c.live.mu.Lock()
	t.Disconnect(now)
	c.live.mu.Unlock()
	c.evaluate(now, true)
}

// evaluate announces the driver's status when it changed, or always.
func (c *conn) evaluate(now time.Time, always bool) {
	c.live.mu.Lock()
	if c.live.tracker == nil {
		c.live.mu.Unlock()
		return
	}
	st, changed := c.live.tracker.Status(now)
	if !changed && !always {
		c.live.mu.Unlock()
		return
	}
	c.live.n++
	a := presence.Announcement{
		Driver: c.who, State: st.State, Reason: st.Reason, Since: unixMilli(st.Since), LastFix: unixMilli(c.live.tracker.LastFix()),
		Node: c.n.cfg.Name, Session: c.started.UnixNano(), N: c.live.n,
	}
	c.live.mu.Unlock()
	data, _ := json.Marshal(a)
	if err := c.n.nc.Publish(fixstream.StatusPrefix+c.who, data); err != nil {
		c.n.log.Warn("could not announce a driver's status", "driver", c.who, "err", err)
	}
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// setInterval asks the driver's app to send fast or slow, when that
// changes.
func (c *conn) setInterval(watched bool) {
	iv, reason := c.n.cfg.SlowInterval, "unwatched"
	if watched {
		iv, reason = c.n.cfg.FastInterval, "watched"
	}
	c.live.mu.Lock()
	same := c.live.interval == iv
	c.live.interval = iv
	if c.live.tracker != nil {
		c.live.tracker.Expect(time.Now(), iv)
	}
	c.live.mu.Unlock()
	if !same {
		c.sendCtrl(mobileproto.EncodeSetInterval(mobileproto.SetInterval{IntervalMs: iv.Milliseconds(), Reason: reason}))
	}
}

// onWatchChange is told when someone starts or stops watching a driver.
func (n *Node) onWatchChange(driver string, watched bool) {
	if c := n.sessions.get(driver); c != nil {
		c.setInterval(watched)
	}
}

// onStatus follows every driver's announcements: the newest is kept, and
// the riders of the driver on this node are told.
func (n *Node) onStatus(m *nats.Msg) {
	driver := m.Subject[len(fixstream.StatusPrefix):]
	a, err := presence.Decode(driver, m.Data)
	p := n.presence
	if err != nil {
		if c := p.rejected.Add(1); c <= 10 || c%1000 == 0 {
			n.log.Warn("dropped an invalid status announcement", "driver", driver, "err", err, "dropped_total", c)
		}
		return
	}
	p.mu.Lock()
	old, had := p.known[driver]
	newer := !had || a.Newer(old)
	if newer {
		p.known[driver] = a
	}
	p.mu.Unlock()
	if newer {
		n.hub.status(driver, n.statusFrame(a))
	}
}

// onNodeLost tells the riders of the drivers a lost node owned.
func (n *Node) onNodeLost(node string, _ time.Time) {
	p := n.presence
	var lost []presence.Announcement
	p.mu.Lock()
	for _, a := range p.known {
		if a.Node == node && a.State != liveness.Offline {
			lost = append(lost, a)
		}
	}
	p.mu.Unlock()
	for _, a := range lost {
		n.hub.status(a.Driver, n.statusFrame(a))
	}
}

// statusFrame is the driver-status frame of an announcement as this node
// sees it (a lost node's drivers are offline).
func (n *Node) statusFrame(a presence.Announcement) []byte {
	st := liveness.Effective(a.Status(), n.presence.nodes.LostFor(a.Node, a.Session))
	return mobileproto.EncodeDriverStatus(mobileproto.DriverStatus{
		Driver: a.Driver, State: string(st.State), Reason: string(st.Reason), Since: unixMilli(st.Since), LastFix: a.LastFix,
	})
}

// currentStatus is the driver-status frame of driver now: from what this
// node has heard, or else from the presence stream (a driver that
// announced itself before this node started), or else unknown.
func (n *Node) currentStatus(ctx context.Context, driver string) []byte {
	p := n.presence
	p.mu.Lock()
	a, ok := p.known[driver]
	p.mu.Unlock()
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := n.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+fixstream.PresenceStream+"."+fixstream.StatusPrefix+driver, nil)
		cancel()
		if err == nil && msg.Header.Get("Status") == "" {
			if got, err := presence.Decode(driver, msg.Data); err == nil {
				p.mu.Lock()
				if cur, had := p.known[driver]; !had || got.Newer(cur) {
					p.known[driver] = got
				}
				a, ok = p.known[driver], true
				p.mu.Unlock()
			}
		}
	}
	if !ok {
		return mobileproto.EncodeDriverStatus(mobileproto.DriverStatus{Driver: driver, State: string(liveness.Offline), Reason: string(liveness.Unknown)})
	}
	return n.statusFrame(a)
}

// countStates counts the drivers this node knows of by their state as it
// sees them (a lost node's drivers are offline).
func (p *presenceState) countStates() map[liveness.State]int {
	counts := map[liveness.State]int{}
	p.mu.Lock()
	known := make([]presence.Announcement, 0, len(p.known))
	for _, a := range p.known {
		known = append(known, a)
	}
	p.mu.Unlock()
	for _, a := range known {
		counts[liveness.Effective(a.Status(), p.nodes.LostFor(a.Node, a.Session)).State]++
	}
	return counts
}
