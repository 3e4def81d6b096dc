package tap

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/rtls-io/rtls/location"
)

// DefaultURL is the NATS client URL of a single development node.
const DefaultURL = "nats://127.0.0.1:4222"

// DefaultConsumer is the consumer name task cluster gives its analytics
// identity.
const DefaultConsumer = "warehouse"

// Config is what a Tap reads, as whom, and where it writes. A zero field
// means the default in its comment.
type Config struct {
	// URLs are the client URLs of the cluster's nodes; the tap connects to
	// one and fails over to the others. Zero value means DefaultURL.
	URLs []string
	// NKeySeedFile holds the analytics identity's nkey seed ("SU…";
	// rtls-token -gen-nkey makes one). CredsFile is a NATS credentials
	// file instead. At most one of them may be set.
	NKeySeedFile string
	CredsFile    string
	// CAFile is the CA certificate of the cluster's client ports when they
	// use TLS (tls:// URLs); CertFile and KeyFile are a client
	// certificate, for ports that verify their clients.
	CAFile, CertFile, KeyFile string

	// Consumer is the durable consumer's name: the one the node's bus
	// configuration gives this identity. Zero value means DefaultConsumer.
	Consumer string

	// Output receives the fixes, one line each. Required. After every
	// batch the tap flushes its buffer into Output and, when Output has a
	// Sync method (an *os.File, a *File), calls it, before acknowledging
	// the batch.
	Output io.Writer
	// Format of the lines. Zero value means JSONLines, or the file's
	// format when Output is a *File.
	Format Format
	// Header writes the format's header (CSV's column names) before the
	// first fix: set it for a new output such as stdout. Append writes it
	// into a new file itself.
	Header bool
	// After is the cursor of the last fix already in Output: a fix at or
	// below it was written by an earlier run and is skipped (and
	// acknowledged). Zero value means none, or File.Last when Output is a
	// *File.
	After uint64

	// Batch is the most fixes fetched, written and acknowledged together;
	// it is also the consumer's MaxAckPending. Zero value means 1000.
	Batch int
	// BatchWait is how long a fetch waits for a full batch: the longest a
	// stored fix waits before it is written when few arrive, and about how
	// long Run takes to return after its context ends. Zero value means 1
	// second.
	BatchWait time.Duration
	// AckWait is how long the stream waits for the acknowledgement of a
	// delivered fix before delivering it again. After a crash that left
	// fixes delivered but not written, the tap waits until they are due
	// again before it reads anything newer, so that the output stays in
	// stream order. Zero value means 10 seconds.
	AckWait time.Duration
	// InactiveThreshold is how long the consumer may go unread before the
	// stream removes it. Zero value, or more than the stream allows, means
	// the stream's limit (its consumers' inactive threshold, else its max
	// age: 24 hours by default).
	InactiveThreshold time.Duration
	// MaxRetryWait is the longest pause between attempts while the stream
	// or the consumer is unavailable (missing, electing a leader,
	// unreachable); pauses start at a twentieth of it and double. Zero
	// value means 5 seconds.
	MaxRetryWait time.Duration

	// Name is the client name the servers show. Zero value means "rtls-tap".
	Name string
	// Logger gets what the tap does: connections, retries, waits and
	// invalid records. Zero value means no logs.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if f, ok := c.Output.(*File); ok {
		if c.Format != JSONLines && c.Format != f.Format {
			return bad("format %s for a %s file", c.Format, f.Format)
		}
		c.Format = f.Format
		if c.After == 0 {
			c.After = f.Last
		}
	}
	if len(c.URLs) == 0 {
		c.URLs = []string{DefaultURL}
	}
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.Batch == 0 {
		c.Batch = 1000
	}
	if c.BatchWait == 0 {
		c.BatchWait = time.Second
	}
	if c.AckWait == 0 {
		c.AckWait = 10 * time.Second
	}
	if c.MaxRetryWait == 0 {
		c.MaxRetryWait = 5 * time.Second
	}
	if c.Name == "" {
		c.Name = "rtls-tap"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Output == nil:
		return bad("no output")
	case c.Format != JSONLines && c.Format != CSV:
		return bad("unknown format %d", c.Format)
	case !location.ValidID(c.Consumer):
		return bad("consumer %q: use 1-%d ASCII letters, digits, '-' or '_'", c.Consumer, location.MaxIDLength)
	case c.NKeySeedFile != "" && c.CredsFile != "":
		return bad("use an nkey seed file or a credentials file, not both")
	case (c.CertFile == "") != (c.KeyFile == ""):
		return bad("a client certificate needs both a certificate and a key file")
	case c.Batch < 0 || c.Batch > 10000:
		return bad("batch %d: must be within [1, 10000]", c.Batch)
	case c.BatchWait < 10*time.Millisecond || c.BatchWait > 30*time.Second:
		return bad("batch wait %v: must be within [10ms, 30s]", c.BatchWait)
	case c.AckWait < time.Second || c.AckWait < 2*c.BatchWait:
		return bad("ack wait %v: must be at least 1s and twice the batch wait", c.AckWait)
	case c.InactiveThreshold < 0 || c.MaxRetryWait < 0:
		return bad("negative duration")
	}
	return nil
}
