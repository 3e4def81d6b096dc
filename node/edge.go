package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node/web"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+mobileproto.Path, n.serveWS)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": n.cfg.Name})
	})
	mux.HandleFunc("GET /readyz", n.serveReady)
	page, err := web.New(n.cfg.Web)
	if err != nil {
		panic(err) // unreachable: Config.validate has checked n.cfg.Web
	}
	mux.Handle("GET /", page) // the browser demo, its config and assets; 404 for the rest
	return mux
}

func (n *Node) serveReady(w http.ResponseWriter, r *http.Request) {
	switch {
	case n.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining", "node": n.cfg.Name})
	case !n.ready.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "node": n.cfg.Name})
	case !n.nc.IsConnected():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "nats disconnected", "node": n.cfg.Name})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "node": n.cfg.Name})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// httpError answers a failed WebSocket handshake.
func httpError(w http.ResponseWriter, r *http.Request, status int, reason error) {
	writeJSON(w, status, mobileproto.Errorf(mobileproto.CodeBadRequest, "websocket handshake: %v", reason))
}

// checkOrigin allows clients without an Origin (apps), same-origin pages and
// the configured origins.
func (n *Node) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, o := range n.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// serveWS upgrades a client, authenticates it, and starts its reader and
// writer; the handler returns at once so that net/http's per-request state
// does not stay alive for the life of the connection.
func (n *Node) serveWS(w http.ResponseWriter, r *http.Request) {
	if !n.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, mobileproto.Errorf(mobileproto.CodeUnavailable, "node %s is not ready", n.cfg.Name))
		return
	}
	id, authErr := n.cfg.Authenticator.Authenticate(r)
	ws, err := n.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	if authErr != nil {
		msg := strings.TrimPrefix(authErr.Error(), ErrUnauthenticated.Error()+": ")
		if !errors.Is(authErr, ErrUnauthenticated) {
			n.log.Error("authenticator failed", "err", authErr)
			msg = "authentication failed"
		}
		refuse(ws, mobileproto.Errorf(mobileproto.CodeUnauthorized, "%s", msg), mobileproto.CloseUnauthorized)
		return
	}
	c := newConn(n, ws, id)
	if !n.addConn(c) {
		refuse(ws, mobileproto.Errorf(mobileproto.CodeUnavailable, "node %s is shutting down", n.cfg.Name), mobileproto.CloseGoingAway)
		return
	}
	c.sendCtrl(mobileproto.EncodeWelcome(mobileproto.Welcome{
		Version:  mobileproto.Version,
		Node:     n.cfg.Name,
		Role:     id.Role,
		Client:   id.ID,
		History:  n.cfg.History,
		MaxFrame: n.cfg.MaxFrameBytes,
	}))
	go c.readLoop()
	go c.writeLoop()
}

// refuse sends an error frame and a close frame, then closes the socket.
func refuse(ws *websocket.Conn, e *mobileproto.Error, code int) {
	deadline := time.Now().Add(time.Second)
	ws.SetWriteDeadline(deadline)
	ws.WriteMessage(websocket.TextMessage, mobileproto.EncodeError(e))
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, e.Message), deadline)
	ws.Close()
}
