// Package tap is the analytics tap: it copies every fix stored in the
// LOCATIONS stream to an output (a file, stdout, a pipe into anything) as
// JSON lines or CSV, through a durable JetStream consumer, at least once,
// and resumes where it left off after its own restart. rtls-tap
// (tap/cmd/rtls-tap) is its command.
//
// # How it reads
//
// The tap signs in with its own NATS identity, an analytics identity of
// the node's bus configuration, which may create, read and acknowledge one
// durable consumer and nothing else (package node/busauth). It creates that
// consumer (pull, explicit acknowledgements, every fix from the first when
// it is first created) or takes it up where the previous run acknowledged,
// and then repeats: fetch up to Config.Batch fixes, write them, flush and
// sync the output, acknowledge them.
//
// # At least once, and no duplicate lines
//
// A fix is acknowledged only after its line is written and synced, so a
// crash loses nothing: what was not acknowledged is delivered again. What
// was written but not acknowledged is then delivered a second time, and is
// skipped by its cursor (the stream sequence, written on every line):
// Append reads the last cursor of an existing output, and the tap skips
// every fix at or below it. That needs the output in stream order, which
// the tap keeps (package tap's README says how).
//
// # Retention
//
// The stream keeps fixes for its max age (24 hours by default) and at most
// its history depth per driver. The consumer is removed by the stream after
// as long without a reader; a tap that was down longer creates it again and
// starts from what the stream still holds, so its output has a hole where
// fixes expired.
//
// # Concurrency
//
// A Tap is driven by one goroutine: New, then Run, which returns when its
// context ends and leaves no goroutine of its own behind. Stats may be
// called from any goroutine.
package tap
