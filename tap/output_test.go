package tap_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/tap"
)

func TestAppend(t *testing.T) {
	rec := &location.Record{Driver: "d-1", Fix: location.Fix{Latitude: 1, Longitude: 2, Seq: 3}, Time: 1764412800000, Node: "n1"}
	lines := func(f tap.Format, cursors ...uint64) string {
		out := f.Header()
		for _, c := range cursors {
			out = f.AppendLine(out, c, rec)
		}
		return string(out)
	}
	torn := `{"cursor":9,"subject":"rtls.lo`
	for _, tc := range []struct {
		name     string
		format   tap.Format
		content  string // "-" for no file
		err      error
		last     uint64
		cut      int
		contains string // the file afterwards
	}{
		{name: "new jsonl", format: tap.JSONLines, content: "-", contains: ""},
		{name: "new csv", format: tap.CSV, content: "-", contains: lines(tap.CSV)},
		{name: "empty csv", format: tap.CSV, content: "", contains: lines(tap.CSV)},
		{name: "csv header only", format: tap.CSV, content: lines(tap.CSV), contains: lines(tap.CSV)},
		{name: "csv torn header", format: tap.CSV, content: "cursor,dri", cut: 10, contains: lines(tap.CSV)},
		{name: "jsonl", format: tap.JSONLines, content: lines(tap.JSONLines, 4, 7), last: 7, contains: lines(tap.JSONLines, 4, 7)},
		{name: "csv", format: tap.CSV, content: lines(tap.CSV, 4, 7), last: 7, contains: lines(tap.CSV, 4, 7)},
		{name: "jsonl torn", format: tap.JSONLines, content: lines(tap.JSONLines, 4, 7) + torn, last: 7, cut: len(torn), contains: lines(tap.JSONLines, 4, 7)},
		{name: "csv torn", format: tap.CSV, content: lines(tap.CSV, 4, 7) + "9,d-1,1", last: 7, cut: 7, contains: lines(tap.CSV, 4, 7)},
		{name: "only a torn line", format: tap.JSONLines, content: torn, cut: len(torn), contains: ""},
		{name: "csv as jsonl", format: tap.JSONLines, content: lines(tap.CSV, 4), err: tap.ErrFormat},
		{name: "jsonl as csv", format: tap.CSV, content: lines(tap.JSONLines, 4), err: tap.ErrFormat},
		{name: "no cursor", format: tap.JSONLines, content: `{"cursor":4}` + "\n" + `{"driver":"d-1"}` + "\n", err: tap.ErrFormat},
		{name: "something else", format: tap.CSV, content: "name,age\nann,7\n", err: tap.ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			if tc.content != "-" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := tap.Append(path, tc.format)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Append: %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if out.Last != tc.last || out.Cut != int64(tc.cut) {
				t.Errorf("last %d, cut %d; want %d, %d", out.Last, out.Cut, tc.last, tc.cut)
			}
			// What is written next goes at the end.
			if _, err := out.Write(tc.format.AppendLine(nil, 11, rec)); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			if want := tc.contains + string(tc.format.AppendLine(nil, 11, rec)); string(data) != want {
				t.Errorf("the file holds\n%q\nwant\n%q", data, want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for s, want := range map[string]tap.Format{"jsonl": tap.JSONLines, "csv": tap.CSV} {
		if f, err := tap.ParseFormat(s); err != nil || f != want || f.String() != s {
			t.Errorf("ParseFormat(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := tap.ParseFormat("parquet"); !errors.Is(err, tap.ErrInvalidConfig) {
		t.Errorf("ParseFormat(parquet): %v", err)
	}
}
