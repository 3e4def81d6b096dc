package tap

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// natsOptions are the options of the tap's connection. A permission
// violation or the connection's final close calls fail with a terminal
// error; other asynchronous errors are logged.
func (t *Tap) natsOptions(fail func(error)) ([]nats.Option, error) {
	c := &t.cfg
	opts := []nats.Option{
		nats.Name(c.Name),
		// Start while no node answers (a cluster starting with its
		// back-ends) and keep trying every URL.
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				fail(fmt.Errorf("%w: %v (the bus allows an analytics identity one consumer: is %q the one its configuration names?)", ErrPermission, err, c.Consumer))
				return
			}
			t.log.Warn("NATS error", "err", err)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				t.log.Warn("disconnected; reconnecting", "err", err)
			}
		}),
		nats.ConnectHandler(func(nc *nats.Conn) { t.log.Info("connected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { t.log.Info("reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(nc *nats.Conn) {
			fail(fmt.Errorf("%w: %v", ErrClosed, nc.LastError()))
		}),
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("%w: nkey seed file: %v", ErrInvalidConfig, err)
		}
		opts = append(opts, o)
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	return opts, nil
}
