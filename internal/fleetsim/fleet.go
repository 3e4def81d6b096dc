package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node/auth"
)

// ErrInvalidConfig is wrapped by the errors of an invalid Config.
var ErrInvalidConfig = errors.New("fleetsim: invalid config")

// Config configures a simulated fleet. A zero field means the default in
// its comment.
type Config struct {
	// URLs are the nodes' WebSocket URLs ("ws://127.0.0.1:8080/v1/ws");
	// drivers are spread over them in turn. Required.
	URLs []string
	// Drivers is how many drivers to simulate. Zero value means 300.
	Drivers int
	// Interval is the time between two fixes of one driver, until its node
	// asks for another (set-interval: fast while someone watches the
	// driver, slow while nobody does), which the simulated apps obey unless
	// FixedInterval. Zero value means 1 second.
	Interval      time.Duration
	FixedInterval bool
	// City shapes the streets; its Seed also seeds the drivers.
	City CityConfig
	// IDPrefix + a number is each driver's id. Zero value means "sim-".
	IDPrefix string
	// MinSpeed and MaxSpeed bound the drivers' cruising speeds in m/s.
	// Zero values mean 4 and 14.
	MinSpeed, MaxSpeed float64
	// Quiet is the fraction of drivers, in [0, 1], that stop sending after
	// a random time of up to QuietAfter, as phones that lose their network
	// do (the dashboard shows them going stale, then offline). Zero value
	// means none.
	Quiet float64
	// QuietAfter bounds when quiet drivers fall silent. Zero value means a minute.
	QuietAfter time.Duration
	// Logger gets connection errors. Zero value means no logging.
	Logger *slog.Logger
	// TokenKey, when set, signs an app token for each driver (a node with
	// token authentication); zero value means the development identity in
	// the URL.
	TokenKey *auth.SigningKey
}

func (c *Config) setDefaults() error {
	if len(c.URLs) == 0 {
		return fmt.Errorf("%w: no node URLs", ErrInvalidConfig)
	}
	if c.Drivers == 0 {
		c.Drivers = 300
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.IDPrefix == "" {
		c.IDPrefix = "sim-"
	}
	if c.QuietAfter == 0 {
		c.QuietAfter = time.Minute
	}
	if c.MinSpeed == 0 {
		c.MinSpeed = 4
	}
	if c.MaxSpeed == 0 {
		c.MaxSpeed = 14
	}
	c.City.setDefaults()
	switch {
	case c.Drivers < 0:
		return fmt.Errorf("%w: negative number of drivers", ErrInvalidConfig)
	case c.Interval < 0:
		return fmt.Errorf("%w: negative interval", ErrInvalidConfig)
	case c.MinSpeed < 0 || c.MaxSpeed < c.MinSpeed || c.MaxSpeed > location.MaxSpeed:
		return fmt.Errorf("%w: speeds must satisfy 0 <= min <= max <= %d", ErrInvalidConfig, location.MaxSpeed)
	case c.QuietAfter < 0:
		return fmt.Errorf("%w: negative QuietAfter", ErrInvalidConfig)
	case c.Quiet < 0 || c.Quiet > 1:
		return fmt.Errorf("%w: quiet fraction must be within [0, 1]", ErrInvalidConfig)
	case !mobileproto.ValidID(c.IDPrefix + "0"):
		return fmt.Errorf("%w: id prefix %q makes invalid ids", ErrInvalidConfig, c.IDPrefix)
	}
	return nil
}

// identity is how driver id signs in: a fresh token from TokenKey on every
// connection, or the development identity.
func (f *Fleet) identity(id string) mobileproto.Option {
	if f.cfg.TokenKey == nil {
		return mobileproto.WithIdentity(mobileproto.RoleDriver, id)
	}
	return mobileproto.WithTokenSource(func(context.Context) (string, error) {
		now := time.Now()
		return auth.Mint(*f.cfg.TokenKey, auth.Claims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: id, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))},
			Role:             string(mobileproto.RoleDriver),
		})
	})
}

// Stats counts what a fleet did.
type Stats struct {
	// Connected is how many drivers are connected now.
	Connected int64
	// Sent counts fixes sent, Acked those the node acknowledged, Refused
	// those it answered with an error, Reconnects the connections redone.
	Sent, Acked, Refused, Reconnects uint64
}

// Fleet is a running simulation: one goroutine and one WebSocket
// connection per driver. Stop it by cancelling the context given to Start,
// or with Stop; Wait waits for every driver to finish.
type Fleet struct {
	cfg    Config
	city   *City
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connected                        atomic.Int64
	sent, acked, refused, reconnects atomic.Uint64
}

