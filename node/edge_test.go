package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// rawDial opens a plain WebSocket, reads the welcome frame and returns the conn.
func rawDial(t testing.TB, n *node.Node, query string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(n.WebSocketURL()+"?"+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	if f := readFrame(t, ws); f.Type != mobileproto.TypeWelcome {
		t.Fatalf("first frame %q, want welcome", f.Type)
	}
	return ws
}

// readFrame returns the next frame, skipping the informational ones a node
// sends by itself (set-interval to drivers, driver-status after tracking):
// tests of requests and answers read past them, as any client may.
func readFrame(t testing.TB, ws *websocket.Conn) mobileproto.Frame {
	t.Helper()
	for {
		f := readAny(t, ws)
		if f.Type != mobileproto.TypeSetInterval && f.Type != mobileproto.TypeDriverStatus {
			return f
		}
	}
}

// readAny returns the next frame, whatever it is.
func readAny(t testing.TB, ws *websocket.Conn) mobileproto.Frame {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := mobileproto.DecodeFrame(data)
	if err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return f
}

func writeText(t testing.TB, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closeCode reads until the node closes the socket and returns its close code.
func closeCode(t testing.TB, ws *websocket.Conn) int {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("connection ended without a close frame: %v", err)
	}
}

func TestBadInputGetsItsErrorCodeAndTheConnectionGoesOn(t *testing.T) {
	n := startNode(t)
	driver := rawDial(t, n, "role=driver&id=d-1")
	rider := rawDial(t, n, "role=rider&id=r-1")
	long := strings.Repeat("x", 300)

	cases := []struct {
		name   string
		rider  bool
		frame  string
		code   mobileproto.Code
		seq    uint64
		id     string
		binary bool
	}{
		{name: "not JSON", frame: `hello`, code: mobileproto.CodeBadRequest},
		{name: "truncated JSON", frame: `{"type":"send-location","latitude":1`, code: mobileproto.CodeBadRequest},
		{name: "array", frame: `[1,2]`, code: mobileproto.CodeBadRequest},
		{name: "binary frame", frame: `{"type":"send-location"}`, binary: true, code: mobileproto.CodeBadRequest},
		{name: "unknown type", frame: `{"type":"fly","id":"q1"}`, code: mobileproto.CodeUnknownType, id: "q1"},
		{name: "missing type", frame: `{"latitude":1,"longitude":2}`, code: mobileproto.CodeUnknownType},
		{name: "type not a string", frame: `{"type":7}`, code: mobileproto.CodeBadRequest},
		{name: "missing latitude", frame: `{"type":"send-location","longitude":77.5,"seq":5}`, code: mobileproto.CodeInvalidLocation, seq: 5},
		{name: "missing longitude", frame: `{"type":"send-location","latitude":12.9,"seq":6}`, code: mobileproto.CodeInvalidLocation, seq: 6},
		{name: "latitude 91", frame: `{"type":"send-location","latitude":91,"longitude":77.5,"seq":7}`, code: mobileproto.CodeInvalidLocation, seq: 7},
		{name: "latitude -90.0001", frame: `{"type":"send-location","latitude":-90.0001,"longitude":77.5}`, code: mobileproto.CodeInvalidLocation},
		{name: "longitude -181", frame: `{"type":"send-location","latitude":12.9,"longitude":-181,"seq":8}`, code: mobileproto.CodeInvalidLocation, seq: 8},
		{name: "NaN literal", frame: `{"type":"send-location","latitude":NaN,"longitude":77.5}`, code: mobileproto.CodeBadRequest},
		{name: "Infinity literal", frame: `{"type":"send-location","latitude":12.9,"longitude":Infinity}`, code: mobileproto.CodeBadRequest},
		{name: "null latitude (JSON.stringify of NaN)", frame: `{"type":"send-location","latitude":null,"longitude":77.5,"seq":9}`, code: mobileproto.CodeInvalidLocation, seq: 9},
		{name: "latitude as string", frame: `{"type":"send-location","latitude":"12.9","longitude":77.5,"seq":10}`, code: mobileproto.CodeInvalidLocation, seq: 10},
		{name: "latitude overflows float64", frame: `{"type":"send-location","latitude":1e400,"longitude":77.5}`, code: mobileproto.CodeInvalidLocation},
		{name: "negative accuracy", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"accuracy":-1,"seq":11}`, code: mobileproto.CodeInvalidLocation, seq: 11},
		{name: "heading 361", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"heading":361}`, code: mobileproto.CodeInvalidLocation},
		{name: "speed as string", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"speed":"fast"}`, code: mobileproto.CodeInvalidLocation},
		{name: "negative ts", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"ts":-5}`, code: mobileproto.CodeInvalidLocation},
		{name: "seq zero", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"seq":0}`, code: mobileproto.CodeBadRequest},
		{name: "seq negative", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"seq":-1}`, code: mobileproto.CodeBadRequest},
		{name: "seq fractional", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"seq":1.5}`, code: mobileproto.CodeBadRequest},
		{name: "seq beyond 2^53", frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"seq":9007199254740993}`, code: mobileproto.CodeBadRequest},
		{name: "rider sends a location", rider: true, frame: `{"type":"send-location","latitude":12.9,"longitude":77.5,"seq":12}`, code: mobileproto.CodeForbidden, seq: 12},
		{name: "driver tracks", frame: `{"type":"track-driver","driver":"d-2","id":"t1"}`, code: mobileproto.CodeForbidden, id: "t1"},
		{name: "driver id with dot", rider: true, frame: `{"type":"track-driver","driver":"d.1","id":"t2"}`, code: mobileproto.CodeInvalidID, id: "t2"},
		{name: "driver id with star", rider: true, frame: `{"type":"track-driver","driver":"d*"}`, code: mobileproto.CodeInvalidID},
		{name: "driver id with gt", rider: true, frame: `{"type":"track-driver","driver":">"}`, code: mobileproto.CodeInvalidID},
		{name: "driver id with space", rider: true, frame: `{"type":"track-driver","driver":"d 1"}`, code: mobileproto.CodeInvalidID},
		{name: "driver id empty", rider: true, frame: `{"type":"track-driver","driver":""}`, code: mobileproto.CodeInvalidID},
		{name: "driver id missing", rider: true, frame: `{"type":"untrack-driver"}`, code: mobileproto.CodeInvalidID},
		{name: "driver id 300 chars", rider: true, frame: `{"type":"track-driver","driver":"` + long + `"}`, code: mobileproto.CodeInvalidID},
		{name: "driver id not a string", rider: true, frame: `{"type":"track-driver","driver":17}`, code: mobileproto.CodeBadRequest},
		{name: "negative history", rider: true, frame: `{"type":"track-driver","driver":"d-1","history":-1,"id":"t3"}`, code: mobileproto.CodeBadRequest, id: "t3"},
		{name: "since not a number", rider: true, frame: `{"type":"track-driver","driver":"d-1","since":"x"}`, code: mobileproto.CodeBadRequest},
		{name: "request id too long", rider: true, frame: `{"type":"track-driver","driver":"d-1","id":"` + long + `"}`, code: mobileproto.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := driver
			if tc.rider {
				ws = rider
			}
			typ := websocket.TextMessage
			if tc.binary {
				typ = websocket.BinaryMessage
			}
			if err := ws.WriteMessage(typ, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			f := readFrame(t, ws)
			if f.Type != mobileproto.TypeError || f.Error.Code != tc.code {
				t.Fatalf("got %s %+v, want error %s", f.Type, f.Error, tc.code)
			}
			if f.Error.Message == "" {
				t.Error("error without a message")
			}
			if f.Error.Seq != tc.seq || f.Error.ID != tc.id {
				t.Errorf("error refers to seq %d id %q, want seq %d id %q", f.Error.Seq, f.Error.ID, tc.seq, tc.id)
			}
		})
	}

	// Both connections still work, and nothing invalid was stored.
	writeText(t, driver, `{"type":"send-location","latitude":12.9716,"longitude":77.5946,"seq":100}`)
	ack := readFrame(t, driver)
	if ack.Type != mobileproto.TypeAck || ack.Ack.Seq != 100 || ack.Ack.Cursor != 1 {
		t.Fatalf("after bad input the driver got %s %+v, want ack seq 100 cursor 1", ack.Type, ack.Ack)
	}
	writeText(t, rider, `{"type":"track-driver","driver":"d-1","history":5,"id":"ok"}`)
	l := readFrame(t, rider)
	tr := readFrame(t, rider)
	if l.Type != mobileproto.TypeReceiveLocation || l.Location.Seq != 100 || tr.Type != mobileproto.TypeTracking || tr.Tracking.ID != "ok" || tr.Tracking.Replayed != 1 {
		t.Fatalf("after bad input the rider got %s %+v then %s %+v", l.Type, l.Location, tr.Type, tr.Tracking)
	}
}

