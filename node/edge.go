package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node/auth"
	"github.com/rtls-io/rtls/node/web"
)

// Subprotocol is the WebSocket subprotocol a node selects when a client
// offers it. Browsers pass their token as a second offered subprotocol
// (auth.SubprotocolPrefix + token), and a browser fails a connection whose
// server selects none of the offered ones.
const Subprotocol = "rtls.v1"

func (n *Node) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+mobileproto.Path, n.serveWS)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": n.cfg.Name})
	})
	mux.HandleFunc("GET /readyz", n.serveReady)
	page := n.cfg.Web
	page.Tokens = !auth.IsDevelopment(n.cfg.Authenticator)
	h, err := web.New(page)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	mux.Handle("GET /", h) // the browser demo, its config and assets; 404 for the rest
	return mux, nil
}

func (n *Node) serveReady(w http.ResponseWriter, r *http.Request) {
	switch {
	case n.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining", "node": n.cfg.Name})
	case !n.ready.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "node": n.cfg.Name})
	case !n.nc.IsConnected():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "nats disconnected", "node": n.cfg.Name})
	case n.StreamProblem() != "":
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "stream not ready", "reason": n.StreamProblem(), "node": n.cfg.Name})
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

func truncateOrigin(o string) string {
	if len(o) > 100 {
		return o[:100] + "…"
	}
	return o
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

// remoteAddr is the client's address: the peer's, or for a trusted proxy
// the last address of X-Forwarded-For.
func (n *Node) remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(n.proxies) == 0 {
		return host
	}
	for _, p := range n.proxies {
		if p.Contains(peer.Unmap()) {
			xff := r.Header.Values("X-Forwarded-For")
			if len(xff) == 0 {
				return host
			}
			hops := strings.Split(xff[len(xff)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(hops[len(hops)-1])); err == nil {
				return a.Unmap().String()
			}
			return host
		}
	}
	return host
}

// parsePrefix parses an address or a network in CIDR notation.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// serveWS upgrades a client, authenticates it, admits it under the
// connection limits and starts its reader and writer; the handler returns at
// once so that net/http's per-request state does not stay alive for the
// life of the connection. Refusals are sent as an error frame and a close
// frame after the upgrade, because a browser cannot read an HTTP error.
func (n *Node) serveWS(w http.ResponseWriter, r *http.Request) {
	if !n.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, mobileproto.Errorf(mobileproto.CodeUnavailable, "node %s is not ready", n.cfg.Name))
		return
	}
	originOK := n.checkOrigin(r)
	id, authErr := n.cfg.Authenticator.Authenticate(r)
	ws, err := n.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	if !originOK {
		// Refused after the upgrade, with a reason and a close code: an HTTP
		// 403 reaches a page only as close 1006, and it would retry forever.
		refuse(ws, mobileproto.Errorf(mobileproto.CodeForbidden, "pages from %s may not connect to this node (allowed_origins)", truncateOrigin(r.Header.Get("Origin"))), mobileproto.ClosePolicyViolation)
		return
	}
	if authErr != nil {
		e, code := n.authRefusal(authErr)
		refuse(ws, e, code)
		return
	}
	c := newConn(n, ws, id, n.remoteAddr(r))
	if e, code := n.admit(c); e != nil {
		n.refused.Add(1)
		refuse(ws, e, code)
		return
	}
	var expires int64
	if !id.Expires.IsZero() {
		expires = id.Expires.UnixMilli()
	}
	c.sendCtrl(mobileproto.EncodeWelcome(mobileproto.Welcome{
		Version:  mobileproto.Version,
		Node:     n.cfg.Name,
		Role:     id.Role,
		Client:   id.ID,
		History:  n.cfg.History,
		MaxFrame: n.cfg.MaxFrameBytes,
		Epoch:    n.Epoch(),
		Expires:  expires,
	}))
	if !id.Expires.IsZero() {
		c.expiry <- id.Expires
	}
	if id.Role == mobileproto.RoleDriver {
		n.sessions.claim(c)
		c.connected(time.Now())
	}
	go c.readLoop()
	go c.writeLoop()
}

// authRefusal is the error frame and close code for an authenticator's
// refusal; a failure of the authenticator itself is logged and not shown.
func (n *Node) authRefusal(err error) (*mobileproto.Error, int) {
	var ae *auth.Error
	switch {
	case errors.As(err, &ae) && ae.Expired:
		return mobileproto.Errorf(mobileproto.CodeTokenExpired, "%s", ae.Reason), mobileproto.CloseTokenExpired
	case errors.As(err, &ae):
		return mobileproto.Errorf(mobileproto.CodeUnauthorized, "%s", ae.Reason), mobileproto.CloseUnauthorized
	}
	n.log.Error("authenticator failed", "err", err)
	return mobileproto.Errorf(mobileproto.CodeInternal, "authentication failed; try again"), mobileproto.CloseInternal
}

// closeMessage is a close frame's payload: the code and as much of text as
// a control frame can carry (123 bytes), cut at a character boundary. A
// longer reason would make the close frame fail to go out at all.
func closeMessage(code int, text string) []byte {
	const most = 123
	if len(text) > most {
		cut := most - len("…")
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return websocket.FormatCloseMessage(code, text)
}

// refuse sends an error frame and a close frame, then closes the socket.
func refuse(ws *websocket.Conn, e *mobileproto.Error, code int) {
	deadline := time.Now().Add(time.Second)
	ws.SetWriteDeadline(deadline)
	ws.WriteMessage(websocket.TextMessage, mobileproto.EncodeError(e))
	ws.WriteControl(websocket.CloseMessage, closeMessage(code, e.Message), deadline)
	ws.Close()
}
