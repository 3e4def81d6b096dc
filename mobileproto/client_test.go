package mobileproto

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestOptionsValidateThemselves(t *testing.T) {
	bad := []Option{
		WithIdentity("admin", "x"),
		WithIdentity(RoleDriver, "a.b"),
		WithDialer(nil),
		WithLocationBuffer(-1),
		WithMaxInFlight(0),
		WithWriteTimeout(0),
		WithStartSeq(0),
		WithStartSeq(MaxSeq + 1),
	}
	for i, o := range bad {
		if _, err := Dial(context.Background(), "ws://127.0.0.1:1/v1/ws", o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("option %d: %v, want ErrInvalidOption", i, err)
		}
	}
}

// A server that is not an rtls node: the client must say so clearly.
func TestDialReportsHandshakeFailures(t *testing.T) {
	notWS := httptest.NewServer(http.NotFoundHandler())
	defer notWS.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, "ws"+strings.TrimPrefix(notWS.URL, "http")+Path)
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("dial a 404: %v", err)
	}

	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","seq":1,"cursor":1}`))
		ws.Close()
	}))
	defer silent.Close()
	_, err = Dial(ctx, "ws"+strings.TrimPrefix(silent.URL, "http")+Path, WithIdentity(RoleRider, "r"))
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "not welcome") {
		t.Fatalf("dial a server that does not welcome: %v", err)
	}
}

// A node that welcomes and then never answers: requests without a
// deadline end after the request timeout, not never.
func TestRequestsWithoutADeadlineEnd(t *testing.T) {
	done := make(chan struct{})
	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, EncodeWelcome(Welcome{Version: 1, Node: "mute", Role: Role(r.URL.Query().Get("role")), Client: r.URL.Query().Get("id"), History: 100, MaxFrame: 4096}))
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		<-done
	}))
	defer mute.Close()
	defer close(done)
	url := "ws" + strings.TrimPrefix(mute.URL, "http") + Path
	for _, role := range []Role{RoleRider, RoleDriver} {
		c, err := Dial(context.Background(), url, WithIdentity(role, "x-1"), WithRequestTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if role == RoleRider {
			_, err = c.Track(context.Background(), "d-1", TrackOptions{})
		} else {
			_, err = c.SendLocation(context.Background(), Fix{Latitude: 1, Longitude: 1, Seq: 1})
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
			t.Errorf("%s: %v after %v, want the request timeout", role, err, time.Since(start))
		}
		c.Close()
	}
}

func TestCodesSayWhetherToRetry(t *testing.T) {
	for _, c := range []Code{CodeRateLimited, CodeUnavailable, CodeInternal} {
		if !c.Temporary() {
			t.Errorf("%s should be temporary", c)
		}
	}
	for _, c := range []Code{CodeBadRequest, CodeInvalidLocation, CodeInvalidID, CodeForbidden, CodeUnauthorized, CodeTooLarge} {
		if c.Temporary() {
			t.Errorf("%s should not be temporary", c)
		}
	}
	for _, code := range []int{CloseGoingAway, CloseInternal, CloseTryAgainLater, CloseSlowClient, 1006} {
		if !Reconnectable(code) {
			t.Errorf("close %d should be reconnectable", code)
		}
	}
	for _, code := range []int{ClosePolicyViolation, CloseTooLarge, CloseUnauthorized} {
		if Reconnectable(code) {
			t.Errorf("close %d should be terminal", code)
		}
	}
}
