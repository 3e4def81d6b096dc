// Package cluster runs a cluster of rtls nodes on one machine: it plans the
// nodes' configurations (names, ports, routes to every peer, data dirs) and
// starts them either in this process (for tests and the benchmark) or as
// separate rtlsd processes (for task cluster and for failover tests that
// kill a process for real). A single node and a cluster run the same node
// code; the stream is R3 once there are three nodes.
//
// Package clustertest wraps both in a test fixture.
package cluster
