package node

import (
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rtls-io/rtls/liveness"
	"github.com/rtls-io/rtls/mobileproto"
)

// metricsNamespace prefixes every metric of the node.
const metricsNamespace = "rtls"

// latencyBuckets span 0.5 ms to ~8 s: a fix's way through a healthy node
// takes milliseconds, a leader election seconds.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 15)

// nodeMetrics are what the node observes as it works (latencies, refusals
// by code). Everything else is read from the node's counters at scrape
// time by the collector. Each node has its own registry: nodes in one
// process (tests, `cluster` in-process) do not share metrics.
type nodeMetrics struct {
	registry *prometheus.Registry

	ackLatency      prometheus.Histogram
	deliveryLatency prometheus.Histogram
	fixesRefused    *prometheus.CounterVec
	errorsSent      *prometheus.CounterVec
	acked           atomic.Uint64
}

func newNodeMetrics(n *Node) *nodeMetrics {
	m := &nodeMetrics{
		registry: prometheus.NewRegistry(),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "fix_ack_seconds",
			Help:    "Time from a fix read off its driver's socket to its answer (ack or refusal) queued: the publish to the stream and its replication.",
			Buckets: latencyBuckets,
		}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "fix_delivery_seconds",
			Help:    "Time from a stored fix's arrival on this node's bus (the stream republishes it as it stores it) to its frame written to a rider's socket.",
			Buckets: latencyBuckets,
		}),
		fixesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "fixes_refused_total",
			Help: "Fixes answered with an error frame instead of an ack, by error code.",
		}, []string{"code"}),
		errorsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "error_frames_total",
			Help: "Error frames sent to clients, by error code (fixes, tracking, tokens, sessions).",
		}, []string{"code"}),
	}
	// The codes a fix may be refused with exist from the start, at zero,
	// so that rate() sees their first refusal.
	for _, c := range []mobileproto.Code{
		mobileproto.CodeInvalidLocation, mobileproto.CodeBadRequest, mobileproto.CodeForbidden, mobileproto.CodeRateLimited,
		mobileproto.CodeOverloaded, mobileproto.CodeOutOfOrder, mobileproto.CodeUnavailable, mobileproto.CodeInternal,
	} {
		m.fixesRefused.WithLabelValues(string(c))
		m.errorsSent.WithLabelValues(string(c))
	}
	m.registry.MustRegister(
		m.ackLatency, m.deliveryLatency, m.fixesRefused, m.errorsSent,
		&nodeCollector{n: n},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// nodeCollector turns the node's counters, its view of the stream and the
// embedded NATS server's figures into metrics at scrape time. It reads
// only in-memory state (the stream as the stream guard last saw it): a
// scrape never waits for the cluster, also while the node starts or stops.
type nodeCollector struct{ n *Node }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(metricsNamespace+"_"+name, help, labels, prometheus.Labels(nil))
}

