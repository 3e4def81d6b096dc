// Package metrics is a node's Prometheus metrics: what the node observes as
// it works (latencies, refusals by code) and, at scrape time, a snapshot of
// its counters and of its view of the cluster. Metrics observe; they never
// decide. Each node has its own registry, so that nodes in one process
// (tests, an in-process cluster) do not share metrics. No metric has a
// per-driver or per-rider label.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespace prefixes every metric.
const namespace = "rtls"

// latencyBuckets span 0.5 ms to ~8 s: a fix's way through a healthy node
// takes milliseconds, a leader election seconds.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 15)

// Metrics are one node's metrics.
type Metrics struct {
	// Registry holds them all, for promhttp.HandlerFor.
	Registry *prometheus.Registry
	// AckLatency observes, per fix, the time from its frame read off the
	// driver's socket to its answer (ack or refusal) queued.
	AckLatency prometheus.Histogram
	// DeliveryLatency observes, per live frame written to a rider's
	// socket, the time since the fix arrived on the node's bus.
	DeliveryLatency prometheus.Histogram
	fixesRefused    *prometheus.CounterVec
	errorsSent      *prometheus.CounterVec
	acked           atomic.Uint64
}

// Source returns the node's figures at scrape time. It must read memory
// only: a scrape never waits for the cluster.
type Source func() Snapshot

// Snapshot is what a scrape shows of the node besides what Metrics observe.
type Snapshot struct {
	Ready                                                   bool
	Drivers, Riders                                         int
	ConnectionsRefused, FixesReceived, FixesStored, Retries uint64
	PublishPending                                          int
	Delivered, Replayed, Conflated                          uint64
	GapsFilled, GapsLost, BusRejected                       uint64
	TrackedDrivers                                          int
	LiveSubscriptions                                       int64
	// DriverStates counts drivers by liveness state ("online", …).
	DriverStates          map[string]int
	PeersAlive, PeersLost int
	StreamHealthy         bool
	// Stream is nil until the node has seen the stream.
	Stream *Stream
	// NATS is nil while the embedded server does not run.
	NATS *NATS
}

// Stream is the LOCATIONS stream as the node last saw it.
type Stream struct {
	Messages, Bytes, LastSeq uint64
	Age                      time.Duration // since it was seen
	Leader                   bool          // this node leads it
	Replicas                 []Replica
}

// Replica is one copy of the stream.
type Replica struct {
	Name    string
	Lag     uint64
	Current bool
}

// NATS are the embedded NATS server's figures.
type NATS struct {
	Connections, Routes, Remotes            int
	SlowConsumers, Stalled, InMsgs, OutMsgs int64
	Subscriptions                           uint32
}

// FixCodes are the error codes a fix may be refused with; their counters
// exist from the start, at zero, so that rate() sees the first refusal.
var FixCodes = []string{"invalid_location", "bad_request", "forbidden", "rate_limited", "overloaded", "out_of_order", "unavailable", "internal"}

