package bench

import (
	"slices"
	"testing"
	"time"
)

func TestNewRunnerAppliesTheConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		check     func(p Preset, cfg Config) bool
		wantError bool
	}{
		{"default preset", Config{}, func(p Preset, c Config) bool {
			return p.Name == "small" && p.Loop == LoopClosed && c.Settle == 20*time.Second && c.Rtlsd == "bin/rtlsd" && c.NodeRateLimit == 200 && c.Baseline == 5*time.Second
		}, false},
		{"ramp is open loop", Config{Preset: "ramp"}, func(p Preset, c Config) bool { return p.Loop == LoopOpen && c.NodeRateLimit == 200 }, false},
		{"overload: rate limit over 3× the ladder's top", Config{Preset: "overload"}, func(p Preset, c Config) bool {
			return p.Overload && p.Loop == LoopOpen && p.Refine == 3 && c.NodeRateLimit == 2*320*3
		}, false},
		{"overrides", Config{Preset: "overload", Drivers: 50, RidersPerDriver: 2, Duration: 4 * time.Second, Loop: LoopClosed,
			SearchRates: []float64{80, 20}, Refine: -1, Multiples: []float64{2}}, func(p Preset, c Config) bool {
			return p.Drivers == 50 && p.RidersPerDriver == 2 && p.Duration == 4*time.Second && p.Loop == LoopClosed &&
				slices.Equal(p.Rates, []float64{20, 80}) && p.Refine == 0 && slices.Equal(p.Multiples, []float64{2}) && c.NodeRateLimit == 320
		}, false},
		{"a rate replaces the steps", Config{Preset: "ramp", Rate: 150}, func(p Preset, c Config) bool {
			return slices.Equal(p.Rates, []float64{150}) && c.NodeRateLimit == 300
		}, false},
		{"the presets are not changed", Config{Preset: "overload"}, func(p Preset, c Config) bool {
			return slices.Equal(Presets["overload"].Rates, []float64{10, 20, 40, 80, 160, 320})
		}, false},
		{"battery obeys set-interval", Config{Preset: "battery"}, func(p Preset, c Config) bool {
			return p.ObeyInterval && p.Loop == LoopOpen && p.Watched == 0.2 && p.Switches > 0 && slices.Equal(p.Rates, []float64{1}) &&
				p.FastInterval == time.Second && p.SlowInterval == 15*time.Second
		}, false},
		{"battery: a fast interval is the drivers' rate", Config{Preset: "battery", FastInterval: 500 * time.Millisecond, SlowInterval: 10 * time.Second}, func(p Preset, c Config) bool {
			return slices.Equal(p.Rates, []float64{2}) && p.FastInterval == 500*time.Millisecond && p.SlowInterval == 10*time.Second
		}, false},
		{"intervals for a throughput preset change only the nodes", Config{Preset: "small", FastInterval: 500 * time.Millisecond}, func(p Preset, c Config) bool {
			return !p.ObeyInterval && slices.Equal(p.Rates, []float64{1}) && p.FastInterval == 500*time.Millisecond
		}, false},
		{"battery in closed loop", Config{Preset: "battery", Loop: LoopClosed}, nil, true},
		{"slow interval below the fast one", Config{Preset: "battery", SlowInterval: 500 * time.Millisecond}, nil, true},
		{"unknown preset", Config{Preset: "huge"}, nil, true},
		{"search rates without overload", Config{Preset: "ramp", SearchRates: []float64{1}}, nil, true},
		{"negative drivers", Config{Drivers: -1}, nil, true},
		{"unknown loop", Config{Loop: "half"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRunner(tc.cfg)
			if (err != nil) != tc.wantError {
				t.Fatalf("err = %v", err)
			}
			if err == nil && !tc.check(r.Preset(), r.cfg) {
				t.Fatalf("preset %+v, config %+v", r.Preset(), r.cfg)
			}
		})
	}
	// Changing the runner's rates does not change the preset.
	r, _ := NewRunner(Config{Preset: "ramp"})
	r.Preset().Rates[0] = 99
	if Presets["ramp"].Rates[0] != 5 {
		t.Fatal("the preset was changed")
	}
}

func TestParseRatesAndLoop(t *testing.T) {
	if r, err := ParseRates("10, 20,2.5"); err != nil || !slices.Equal(r, []float64{10, 20, 2.5}) {
		t.Fatalf("%v, %v", r, err)
	}
	for _, bad := range []string{"", "10,,20", "x", "-1", "0"} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if l, err := ParseLoop("open"); err != nil || l != LoopOpen {
		t.Fatal(l, err)
	}
	if _, err := ParseLoop("Open"); err == nil {
		t.Fatal("Open parsed")
	}
}
