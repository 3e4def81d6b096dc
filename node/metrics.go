package node

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/node/metrics"
)

// streamSnapshot is the stream as the stream guard last saw it.
type streamSnapshot struct {
	info *jetstream.StreamInfo
	at   time.Time
}

// metricsSnapshot is the node's figures for a scrape, from memory only.
func (n *Node) metricsSnapshot() metrics.Snapshot {
	s := n.Stats()
	m := metrics.Snapshot{
		Ready:   n.Ready(),
		Drivers: s.Drivers, Riders: s.Riders,
		ConnectionsRefused: s.ConnectionsRefused, FixesReceived: s.FixesReceived, FixesStored: s.FixesStored,
		Retries: s.PublishRetries, PublishPending: s.PendingPublishes,
		Delivered: s.FixesDelivered, Replayed: s.FixesReplayed, Conflated: s.FixesConflated,
		GapsFilled: s.GapsFilled, GapsLost: s.GapsLost, BusRejected: s.BusRejected,
		TrackedDrivers: s.TrackedDrivers, LiveSubscriptions: s.LiveSubscriptions,
		StreamHealthy: n.ready.Load() && n.StreamProblem() == "",
		DriverStates:  map[string]int{},
	}
	if p := n.presence; p != nil {
		for st, c := range p.countStates() {
			m.DriverStates[string(st)] = c
		}
		for _, peer := range p.nodes.Peers() {
			switch {
			case peer.Name == n.cfg.Name:
			case peer.Lost:
				m.PeersLost++
			default:
				m.PeersAlive++
			}
		}
	}
	if si := n.streamInfo.Load(); si != nil {
		info := si.info
		st := &metrics.Stream{Messages: info.State.Msgs, Bytes: info.State.Bytes, LastSeq: info.State.LastSeq, Age: time.Since(si.at)}
		if cl := info.Cluster; cl != nil {
			st.Leader = cl.Leader == n.cfg.Name
			if cl.Leader != "" {
				st.Replicas = append(st.Replicas, metrics.Replica{Name: cl.Leader, Current: true})
			}
			for _, r := range cl.Replicas {
				st.Replicas = append(st.Replicas, metrics.Replica{Name: r.Name, Lag: r.Lag, Current: r.Current && !r.Offline})
			}
		} else { // a single node leads its stream
			st.Leader = true
			st.Replicas = []metrics.Replica{{Name: n.cfg.Name, Current: true}}
		}
		m.Stream = st
	}
	if srv := n.srv; srv != nil && srv.Running() {
		if v, err := srv.Varz(nil); err == nil {
			m.NATS = &metrics.NATS{
				Connections: v.Connections, Routes: v.Routes, Remotes: v.Remotes,
				SlowConsumers: v.SlowConsumers, Stalled: v.StalledClients, InMsgs: v.InMsgs, OutMsgs: v.OutMsgs,
				Subscriptions: v.Subscriptions,
			}
		}
	}
	return m
}

// monoStart anchors mono: frames carry the monotonic time they became
// deliverable in 8 bytes instead of a time.Time's 24.
var monoStart = time.Now()

func mono() int64 { return int64(time.Since(monoStart)) }
