package fleetsim

import (
	"math"
	"math/rand/v2"
)

// Position is a point in degrees.
type Position struct {
	Lat, Lon float64
}

// metresPerDegree is the length of a degree of latitude (and of longitude
// at the equator), close enough for a city a few kilometres across.
const metresPerDegree = 111320.0

// CityConfig shapes the street grid. A zero field means the default in its
// comment.
type CityConfig struct {
	// Center of the city. Zero value means Bengaluru (12.9716, 77.5946).
	Center Position
	// Streets is how many streets run each way. Zero value means 24.
	Streets int
	// Spacing is the mean distance between parallel streets in metres.
	// Zero value means 180.
	Spacing float64
	// Seed makes the city reproducible. Zero value means 1.
	Seed uint64
}

func (c *CityConfig) setDefaults() {
	if c.Center == (Position{}) {
		c.Center = Position{12.9716, 77.5946}
	}
	if c.Streets < 2 {
		c.Streets = 24
	}
	if c.Spacing <= 0 {
		c.Spacing = 180
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// City is a street network: intersections on a jittered, slightly rotated
// grid around a centre, joined by straight street segments to their grid
// neighbours. It is immutable and safe for concurrent use.
type City struct {
	center Position
	cosLat float64
	// nodes are intersections in metres east and north of center.
	nodes [][2]float64
	adj   [][]int
}

// NewCity builds the street grid described by cfg; the same config gives
// the same city.
func NewCity(cfg CityConfig) *City {
	cfg.setDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	n := cfg.Streets
	c := &City{center: cfg.Center, cosLat: math.Cos(cfg.Center.Lat * math.Pi / 180)}
	angle := (rng.Float64() - 0.5) * 0.5 // a city's grid is rarely due north
	sin, cos := math.Sin(angle), math.Cos(angle)
	jitter := cfg.Spacing * 0.2
	c.nodes = make([][2]float64, n*n)
	c.adj = make([][]int, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			x := (float64(i)-float64(n-1)/2)*cfg.Spacing + (rng.Float64()-0.5)*2*jitter
			y := (float64(j)-float64(n-1)/2)*cfg.Spacing + (rng.Float64()-0.5)*2*jitter
			c.nodes[i*n+j] = [2]float64{x*cos - y*sin, x*sin + y*cos}
		}
	}
	link := func(a, b int) {
		c.adj[a] = append(c.adj[a], b)
		c.adj[b] = append(c.adj[b], a)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i+1 < n {
				link(i*n+j, (i+1)*n+j)
			}
			if j+1 < n {
				link(i*n+j, i*n+j+1)
			}
		}
	}
	return c
}

// position converts metres east and north of the centre to degrees.
func (c *City) position(p [2]float64) Position {
	return Position{
		Lat: c.center.Lat + p[1]/metresPerDegree,
		Lon: c.center.Lon + p[0]/(metresPerDegree*c.cosLat),
	}
}

// Metres converts a position to metres east and north of the city's centre.
func (c *City) Metres(p Position) (east, north float64) {
	return (p.Lon - c.center.Lon) * metresPerDegree * c.cosLat, (p.Lat - c.center.Lat) * metresPerDegree
}

// Segments returns every street segment's two ends.
func (c *City) Segments() [][2]Position {
	var out [][2]Position
	for a, nb := range c.adj {
		for _, b := range nb {
			if a < b {
				out = append(out, [2]Position{c.position(c.nodes[a]), c.position(c.nodes[b])})
			}
		}
	}
	return out
}

// Vehicle drives through a City: along a street to the next intersection,
// then into another street (not back the way it came), at its own speed,
// pausing now and then as a delivery driver does. It is not safe for
// concurrent use.
type Vehicle struct {
	city     *City
	rng      *rand.Rand
	from, to int
	along    float64 // metres from `from` towards `to`
	speed    float64 // cruising speed, m/s
	paused   float64 // seconds left standing still
	moving   bool
}

// NewVehicle places a vehicle at a random intersection of c with a cruising
// speed in [minSpeed, maxSpeed] m/s; the same seed gives the same journey.
func (c *City) NewVehicle(seed uint64, minSpeed, maxSpeed float64) *Vehicle {
	rng := rand.New(rand.NewPCG(seed, 0xd417e7))
	v := &Vehicle{city: c, rng: rng}
	v.from = rng.IntN(len(c.nodes))
	v.to = c.adj[v.from][rng.IntN(len(c.adj[v.from]))]
	v.speed = minSpeed + rng.Float64()*(maxSpeed-minSpeed)
	v.along = rng.Float64() * v.segmentLength()
	return v
}

func (v *Vehicle) segmentLength() float64 {
	a, b := v.city.nodes[v.from], v.city.nodes[v.to]
	return math.Hypot(b[0]-a[0], b[1]-a[1])
}

// Step advances the vehicle by dt seconds.
func (v *Vehicle) Step(dt float64) {
	v.moving = false
	for dt > 0 {
		if v.paused > 0 {
			p := math.Min(v.paused, dt)
			v.paused -= p
			dt -= p
			continue
		}
		left := v.segmentLength() - v.along
		if d := v.speed * dt; d < left {
			v.along += d
			v.moving = true
			return
		}
		// Reach the intersection and turn into another street.
		dt -= left / v.speed
		v.moving = true
		next := v.city.adj[v.to]
		choice := next[v.rng.IntN(len(next))]
		if choice == v.from && len(next) > 1 {
			choice = next[(indexOf(next, choice)+1+v.rng.IntN(len(next)-1))%len(next)]
		}
		v.from, v.to, v.along = v.to, choice, 0
		if v.rng.IntN(12) == 0 { // a delivery stop
			v.paused = 5 + v.rng.Float64()*25
		}
	}
}

func indexOf(s []int, x int) int {
	for i, y := range s {
		if y == x {
			return i
		}
	}
	return -1
}

// Position returns where the vehicle is.
func (v *Vehicle) Position() Position {
	a, b := v.city.nodes[v.from], v.city.nodes[v.to]
	t := v.along / v.segmentLength()
	return v.city.position([2]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t})
}

// Speed is the vehicle's speed over its last Step in m/s (0 while paused).
func (v *Vehicle) Speed() float64 {
	if !v.moving || v.paused > 0 {
		return 0
	}
	return v.speed
}

// Heading is the direction of the street it drives along, in degrees
// clockwise from north, within [0, 360).
func (v *Vehicle) Heading() float64 {
	a, b := v.city.nodes[v.from], v.city.nodes[v.to]
	h := math.Atan2(b[0]-a[0], b[1]-a[1]) * 180 / math.Pi
	if h < 0 {
		h += 360
	}
	return h
}