func TestOversizedFrameClosesWithTooLarge(t *testing.T) {
	n := startNode(t)
	ws := rawDial(t, n, "role=driver&id=d-1")
	big := `{"type":"send-location","latitude":1,"longitude":2,"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	ws.WriteMessage(websocket.TextMessage, []byte(big)) // the node may close before all is written
	if code := closeCode(t, ws); code != mobileproto.CloseTooLarge {
		t.Fatalf("close code %d, want %d", code, mobileproto.CloseTooLarge)
	}
	// The node goes on serving others.
	d := dial(t, n, mobileproto.RoleDriver, "d-2")
	sendFixes(t, d, 1, 1)
}

func TestTenThousandTrackRequestsAreBounded(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.MaxTracked = 50 })
	ws := rawDial(t, n, "role=rider&id=r-1")
	const total = 10000
	var counts = map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			ws.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Errorf("after %d answers: %v", i, err)
				return
			}
			f, _ := mobileproto.DecodeFrame(data)
			if f.Type == mobileproto.TypeDriverStatus {
				i--
				continue
			}
			key := f.Type
			if f.Type == mobileproto.TypeError {
				key = string(f.Error.Code)
			}
			counts[key]++
		}
	}()
	for i := 0; i < total; i++ {
		frame, _ := json.Marshal(map[string]any{"type": "track-driver", "driver": "d-" + itoa(i), "history": 0})
		if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	<-done
	t.Logf("answers: %v", counts)
	if counts[mobileproto.TypeTracking] != 50 {
		t.Errorf("%d tracks accepted, want the limit of 50", counts[mobileproto.TypeTracking])
	}
	if counts[string(mobileproto.CodeLimitExceeded)] == 0 || counts[string(mobileproto.CodeRateLimited)] == 0 {
		t.Errorf("want both limit_exceeded and rate_limited answers, got %v", counts)
	}
	if sum := counts[mobileproto.TypeTracking] + counts[string(mobileproto.CodeLimitExceeded)] + counts[string(mobileproto.CodeRateLimited)]; sum != total {
		t.Errorf("%d answers of the expected kinds, want %d: %v", sum, total, counts)
	}
	if s := n.Stats(); s.LiveSubscriptions != 50 || s.TrackedDrivers != 50 {
		t.Errorf("node holds %d subscriptions for %d drivers, want 50", s.LiveSubscriptions, s.TrackedDrivers)
	}
	ws.Close()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if s := n.Stats(); s.LiveSubscriptions != 0 || s.Connections != 0 {
			return errf("after disconnect: %d subscriptions, %d connections", s.LiveSubscriptions, s.Connections)
		}
		return nil
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestFiveHundredRidersShareOneSubscription(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const riders = 500
	clients := make([]*mobileproto.Client, riders)
	for i := range clients {
		clients[i] = dial(t, n, mobileproto.RoleRider, "r-"+itoa(i))
		if _, err := clients[i].Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Stats().LiveSubscriptions; got != 1 {
		t.Fatalf("node counts %d live subscriptions, want 1", got)
	}
	sz, err := n.Server().Subsz(&server.SubszOptions{Subscriptions: true, Test: node.LiveSubject("d-1")})
	if err != nil {
		t.Fatal(err)
	}
	if sz.Total != 1 {
		t.Fatalf("NATS server holds %d subscriptions matching %s, want 1: %+v", sz.Total, node.LiveSubject("d-1"), sz.Subs)
	}
	driver := dial(t, n, mobileproto.RoleDriver, "d-1")
	ack := sendFixes(t, driver, 1, 1)[0]
	for i, c := range clients {
		if l := receive(t, c, 1)[0]; l.Cursor != ack.Cursor {
			t.Fatalf("rider %d got cursor %d, want %d", i, l.Cursor, ack.Cursor)
		}
	}
}

func TestUnauthenticatedIsRefusedWithAReason(t *testing.T) {
	n := startNode(t)
	for _, q := range []string{"", "role=admin&id=x", "role=rider&id=a.b", "role=driver"} {
		ws, _, err := websocket.DefaultDialer.Dial(n.WebSocketURL()+"?"+q, nil)
		if err != nil {
			t.Fatalf("%q: dial: %v", q, err)
		}
		f := readFrame(t, ws)
		if f.Type != mobileproto.TypeError || f.Error.Code != mobileproto.CodeUnauthorized || f.Error.Message == "" {
			t.Fatalf("%q: got %s %+v, want unauthorized", q, f.Type, f.Error)
		}
		if code := closeCode(t, ws); code != mobileproto.CloseUnauthorized || mobileproto.Reconnectable(code) {
			t.Fatalf("%q: close code %d, want %d (terminal)", q, code, mobileproto.CloseUnauthorized)
		}
		ws.Close()
	}
	_, err := mobileproto.Dial(context.Background(), n.WebSocketURL())
	var pe *mobileproto.Error
	if !errors.Is(err, mobileproto.ErrHandshake) || !errors.As(err, &pe) || pe.Code != mobileproto.CodeUnauthorized {
		t.Fatalf("Dial without identity: %v, want ErrHandshake wrapping unauthorized", err)
	}
}

func TestCrossOriginPagesNeedToBeAllowed(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
	dialOrigin := func(origin string) (*websocket.Conn, error) {
		ws, _, err := websocket.DefaultDialer.Dial(n.WebSocketURL()+"?role=rider&id=r-1", http.Header{"Origin": {origin}})
		if err == nil {
			t.Cleanup(func() { ws.Close() })
		}
		return ws, err
	}
	// A foreign page is told why, and with a close code a browser sees
	// (an HTTP 403 reaches a page only as 1006, and it would retry).
	// A long origin makes a long reason, which is cut to what a close
	// frame carries (a longer one would not go out at all: 1006).
	for _, origin := range []string{"https://evil.example.com", "https://" + strings.Repeat("é", 60) + ".evil.example.com"} {
		ws, err := dialOrigin(origin)
		if err != nil {
			t.Fatal(err)
		}
		if f := readFrame(t, ws); f.Type != mobileproto.TypeError || f.Error.Code != mobileproto.CodeForbidden {
			t.Fatalf("foreign origin: %s %+v, want forbidden", f.Type, f.Error)
		}
		if code := closeCode(t, ws); code != mobileproto.ClosePolicyViolation || mobileproto.Reconnectable(code) {
			t.Fatalf("foreign origin %.40s…: close %d, want %d (terminal)", origin, code, mobileproto.ClosePolicyViolation)
		}
	}
	for _, origin := range []string{"https://app.example.com", "http://" + n.HTTPAddr()} {
		ws, err := dialOrigin(origin)
		if err != nil {
			t.Fatal(err)
		}
		if f := readFrame(t, ws); f.Type != mobileproto.TypeWelcome {
			t.Fatalf("origin %s: %s %+v, want welcome", origin, f.Type, f.Error)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	n := startNode(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + n.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || body["node"] != "n1" {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, body)
		}
	}
}
