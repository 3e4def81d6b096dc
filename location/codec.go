package location

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/rtls-io/rtls/internal/flatjson"
)

// AppendJSON appends the JSON of r to dst:
// {"driver":…,"latitude":…,"longitude":…[,"seq":…][,"ts":…][,"accuracy":…]
// [,"speed":…][,"heading":…],"time":…[,"node":…]}. The record must be valid
// (see Validate).
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, '{')
	dst = AppendMembers(dst, r)
	return append(dst, '}')
}

// AppendMembers appends the members of r's JSON object, without braces, so
// that a frame can carry them beside its own.
func AppendMembers(dst []byte, r *Record) []byte {
	dst = append(dst, `"driver":`...)
	dst = AppendString(dst, r.Driver)
	dst = append(dst, ',')
	dst = AppendFixMembers(dst, &r.Fix)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, r.Time, 10)
	if r.Node != "" {
		dst = append(dst, `,"node":`...)
		dst = AppendString(dst, r.Node)
	}
	return dst
}

// AppendFixMembers appends the members of f, without braces.
func AppendFixMembers(dst []byte, f *Fix) []byte {
	dst = append(dst, `"latitude":`...)
	dst = appendFloat(dst, f.Latitude)
	dst = append(dst, `,"longitude":`...)
	dst = appendFloat(dst, f.Longitude)
	if f.Seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, f.Seq, 10)
	}
	if f.TS != 0 {
		dst = append(dst, `,"ts":`...)
		dst = strconv.AppendInt(dst, f.TS, 10)
	}
	if f.Accuracy != nil {
		dst = append(dst, `,"accuracy":`...)
		dst = appendFloat(dst, *f.Accuracy)
	}
	if f.Speed != nil {
		dst = append(dst, `,"speed":`...)
		dst = appendFloat(dst, *f.Speed)
	}
	if f.Heading != nil {
		dst = append(dst, `,"heading":`...)
		dst = appendFloat(dst, *f.Heading)
	}
	return dst
}

func appendFloat(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// ErrMalformed is wrapped by Decode for data that is not a JSON object of
// the record's shape.
var ErrMalformed = errors.New("location: malformed record")

// Decode decodes and validates the JSON of a record, strictly: keys match
// exactly, none repeats, and unknown keys are ignored (newer nodes may add
// fields). An error wraps ErrMalformed (not a record) or ErrInvalid (a field
// out of range; a *FieldError).
func Decode(data []byte) (Record, error) {
	var r Record
	var have struct{ lat, lon, time bool }
	err := flatjson.Parse(data, func(key string, v flatjson.Value) error {
		switch key {
		case "driver", "node":
			if v.Kind != flatjson.String {
				return fieldErr(key, "%s must be a string, not %s", key, v.Kind)
			}
			if key == "driver" {
				r.Driver = v.Str()
			} else {
				r.Node = v.Str()
			}
		case "time":
			n, e := Integer(key, v, MaxTS, false)
			if e != nil {
				return e
			}
			r.Time, have.time = n, true
		default:
			known, e := DecodeFixMember(&r.Fix, key, v)
			if e != nil {
				return e
			}
			if known {
				have.lat = have.lat || key == "latitude"
				have.lon = have.lon || key == "longitude"
			}
		}
		return nil
	})
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return Record{}, fe
		}
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case !have.lat:
		return Record{}, fieldErr("latitude", "latitude is required")
	case !have.lon:
		return Record{}, fieldErr("longitude", "longitude is required")
	case !have.time:
		return Record{}, fieldErr("time", "time is required")
	}
	if e := r.Validate(); e != nil {
		return Record{}, e
	}
	return r, nil
}

// DecodeFixMember sets the field of f named by key from v, the value of a
// member of a flat JSON object (package internal/flatjson; codecs of this
// module use it so that a fix is decoded by the same rules everywhere). It
// reports whether key is a fix field. The rules: latitude and longitude are
// required numbers (null is refused); seq and ts are integers in any JSON
// spelling, and seq may not be null (a client that sends "seq":null would
// otherwise never get an ack it waits for); accuracy, speed and heading are
// numbers, null meaning absent. Ranges are checked by Validate.
func DecodeFixMember(f *Fix, key string, v flatjson.Value) (bool, *FieldError) {
	switch key {
	case "latitude", "longitude":
		if v.Kind == flatjson.Null {
			return true, fieldErr(key, "%s is required and must be a finite number, not null", key)
		}
		x, e := number(key, v)
		if e != nil {
			return true, e
		}
		if key == "latitude" {
			f.Latitude = x
		} else {
			f.Longitude = x
		}
	case "seq":
		if v.Kind == flatjson.Null {
			return true, fieldErr(key, "seq must be an integer within [1, %d], not null (omit it to send a fix that is not acked)", uint64(MaxSeq))
		}
		n, e := Integer(key, v, MaxSeq, false)
		if e != nil {
			return true, e
		}
		if n == 0 {
			return true, fieldErr(key, "seq must be within [1, %d]", uint64(MaxSeq))
		}
		f.Seq = uint64(n)
	case "ts":
		if v.Kind == flatjson.Null {
			f.TS = 0
			return true, nil
		}
		n, e := Integer(key, v, MaxTS, true)
		if e != nil {
			return true, e
		}
		if e := checkTS(n); e != nil {
			return true, e
		}
		f.TS = n
	case "accuracy", "speed", "heading":
		var p *float64
		if v.Kind != flatjson.Null {
			x, e := number(key, v)
			if e != nil {
				return true, e
			}
			p = &x
		}
		switch key {
		case "accuracy":
			f.Accuracy = p
		case "speed":
			f.Speed = p
		default:
			f.Heading = p
		}
	default:
		return false, nil
	}
	return true, nil
}

func number(key string, v flatjson.Value) (float64, *FieldError) {
	if v.Kind != flatjson.Number {
		return 0, fieldErr(key, "%s must be a finite number, not %s", key, v.Kind)
	}
	x, ok := v.Float()
	if !ok {
		return 0, fieldErr(key, "%s must be a finite number in range", key)
	}
	return x, nil
}

// Integer returns v as an integer within [0, limit] (or [-limit, limit] when
// signed is true, so that the range check can give the better message), in
// any JSON spelling of an integer, or a *FieldError naming key.
func Integer(key string, v flatjson.Value, limit uint64, signed bool) (int64, *FieldError) {
	if v.Kind != flatjson.Number {
		return 0, fieldErr(key, "%s must be an integer, not %s", key, v.Kind)
	}
	n, ok := v.Integer(limit)
	if !ok || (n < 0 && !signed) {
		return 0, fieldErr(key, "%s must be an integer within [0, %d], not %s", key, limit, truncate(string(v.Raw), 32))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
