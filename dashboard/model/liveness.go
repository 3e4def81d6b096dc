package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/node/presence"
)

// Liveness, dashboard side. The node a driver is connected to announces the
// driver's status (package presence) on rtls.status.<driver>; the fleet
// keeps each driver's newest announcement (presence.Announcement.Newer),
// whichever path brought it (the live subscription or the PRESENCE stream).
// Every node says every second that it is alive on rtls.node.<name>; a node
// silent for NodeLostAfter is lost, and the drivers it said were connected
// are offline, node-lost (liveness.Effective), until it is heard again.
// Silence is judged only while the feed listens (Listening): a dashboard
// cut off from the cluster hears no node and declares none lost, but keeps
// those it had.
//
// What a driver shows is its Liveness: the announced status as Effective
// makes it, or, for a driver with fixes but no announcement, the fallback
// judged from its fix's age (Thresholds, reason FixAge). Each change of
// state or reason is kept in a short history, for the detail view.

// ErrBadStatus is wrapped by the errors of IngestStatus and IngestHeartbeat:
// the subject names no valid driver or node, or the payload is not a valid
// announcement or heartbeat of it.
var ErrBadStatus = errors.New("model: invalid status announcement or heartbeat")

// Liveness is what the dashboard shows of a driver's liveness.
type Liveness struct {
	// Status is the state shown, its reason and since when.
	liveness.Status
	// Announced is false for a driver the cluster announced nothing about:
	// Status is then judged from its newest fix's age (reason FixAge).
	Announced bool
	// Node is the node that owns the driver's connection, when announced.
	Node string
	// LastFix is when the node received the driver's newest fix, as
	// announced (zero when unknown).
	LastFix time.Time
	// History is the driver's last changes of state or reason, newest
	// first; History[0] is the current one.
	History []liveness.Status
}

// nodeState is what the fleet knows of one node.
type nodeState struct {
	heard    time.Time // its newest heartbeat (fleet clock); zero: never heard
	lostAt   time.Time // lost since then, until heard again (zero: not lost)
	evidence time.Time // the newest time its announcements show it alive
	started  time.Time // when its process started, by its heartbeats: sessions before it are gone
}

// heartbeat is the payload of rtls.node.<name> (package presence).
type heartbeat struct {
	Node    string `json:"node"`
	At      int64  `json:"at"`
	Started int64  `json:"started,omitempty"`
}

// IngestStatus decodes an announcement received on subject
// (rtls.status.<driver>) and keeps it if it is the driver's newest. An
// invalid one is counted (Stats.BadStatus) and its error returned, wrapping
// ErrBadStatus.
func (f *Fleet) IngestStatus(subject string, data []byte) (bool, error) {
	driver, ok := strings.CutPrefix(subject, fixstream.StatusPrefix)
	if !ok {
		f.badStatus.Add(1)
		return false, fmt.Errorf("%w: subject %q", ErrBadStatus, subject)
	}
	a, err := presence.Decode(driver, data)
	if err != nil {
		f.badStatus.Add(1)
		return false, fmt.Errorf("%w: %w", ErrBadStatus, err)
	}
	return f.Announce(a), nil
}

// Announce keeps a, a validated announcement (presence.Decode), if it is
// newer than the driver's current one, and reports whether it did. A driver
// with no fix yet is added: it is listed and counted, but not on the map.
func (f *Fleet) Announce(a presence.Announcement) bool {
	now := f.now()
	f.mu.Lock()
	e, ok := f.drivers[a.Driver]
	if ok && e.announced() && !a.Newer(e.ann) {
		f.mu.Unlock()
		f.staleStatus.Add(1)
		return false
	}
	if !ok {
		e = &entry{Driver: Driver{ID: a.Driver}, key: idKey(a.Driver)}
		f.drivers[a.Driver] = e
	}
	if !e.announced() {
		// What was shown so far was a guess from the fix's age, for want
		// of an announcement: it is not part of the driver's story.
		e.history, e.shown, e.shownReason = e.history[:0], "", ""
	}
	e.ann = a
	n := f.nodeLocked(a.Node)
	for _, ms := range [...]int64{a.Since, a.LastFix} {
		if t := time.UnixMilli(ms); ms > 0 && t.After(n.evidence) {
			n.evidence = t
		}
	}
	e.node = n
	if !f.noteLocked(e, now) {
		// The same state for the same reason may have begun at another
		// time (a new session): the node's word for it is kept.
		if st := f.statusLocked(e, now); !st.Since.IsZero() {
			e.history[len(e.history)-1].Since = st.Since
		}
	}
	f.mu.Unlock()
	f.announcements.Add(1)
	f.version.Add(1)
	return true
}

