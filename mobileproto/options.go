package mobileproto

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Option configures a Client. Options validate themselves; Dial returns an
// error wrapping ErrInvalidOption for a bad one.
type Option func(*options) error

type options struct {
	role          Role
	id            string
	header        http.Header
	dialer        *websocket.Dialer
	locBuffer     int
	maxInFlight   int
	writeTimeout  time.Duration
	reqTimeout    time.Duration
	handshakeWait time.Duration
	startSeq      uint64
	onError       func(*Error)
	reconnect     *ReconnectPolicy
	onState       func(State)
	onResume      func(Tracking)
	onStatus      func(DriverStatus)
	onInterval    func(SetInterval)
	token         func(ctx context.Context) (string, error)
	tokenRenews   bool // token is a source that can give a fresh token
}

// WithIdentity sets the development-mode identity sent in the URL query
// (role=…&id=…). A node in development mode requires it.
func WithIdentity(role Role, id string) Option {
	return func(o *options) error {
		if !role.Valid() {
			return fmt.Errorf("%w: unknown role %q", ErrInvalidOption, role)
		}
		if !ValidID(id) {
			return fmt.Errorf("%w: invalid id %q", ErrInvalidOption, id)
		}
		o.role, o.id = role, id
		return nil
	}
}

// WithToken authenticates with a signed app token, sent as
// "Authorization: Bearer <token>" on every connection. When the token
// expires the node closes the connection (token_expired, 4003) and the
// client stops: use WithTokenSource to get a fresh one, or RefreshToken.
func WithToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return fmt.Errorf("%w: empty token", ErrInvalidOption)
		}
		o.token = func(context.Context) (string, error) { return token, nil }
		o.tokenRenews = false
		return nil
	}
}

// WithTokenSource calls f for the token of every connection attempt, so that
// a client with WithReconnect comes back with a fresh token after its token
// expired. f must not block for long; its error fails the attempt.
func WithTokenSource(f func(ctx context.Context) (string, error)) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: nil token source", ErrInvalidOption)
		}
		o.token, o.tokenRenews = f, true
		return nil
	}
}

// WithHeader adds HTTP headers to the WebSocket handshake (for example an
// Authorization header).
func WithHeader(h http.Header) Option {
	return func(o *options) error {
		o.header = h.Clone()
		return nil
	}
}

// WithDialer replaces the WebSocket dialer.
func WithDialer(d *websocket.Dialer) Option {
	return func(o *options) error {
		if d == nil {
			return fmt.Errorf("%w: nil dialer", ErrInvalidOption)
		}
		o.dialer = d
		return nil
	}
}

// WithLocationBuffer sets how many received locations the client buffers
// for Locations before it stops reading from the socket (default 1024). When
// the application reads too slowly the node then keeps only the newest fix
// of each driver for it.
func WithLocationBuffer(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: location buffer must be >= 0", ErrInvalidOption)
		}
		o.locBuffer = n
		return nil
	}
}

// WithMaxInFlight bounds how many fixes may wait for their ack (default
// 1024); SendLocationAsync blocks while the bound is reached.
func WithMaxInFlight(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: max in-flight must be > 0", ErrInvalidOption)
		}
		o.maxInFlight = n
		return nil
	}
}

// WithWriteTimeout bounds each frame write when the context has no earlier
// deadline (default 10 s).
func WithWriteTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: write timeout must be > 0", ErrInvalidOption)
		}
		o.writeTimeout = d
		return nil
	}
}

// WithRequestTimeout bounds how long Track, Untrack, RefreshToken and
// SendLocation wait for the node's answer when their context has no
// deadline. The default is 30 seconds: a node answers a fix within its
// publish timeout (10 s by default) even through a leader election, and a
// tracking at once. A context with a deadline decides alone.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: request timeout must be > 0", ErrInvalidOption)
		}
		o.reqTimeout = d
		return nil
	}
}

// WithStartSeq sets the seq of the first fix sent without one. The default
// is the current Unix time in milliseconds, so a restarted app keeps
// increasing its seqs.
func WithStartSeq(seq uint64) Option {
	return func(o *options) error {
		if seq == 0 || seq > MaxSeq {
			return fmt.Errorf("%w: start seq must be within [1, %d]", ErrInvalidOption, uint64(MaxSeq))
		}
		o.startSeq = seq
		return nil
	}
}

// OnError sets a function called with error frames that answer no pending
// call. It runs on the client's read goroutine and must not block.
func OnError(f func(*Error)) Option {
	return func(o *options) error {
		o.onError = f
		return nil
	}
}

// ReconnectPolicy says how a Client reconnects after losing its node.
type ReconnectPolicy struct {
	// MinBackoff is the wait before the second attempt (the first is
	// immediate, to the next URL); it doubles up to MaxBackoff, with
	// jitter. Zero values mean 100 ms and 5 s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// GiveUpAfter stops reconnecting after this long without a node; the
	// client then stops with the last error. Zero means never give up.
	GiveUpAfter time.Duration
}

// WithReconnect makes the client reconnect when the connection is lost or a
// node closes it with a reconnectable code (see Reconnectable), trying the
// Dial URLs in turn. After reconnecting, a driver sends again every fix not
// yet acked (the node stores each once) and a rider tracks its drivers again
// from the cursor of the last location it put on Locations, so the
// application sees every fix once and in order. Calls made while
// reconnecting wait for the new connection.
func WithReconnect(p ReconnectPolicy) Option {
	return func(o *options) error {
		if p.MinBackoff < 0 || p.MaxBackoff < 0 || p.GiveUpAfter < 0 {
			return fmt.Errorf("%w: reconnect durations must be >= 0", ErrInvalidOption)
		}
		if p.MinBackoff == 0 {
			p.MinBackoff = 100 * time.Millisecond
		}
		if p.MaxBackoff == 0 {
			p.MaxBackoff = 5 * time.Second
		}
		if p.MaxBackoff < p.MinBackoff {
			return fmt.Errorf("%w: max backoff below min backoff", ErrInvalidOption)
		}
		o.reconnect = &p
		return nil
	}
}

// OnResume sets a function called with the answer to every track-driver
// the client sends by itself after a reconnect: Tracking.Complete false
// tells the application that fixes were lost while it was away (and
// Oldest which is the first it can still have). It runs on the client's
// read goroutine and must not block.
func OnResume(f func(Tracking)) Option {
	return func(o *options) error {
		o.onResume = f
		return nil
	}
}

// OnDriverStatus sets a function called with every driver-status frame:
// whether a tracked driver is still coming (online, stale or offline, and
// why). It runs on the client's read goroutine and must not block.
func OnDriverStatus(f func(DriverStatus)) Option {
	return func(o *options) error {
		o.onStatus = f
		return nil
	}
}

// OnSetInterval sets a function called when the node asks the driver app
// to send at another interval (fast while someone watches the driver, slow
// while nobody does); Client.Interval says the latest. It runs on the
// client's read goroutine and must not block.
func OnSetInterval(f func(SetInterval)) Option {
	return func(o *options) error {
		o.onInterval = f
		return nil
	}
}

// OnStateChange sets a function called with every change of the
// connection's state. It runs on the client's connection goroutine and must
// not block.
func OnStateChange(f func(State)) Option {
	return func(o *options) error {
		o.onState = f
		return nil
	}
}
