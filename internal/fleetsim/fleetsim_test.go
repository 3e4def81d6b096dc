package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// distanceToStreets is the distance in metres from p to the nearest street.
func distanceToStreets(c *City, segs [][2]Position, p Position) float64 {
	px, py := c.Metres(p)
	best := math.Inf(1)
	for _, s := range segs {
		ax, ay := c.Metres(s[0])
		bx, by := c.Metres(s[1])
		dx, dy := bx-ax, by-ay
		t := math.Max(0, math.Min(1, ((px-ax)*dx+(py-ay)*dy)/(dx*dx+dy*dy)))
		best = math.Min(best, math.Hypot(px-(ax+t*dx), py-(ay+t*dy)))
	}
	return best
}

func TestCityIsReproducible(t *testing.T) {
	a := NewCity(CityConfig{Seed: 7})
	b := NewCity(CityConfig{Seed: 7})
	c := NewCity(CityConfig{Seed: 8})
	if !reflect.DeepEqual(a.Segments(), b.Segments()) {
		t.Fatal("the same seed made different cities")
	}
	if reflect.DeepEqual(a.Segments(), c.Segments()) {
		t.Fatal("different seeds made the same city")
	}
	// 24 streets each way: 2·24·23 segments, around Bengaluru, about 4 km across.
	segs := a.Segments()
	if len(segs) != 2*24*23 {
		t.Fatalf("%d segments", len(segs))
	}
	for _, s := range segs {
		for _, p := range s {
			if e, n := a.Metres(p); math.Hypot(e, n) > 4000 {
				t.Fatalf("intersection %v is %.0f m from the centre", p, math.Hypot(e, n))
			}
		}
		x1, y1 := a.Metres(s[0])
		x2, y2 := a.Metres(s[1])
		l := math.Hypot(x2-x1, y2-y1)
		if l < 180*0.5 || l > 180*1.6 {
			t.Fatalf("a street segment of %.0f m", l)
		}
	}
}

