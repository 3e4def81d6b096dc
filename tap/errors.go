package tap

import "errors"

// Errors of the tap. Run returns them wrapped with details; match them with
// errors.Is.
var (
	// ErrInvalidConfig is wrapped by New for a configuration it refuses.
	ErrInvalidConfig = errors.New("tap: invalid config")
	// ErrPermission: the bus refused something the tap asked for. Its
	// identity may create and read one durable consumer, the one the
	// node's bus configuration names (bus { analytics: [ { nkey, consumer } ] }),
	// and nothing else, so this usually means Config.Consumer is not that
	// name, or the identity is not an analytics identity. Terminal.
	ErrPermission = errors.New("tap: the bus refused")
	// ErrClosed: the connection to the cluster was closed for good, for
	// example because no node accepts the identity. Terminal.
	ErrClosed = errors.New("tap: connection closed")
	// ErrConsumerConfig: a consumer of that name exists with a
	// configuration the tap cannot use or update (say, a push consumer, or
	// one that does not start at the first fix). An operator can delete it.
	// Terminal.
	ErrConsumerConfig = errors.New("tap: unusable consumer")
	// ErrStreamReset: the stream was created again (a wiped cluster, an
	// operator deleted it) or the output came from another cluster: its
	// cursors started over, so the output's last cursor means nothing in
	// it. Write to a new output. Terminal.
	ErrStreamReset = errors.New("tap: the stream's cursors started over")
	// ErrOutput: writing, flushing or syncing the output failed; the fixes
	// of that batch were not acknowledged and will be delivered again.
	// Terminal: open the output again (Append) and start a new Tap.
	ErrOutput = errors.New("tap: output failed")
	// ErrFormat: an existing output file is not a tap output in the
	// format asked for.
	ErrFormat = errors.New("tap: not a tap output")
	// ErrStarted: Run was called a second time.
	ErrStarted = errors.New("tap: Run called twice")
)