// IngestHeartbeat decodes a node's heartbeat received on subject
// (rtls.node.<name>) and records that the node is alive. An invalid one is
// counted (Stats.BadStatus) and its error returned, wrapping ErrBadStatus.
func (f *Fleet) IngestHeartbeat(subject string, data []byte) error {
	name, ok := strings.CutPrefix(subject, fixstream.NodePrefix)
	var h heartbeat
	if !ok || !location.ValidID(name) || json.Unmarshal(data, &h) != nil || h.Node != name {
		f.badStatus.Add(1)
		return fmt.Errorf("%w: heartbeat on %q", ErrBadStatus, subject)
	}
	var started time.Time
	if h.Started > 0 {
		started = time.UnixMilli(h.Started)
	}
	f.HeartbeatSince(name, started)
	return nil
}

// Heartbeat records that node is alive now (by the fleet's clock). A node
// that was lost is back: the drivers it announced show their announced
// status again.
func (f *Fleet) Heartbeat(node string) { f.HeartbeatSince(node, time.Time{}) }

// HeartbeatSince is Heartbeat from a node whose process started at started
// (zero: not said). A node that restarted has lost the driver sessions it
// announced before: they show offline, node-lost, since its start.
func (f *Fleet) HeartbeatSince(node string, started time.Time) {
	now := f.now()
	f.mu.Lock()
	n := f.nodeLocked(node)
	n.heard = now
	back := !n.lostAt.IsZero()
	n.lostAt = time.Time{}
	if started.After(n.started) {
		back = back || !n.started.IsZero()
		n.started = started
	}
	if back {
		for _, e := range f.drivers {
			if e.node == n {
				f.noteLocked(e, now)
			}
		}
	}
	f.mu.Unlock()
	if back {
		f.version.Add(1)
	}
}

// Listening tells the fleet whether the feed hears the cluster's heartbeats
// (it is connected and subscribed). A node's silence counts only while the
// feed listens, and from when it started listening; nodes already lost stay
// lost while it does not.
func (f *Fleet) Listening(on bool) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if on == !f.listenFrom.IsZero() {
		return
	}
	if on {
		f.listenFrom = now
		return
	}
	f.markLostLocked(now)
	f.listenFrom = time.Time{}
}

// NodeLost returns since when node is lost, or zero while it is alive (or
// while the fleet cannot tell).
func (f *Fleet) NodeLost(node string) time.Time {
	now := f.now()
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.lostAtLocked(f.nodes[node], now)
}

func (f *Fleet) nodeLocked(name string) *nodeState {
	n := f.nodes[name]
	if n == nil {
		n = &nodeState{}
		f.nodes[name] = n
	}
	return n
}

// lostAtLocked says since when n is lost at now: since it was marked lost;
// or, while the fleet listens, once it has been silent for NodeLostAfter
// (counted from its heartbeat or from when the fleet started listening,
// whichever is later), since its last heartbeat — or, for a node never
// heard, since the newest time its announcements showed it alive, or else
// since the fleet started listening. A nil n is a node never heard of.
func (f *Fleet) lostAtLocked(n *nodeState, now time.Time) time.Time {
	var heard, evidence time.Time
	if n != nil {
		if !n.lostAt.IsZero() {
			return n.lostAt
		}
		heard, evidence = n.heard, n.evidence
	}
	if f.listenFrom.IsZero() {
		return time.Time{}
	}
	ref := f.listenFrom
	if heard.After(ref) {
		ref = heard
	}
	if now.Sub(ref) <= f.nodeLostAfter {
		return time.Time{}
	}
	switch {
	case !heard.IsZero():
		return heard
	case !evidence.IsZero() && evidence.Before(f.listenFrom):
		return evidence
	}
	return f.listenFrom
}

