// Package bench measures an rtls cluster end to end: simulated drivers and
// riders speak the real protocol (mobileproto) to three rtlsd processes, every
// rider on another node than its driver, and the load generator records when
// each fix was taken, what became of it and when each rider received it.
// Beside it, in the same run, it measures what raw NATS achieves on the same
// cluster (core pub/sub and JetStream R3 publishing of the same message
// size): the engine's ceiling.
//
// Runner runs a Preset (small, city, ramp, overload, battery) on a cluster
// it starts and stops; cmd/rtls-bench only turns flags into a Config and
// writes the Result (JSON, Markdown, a latency plot).
//
// # Intervals
//
// A node asks each driver app with set-interval to send fast while someone
// watches the driver and slow while nobody does. The throughput presets'
// drivers ignore it and keep to the preset's rate. The battery preset's
// drivers obey it (Workload.ObeyInterval), only a share of them is watched,
// and some riders switch drivers halfway: the step reports the fixes sent
// by watched and unwatched drivers, the fixes saved against the same fleet
// at the fast interval throughout, and how soon a switch reached the
// drivers (Intervals).
//
// # Open and closed loop
//
// Phones send on a timer whether or not the last fix was acked. In open loop
// (LoopOpen, the default of a Workload and of the ramp and overload presets)
// every driver takes a fix at each point of its schedule and puts it in its
// phone's outbox without waiting; a sender hands the outbox to the client.
// When the client cannot take more (its in-flight bound is full or its socket
// does not drain), the outbox drops its oldest fix and the drop is counted as
// not sent. In closed loop (LoopClosed) the generator waits for the client
// and the ticks missed meanwhile are never offered, so the offered load falls
// to what the cluster takes: fine far below capacity, blind beyond it.
//
// # Accounting
//
// Every offered fix ends as not sent, acked, refused or failed (by error
// code) or unanswered; loss counts what riders never got of the offered
// fixes without being told, a fix counting only if acked, and
// acked-but-lost must be 0 at any load. A fix the node skipped for a slow
// rider and announced (the next location's prev) counts apart, as skipped
// (see StepResult). Search, the accounting, the /proc readings, the
// report and the comparison of two runs are pure or local and are tested;
// the figures themselves belong in benchmark output, never in a test verdict.
//
// Run and Runner.Run may be called from any goroutine; one Runner runs once
// at a time.
package bench