// Start starts cfg.Drivers drivers moving through the city and sending
// fixes to the nodes, and returns at once; connections are made (and
// remade after a failure, with backoff) by each driver's goroutine until
// ctx ends or Stop is called.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &Fleet{cfg: cfg, city: NewCity(cfg.City), log: log, cancel: cancel}
	seeds := rand.New(rand.NewPCG(cfg.City.Seed, 0xf1ee7))
	for i := 0; i < cfg.Drivers; i++ {
		d := &simDriver{
			fleet:   f,
			id:      fmt.Sprintf("%s%d", cfg.IDPrefix, i),
			url:     cfg.URLs[i%len(cfg.URLs)],
			vehicle: f.city.NewVehicle(seeds.Uint64(), cfg.MinSpeed, cfg.MaxSpeed),
			phase:   time.Duration(seeds.Int64N(int64(cfg.Interval) + 1)),
			asked:   make(chan struct{}, 1),
			quiet:   -1,
		}
		if seeds.Float64() < cfg.Quiet {
			// Silent after a random number of fixes spanning up to QuietAfter.
			d.quiet = 1 + seeds.IntN(max(1, int(cfg.QuietAfter/cfg.Interval)))
		}
		f.wg.Add(1)
		go d.run(ctx)
	}
	return f, nil
}

// City returns the streets the fleet drives on.
func (f *Fleet) City() *City { return f.city }

// Stop stops every driver and waits for them.
func (f *Fleet) Stop() {
	f.cancel()
	f.wg.Wait()
}

// Wait waits until every driver has stopped (after ctx ended or Stop).
func (f *Fleet) Wait() { f.wg.Wait() }

// Stats returns the counters.
func (f *Fleet) Stats() Stats {
	return Stats{
		Connected:  f.connected.Load(),
		Sent:       f.sent.Load(),
		Acked:      f.acked.Load(),
		Refused:    f.refused.Load(),
		Reconnects: f.reconnects.Load(),
	}
}

type simDriver struct {
	fleet   *Fleet
	id, url string
	vehicle *Vehicle
	phase   time.Duration
	quiet   int // fixes to send before going quiet; -1 for never
	// asked wakes drive when the node asks for another interval.
	asked chan struct{}
}

// run connects, sends a fix every Interval, and reconnects with backoff.
func (d *simDriver) run(ctx context.Context) {
	defer d.fleet.wg.Done()
	f := d.fleet
	select {
	case <-ctx.Done():
		return
	case <-time.After(d.phase):
	}
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			f.reconnects.Add(1)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := mobileproto.Dial(dctx, d.url, f.identity(d.id), mobileproto.OnSetInterval(func(mobileproto.SetInterval) {
			select {
			case d.asked <- struct{}{}:
			default:
			}
		}))
		cancel()
		if err != nil {
			f.log.Debug("driver connect", "driver", d.id, "err", err)
			continue
		}
		backoff = 100 * time.Millisecond
		f.connected.Add(1)
		err = d.drive(ctx, c)
		f.connected.Add(-1)
		c.Close()
		if err == nil {
			return
		}
		f.log.Debug("driver connection lost", "driver", d.id, "err", err)
	}
}

// drive sends fixes on c until ctx ends (nil) or the connection fails.
func (d *simDriver) drive(ctx context.Context, c *mobileproto.Client) error {
	f := d.fleet
	wait := time.NewTimer(f.cfg.Interval)
	defer wait.Stop()
	last := time.Now()
	var pending []*mobileproto.Pending
	for {
		// Count the answers that have arrived, keep waiting for the others.
		kept := pending[:0]
		for _, p := range pending {
			select {
			case <-p.Done():
				if _, err := p.Result(); err == nil {
					f.acked.Add(1)
				} else {
					f.refused.Add(1)
				}
			default:
				kept = append(kept, p)
			}
		}
		pending = kept
		if d.quiet != 0 {
			if d.quiet > 0 {
				d.quiet--
			}
			p, err := c.SendLocationAsync(ctx, d.vehicle.Fix(time.Now()))
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			f.sent.Add(1)
			pending = append(pending, p)
		}
		sentAt := time.Now()
		if err := d.pause(ctx, c, wait, sentAt); err != nil || ctx.Err() != nil {
			return err
		}
		now := time.Now()
		d.vehicle.Step(now.Sub(last).Seconds())
		last = now
	}
}

// pause waits until the next fix is due: Interval after sentAt, or what
// the node asked for (set-interval) unless FixedInterval. A new request
// while waiting moves the due time, as a real app's location timer would.
// It returns nil when ctx ends (the caller checks) and the connection's
// error when it fails.
func (d *simDriver) pause(ctx context.Context, c *mobileproto.Client, wait *time.Timer, sentAt time.Time) error {
	for {
		interval := d.fleet.cfg.Interval
		if iv := c.Interval(); iv > 0 && !d.fleet.cfg.FixedInterval {
			interval = iv
		}
		wait.Reset(max(0, time.Until(sentAt.Add(interval))))
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return c.Err()
		case <-d.asked:
		case <-wait.C:
			return nil
		}
	}
}

// Fix returns the vehicle's state as a fix taken at ts; Seq is left for
// the client to number.
func (v *Vehicle) Fix(ts time.Time) mobileproto.Fix {
	p := v.Position()
	return mobileproto.Fix{
		Latitude:  p.Lat,
		Longitude: p.Lon,
		TS:        ts.UnixMilli(),
		Accuracy:  mobileproto.Float64(5),
		Speed:     mobileproto.Float64(v.Speed()),
		Heading:   mobileproto.Float64(v.Heading()),
	}
}
