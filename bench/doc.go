// Package bench measures an rtls cluster end to end: simulated drivers and
// riders speak the real protocol (mobileproto) to three rtlsd processes, every
// rider on another node than its driver, and the load generator records when
// it sent each fix and when each rider received it. Beside it, in the same
// run, it measures what raw NATS achieves on the same cluster (core pub/sub
// and JetStream R3 publishing of the same message size): the engine's
// ceiling.
//
// The accounting (latency percentiles, loss, duplicates, reordering), the
// /proc readings, the report (JSON and Markdown) and the comparison of two
// runs live here and are tested; cmd/rtls-bench runs the presets.
package bench
