// Command rtls-tap copies every fix stored in an rtls cluster to a file or
// to stdout, as JSON lines or CSV, through the durable consumer of the
// cluster's analytics identity: at least once, without duplicate lines, and
// from where it stopped when started again on the same file.
//
//	rtls-tap -nats nats://127.0.0.1:4222,nats://127.0.0.1:4223 -nkey secrets/analytics.nk \
//	         -consumer warehouse -format jsonl -out fixes.jsonl
//
// With -out empty or "-" it writes to stdout (pipe it into anything). It
// stops on SIGINT or SIGTERM after writing and acknowledging the batch it
// holds, and prints a summary line on stderr. See tap/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/internal/commalist"
	"github.com/rtls-io/rtls/tap"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(os.Stdout, os.Stderr)
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "rtls-tap:", err)
		os.Exit(2)
	}
	err := m.Run(ctx)
	m.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtls-tap:", err)
		os.Exit(1)
	}
}

// Main is the program: flags in, a tap run, a summary out.
type Main struct {
	// Config is the tap's configuration; Run sets its Output.
	Config tap.Config
	// Out is the output file; "" or "-" means stdout.
	Out string

	stdout, stderr io.Writer
	file           *tap.File
	tap            *tap.Tap
}

// NewMain returns a Main writing fixes to stdout (unless -out says
// otherwise) and logs and the summary to stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{stdout: stdout, stderr: stderr}
}

// ParseFlags reads the command line into m.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("rtls-tap", flag.ContinueOnError)
	fs.SetOutput(m.stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.stderr, "Usage: rtls-tap -nkey analytics.nk [-nats URLs] [-consumer warehouse] [-format jsonl|csv] [-out FILE]")
		fs.PrintDefaults()
	}
	c := &m.Config
	urls := fs.String("nats", tap.DefaultURL, "NATS client `URLs` of the cluster's nodes, comma-separated (tls:// for TLS)")
	fs.StringVar(&c.NKeySeedFile, "nkey", "", "`file` with the analytics identity's nkey seed (rtls-token -gen-nkey makes one)")
	fs.StringVar(&c.CredsFile, "creds", "", "NATS credentials `file`, instead of -nkey")
	fs.StringVar(&c.CAFile, "ca", "", "CA certificate `file` of the nodes' client ports (tls:// URLs)")
	fs.StringVar(&c.CertFile, "tls-cert", "", "client certificate `file`, for client ports that verify clients")
	fs.StringVar(&c.KeyFile, "tls-key", "", "client certificate's key `file`")
	fs.StringVar(&c.Consumer, "consumer", tap.DefaultConsumer, "durable consumer `name`: the one the nodes' bus configuration gives the identity")
	format := fs.String("format", "jsonl", "output `format`: jsonl or csv")
	fs.StringVar(&m.Out, "out", "", "output `file`, appended to and resumed after its last fix; empty or - for stdout")
	fs.IntVar(&c.Batch, "batch", 1000, "most fixes written and acknowledged together")
	fs.DurationVar(&c.BatchWait, "batch-wait", time.Second, "how long a fetch waits for a full batch")
	fs.DurationVar(&c.AckWait, "ack-wait", 10*time.Second, "how long the stream waits for an acknowledgement before delivering a fix again")
	verbose := fs.Bool("v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if c.Format, err = tap.ParseFormat(*format); err != nil {
		return err
	}
	c.URLs = commalist.Split(*urls)
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	c.Logger = slog.New(slog.NewTextHandler(m.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// Run opens the output and runs the tap until ctx ends or it fails.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(m.stderr, nil))
	}
	if m.Out == "" || m.Out == "-" {
		// A pipe cannot be synced: hide stdout's Sync.
		cfg.Output, cfg.Header = struct{ io.Writer }{m.stdout}, true
	} else {
		f, err := tap.Append(m.Out, cfg.Format)
		if err != nil {
			return err
		}
		m.file = f
		cfg.Output = f
		if f.Cut > 0 {
			cfg.Logger.Warn("cut a torn last line (a crash while writing it); its fix comes again", "bytes", f.Cut)
		}
		if f.Last > 0 {
			cfg.Logger.Info("resuming the output after its last fix", "file", m.Out, "cursor", f.Last)
		}
	}
	t, err := tap.New(cfg)
	if err != nil {
		return err
	}
	m.tap = t
	return t.Run(ctx)
}

// Close closes the output file and prints the summary line.
func (m *Main) Close() error {
	var err error
	if m.file != nil {
		err = m.file.Close()
	}
	if m.tap != nil {
		st := m.tap.Stats()
		fmt.Fprintf(m.stderr, "rtls-tap: %d fixes written, %d duplicates skipped, %d invalid records; last cursor %d\n",
			st.Written, st.Duplicates, st.Invalid, st.Last)
	}
	return err
}