// Vehicles stay on the streets, move no faster than their speed, turn at
// intersections, send valid fixes, and repeat their journey from a seed.
func TestVehiclesDriveOnStreets(t *testing.T) {
	c := NewCity(CityConfig{Seed: 3})
	segs := c.Segments()
	for k := uint64(0); k < 20; k++ {
		v := c.NewVehicle(k, 4, 14)
		twin := c.NewVehicle(k, 4, 14)
		prev := v.Position()
		headings := map[float64]bool{}
		moved := 0.0
		for step := 0; step < 300; step++ {
			v.Step(1)
			twin.Step(1)
			p := v.Position()
			if p != twin.Position() {
				t.Fatalf("vehicle %d: the same seed diverged at step %d", k, step)
			}
			if d := distanceToStreets(c, segs, p); d > 0.01 {
				t.Fatalf("vehicle %d at step %d is %.3f m off the streets", k, step, d)
			}
			px, py := c.Metres(prev)
			qx, qy := c.Metres(p)
			if d := math.Hypot(qx-px, qy-py); d > 14+1e-6 {
				t.Fatalf("vehicle %d jumped %.1f m in 1 s", k, d)
			} else {
				moved += d
			}
			prev = p
			f := v.Fix(time.Now())
			if err := f.Validate(); err != nil {
				t.Fatalf("vehicle %d sends an invalid fix %+v: %v", k, f, err)
			}
			if s := *f.Speed; s != 0 && (s < 4 || s > 14) {
				t.Fatalf("speed %v", s)
			}
			headings[math.Round(*f.Heading)] = true
		}
		if moved < 300 || len(headings) < 3 {
			t.Fatalf("vehicle %d moved %.0f m with %d headings in 5 minutes: not driving around", k, moved, len(headings))
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{URLs: []string{"ws://x"}, Drivers: -1},
		{URLs: []string{"ws://x"}, MinSpeed: 5, MaxSpeed: 2},
		{URLs: []string{"ws://x"}, Quiet: 2},
		{URLs: []string{"ws://x"}, IDPrefix: "a.b"},
	} {
		if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	testnode.CheckFor(t, total, every, f)
}

// A real node stores the simulated fixes: every driver's fixes arrive on
// its live subject, valid and on the streets.
func TestFleetDrivesThroughARealNode(t *testing.T) {
	t.Run("development mode", func(t *testing.T) { testFleetThroughNode(t, false) })
	t.Run("tokens", func(t *testing.T) { testFleetThroughNode(t, true) })
}

func testFleetThroughNode(t *testing.T, tokens bool) {
	var secrets *testnode.Secrets
	var n *node.Node
	busOpts := []nats.Option{}
	// Nobody watches these drivers; the node asks them for what the test
	// sends anyway.
	every := func(c *node.Config) { c.FastInterval, c.SlowInterval = 20*time.Millisecond, 20*time.Millisecond }
	if tokens {
		secrets = testnode.NewSecrets(t)
		n = testnode.Start(t, secrets.Configure, every)
		busOpts = append(busOpts, secrets.NATS(testnode.Dispatcher))
	} else {
		n = testnode.Start(t, every)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	nc, err := nats.Connect(n.ClientURL(), busOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	seen := map[string][]location.Record{}
	var bad []error
	_, err = nc.Subscribe(fixstream.LivePrefix+"*", func(m *nats.Msg) {
		l, err := decode(m)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = append(bad, err)
			return
		}
		seen[l.Driver] = append(seen[l.Driver], l)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	const drivers = 6
	cfg := Config{URLs: []string{n.WebSocketURL()}, Drivers: drivers, Interval: 20 * time.Millisecond, City: CityConfig{Seed: 9}, IDPrefix: "t-"}
	if tokens {
		cfg.TokenKey = &secrets.Key
	}
	fleet, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("bad fixes: %v", bad)
		}
		for i := 0; i < drivers; i++ {
			if id := "t-" + strconv.Itoa(i); len(seen[id]) < 5 {
				return fmt.Errorf("driver %s: %d fixes stored", id, len(seen[id]))
			}
		}
		if s := fleet.Stats(); s.Acked < drivers*5 || s.Connected != drivers {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	fleet.Stop()
	if s := fleet.Stats(); s.Connected != 0 || s.Refused != 0 {
		t.Fatalf("after Stop: %+v", s)
	}
	segs := fleet.City().Segments()
	mu.Lock()
	defer mu.Unlock()
	for id, ls := range seen {
		for _, l := range ls {
			if d := distanceToStreets(fleet.City(), segs, Position{l.Latitude, l.Longitude}); d > 0.05 {
				t.Fatalf("%s stored at %.2f m off the streets", id, d)
			}
			if l.Node != "n1" || l.TS == 0 || l.Seq == 0 {
				t.Fatalf("stored %+v", l)
			}
		}
	}
}

func decode(m *nats.Msg) (location.Record, error) {
	return location.Decode(m.Data)
}

// Quiet drivers send a few fixes and then nothing.
func TestQuietDriversFallSilent(t *testing.T) {
	n := testnode.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const drivers, interval, after = 3, 10 * time.Millisecond, 50 * time.Millisecond
	fleet, err := Start(ctx, Config{URLs: []string{n.WebSocketURL()}, Drivers: drivers, Interval: interval, FixedInterval: true, Quiet: 1, QuietAfter: after})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Stop()
	// Each sends at most 1 + after/interval fixes; a driver that kept going
	// would pass that bound within a few intervals.
	const most = uint64(drivers * (1 + after/interval))
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if s := fleet.Stats(); s.Connected != drivers || s.Sent == 0 || s.Acked != s.Sent {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	for end := time.Now().Add(40 * interval); time.Now().Before(end); time.Sleep(interval) {
		if s := fleet.Stats(); s.Sent > most {
			t.Fatalf("quiet drivers sent %d fixes, at most %d expected", s.Sent, most)
		}
	}
}

// The simulated apps do what the node asks: a driver somebody watches
// sends at the fast interval, the others at the slow one, and a driver
// switches as soon as a rider starts watching it.
func TestDriversObeyTheNode(t *testing.T) {
	n := testnode.Start(t, func(c *node.Config) { c.FastInterval, c.SlowInterval = 20*time.Millisecond, time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	stored := map[string]int{}
	if _, err := nc.Subscribe(fixstream.LivePrefix+"*", func(m *nats.Msg) {
		mu.Lock()
		stored[m.Subject[len(fixstream.LivePrefix):]]++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	count := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return stored[id]
	}
	// A second's interval until told otherwise: long enough that a driver
	// that ignored the node would be caught sending too few.
	fleet, err := Start(ctx, Config{URLs: []string{n.WebSocketURL()}, Drivers: 2, Interval: time.Second, IDPrefix: "o-"})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Stop()
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if s := fleet.Stats(); s.Connected != 2 || count("o-0") == 0 || count("o-1") == 0 {
			return fmt.Errorf("stats %+v, stored %d and %d", s, count("o-0"), count("o-1"))
		}
		return nil
	})
	rider := testnode.Dial(t, n.WebSocketURL(), "rider", "r-1")
	if _, err := rider.Track(ctx, "o-0", mobileproto.TrackOptions{}); err != nil {
		t.Fatal(err)
	}
	// 50 fixes at 20 ms is a second; at the start interval it would take 50.
	before := count("o-1")
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if c := count("o-0"); c < 50 {
			return fmt.Errorf("watched driver: %d fixes stored", c)
		}
		return nil
	})
	if c := count("o-1"); c != before {
		t.Fatalf("the unwatched driver, asked for one fix an hour, sent %d more", c-before)
	}
}
