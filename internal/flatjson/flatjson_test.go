package flatjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func members(t *testing.T, in string) (map[string]Value, error) {
	t.Helper()
	out := map[string]Value{}
	err := Parse([]byte(in), func(k string, v Value) error { out[k] = v; return nil })
	return out, err
}

func TestParseKindsAndStrictness(t *testing.T) {
	m, err := members(t, ` { "a" : 1.5e2 , "b":"x\"y\u00e9\ud83d\ude00", "c":null, "d":true, "e":[1,{"x":[]}], "f":{}, "A":2 } `)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Kind{"a": Number, "b": String, "c": Null, "d": Bool, "e": Array, "f": Object, "A": Number}
	for k, kind := range want {
		if m[k].Kind != kind {
			t.Errorf("%s: kind %v, want %v", k, m[k].Kind, kind)
		}
	}
	if s := m["b"].Str(); s != "x\"yé😀" {
		t.Errorf("string %q", s)
	}
	if f, ok := m["a"].Float(); !ok || f != 150 {
		t.Errorf("float %v %v", f, ok)
	}

	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"a":1,"a":2}`, ErrDuplicateKey},
		{`{"a":1,"\u0061":2}`, ErrDuplicateKey},
		{`[1]`, ErrNotObject},
		{`"x"`, ErrNotObject},
		{`{"a":NaN}`, ErrSyntax},
		{`{"a":Infinity}`, ErrSyntax},
		{`{"a":01}`, ErrSyntax},
		{`{"a":1.}`, ErrSyntax},
		{`{"a":1,}`, ErrSyntax},
		{`{"a":"x` + "\x01" + `"}`, ErrSyntax},
		{`{"a":"\x"}`, ErrSyntax},
		{`{"a":1} {}`, ErrSyntax},
		{`{'a':1}`, ErrSyntax},
		{``, ErrSyntax},
		{`{"a":"` + "\xff" + `"}`, ErrSyntax},
	} {
		if _, err := members(t, tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestInteger(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit uint64
		want  int64
		ok    bool
	}{
		{"13", 100, 13, true},
		{"13.0", 100, 13, true},
		{"1.3e1", 100, 13, true},
		{"1e3", 1000, 1000, true},
		{"1e3", 999, 0, false},
		{"-0", 1, 0, true},
		{"1.5", 100, 0, false},
		{"9007199254740991", 1<<53 - 1, 1<<53 - 1, true},
		{"9007199254740993", 1<<53 - 1, 0, false},
		{"1764412800000.0", 1 << 53, 1764412800000, true},
		{"1e400", 1 << 53, 0, false},
	} {
		v := Value{Kind: Number, Raw: []byte(tc.in)}
		n, ok := v.Integer(tc.limit)
		if n != tc.want || ok != tc.ok {
			t.Errorf("%s limit %d: %d %v, want %d %v", tc.in, tc.limit, n, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParse checks Parse against encoding/json: the same inputs are valid
// JSON objects (up to the key and depth limits) and strings decode alike.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"type":"send-location","latitude":1.5,"seq":3}`, `{"a":"\u00e9\ud83d"}`, `{"a":[1,{"b":null}]}`, `[]`, `{"a":1,"a":2}`, `{"a":-0.0e+1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var keys []string
		strs := map[string]string{}
		err := Parse(data, func(k string, v Value) error {
			keys = append(keys, k)
			if v.Kind == String {
				strs[k] = v.Str()
			}
			return nil
		})
		var obj map[string]json.RawMessage
		jerr := json.Unmarshal(data, &obj)
		switch {
		case err == nil && jerr != nil:
			t.Fatalf("flatjson accepts what encoding/json refuses (%v): %q", jerr, data)
		case err == nil:
			for k, s := range strs {
				var want string
				if json.Unmarshal(obj[k], &want) == nil && want != s {
					t.Fatalf("key %q: %q, encoding/json %q", k, s, want)
				}
			}
		case errors.Is(err, ErrSyntax) && jerr == nil:
			// encoding/json is lax only about invalid UTF-8 (it substitutes
			// U+FFFD); flatjson refuses it, as well as very deep nesting and
			// too many keys.
			var se *SyntaxError
			errors.As(err, &se)
			if utf8.Valid(data) && se.Msg != "nested too deeply" && !strings.HasPrefix(se.Msg, "more than") {
				t.Fatalf("flatjson refuses (%v) what encoding/json accepts: %q", err, data)
			}
		}
	})
}
