// Package flatjson reads one flat JSON object strictly: keys are compared
// byte for byte, a key given twice is an error, and every value is checked
// against the JSON grammar (RFC 8259). Values that are objects or arrays are
// validated and reported by kind, so a caller can refuse them with a clear
// message. It exists because encoding/json matches keys case-insensitively
// and keeps the last of duplicated keys, so what it accepts is not what a
// protocol documents.
//
// The parser allocates nothing for plain keys and values; it is safe for
// concurrent use.
package flatjson

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Kind is the JSON type of a value.
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota + 1
	Bool
	Number
	String
	Object
	Array
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "a boolean"
	case Number:
		return "a number"
	case String:
		return "a string"
	case Object:
		return "an object"
	case Array:
		return "an array"
	}
	return "nothing"
}

// Errors of Parse. A *SyntaxError wraps ErrSyntax.
var (
	ErrSyntax       = errors.New("flatjson: invalid JSON")
	ErrNotObject    = errors.New("flatjson: not a JSON object")
	ErrDuplicateKey = errors.New("flatjson: duplicate key")
)

// SyntaxError is invalid JSON at byte Offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// DuplicateKeyError names a key given more than once.
type DuplicateKeyError struct{ Key string }

func (e *DuplicateKeyError) Error() string { return fmt.Sprintf("key %q is given twice", e.Key) }

// Unwrap makes errors.Is(err, ErrDuplicateKey) true.
func (e *DuplicateKeyError) Unwrap() error { return ErrDuplicateKey }

// Value is one member's value. Raw is its literal text: for a String the
// bytes between the quotes, still escaped.
type Value struct {
	Kind    Kind
	Raw     []byte
	escaped bool // a String with backslash escapes
}

// Str returns a String value's text.
func (v Value) Str() string {
	if !v.escaped {
		return string(v.Raw)
	}
	return unescape(v.Raw)
}

// Bool returns a Bool value.
func (v Value) Bool() bool { return v.Kind == Bool && v.Raw[0] == 't' }

// Float returns a Number value as a float64; ok is false when it does not
// fit (overflows to an infinity).
func (v Value) Float() (f float64, ok bool) {
	f, err := strconv.ParseFloat(bstr(v.Raw), 64)
	return f, err == nil && !math.IsInf(f, 0)
}

// Integer returns a Number value that is an integer in any JSON spelling
// (13, 13.0, 1.3e1, -0) and lies within [-limit, limit], where limit is at
// most 2^53, the largest magnitude at which float64 spellings are exact.
// ok is false for a fraction or a value out of range.
func (v Value) Integer(limit uint64) (n int64, ok bool) {
	if limit > 1<<53 {
		limit = 1 << 53
	}
	plain := true
	for _, c := range v.Raw {
		if c == '.' || c == 'e' || c == 'E' {
			plain = false
			break
		}
	}
	if plain {
		i, err := strconv.ParseInt(bstr(v.Raw), 10, 64)
		if err != nil || i > int64(limit) || i < -int64(limit) {
			return 0, false
		}
		return i, true
	}
	f, err := strconv.ParseFloat(bstr(v.Raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > float64(limit) {
		return 0, false
	}
	return int64(f), true
}

// bstr views b as a string for a parse that does not keep it (the errors
// of strconv keep their input, so the caller drops them).
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// maxKeys bounds the members of one object: frames are small, and the
// duplicate check is linear.
const maxKeys = 64

// Parse checks that data is exactly one JSON object and calls fn for each of
// its members in order. The key passed to fn may share memory with data: fn
// must not keep it, or data must not change afterwards. It stops at the first error: a *SyntaxError, a
// *DuplicateKeyError, ErrNotObject, or what fn returned.
func Parse(data []byte, fn func(key string, v Value) error) error {
	p := parser{data: data}
	p.space()
	if p.i >= len(p.data) {
		return p.fail("empty input")
	}
	if p.data[p.i] != '{' {
		if _, err := p.value(0); err != nil {
			return err
		}
		return ErrNotObject
	}
	p.i++
	var seen [maxKeys]string
	nseen := 0
	p.space()
	if p.peek() == '}' {
		p.i++
		return p.end()
	}
	for {
		p.space()
		if p.peek() != '"' {
			return p.fail("expected a key in double quotes")
		}
		kraw, kesc, err := p.str()
		if err != nil {
			return err
		}
		var key string
		if kesc {
			key = unescape(kraw)
		} else {
			key = unsafe.String(unsafe.SliceData(kraw), len(kraw)) // data outlives Parse's use of it
		}
		for _, s := range seen[:nseen] {
			if s == key {
				return &DuplicateKeyError{Key: strings.Clone(key)}
			}
		}
		if nseen == maxKeys {
			return p.fail(fmt.Sprintf("more than %d keys", maxKeys))
		}
		seen[nseen] = key
		nseen++
		p.space()
		if p.peek() != ':' {
			return p.fail("expected ':' after a key")
		}
		p.i++
		p.space()
		v, err := p.value(1)
		if err != nil {
			return err
		}
		if err := fn(key, v); err != nil {
			return err
		}
		p.space()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return p.end()
		default:
			return p.fail("expected ',' or '}'")
		}
	}
}

// maxDepth bounds nesting inside a member's value.
const maxDepth = 32

type parser struct {
	data []byte
	i    int
}

func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.i, Msg: msg} }

