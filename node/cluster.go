package node

import (
	"context"
	"fmt"
	"time"

	"github.com/rtls-io/rtls/internal/fixstream"
)

// clustered reports whether the node is configured to be part of a cluster.
func (n *Node) clustered() bool { return n.cfg.ClusterAddr != "" }

// streamRole says whether this node leads the stream, whether its replica is
// current, and whether another replica is current (could take over).
func (n *Node) streamRole(ctx context.Context) (leader, current, peerCurrent bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := n.js.Stream(ctx, fixstream.StreamName)
	if err != nil {
		return false, false, false, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return false, false, false, err
	}
	ci := info.Cluster
	if ci == nil {
		return true, true, false, nil
	}
	leader = ci.Leader == n.cfg.Name
	current = leader
	member := leader
	for _, r := range ci.Replicas {
		ok := r.Current && !r.Offline
		if r.Name == n.cfg.Name {
			current, member = ok, true
		} else if ok || r.Name == ci.Leader {
			peerCurrent = true
		}
	}
	if !leader && ci.Leader != "" {
		peerCurrent = true
	}
	if !member {
		current = true // not one of the stream's peers: nothing to catch up
	}
	return leader, current, peerCurrent, nil
}

// waitCaughtUp waits until JetStream's meta state and this node's replica of
// the stream are current, so a restarted node reports ready only once it has
// caught up from its peers.
func (n *Node) waitCaughtUp(ctx context.Context) error {
	var last string
	for {
		if !n.srv.JetStreamIsCurrent() {
			last = "JetStream meta data not current"
		} else if _, current, _, err := n.streamRole(ctx); err != nil {
			last = err.Error()
		} else if !current {
			last = "stream replica behind its leader"
		} else {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not caught up with the cluster (%s): %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stepDown hands the stream's leadership to another replica, when this node
// has it, and waits until one has taken over: publishing then does not stall
// for a leader election when this node stops (lame duck).
func (n *Node) stepDown(ctx context.Context) {
	leader, _, peer, err := n.streamRole(ctx)
	if err != nil || !leader || !peer {
		return // nothing to hand over, or nobody to take it
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var asked time.Time
	for ctx.Err() == nil {
		leader := n.cfg.Name // while unknown, assume the step-down is needed
		ictx, icancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if s, err := n.js.Stream(ictx, fixstream.StreamName); err == nil {
			if info, err := s.Info(ictx); err == nil && info.Cluster != nil {
				leader = info.Cluster.Leader
			}
		}
		icancel()
		if leader != "" && leader != n.cfg.Name {
			n.log.Info("stream leadership handed over", "to", leader, "took", time.Since(start))
			return
		}
		// Still the leader (a transfer can fail and the old leader win the
		// election again): ask again every half second.
		if leader == n.cfg.Name && time.Since(asked) > 500*time.Millisecond {
			if _, err := n.nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+fixstream.StreamName, nil, time.Second); err != nil {
				n.log.Warn("stream leader step-down failed", "err", err)
			}
			asked = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	n.log.Warn("no new stream leader after step-down")
}
