package node_test

// The numbered edge cases of issue 11, each against a real node. A case
// that an existing test already exercises exactly, at the edge, is not
// repeated here; this is where each is covered:
//
//  1. Gaps are visible.
//     - since older than what is kept: complete false, oldest:
//       TestResumeSaysWhatWasLost (continuity_test.go).
//     - a latest-wins skip is visible in prev:
//       TestSlowRiderGetsTheNewestFixAndSlowsNobody (delivery_test.go).
//     - since beyond the end of the stream: invalid_cursor:
//       TestResumeSaysWhatWasLost, and the vector "a cursor beyond the
//       stream is invalid_cursor" (mobileproto/testdata/vectors.json, run
//       against a node by TestVectors).
//     - a reset stream is another epoch: in welcome,
//       TestANewEpochAfterTheStreamIsCreatedAgain (continuity_test.go); in
//       tracking, and what an old cursor gets, TestEdge1AResetStreamIsAnotherEpoch.
//  2. No stall: a resume at the head is answered without reading history,
//     and the next fix is live (no replay, prev set): TestResumeAtTheHead
//     and BenchmarkResumeAtTheHead (continuity_test.go).
//  3. Integers in any JSON spelling: seq 13.0 and 1.3e1, history 2.0: the
//     vectors "seq 13.0 is the integer 13", "seq 1.3e1 is the integer 13",
//     "history 2.0 is the integer 2"; ts 1764412800000.0, 1e3, since and
//     fractions: TestEdge3IntegersInAnyJSONSpelling.
//  4. null: seq null is refused with an error frame (bad_request), and
//     ts, accuracy, speed, heading and id null mean absent: the vectors
//     "seq null is bad_request (null does not mean absent for seq)" and
//     "null optional fields are accepted and mean absent"; history and
//     since null: TestEdge4NullMeansAbsent.
//  5. Keys: case-sensitive and unknown, so ignored; a key given twice is
//     refused: the vectors "keys are case-sensitive: Type is unknown, so
//     type is missing", "keys are case-sensitive: Latitude is unknown, so
//     latitude is missing" and "a key given twice is bad_request".
//  6. Close codes: a refused Origin gets forbidden and 1008:
//     TestCrossOriginPagesNeedToBeAllowed (edge_test.go); a rider that
//     stops reading: TestEdge6ARiderThatStopsReadingIsCutOff.
//  7. ts in seconds is refused with invalid_location: the vector "ts in
//     seconds is refused as invalid_location".
//  8. The same driver on two connections: the older is closed with 4009,
//     on one node and across nodes: TestNewestDriverConnectionWinsAcrossTheCluster
//     (trust_test.go); the session_replaced frame before the close:
//     TestEdge8SameDriverTwiceTheOlderIsReplaced.

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// TestEdge1AResetStreamIsAnotherEpoch: after the stream is created again,
// its cursors mean something else, and tracking says so with its epoch. A
// cursor of the old stream is either refused (invalid_cursor) or answered
// under the new epoch, never under the old one: a client that compares
// epochs, as PROTOCOL.md asks, always notices.
func TestEdge1AResetStreamIsAnotherEpoch(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := dial(t, n, mobileproto.RoleDriver, "d-1")
	acks := sendFixes(t, d, 1, 3)
	r := dial(t, n, mobileproto.RoleRider, "r-1")
	before, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)})
	if err != nil {
		t.Fatal(err)
	}
	if before.Epoch == "" || before.Epoch != r.Welcome().Epoch {
		t.Fatalf("tracking epoch %q, welcome epoch %q: want the same, not empty", before.Epoch, r.Welcome().Epoch)
	}

	js, err := jetstream.New(nc(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, node.StreamName); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if e := n.Epoch(); e == before.Epoch || n.StreamProblem() != "" {
			return errf("epoch %q (was %q), stream problem %q", e, before.Epoch, n.StreamProblem())
		}
		return nil
	})

	r2 := dial(t, n, mobileproto.RoleRider, "r-2")
	if r2.Welcome().Epoch != n.Epoch() {
		t.Fatalf("welcome epoch %q after the reset, want the new %q", r2.Welcome().Epoch, n.Epoch())
	}
	after, err := r2.Track(ctx, "d-1", mobileproto.TrackOptions{Since: u64p(acks[2].Cursor)})
	var pe *mobileproto.Error
	switch {
	case errors.As(err, &pe) && pe.Code == mobileproto.CodeInvalidCursor:
		t.Logf("the old cursor %d was refused: %v", acks[2].Cursor, err)
	case err != nil:
		t.Fatalf("track with the old cursor %d: %v, want tracking or invalid_cursor", acks[2].Cursor, err)
	case after.Epoch != n.Epoch():
		t.Fatalf("track with the old cursor %d: epoch %q, want the new %q (the old was %q)", acks[2].Cursor, after.Epoch, n.Epoch(), before.Epoch)
	default:
		t.Logf("the old cursor %d was answered under the new epoch: %+v", acks[2].Cursor, after)
	}
}