var (
	descUp            = desc("node_ready", "1 when the node serves clients (started, not draining, stream as it should be), else 0.")
	descConnections   = desc("connections", "Open WebSocket connections, by role.", "role")
	descConnRefused   = desc("connections_refused_total", "WebSocket connections refused by a connection limit.")
	descReceived      = desc("fixes_received_total", "Valid fixes read from drivers' sockets.")
	descStored        = desc("fixes_stored_total", "Fixes the stream confirmed stored (duplicates of stored fixes included).")
	descAcked         = desc("fixes_acked_total", "Acks sent to drivers (fixes without seq are stored but not acked).")
	descRetries       = desc("publish_retries_total", "Fixes published again after their answer was lost (leader elections).")
	descInFlight      = desc("publish_pending", "Fixes published and not yet answered, plus those waiting for their turn.")
	descDelivered     = desc("fixes_delivered_total", "Live fix frames queued to riders.")
	descReplayed      = desc("fixes_replayed_total", "Stored fix frames replayed to riders on track-driver.")
	descConflated     = desc("fixes_conflated_total", "Live fix frames dropped for a newer fix of the same driver because the rider read too slowly (latest wins).")
	descGapsFilled    = desc("gaps_filled_total", "Missed live fixes read from the stream and delivered in order.")
	descGapsLost      = desc("gaps_lost_total", "Gaps in a driver's live fixes that could not be filled (expired, or the stream did not answer).")
	descBusRejected   = desc("bus_messages_rejected_total", "Messages on the bus dropped as invalid or forged (not what the stream holds).")
	descTracked       = desc("tracked_drivers", "Drivers at least one client of this node tracks.")
	descLiveSubs      = desc("live_subscriptions", "NATS subscriptions on live subjects (one per tracked driver).")
	descDrivers       = desc("drivers", "Drivers by liveness state, as this node knows the cluster's announcements.", "state")
	descPeers         = desc("cluster_peers", "Other nodes by heartbeat: alive or lost.", "state")
	descStreamMsgs    = desc("stream_messages", "Messages in the LOCATIONS stream.")
	descStreamBytes   = desc("stream_bytes", "Bytes in the LOCATIONS stream.")
	descStreamLastSeq = desc("stream_last_sequence", "The stream's last sequence (cursor).")
	descStreamLeader  = desc("stream_is_leader", "1 when this node leads the LOCATIONS stream.")
	descStreamHealthy = desc("stream_healthy", "1 when the stream guard last found the stream as it should be, else 0 (see /readyz for the reason).")
	descStreamAge     = desc("stream_info_age_seconds", "Age of the stream information these metrics show.")
	descReplicaLag    = desc("stream_replica_lag", "Operations a replica of the stream is behind its leader.", "replica")
	descReplicaCur    = desc("stream_replica_current", "1 when a replica of the stream is current with its leader.", "replica")
	descNATSConns     = desc("nats_connections", "Client connections of the embedded NATS server (the node's own, dispatchers, taps).")
	descNATSRoutes    = desc("nats_routes", "Connected route connections of the embedded NATS server (it keeps a pool of several per peer).")
	descNATSRemotes   = desc("nats_routes_configured", "Configured route remotes of the embedded NATS server.")
	descNATSSlow      = desc("nats_slow_consumers_total", "Connections the embedded NATS server cut off as slow consumers.")
	descNATSStalled   = desc("nats_stalled_clients_total", "Times the embedded NATS server stalled a fast producer.")
	descNATSInMsgs    = desc("nats_in_msgs_total", "Messages the embedded NATS server received.")
	descNATSOutMsgs   = desc("nats_out_msgs_total", "Messages the embedded NATS server sent.")
	descNATSSubs      = desc("nats_subscriptions", "Subscriptions on the embedded NATS server.")
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descUp, descConnections, descConnRefused, descReceived, descStored, descAcked, descRetries, descInFlight,
		descDelivered, descReplayed, descConflated, descGapsFilled, descGapsLost, descBusRejected, descTracked,
		descLiveSubs, descDrivers, descPeers, descStreamMsgs, descStreamBytes, descStreamLastSeq, descStreamLeader,
		descStreamHealthy, descStreamAge, descReplicaLag, descReplicaCur, descNATSConns, descNATSRoutes,
		descNATSRemotes, descNATSSlow, descNATSStalled, descNATSInMsgs, descNATSOutMsgs, descNATSSubs,
	} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descUp, b2f(n.Ready()))
	s := n.Stats()
	gauge(descConnections, float64(s.Drivers), string(mobileproto.RoleDriver))
	gauge(descConnections, float64(s.Riders), string(mobileproto.RoleRider))
	counter(descConnRefused, s.ConnectionsRefused)
	counter(descReceived, s.FixesReceived)
	counter(descStored, s.FixesStored)
	counter(descAcked, n.metrics.acked.Load())
	counter(descRetries, s.PublishRetries)
	gauge(descInFlight, float64(s.PendingPublishes))
	counter(descDelivered, s.FixesDelivered)
	counter(descReplayed, s.FixesReplayed)
	counter(descConflated, s.FixesConflated)
	counter(descGapsFilled, s.GapsFilled)
	counter(descGapsLost, s.GapsLost)
	counter(descBusRejected, s.BusRejected)
	gauge(descTracked, float64(s.TrackedDrivers))
	gauge(descLiveSubs, float64(s.LiveSubscriptions))

	if p := n.presence; p != nil {
		counts := p.countStates()
		for _, st := range []liveness.State{liveness.Online, liveness.Stale, liveness.Offline} {
			gauge(descDrivers, float64(counts[st]), string(st))
		}
		alive, lost := 0, 0
		for _, peer := range p.nodes.Peers() {
			if peer.Name == n.cfg.Name {
				continue
			}
			if peer.Lost {
				lost++
			} else {
				alive++
			}
		}
		gauge(descPeers, float64(alive), "alive")
		gauge(descPeers, float64(lost), "lost")
	}

	gauge(descStreamHealthy, b2f(n.ready.Load() && n.StreamProblem() == ""))
	if si := n.streamInfo.Load(); si != nil {
		info := si.info
		gauge(descStreamMsgs, float64(info.State.Msgs))
		gauge(descStreamBytes, float64(info.State.Bytes))
		gauge(descStreamLastSeq, float64(info.State.LastSeq))
		gauge(descStreamAge, time.Since(si.at).Seconds())
		if cl := info.Cluster; cl != nil {
			gauge(descStreamLeader, b2f(cl.Leader == n.cfg.Name))
			if cl.Leader != "" {
				gauge(descReplicaLag, 0, cl.Leader)
				gauge(descReplicaCur, 1, cl.Leader)
			}
			for _, r := range cl.Replicas {
				gauge(descReplicaLag, float64(r.Lag), r.Name)
				gauge(descReplicaCur, b2f(r.Current && !r.Offline), r.Name)
			}
		} else { // a single node leads its stream
			gauge(descStreamLeader, 1)
			gauge(descReplicaLag, 0, n.cfg.Name)
			gauge(descReplicaCur, 1, n.cfg.Name)
		}
	}

	if srv := n.srv; srv != nil && srv.Running() {
		if v, err := srv.Varz(nil); err == nil {
			gauge(descNATSConns, float64(v.Connections))
			gauge(descNATSRoutes, float64(v.Routes))
			gauge(descNATSRemotes, float64(v.Remotes))
			counter(descNATSSlow, uint64(v.SlowConsumers))
			counter(descNATSStalled, uint64(v.StalledClients))
			counter(descNATSInMsgs, uint64(v.InMsgs))
			counter(descNATSOutMsgs, uint64(v.OutMsgs))
			gauge(descNATSSubs, float64(v.Subscriptions))
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// streamSnapshot is the stream as the stream guard last saw it.
type streamSnapshot struct {
	info *jetstream.StreamInfo
	at   time.Time
}

// fixRefused counts a fix answered with e instead of an ack.
func (m *nodeMetrics) fixRefused(code mobileproto.Code) {
	m.fixesRefused.WithLabelValues(string(code)).Inc()
}

// monoStart anchors mono: frames carry the monotonic time they became
// deliverable in 8 bytes instead of a time.Time's 24.
var monoStart = time.Now()

func mono() int64 { return int64(time.Since(monoStart)) }