func (p *parser) peek() byte {
	if p.i < len(p.data) {
		return p.data[p.i]
	}
	return 0
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) end() error {
	p.space()
	if p.i != len(p.data) {
		return p.fail("data after the object")
	}
	return nil
}

// value scans one value at depth and returns it.
func (p *parser) value(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.fail("nested too deeply")
	}
	start := p.i
	switch c := p.peek(); {
	case c == '"':
		raw, esc, err := p.str()
		return Value{Kind: String, Raw: raw, escaped: esc}, err
	case c == '-' || (c >= '0' && c <= '9'):
		if err := p.number(); err != nil {
			return Value{}, err
		}
		return Value{Kind: Number, Raw: p.data[start:p.i]}, nil
	case c == 't':
		return p.literal("true", Bool)
	case c == 'f':
		return p.literal("false", Bool)
	case c == 'n':
		return p.literal("null", Null)
	case c == '{':
		return p.composite(depth, '}', Object, true)
	case c == '[':
		return p.composite(depth, ']', Array, false)
	case c == 0 && p.i >= len(p.data):
		return Value{}, p.fail("unexpected end of input")
	default:
		return Value{}, p.fail(fmt.Sprintf("unexpected character %q", c))
	}
}

func (p *parser) literal(word string, k Kind) (Value, error) {
	if len(p.data)-p.i < len(word) || string(p.data[p.i:p.i+len(word)]) != word {
		return Value{}, p.fail("invalid literal (JSON has only true, false and null; NaN and Infinity are not JSON)")
	}
	v := Value{Kind: k, Raw: p.data[p.i : p.i+len(word)]}
	p.i += len(word)
	return v, nil
}

// composite validates a nested object or array.
func (p *parser) composite(depth int, closer byte, k Kind, keyed bool) (Value, error) {
	start := p.i
	p.i++
	p.space()
	if p.peek() == closer {
		p.i++
		return Value{Kind: k, Raw: p.data[start:p.i]}, nil
	}
	for {
		p.space()
		if keyed {
			if p.peek() != '"' {
				return Value{}, p.fail("expected a key in double quotes")
			}
			if _, _, err := p.str(); err != nil {
				return Value{}, err
			}
			p.space()
			if p.peek() != ':' {
				return Value{}, p.fail("expected ':' after a key")
			}
			p.i++
			p.space()
		}
		if _, err := p.value(depth + 1); err != nil {
			return Value{}, err
		}
		p.space()
		switch p.peek() {
		case ',':
			p.i++
		case closer:
			p.i++
			return Value{Kind: k, Raw: p.data[start:p.i]}, nil
		default:
			return Value{}, p.fail(fmt.Sprintf("expected ',' or '%c'", closer))
		}
	}
}

// str scans a string at p.i (at its opening quote) and returns the bytes
// between the quotes and whether they contain escapes.
func (p *parser) str() ([]byte, bool, error) {
	p.i++
	start := p.i
	esc := false
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == '"':
			raw := p.data[start:p.i]
			p.i++
			return raw, esc, nil
		case c == '\\':
			esc = true
			p.i++
			switch p.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if len(p.data)-p.i < 5 {
					return nil, false, p.fail("truncated \\u escape")
				}
				for _, h := range p.data[p.i+1 : p.i+5] {
					if !isHex(h) {
						return nil, false, p.fail("invalid \\u escape")
					}
				}
				p.i += 5
			default:
				return nil, false, p.fail("invalid escape in a string")
			}
		case c < 0x20:
			return nil, false, p.fail("control character in a string")
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRune(p.data[p.i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, p.fail("invalid UTF-8 in a string")
			}
			p.i += size
		}
	}
	return nil, false, p.fail("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number scans a number per the JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() error {
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return p.fail("invalid number")
	}
	if p.peek() == '.' {
		p.i++
		if !p.digits() {
			return p.fail("invalid number: digits must follow '.'")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			return p.fail("invalid number: digits must follow the exponent")
		}
	}
	return nil
}

func (p *parser) digits() bool {
	start := p.i
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// unescape decodes a validated string body with escapes.
func unescape(raw []byte) string {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if r2 := hex4(raw[i+3 : i+7]); utf16.DecodeRune(r, r2) != utf8.RuneError {
						r = utf16.DecodeRune(r, r2)
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default: // '"', '\\', '/'
			b = append(b, raw[i])
		}
	}
	return string(b)
}

func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
