package model

import (
	"slices"
	"strings"
	"testing"
)

func TestCompareIDs(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "sim-7", "sim-7", 0},
		{"empty", "", "", 0},
		{"empty first", "", "a", -1},
		{"prefix first", "a", "a1", -1},
		{"prefix letter", "a", "ab", -1},
		{"numbers by value", "sim-2", "sim-10", -1},
		{"numbers by value, reversed", "sim-10", "sim-2", 1},
		{"equal numbers then text", "sim-2a", "sim-2b", -1},
		{"several runs", "d-1-20", "d-1-3", 1},
		{"several runs, first decides", "d-2-1", "d-10-0", -1},
		{"leading zeros are the same number", "sim-007", "sim-7", 1},
		{"leading zeros only break ties", "sim-007", "sim-8", -1},
		{"leading zeros before the rest", "a01b", "a1c", -1},
		{"shorter run first on a tie", "a1", "a01", -1},
		{"first run's zeros decide the tie", "a01-1", "a1-01", 1},
		{"zero", "d-0", "d-00", -1},
		{"zero before one", "d-00", "d-1", -1},
		{"huge numbers", "n-123456789012345678901234567890", "n-123456789012345678901234567891", -1},
		{"huge against small", "n-99999999999999999999999", "n-100", 1},
		{"case ignored first", "Sim-3", "sim-4", -1},
		{"case ignored first, reversed", "sim-2", "Sim-3", -1},
		{"case breaks ties, upper first", "Sim-3", "sim-3", -1},
		{"case against letter order", "B", "a", 1},
		{"digits before letters", "a1", "ab", -1},
		{"punctuation by code", "a-1", "a_1", -1},
		{"non-ASCII letters", "émile-2", "émile-10", -1},
		{"non-ASCII case folded", "Émile", "émilf", -1},
		{"non-ASCII after ASCII", "zed", "ζ", -1},
		{"other digits are not numbers", "d-٣", "d-10", 1},
		{"invalid UTF-8", "d-\xff", "d-\xfe", 1},
		{"invalid UTF-8 against text", "d-\xff", "d-a", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareIDs(tc.a, tc.b); got != tc.want {
				t.Fatalf("CompareIDs(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := CompareIDs(tc.b, tc.a); got != -tc.want {
				t.Fatalf("CompareIDs(%q, %q) = %d, want %d (antisymmetry)", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

func TestCompareIDsSortsFleetIDs(t *testing.T) {
	ids := []string{"sim-10", "sim-2", "sim-1", "Sim-2", "sim-02", "sim-100", "sim-9", "sim", "sim-", "SIM-3", "taxi-1", "sim-2a"}
	slices.SortFunc(ids, CompareIDs)
	want := "sim sim- sim-1 Sim-2 sim-2 sim-02 sim-2a SIM-3 sim-9 sim-10 sim-100 taxi-1"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("sorted:\n got %s\nwant %s", got, want)
	}
}

// CompareIDs must be a total order for sorting to be correct: antisymmetric,
// transitive, and 0 only for identical strings.
func TestCompareIDsIsATotalOrder(t *testing.T) {
	ids := []string{"", "a", "A", "a1", "a01", "A01", "a001", "a1b", "a01b", "a2", "a10", "a-1", "a_1",
		"b", "B1", "z9", "é", "É", "é1", "ζ", "d-٣", "d-3", "d-\xff", "d-\xfe", "K", "\u212a", "k", "0", "00", "1", "a1-01", "a01-1", "a1-1"}
	for _, a := range ids {
		for _, b := range ids {
			ab, ba := CompareIDs(a, b), CompareIDs(b, a)
			if ab != -ba {
				t.Fatalf("CompareIDs(%q, %q) = %d but reversed %d", a, b, ab, ba)
			}
			if (ab == 0) != (a == b) {
				t.Fatalf("CompareIDs(%q, %q) = %d", a, b, ab)
			}
			for _, c := range ids {
				if ab < 0 && CompareIDs(b, c) < 0 && CompareIDs(a, c) >= 0 {
					t.Fatalf("not transitive: %q < %q < %q but CompareIDs(a, c) = %d", a, b, c, CompareIDs(a, c))
				}
			}
		}
	}
}

func BenchmarkCompareIDs(b *testing.B) {
	pairs := [][2]string{{"sim-4711", "sim-4712"}, {"d-00042", "d-00420"}, {"Driver-Anna", "driver-bob"}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := pairs[i%len(pairs)]
		CompareIDs(p[0], p[1])
	}
}

// Comparing idKeys agrees with CompareIDs wherever the keys differ.
func TestIDKeyAgreesWithCompareIDs(t *testing.T) {
	ids := []string{"", "a", "A", "a1", "a01", "A01", "a001", "a1b", "a01b", "a2", "a10", "a-1", "a_1", "a/", "a:", "a0",
		"b", "B1", "z9", "é", "É", "é1", "ζ", "d-٣", "d-3", "d-\xff", "d-\xfe", "d-\xef\xbf\xbd", "K", "\u212a", "k", "0", "00", "1",
		"a1-01", "a01-1", "a1-1", "sim-2", "sim-10", "sim-" + strings.Repeat("9", 300), "sim-" + strings.Repeat("1", 256), "sim-1" + strings.Repeat("0", 254)}
	for _, a := range ids {
		for _, b := range ids {
			want := CompareIDs(a, b)
			if got := compareKeyed(a, idKey(a), b, idKey(b)); got != want {
				t.Errorf("compareKeyed(%q, %q) = %d, CompareIDs %d (keys %q, %q)", a, b, got, want, idKey(a), idKey(b))
			}
		}
	}
}