// New returns the metrics of a node whose figures src gives.
func New(src Source) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "fix_ack_seconds",
			Help:    "Time from a fix read off its driver's socket to its answer (ack or refusal) queued: the publish to the stream and its replication.",
			Buckets: latencyBuckets,
		}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "fix_delivery_seconds",
			Help:    "Time from a stored fix's arrival on this node's bus (the stream republishes it as it stores it) to its frame written to a rider's socket.",
			Buckets: latencyBuckets,
		}),
		fixesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "fixes_refused_total",
			Help: "Fixes answered with an error frame instead of an ack, by error code.",
		}, []string{"code"}),
		errorsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "error_frames_total",
			Help: "Error frames sent to clients, by error code (fixes, tracking, tokens, sessions).",
		}, []string{"code"}),
	}
	for _, c := range FixCodes {
		m.fixesRefused.WithLabelValues(c)
		m.errorsSent.WithLabelValues(c)
	}
	m.Registry.MustRegister(
		m.AckLatency, m.DeliveryLatency, m.fixesRefused, m.errorsSent,
		&collector{m: m, src: src},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// FixRefused counts a fix answered with the error code instead of an ack.
func (m *Metrics) FixRefused(code string) { m.fixesRefused.WithLabelValues(code).Inc() }

// ErrorSent counts an error frame sent to a client.
func (m *Metrics) ErrorSent(code string) { m.errorsSent.WithLabelValues(code).Inc() }

// Acked counts an ack sent to a driver.
func (m *Metrics) Acked() { m.acked.Add(1) }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

var (
	descReady         = desc("node_ready", "1 when the node serves clients (started, not draining, stream as it should be), else 0.")
	descConnections   = desc("connections", "Open WebSocket connections, by role.", "role")
	descConnRefused   = desc("connections_refused_total", "WebSocket connections refused by a connection limit.")
	descReceived      = desc("fixes_received_total", "Valid fixes read from drivers' sockets.")
	descStored        = desc("fixes_stored_total", "Fixes the stream confirmed stored (duplicates of stored fixes included).")
	descAcked         = desc("fixes_acked_total", "Acks sent to drivers (fixes without seq are stored but not acked).")
	descRetries       = desc("publish_retries_total", "Fixes published again after their answer was lost (leader elections).")
	descPending       = desc("publish_pending", "Fixes published and not yet answered, plus those waiting for their turn.")
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

	allDescs = []*prometheus.Desc{
		descReady, descConnections, descConnRefused, descReceived, descStored, descAcked, descRetries, descPending,
		descDelivered, descReplayed, descConflated, descGapsFilled, descGapsLost, descBusRejected, descTracked,
		descLiveSubs, descDrivers, descPeers, descStreamMsgs, descStreamBytes, descStreamLastSeq, descStreamLeader,
		descStreamHealthy, descStreamAge, descReplicaLag, descReplicaCur, descNATSConns, descNATSRoutes,
		descNATSRemotes, descNATSSlow, descNATSStalled, descNATSInMsgs, descNATSOutMsgs, descNATSSubs,
	}
	// driverStates are always shown, at zero when no driver is in them.
	driverStates = []string{"online", "stale", "offline"}
)

// collector turns a Snapshot into metrics at scrape time.
type collector struct {
	m   *Metrics
	src Source
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	s := c.src()
	gauge(descReady, b2f(s.Ready))
	gauge(descConnections, float64(s.Drivers), "driver")
	gauge(descConnections, float64(s.Riders), "rider")
	counter(descConnRefused, s.ConnectionsRefused)
	counter(descReceived, s.FixesReceived)
	counter(descStored, s.FixesStored)
	counter(descAcked, c.m.acked.Load())
	counter(descRetries, s.Retries)
	gauge(descPending, float64(s.PublishPending))
	counter(descDelivered, s.Delivered)
	counter(descReplayed, s.Replayed)
	counter(descConflated, s.Conflated)
	counter(descGapsFilled, s.GapsFilled)
	counter(descGapsLost, s.GapsLost)
	counter(descBusRejected, s.BusRejected)
	gauge(descTracked, float64(s.TrackedDrivers))
	gauge(descLiveSubs, float64(s.LiveSubscriptions))
	for _, st := range driverStates {
		gauge(descDrivers, float64(s.DriverStates[st]), st)
	}
	gauge(descPeers, float64(s.PeersAlive), "alive")
	gauge(descPeers, float64(s.PeersLost), "lost")
	gauge(descStreamHealthy, b2f(s.StreamHealthy))
	if st := s.Stream; st != nil {
		gauge(descStreamMsgs, float64(st.Messages))
		gauge(descStreamBytes, float64(st.Bytes))
		gauge(descStreamLastSeq, float64(st.LastSeq))
		gauge(descStreamAge, st.Age.Seconds())
		gauge(descStreamLeader, b2f(st.Leader))
		for _, r := range st.Replicas {
			gauge(descReplicaLag, float64(r.Lag), r.Name)
			gauge(descReplicaCur, b2f(r.Current), r.Name)
		}
	}
	if v := s.NATS; v != nil {
		gauge(descNATSConns, float64(v.Connections))
		gauge(descNATSRoutes, float64(v.Routes))
		gauge(descNATSRemotes, float64(v.Remotes))
		counter(descNATSSlow, uint64(v.SlowConsumers))
		counter(descNATSStalled, uint64(v.Stalled))
		counter(descNATSInMsgs, uint64(v.InMsgs))
		counter(descNATSOutMsgs, uint64(v.OutMsgs))
		gauge(descNATSSubs, float64(v.Subscriptions))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
