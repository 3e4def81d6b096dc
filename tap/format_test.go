package tap_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/location"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/tap"
)

// TestFormats: a fix with every optional field and one with none, as each
// format writes them (the cursor and the node's receive time come from
// the stream).
func TestFormats(t *testing.T) {
	full := mobileproto.Fix{Latitude: 52.52, Longitude: 13.405, Seq: 1, TS: 1764412800000,
		Accuracy: mobileproto.Float64(5), Speed: mobileproto.Float64(8.5), Heading: mobileproto.Float64(90)}
	bare := mobileproto.Fix{Latitude: -33.8688, Longitude: 151.2093, Seq: 2, TS: 1764412801000}
	for _, tc := range []struct {
		format tap.Format
		header string
		lines  []string // with %d for the cursor and %d for the time
	}{
		{tap.JSONLines, "", []string{
			`{"cursor":%d,"subject":"rtls.loc.d-fmt","driver":"d-fmt","latitude":52.52,"longitude":13.405,"seq":1,"ts":1764412800000,"accuracy":5,"speed":8.5,"heading":90,"time":%d,"node":"n1"}`,
			`{"cursor":%d,"subject":"rtls.loc.d-fmt","driver":"d-fmt","latitude":-33.8688,"longitude":151.2093,"seq":2,"ts":1764412801000,"time":%d,"node":"n1"}`,
		}},
		{tap.CSV, "cursor,driver,latitude,longitude,seq,ts,accuracy,speed,heading,time,node", []string{
			`%d,d-fmt,52.52,13.405,1,1764412800000,5,8.5,90,%d,n1`,
			`%d,d-fmt,-33.8688,151.2093,2,1764412801000,,,,%d,n1`,
		}},
	} {
		t.Run(tc.format.String(), func(t *testing.T) {
			s := testnode.NewSecrets(t)
			n := startNode(t, s)
			d := dialDriver(t, s, n.WebSocketURL(), "d-fmt")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, f := range []mobileproto.Fix{full, bare} {
				if _, err := d.SendLocation(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "fixes."+tc.format.String())
			r := runTap(t, tapConfig(s, openOutput(t, path, tc.format), n.ClientURL()))
			testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				if w := r.tap.Stats().Written; w != 2 {
					return fmt.Errorf("%d written", w)
				}
				return nil
			})
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			fixes := stored(t, operator(t, s, n.ClientURL()), "d-fmt")
			var cursors []uint64
			for c := range fixes {
				cursors = append(cursors, c)
			}
			sort.Slice(cursors, func(i, j int) bool { return cursors[i] < cursors[j] })
			var want []string
			if tc.header != "" {
				want = append(want, tc.header)
			}
			for i, c := range cursors {
				want = append(want, fmt.Sprintf(tc.lines[i], c, fixes[c].Record.Time))
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(want, "\n") + "\n"; string(data) != got {
				t.Errorf("the output is\n%s\nwant\n%s", data, got)
			}
			// Opened again, the file resumes after its last fix.
			if out := openOutput(t, path, tc.format); out.Last != cursors[1] || out.Cut != 0 {
				t.Errorf("Append: last %d, cut %d; want %d, 0", out.Last, out.Cut, cursors[1])
			}
		})
	}
}

// TestInvalidRecordsAreSkipped: messages that are not valid records of
// their subject's driver (put in the stream by an operator here) are
// counted and terminated; the tap writes the fixes around them and goes on.
func TestInvalidRecordsAreSkipped(t *testing.T) {
	s := testnode.NewSecrets(t)
	n := startNode(t, s)
	path := filepath.Join(t.TempDir(), "fixes.jsonl")
	r := runTap(t, tapConfig(s, openOutput(t, path, tap.JSONLines), n.ClientURL()))
	d := dialDriver(t, s, n.WebSocketURL(), "d-1")
	sendFixes(t, d, 1, 5)

	op := operator(t, s, n.ClientURL())
	js, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	someoneElse := location.AppendJSON(nil, &location.Record{Driver: "y", Fix: location.Fix{Latitude: 1, Longitude: 2}, Time: 1764412800000})
	for _, junk := range [][]byte{[]byte("junk"), nil, someoneElse, []byte(`{"driver":"x","latitude":91,"longitude":0,"time":1}`)} {
		if _, err := js.Publish(ctx, "rtls.loc.x", junk); err != nil {
			t.Fatal(err)
		}
	}
	sendFixes(t, d, 6, 10)
	testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if st := r.tap.Stats(); st.Written != 10 || st.Invalid != 4 {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	// Terminated, not left pending: nothing is delivered again.
	cons, err := js.Consumer(ctx, "LOCATIONS", testnode.AnalyticsConsumer)
	if err != nil {
		t.Fatal(err)
	}
	testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		info, err := cons.Info(ctx)
		if err == nil && (info.NumAckPending != 0 || info.NumPending != 0) {
			err = fmt.Errorf("%d fixes unacknowledged, %d not delivered", info.NumAckPending, info.NumPending)
		}
		return err
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, readJSONLines(t, path), stored(t, op, "d-1"))
}
