package tap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/location"
)

// Format is how the tap writes a fix: one line per fix, either way.
type Format uint8

// The formats.
const (
	// JSONLines writes the stored location object (mobileproto/PROTOCOL.md)
	// with its cursor (stream sequence) and subject in front:
	//
	//	{"cursor":7,"subject":"rtls.loc.d-1","driver":"d-1","latitude":12.97,"longitude":77.59,"seq":3,"ts":1764412803000,"speed":8.5,"time":1764412803120,"node":"n1"}
	//
	// Optional members are left out when absent, as in the stream.
	JSONLines Format = iota
	// CSV writes a header line and then fixed columns, empty when a value
	// is absent, in a shape a Parquet or warehouse loader types without
	// guessing (cursor, seq, ts and time are integers; latitude,
	// longitude, accuracy, speed and heading floating point; driver and
	// node strings):
	//
	//	cursor,driver,latitude,longitude,seq,ts,accuracy,speed,heading,time,node
	//	7,d-1,12.97,77.59,3,1764412803000,,8.5,,1764412803120,n1
	CSV
)

// csvHeader is the CSV format's header line.
const csvHeader = "cursor,driver,latitude,longitude,seq,ts,accuracy,speed,heading,time,node\n"

// ParseFormat returns the format named s: "jsonl" or "csv".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "jsonl", "ndjson":
		return JSONLines, nil
	case "csv":
		return CSV, nil
	}
	return 0, fmt.Errorf("%w: format %q: use jsonl or csv", ErrInvalidConfig, s)
}

func (f Format) String() string {
	switch f {
	case JSONLines:
		return "jsonl"
	case CSV:
		return "csv"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Header is the line a new output starts with: CSV's column names, nothing
// for JSONLines.
func (f Format) Header() []byte {
	if f == CSV {
		return []byte(csvHeader)
	}
	return nil
}

// AppendLine appends the line of the fix stored at cursor, newline
// included, to dst. The record must be valid (location.Record.Validate),
// as every record the tap writes is: its driver and node are then plain
// ASCII letters, digits, '-' and '_', which CSV needs no quotes for.
func (f Format) AppendLine(dst []byte, cursor uint64, r *location.Record) []byte {
	if f == CSV {
		return appendCSV(dst, cursor, r)
	}
	dst = append(dst, `{"cursor":`...)
	dst = strconv.AppendUint(dst, cursor, 10)
	dst = append(dst, `,"subject":"`...)
	dst = append(dst, fixstream.LocationPrefix...)
	dst = append(dst, r.Driver...)
	dst = append(dst, `",`...)
	dst = location.AppendMembers(dst, r)
	return append(dst, '}', '\n')
}

func appendCSV(dst []byte, cursor uint64, r *location.Record) []byte {
	float := func(dst []byte, v float64) []byte { return strconv.AppendFloat(dst, v, 'f', -1, 64) }
	optional := func(dst []byte, v *float64) []byte {
		dst = append(dst, ',')
		if v != nil {
			dst = float(dst, *v)
		}
		return dst
	}
	dst = strconv.AppendUint(dst, cursor, 10)
	dst = append(dst, ',')
	dst = append(dst, r.Driver...)
	dst = append(dst, ',')
	dst = float(dst, r.Latitude)
	dst = append(dst, ',')
	dst = float(dst, r.Longitude)
	dst = append(dst, ',')
	if r.Seq != 0 {
		dst = strconv.AppendUint(dst, r.Seq, 10)
	}
	dst = append(dst, ',')
	if r.TS != 0 {
		dst = strconv.AppendInt(dst, r.TS, 10)
	}
	dst = optional(dst, r.Accuracy)
	dst = optional(dst, r.Speed)
	dst = optional(dst, r.Heading)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, r.Time, 10)
	dst = append(dst, ',')
	dst = append(dst, r.Node...)
	return append(dst, '\n')
}

// cursorOf returns the cursor of a line of format f, without its newline.
func (f Format) cursorOf(line []byte) (uint64, error) {
	if f == CSV {
		field, _, _ := bytes.Cut(line, []byte{','})
		c, err := strconv.ParseUint(string(field), 10, 64)
		if err != nil || c == 0 {
			return 0, fmt.Errorf("%w: %.80q does not start with a cursor", ErrFormat, line)
		}
		return c, nil
	}
	var v struct {
		Cursor uint64 `json:"cursor"`
	}
	if err := json.Unmarshal(line, &v); err != nil || v.Cursor == 0 {
		return 0, fmt.Errorf("%w: %.80q is not a JSON object with a cursor", ErrFormat, line)
	}
	return v.Cursor, nil
}
