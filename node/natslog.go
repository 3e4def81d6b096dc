package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// natsLogger passes the embedded server's logs to the node's slog logger,
// tagged with the node's name. Fatalf only logs: a library never exits the
// process (the server's own logger would call os.Exit).
type natsLogger struct{ l *slog.Logger }

var _ server.Logger = natsLogger{}

func (n natsLogger) log(level slog.Level, format string, v []any) {
	if n.l.Enabled(context.Background(), level) {
		n.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats")
	}
}

func (n natsLogger) Noticef(format string, v ...any) { n.log(slog.LevelInfo, format, v) }
func (n natsLogger) Warnf(format string, v ...any)   { n.log(slog.LevelWarn, format, v) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.log(slog.LevelError, "FATAL: "+format, v) }
func (n natsLogger) Errorf(format string, v ...any)  { n.log(slog.LevelError, format, v) }
func (n natsLogger) Debugf(format string, v ...any)  { n.log(slog.LevelDebug, format, v) }
func (n natsLogger) Tracef(format string, v ...any)  { n.log(slog.LevelDebug-4, format, v) }