// lostForLocked says since when e's announced session is lost: its node
// is lost, or restarted after the session began (as presence.Nodes.LostFor
// says on the nodes).
func (f *Fleet) lostForLocked(e *entry, now time.Time) time.Time {
	if at := f.lostAtLocked(e.node, now); !at.IsZero() {
		return at
	}
	if n := e.node; n != nil && !n.started.IsZero() && e.ann.Session > 0 && e.ann.Session < n.started.UnixNano() {
		return n.started
	}
	return time.Time{}
}

// markLostLocked makes the loss of every node lost at now stick (until a
// heartbeat), so that it outlasts the fleet's not listening.
func (f *Fleet) markLostLocked(now time.Time) {
	for _, n := range f.nodes {
		if n.lostAt.IsZero() {
			n.lostAt = f.lostAtLocked(n, now)
		}
	}
}

// stateLocked is e's state and reason at now, as statusLocked says them,
// without the time they began: the cheap path that drawing, listing and
// counting take for every driver.
func (f *Fleet) stateLocked(e *entry, now time.Time) (State, liveness.Reason) {
	switch {
	case e.announced():
		if e.ann.State != Offline && !f.lostForLocked(e, now).IsZero() {
			return Offline, liveness.NodeLost // as liveness.Effective says
		}
		return e.ann.State, e.ann.Reason
	case e.HasFix(): // always, for a driver not announced
		return f.th.Status(now.Sub(e.FixTime)), FixAge
	}
	return Offline, liveness.Unknown
}

// statusLocked is what e shows at now: its announced status as Effective
// makes it, or its fallback; the time it began is the one noted when the
// state and reason are the ones last noted (a fallback's online state
// began with the fix that made it online, not with the newest fix).
func (f *Fleet) statusLocked(e *entry, now time.Time) liveness.Status {
	var st liveness.Status
	switch {
	case e.announced():
		st = liveness.Effective(e.ann.Status(), f.lostForLocked(e, now))
	case e.HasFix():
		st = f.th.fallback(e.FixTime, now)
	default:
		st = liveness.Status{State: Offline, Reason: liveness.Unknown}
	}
	if cur := e.current(); cur != nil && cur.State == st.State && cur.Reason == st.Reason && !e.announced() {
		st.Since = cur.Since
	}
	return st
}

// noteLocked records e's status at now in its history if its state or
// reason changed, and reports whether it did.
func (f *Fleet) noteLocked(e *entry, now time.Time) bool {
	state, reason := f.stateLocked(e, now)
	if state == e.shown && reason == e.shownReason {
		return false
	}
	st := f.statusLocked(e, now)
	if st.Since.IsZero() {
		st.Since = now
	}
	e.shown, e.shownReason = state, reason
	if len(e.history) == f.historyLen {
		copy(e.history, e.history[1:])
		e.history = e.history[:len(e.history)-1]
	}
	e.history = append(e.history, st)
	return true
}

// livenessLocked is e's Liveness at now.
func (f *Fleet) livenessLocked(e *entry, now time.Time) Liveness {
	l := Liveness{Status: f.statusLocked(e, now), Announced: e.announced()}
	if l.Announced {
		l.Node = e.ann.Node
		if e.ann.LastFix > 0 {
			l.LastFix = time.UnixMilli(e.ann.LastFix)
		}
	}
	l.History = make([]liveness.Status, 0, len(e.history)+1)
	if cur := e.current(); cur == nil || cur.State != l.State || cur.Reason != l.Reason {
		l.History = append(l.History, l.Status) // changed since the last note
	}
	for i := len(e.history) - 1; i >= 0 && len(l.History) < f.historyLen; i-- {
		l.History = append(l.History, e.history[i])
	}
	return l
}
