package node

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestAppendTextFrameIsReadByAWebSocketClient: frames written several per
// system call read back as the same messages, at each length encoding.
func TestAppendTextFrameIsReadByAWebSocketClient(t *testing.T) {
	msgs := [][]byte{[]byte("a"), bytes.Repeat([]byte("b"), 125), bytes.Repeat([]byte("c"), 126), bytes.Repeat([]byte("d"), 65535), bytes.Repeat([]byte("e"), 70000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		var wire []byte
		for _, m := range msgs {
			wire = appendTextFrame(wire, m)
		}
		ws.NetConn().Write(wire)
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(srv.URL, "http", "ws", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for i, want := range msgs {
		typ, got, err := ws.ReadMessage()
		if err != nil || typ != websocket.TextMessage || !bytes.Equal(got, want) {
			t.Fatalf("message %d: type %d, %d bytes, %v", i, typ, len(got), err)
		}
	}
}
