package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
)

// checkBalance fails the test unless every offered fix has one outcome.
func checkBalance(t *testing.T, s StepResult) {
	t.Helper()
	if s.Offered == 0 {
		t.Fatalf("nothing offered: %+v", s)
	}
	if s.Offered != s.NotSent+s.Acked+s.SendErrors+s.Unanswered {
		t.Fatalf("offered %d ≠ not sent %d + acked %d + errors %d + unanswered %d", s.Offered, s.NotSent, s.Acked, s.SendErrors, s.Unanswered)
	}
}

func TestRunDeliversEveryAckedFix(t *testing.T) {
	n := testnode.Start(t)
	for _, loop := range []Loop{LoopOpen, LoopClosed} {
		t.Run(string(loop), func(t *testing.T) {
			s, err := Run(context.Background(), Workload{
				Nodes: []string{n.WebSocketURL()}, Drivers: 3, RidersPerDriver: 2, Rate: 20, Duration: 500 * time.Millisecond,
				Loop: loop, Prefix: string(loop) + "-",
			})
			if err != nil {
				t.Fatal(err)
			}
			checkBalance(t, s)
			if s.Loop != loop || s.Connections != 9 || s.Acked == 0 || s.AckedButLost != 0 || s.Delivered < s.Acked*2 || s.Latency.Count != s.Delivered {
				t.Fatalf("%+v", s)
			}
		})
	}
}

func TestRunCountsRefusalsByCode(t *testing.T) {
	// One frame per second allowed: most fixes are refused as rate_limited.
	n := testnode.Start(t, func(c *node.Config) { c.RateLimit, c.RateBurst = 1, 1 })
	s, err := Run(context.Background(), Workload{
		Nodes: []string{n.WebSocketURL()}, Drivers: 2, RidersPerDriver: 1, Rate: 50, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkBalance(t, s)
	if s.Errors["rate_limited"] == 0 || s.SendErrors != s.Errors["rate_limited"] || s.LossRate == 0 || s.AckedButLost != 0 {
		t.Fatalf("%+v", s)
	}
}

// fakeNode serves a WebSocket edge that welcomes drivers and then answers
// each frame with answer(request) (nil: it reads nothing and answers
// nothing). It returns the edge's URL.
func fakeNode(t *testing.T, answer func(mobileproto.Request) []byte) string {
	stop := make(chan struct{})
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		q := r.URL.Query()
		ws.WriteMessage(websocket.TextMessage, mobileproto.EncodeWelcome(mobileproto.Welcome{
			Version: 1, Node: "fake", Role: mobileproto.Role(q.Get("role")), Client: q.Get("id"), History: 100, MaxFrame: 4096}))
		if answer == nil {
			<-stop
			return
		}
		go func() {
			<-stop
			ws.Close()
		}()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if req, perr := mobileproto.DecodeRequest(data); perr == nil {
				ws.WriteMessage(websocket.TextMessage, answer(req))
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: the handlers return
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws"
}

func TestRunCountsCodesItDoesNotKnow(t *testing.T) {
	url := fakeNode(t, func(req mobileproto.Request) []byte {
		if req.Fix.Seq%2 == 0 {
			return mobileproto.EncodeError(&mobileproto.Error{Code: "overloaded", Message: "shed", Seq: req.Fix.Seq})
		}
		return mobileproto.AppendAck(nil, mobileproto.Ack{Seq: req.Fix.Seq, Cursor: req.Fix.Seq})
	})
	s, err := Run(context.Background(), Workload{Nodes: []string{url}, Drivers: 2, Rate: 40, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkBalance(t, s)
	if s.Errors["overloaded"] == 0 || s.Acked == 0 || s.Unanswered != 0 || len(s.Errors) != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestRunNeverWaitsForAStuckClient(t *testing.T) {
	// The node reads nothing: the client takes one fix (its in-flight bound)
	// and blocks; the phone keeps taking fixes on time and drops the
	// oldest from its outbox of 4.
	url := fakeNode(t, nil)
	s, err := Run(context.Background(), Workload{
		Nodes: []string{url}, Drivers: 1, Rate: 100, Duration: 300 * time.Millisecond,
		MaxInFlight: 1, Backlog: 10 * time.Millisecond, Drain: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkBalance(t, s)
	if !s.DrainTimedOut || s.BacklogFixes != 4 || s.Sent != 1 || s.Acked != 0 || s.SendErrors != 0 {
		t.Fatalf("%+v", s)
	}
	// Beyond the fix sent (unanswered) and the one the blocked sender
	// holds (not sent if its wait ended before the count was frozen,
	// unanswered otherwise: both happen at the drain's end), every offered
	// fix was dropped from the outbox or is still in it.
	if s.Unanswered < 1 || s.Unanswered > 2 || s.NotSent != s.Offered-s.Unanswered || s.LossRate != 1 {
		t.Fatalf("offered %d, not sent %d, unanswered %d, loss %v", s.Offered, s.NotSent, s.Unanswered, s.LossRate)
	}
}

func TestRunReportsFailedConnections(t *testing.T) {
	_, err := Run(context.Background(), Workload{Nodes: []string{"ws://127.0.0.1:1/v1/ws"}, Drivers: 1, Rate: 1, Duration: time.Second})
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), "1 of 1") {
		t.Fatalf("err = %v", err)
	}
}

func TestWorkloadDefaults(t *testing.T) {
	for _, tc := range []struct {
		name         string
		w            Workload
		wantInFlight int
		wantErr      bool
	}{
		{"open loop: 15 s of fixes", Workload{Nodes: []string{"x"}, Drivers: 1, Rate: 200, Duration: time.Second}, 3000, false},
		{"open loop: at least 1024", Workload{Nodes: []string{"x"}, Drivers: 1, Rate: 1, Duration: time.Second}, 1024, false},
		{"closed loop: the client's default", Workload{Nodes: []string{"x"}, Drivers: 1, Rate: 200, Duration: time.Second, Loop: LoopClosed}, 1024, false},
		{"given", Workload{Nodes: []string{"x"}, Drivers: 1, Rate: 200, Duration: time.Second, MaxInFlight: 7}, 7, false},
		{"no rate", Workload{Nodes: []string{"x"}, Drivers: 1, Duration: time.Second}, 0, true},
		{"unknown loop", Workload{Nodes: []string{"x"}, Drivers: 1, Rate: 1, Duration: time.Second, Loop: "half"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.w.setDefaults()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (tc.w.MaxInFlight != tc.wantInFlight || tc.w.Drain != 15*time.Second || tc.w.Backlog != 5*time.Second) {
				t.Fatalf("%+v", tc.w)
			}
		})
	}
}
