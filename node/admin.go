package node

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rtls-io/rtls/liveness"
)

// listenAdmin starts the admin listener, when configured: /metrics,
// /v1/status, /healthz and /readyz. It is up from the start of Start to the
// end of Shutdown, so that a node that cannot become ready, or drains, can
// be seen.
func (n *Node) listenAdmin() error {
	if n.cfg.AdminAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", n.cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("node %s: listen %s (admin): %w", n.cfg.Name, n.cfg.AdminAddr, err)
	}
	errLog := slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.Registry, promhttp.HandlerOpts{
		ErrorLog:          errLog,
		ErrorHandling:     promhttp.ContinueOnError, // a failed collector loses its metrics, not the scrape
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.Status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": n.cfg.Name})
	})
	mux.HandleFunc("GET /readyz", n.serveReady)
	var h http.Handler = mux
	if tok := n.cfg.AdminToken; tok != "" {
		want := []byte("Bearer " + tok)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rtls admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "message": "the admin endpoints need Authorization: Bearer <admin token>"})
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	n.adminLn = ln
	n.adminSrv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: n.cfg.HeaderTimeout,
		IdleTimeout:       n.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.adminDone = make(chan struct{})
	go func() {
		defer close(n.adminDone)
		if err := n.adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

// AdminAddr returns the address of the admin listener, or "" when there is none.
func (n *Node) AdminAddr() string {
	if n.adminLn == nil {
		return ""
	}
	return n.adminLn.Addr().String()
}

// Status is a node's view of itself and its cluster, served at /v1/status.
type Status struct {
	Node string `json:"node"`
	// State is "starting", "ready", "draining", or "not ready" with Reason.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	Epoch  string `json:"epoch,omitempty"`
	// Peers are the nodes this node hears heartbeats from (itself included).
	Peers []PeerStatus `json:"peers"`
	// Routes is how many route connections to other nodes are up (NATS
	// keeps a pool of several per peer).
	Routes      int                    `json:"routes"`
	Stream      *StreamStatus          `json:"stream,omitempty"`
	Connections ConnectionsStatus      `json:"connections"`
	InFlight    int                    `json:"in_flight"`
	Tracked     int                    `json:"tracked_drivers"`
	Drivers     map[liveness.State]int `json:"drivers"`
}

// PeerStatus is a node as heartbeats show it.
type PeerStatus struct {
	Node     string `json:"node"`
	Alive    bool   `json:"alive"`
	LastSeen int64  `json:"last_seen"` // ms since the Unix epoch
}

// StreamStatus is the LOCATIONS stream as the stream guard last saw it
// (CheckedAt), which is every 2 seconds.
type StreamStatus struct {
	Leader    string          `json:"leader"`
	Messages  uint64          `json:"messages"`
	Bytes     uint64          `json:"bytes"`
	FirstSeq  uint64          `json:"first_seq"`
	LastSeq   uint64          `json:"last_seq"`
	Replicas  []ReplicaStatus `json:"replicas"`
	CheckedAt int64           `json:"checked_at"` // ms since the Unix epoch
}

// ReplicaStatus is one copy of the stream: current with the leader, or Lag
// operations behind.
type ReplicaStatus struct {
	Node    string `json:"node"`
	Leader  bool   `json:"leader,omitempty"`
	Current bool   `json:"current"`
	Lag     uint64 `json:"lag"`
}

// ConnectionsStatus counts the node's WebSocket connections.
type ConnectionsStatus struct {
	Drivers int `json:"drivers"`
	Riders  int `json:"riders"`
}

// Status returns the node's view of itself and its cluster, from memory
// only: it never waits for the cluster.
func (n *Node) Status() Status {
	st := Status{Node: n.cfg.Name, Epoch: n.Epoch(), Peers: []PeerStatus{}}
	switch {
	case n.draining.Load():
		st.State = "draining"
	case !n.ready.Load():
		st.State = "starting"
	case n.StreamProblem() != "":
		st.State, st.Reason = "not ready", n.StreamProblem()
	default:
		st.State = "ready"
	}
	s := n.Stats()
	st.Connections = ConnectionsStatus{Drivers: s.Drivers, Riders: s.Riders}
	st.InFlight, st.Tracked = s.PendingPublishes, s.TrackedDrivers
	if p := n.presence; p != nil {
		for _, peer := range p.nodes.Peers() {
			st.Peers = append(st.Peers, PeerStatus{Node: peer.Name, Alive: !peer.Lost, LastSeen: peer.LastSeen.UnixMilli()})
		}
		st.Drivers = p.countStates()
	}
	if srv := n.srv; srv != nil && srv.Running() {
		st.Routes = srv.NumRoutes()
	}
	if si := n.streamInfo.Load(); si != nil {
		info := si.info
		ss := &StreamStatus{
			Messages: info.State.Msgs, Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
			CheckedAt: si.at.UnixMilli(), Replicas: []ReplicaStatus{},
		}
		if cl := info.Cluster; cl != nil {
			ss.Leader = cl.Leader
			if cl.Leader != "" {
				ss.Replicas = append(ss.Replicas, ReplicaStatus{Node: cl.Leader, Leader: true, Current: true})
			}
			for _, r := range cl.Replicas {
				ss.Replicas = append(ss.Replicas, ReplicaStatus{Node: r.Name, Current: r.Current && !r.Offline, Lag: r.Lag})
			}
		} else {
			ss.Leader = n.cfg.Name
			ss.Replicas = append(ss.Replicas, ReplicaStatus{Node: n.cfg.Name, Leader: true, Current: true})
		}
		st.Stream = ss
	}
	return st
}