// readFrameText is readFrame, returning the frame's text as well.
func readFrameText(t testing.TB, ws *websocket.Conn) (mobileproto.Frame, string) {
	t.Helper()
	for {
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		f, err := mobileproto.DecodeFrame(data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if f.Type != mobileproto.TypeSetInterval && f.Type != mobileproto.TypeDriverStatus {
			return f, string(data)
		}
	}
}

// TestEdge3IntegersInAnyJSONSpelling: seq, ts, since and history are
// integers however JSON spells them (a JavaScript client may well write
// 1e3 or 1764412800000.0), they come back written plainly, and a fraction
// is refused with the code of its field.
func TestEdge3IntegersInAnyJSONSpelling(t *testing.T) {
	n := startNode(t)
	driver := rawDial(t, n, "role=driver&id=d-1")
	send := func(frame string) mobileproto.Frame {
		t.Helper()
		writeText(t, driver, frame)
		return readFrame(t, driver)
	}
	var cursors []uint64
	for _, frame := range []string{
		`{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":1e3,"ts":1764412800000.0}`,
		`{"type":"send-location","latitude":12.9717,"longitude":77.5945,"seq":1.001e3,"ts":1.764412803e12}`,
	} {
		f := send(frame)
		if want := uint64(1000 + len(cursors)); f.Type != mobileproto.TypeAck || f.Ack.Seq != want {
			t.Fatalf("%s: got %s %+v %+v, want the ack of seq %d", frame, f.Type, f.Ack, f.Error, want)
		}
		cursors = append(cursors, f.Ack.Cursor)
	}
	for _, c := range []struct {
		frame string
		code  mobileproto.Code
		seq   uint64
	}{
		{`{"type":"send-location","latitude":12.9718,"longitude":77.5944,"seq":1002.5}`, mobileproto.CodeBadRequest, 0},
		{`{"type":"send-location","latitude":12.9718,"longitude":77.5944,"seq":1002,"ts":1764412806000.5}`, mobileproto.CodeInvalidLocation, 1002},
	} {
		if f := send(c.frame); f.Type != mobileproto.TypeError || f.Error.Code != c.code || f.Error.Seq != c.seq {
			t.Fatalf("%s: got %s %+v, want error %s with seq %d", c.frame, f.Type, f.Error, c.code, c.seq)
		}
	}

	rider := rawDial(t, n, "role=rider&id=r-1")
	writeText(t, rider, `{"type":"track-driver","driver":"d-1","since":`+strconv.FormatUint(cursors[0], 10)+`.0,"id":"t1"}`)
	l, text := readFrameText(t, rider)
	if l.Type != mobileproto.TypeReceiveLocation || l.Location.Cursor != cursors[1] || !l.Location.Replay {
		t.Fatalf("after since %d.0: %s, want the replay of cursor %d", cursors[0], text, cursors[1])
	}
	for _, plain := range []string{`"seq":1001,`, `"ts":1764412803000,`} {
		if !strings.Contains(text, plain) {
			t.Errorf("%s: want %s, the integer written plainly", text, plain)
		}
	}
	if tr, text := readFrameText(t, rider); tr.Type != mobileproto.TypeTracking || tr.Tracking.ID != "t1" || tr.Tracking.Replayed != 1 || tr.Tracking.Complete == nil || !*tr.Tracking.Complete {
		t.Fatalf("after since %d.0: %s, want tracking t1, 1 replayed, complete", cursors[0], text)
	}

	writeText(t, rider, `{"type":"track-driver","driver":"d-1","history":2e0,"id":"t2"}`)
	for i, want := range cursors {
		if f, text := readFrameText(t, rider); f.Type != mobileproto.TypeReceiveLocation || f.Location.Cursor != want {
			t.Fatalf("history 2e0, frame %d: %s, want the replay of cursor %d", i, text, want)
		}
	}
	if tr, text := readFrameText(t, rider); tr.Type != mobileproto.TypeTracking || tr.Tracking.ID != "t2" || tr.Tracking.Replayed != 2 {
		t.Fatalf("history 2e0: %s, want tracking t2 with 2 replayed", text)
	}
}

// TestEdge4NullMeansAbsent: history null is the default (the current
// position), since null is no since (so the answer says nothing of
// completeness), id null is no id.
func TestEdge4NullMeansAbsent(t *testing.T) {
	n := startNode(t)
	d := dial(t, n, mobileproto.RoleDriver, "d-1")
	acks := sendFixes(t, d, 1, 3)
	rider := rawDial(t, n, "role=rider&id=r-1")

	writeText(t, rider, `{"type":"track-driver","driver":"d-1","history":null,"since":null,"id":"t1"}`)
	if l, text := readFrameText(t, rider); l.Type != mobileproto.TypeReceiveLocation || l.Location.Cursor != acks[2].Cursor || !l.Location.Replay {
		t.Fatalf("history null: %s, want the replay of the current position, cursor %d", text, acks[2].Cursor)
	}
	tr, text := readFrameText(t, rider)
	if tr.Type != mobileproto.TypeTracking || tr.Tracking.ID != "t1" || tr.Tracking.Replayed != 1 || tr.Tracking.Complete != nil || strings.Contains(text, `"complete"`) {
		t.Fatalf("history and since null: %s, want tracking t1 with 1 replayed and no complete", text)
	}

	writeText(t, rider, `{"type":"untrack-driver","driver":"d-1","id":null}`)
	if u, text := readFrameText(t, rider); u.Type != mobileproto.TypeUntracked || u.Untracked.Driver != "d-1" || strings.Contains(text, `"id"`) {
		t.Fatalf("id null: %s, want untracked without an id", text)
	}
}

// TestEdge6ARiderThatStopsReadingIsCutOff: a rider whose app stops reading
// does not hold the node: once the node cannot write to it for
// WriteTimeout it cuts the connection and lets go of the rider's watch. As
// PROTOCOL.md says, a close frame cannot pass the frames the rider did not
// read, so the rider, reading again, gets those and then either close 4008
// or the end of the connection without a close frame; never another code.
func TestEdge6ARiderThatStopsReadingIsCutOff(t *testing.T) {
	n := startNode(t, func(c *node.Config) {
		c.WriteTimeout = time.Second
		c.RateLimit, c.RateBurst = 1e6, 1e6
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	driver := dial(t, n, mobileproto.RoleDriver, "d-1")
	// The app reads nothing after Track: with no client-side buffer and a
	// tiny kernel one, the node's writes to it soon block.
	slow := dial(t, n, mobileproto.RoleRider, "r-slow", mobileproto.WithLocationBuffer(0), smallReceiveBuffer())
	if _, err := slow.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	sent := uint64(0)
	for n.Stats().Riders > 0 {
		if sent >= 200000 {
			t.Fatalf("the rider that reads nothing is still connected after %d fixes: %+v", sent, n.Stats())
		}
		sendFixes(t, driver, sent+1, sent+100)
		sent += 100
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := n.Stats(); s.Riders != 0 || s.LiveSubscriptions != 0 {
			return errf("%d riders and %d live subscriptions left", s.Riders, s.LiveSubscriptions)
		}
		return nil
	})
	// The driver was not held up, and is still served.
	sendFixes(t, driver, sent+1, sent+1)

	// The app reads again: what the node wrote, then the end.
	got := 0
	for open := true; open; {
		select {
		case _, open = <-slow.Locations():
			if open {
				got++
			}
		case <-ctx.Done():
			t.Fatalf("the cut-off rider's connection did not end (%d locations read)", got)
		}
	}
	// gorilla/websocket reports a connection that ended without a close
	// frame as 1006 (CloseAbnormalClosure), as browsers do.
	var ce *mobileproto.CloseError
	switch err := slow.Err(); {
	case err == nil:
		t.Fatal("the rider's client stopped without an error")
	case errors.As(err, &ce) && ce.Code == mobileproto.CloseSlowClient:
		t.Logf("%d fixes sent; the rider read %d, then close %d", sent, got, ce.Code)
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		t.Fatalf("the rider that read nothing was closed with %d %q, want %d or no close frame", ce.Code, ce.Reason, mobileproto.CloseSlowClient)
	default:
		t.Logf("%d fixes sent; the rider read %d, then the connection ended without a close frame: %v", sent, got, err)
	}
}

// TestEdge8SameDriverTwiceTheOlderIsReplaced: when a driver connects
// again, its older connection is told session_replaced and then closed
// with 4009, which a client must not reconnect after; the newer one
// stores fixes.
func TestEdge8SameDriverTwiceTheOlderIsReplaced(t *testing.T) {
	n := startNode(t)
	older := rawDial(t, n, "role=driver&id=d-1")
	writeText(t, older, `{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":1}`)
	if f := readFrame(t, older); f.Type != mobileproto.TypeAck || f.Ack.Seq != 1 {
		t.Fatalf("older connection: %s %+v %+v, want the ack of seq 1", f.Type, f.Ack, f.Error)
	}

	newer := rawDial(t, n, "role=driver&id=d-1")
	if f := readFrame(t, older); f.Type != mobileproto.TypeError || f.Error.Code != mobileproto.CodeSessionReplaced {
		t.Fatalf("older connection after the newer one came: %s %+v, want error session_replaced", f.Type, f.Error)
	}
	if code := closeCode(t, older); code != mobileproto.CloseSessionReplaced || mobileproto.Reconnectable(code) {
		t.Fatalf("older connection: close %d, want %d (terminal)", code, mobileproto.CloseSessionReplaced)
	}

	writeText(t, newer, `{"type":"send-location","latitude":12.9717,"longitude":77.5945,"seq":2}`)
	if f := readFrame(t, newer); f.Type != mobileproto.TypeAck || f.Ack.Seq != 2 {
		t.Fatalf("newer connection: %s %+v %+v, want the ack of seq 2", f.Type, f.Ack, f.Error)
	}
}
