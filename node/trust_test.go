package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/mobileproto"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
)

// signer mints tokens for a test node's key.
type signer struct {
	t   testing.TB
	key auth.SigningKey
}

func newSigner(t testing.TB) signer {
	k, err := auth.GenerateKey("test-key", auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	return signer{t, k}
}

// authenticator verifies the signer's tokens with almost no clock leeway,
// so that expiry tests need not wait for it.
func (s signer) authenticator() auth.Authenticator {
	a, err := auth.NewTokens(auth.TokenConfig{Keys: []auth.Key{s.key.Public()}, Leeway: time.Millisecond})
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

func (s signer) token(sub string, role mobileproto.Role, ttl time.Duration, drivers ...string) string {
	now := time.Now()
	tok, err := auth.Mint(s.key, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub, IssuedAt: jwt.NewNumericDate(now.Add(-time.Second)), ExpiresAt: jwt.NewNumericDate(now.Add(ttl))},
		Role:             string(role),
		Drivers:          drivers,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func (s signer) dial(n *node.Node, tok string, opts ...mobileproto.Option) *mobileproto.Client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mobileproto.Dial(ctx, n.WebSocketURL(), append([]mobileproto.Option{mobileproto.WithToken(tok)}, opts...)...)
	if err != nil {
		s.t.Fatalf("dial with a token: %v", err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// refusal dials with the given header and returns the error frame and the
// close code the node answered with.
func refusal(t testing.TB, url string, h http.Header) (mobileproto.Error, int) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	f := readFrame(t, ws)
	if f.Type != mobileproto.TypeError {
		t.Fatalf("first frame %s, want an error", f.Type)
	}
	return f.Error, closeCode(t, ws)
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestTokensAtTheEdge(t *testing.T) {
	s := newSigner(t)
	n := startNode(t, func(c *node.Config) { c.Authenticator = s.authenticator() })
	forger := newSigner(t)

	// A valid token: welcome names the identity and its expiry.
	d := s.dial(n, s.token("d-1", mobileproto.RoleDriver, time.Hour))
	if w := d.Welcome(); w.Client != "d-1" || w.Role != mobileproto.RoleDriver || w.Expires < time.Now().Add(59*time.Minute).UnixMilli() {
		t.Fatalf("welcome %+v", w)
	}
	// From a browser: the token as a subprotocol, and the node selects rtls.v1.
	ws, resp, err := websocket.DefaultDialer.Dial(n.WebSocketURL(), http.Header{"Sec-WebSocket-Protocol": {"rtls.v1, " + auth.SubprotocolPrefix + s.token("r-1", mobileproto.RoleRider, time.Hour, "d-1")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != node.Subprotocol {
		t.Fatalf("selected subprotocol %q, want %q", got, node.Subprotocol)
	}
	if f := readFrame(t, ws); f.Type != mobileproto.TypeWelcome || f.Welcome.Client != "r-1" {
		t.Fatalf("browser handshake: %s %+v", f.Type, f.Welcome)
	}
	ws.Close()

	for _, tc := range []struct {
		name   string
		header http.Header
		query  string
		code   mobileproto.Code
		close  int
	}{
		{"expired", bearer(s.token("d-1", mobileproto.RoleDriver, -time.Minute)), "", mobileproto.CodeTokenExpired, mobileproto.CloseTokenExpired},
		{"signed by another key", bearer(forger.token("d-1", mobileproto.RoleDriver, time.Hour)), "", mobileproto.CodeUnauthorized, mobileproto.CloseUnauthorized},
		{"no token", nil, "", mobileproto.CodeUnauthorized, mobileproto.CloseUnauthorized},
		{"the development identity", nil, "?role=driver&id=d-1", mobileproto.CodeUnauthorized, mobileproto.CloseUnauthorized},
		{"token in the URL", nil, "?access_token=" + s.token("d-1", mobileproto.RoleDriver, time.Hour), mobileproto.CodeUnauthorized, mobileproto.CloseUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, code := refusal(t, n.WebSocketURL()+tc.query, tc.header)
			if e.Code != tc.code || code != tc.close || e.Message == "" {
				t.Fatalf("got %s %q, close %d; want %s, close %d", e.Code, e.Message, code, tc.code, tc.close)
			}
		})
	}
	// The node goes on serving the valid driver.
	sendFixes(t, d, 1, 1)
}

func TestRidersTrackOnlyTheirDriversAndDriversSendOnlyAsThemselves(t *testing.T) {
	s := newSigner(t)
	n := startNode(t, func(c *node.Config) { c.Authenticator = s.authenticator() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d1 := s.dial(n, s.token("d-1", mobileproto.RoleDriver, time.Hour))
	d2 := s.dial(n, s.token("d-2", mobileproto.RoleDriver, time.Hour))
	sendFixes(t, d1, 1, 2)
	sendFixes(t, d2, 1, 2)
	rider := s.dial(n, s.token("r-1", mobileproto.RoleRider, time.Hour, "d-1"))

	// An unlisted driver is forbidden whether or not it exists, with the
	// same words: the answer does not tell.
	var msgs []string
	for _, other := range []string{"d-2", "d-404"} {
		_, err := rider.Track(ctx, other, mobileproto.TrackOptions{})
		var pe *mobileproto.Error
		if !errors.As(err, &pe) || pe.Code != mobileproto.CodeForbidden {
			t.Fatalf("tracking %s: %v, want forbidden", other, err)
		}
		msgs = append(msgs, strings.ReplaceAll(pe.Message, other, "X"))
	}
	if msgs[0] != msgs[1] {
		t.Fatalf("the refusals differ and reveal which driver exists: %q vs %q", msgs[0], msgs[1])
	}
	if _, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(2)}); err != nil {
		t.Fatal(err)
	}
	for _, l := range receive(t, rider, 2) {
		if l.Driver != "d-1" {
			t.Fatalf("rider got a fix of %s", l.Driver)
		}
	}
	// A rider cannot send, and a driver's fixes are stored as its own: the
	// frame has no driver field, the token says who sends.
	if _, err := rider.SendLocation(ctx, fix(1)); !errors.Is(err, &mobileproto.Error{Code: mobileproto.CodeForbidden}) && !errors.Is(err, mobileproto.ErrNotDriver) {
		t.Fatalf("a rider sending: %v", err)
	}
	sendFixes(t, d2, 3, 3)
	sendFixes(t, d1, 3, 3)
	if l := receive(t, rider, 1)[0]; l.Driver != "d-1" || l.Seq != 3 {
		t.Fatalf("live fix %+v, want d-1's seq 3 only", l)
	}
}

func TestTokenThatExpiresWhileConnected(t *testing.T) {
	s := newSigner(t)
	n := startNode(t, func(c *node.Config) { c.Authenticator = s.authenticator() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Left alone, the connection is closed at its token's expiry. (exp has
	// one-second resolution: a token of 2.5 s lives 1.5-2.5 s, time enough
	// to connect on a busy machine.)
	short := s.token("d-1", mobileproto.RoleDriver, 2500*time.Millisecond)
	exp := time.Now().Add(2500 * time.Millisecond).Truncate(time.Second)
	ws, _, err := websocket.DefaultDialer.Dial(n.WebSocketURL(), bearer(short))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	readFrame(t, ws) // welcome
	f := readFrame(t, ws)
	if f.Type != mobileproto.TypeError || f.Error.Code != mobileproto.CodeTokenExpired {
		t.Fatalf("got %s %+v, want token_expired", f.Type, f.Error)
	}
	if code := closeCode(t, ws); code != mobileproto.CloseTokenExpired {
		t.Fatalf("close %d, want %d", code, mobileproto.CloseTokenExpired)
	}
	if time.Now().Before(exp) {
		t.Fatalf("closed before the token expired")
	}

	// Refreshed in time, it lives on past the first token's expiry.
	c := s.dial(n, s.token("d-2", mobileproto.RoleDriver, 3*time.Second))
	first := time.UnixMilli(c.Welcome().Expires)
	r, err := c.RefreshToken(ctx, s.token("d-2", mobileproto.RoleDriver, time.Hour))
	if err != nil || time.UnixMilli(r.Expires).Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("refresh: %+v %v", r, err)
	}
	if _, err := c.RefreshToken(ctx, s.token("d-3", mobileproto.RoleDriver, time.Hour)); !errors.Is(err, &mobileproto.Error{Code: mobileproto.CodeForbidden}) {
		t.Fatalf("refreshing with another identity's token: %v", err)
	}
	for time.Now().Before(first.Add(500 * time.Millisecond)) {
		select {
		case <-c.Done():
			t.Fatalf("closed despite the refresh: %v", c.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	sendFixes(t, c, 1, 1)
}

// A rider's token that lists many drivers is longer than other frames may
// be; refresh-token carries it all the same, and other frames stay bound
// by the frame limit (1009).
func TestALongTokenCanBeRefreshed(t *testing.T) {
	s := newSigner(t)
	n := startNode(t, func(c *node.Config) { c.Authenticator = s.authenticator() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var drivers []string
	for i := range 300 {
		drivers = append(drivers, fmt.Sprintf("driver-%05d", i))
	}
	long := s.token("r-1", mobileproto.RoleRider, time.Hour, drivers...)
	if len(long) <= n.Config().MaxFrameBytes || len(long) > auth.MaxTokenBytes {
		t.Fatalf("a token of %d bytes: want more than a frame (%d) and at most %d", len(long), n.Config().MaxFrameBytes, auth.MaxTokenBytes)
	}
	c := s.dial(n, long)
	if _, err := c.RefreshToken(ctx, s.token("r-1", mobileproto.RoleRider, 2*time.Hour, drivers...)); err != nil {
		t.Fatalf("refreshing with a %d-byte token: %v", len(long), err)
	}
	if _, err := c.Track(ctx, "driver-00299", mobileproto.TrackOptions{}); err != nil {
		t.Fatalf("after the refresh: %v", err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(n.WebSocketURL(), bearer(long))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	readFrame(t, ws) // welcome
	big := `{"type":"track-driver","driver":"driver-00001","id":"` + strings.Repeat("x", n.Config().MaxFrameBytes) + `"}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	if code := closeCode(t, ws); code != mobileproto.CloseTooLarge {
		t.Fatalf("a %d-byte track-driver: close %d, want %d", len(big), code, mobileproto.CloseTooLarge)
	}
}

func TestNewestDriverConnectionWinsAcrossTheCluster(t *testing.T) {
	c := clustertest.New(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rider := dial(t, c.Node(1), mobileproto.RoleRider, "r-1")
	if _, err := rider.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	var closed []int
	older := dial(t, c.Node(0), mobileproto.RoleDriver, "d-1", mobileproto.OnError(func(*mobileproto.Error) {}))
	sendFixes(t, older, 1, 3)
	receive(t, rider, 3)

	// The same driver connects again on this node, then on the other one:
	// each time the older connection is closed with session_replaced.
	for i, nd := range []*node.Node{c.Node(0), c.Node(1)} {
		newer := dial(t, nd, mobileproto.RoleDriver, "d-1")
		select {
		case <-older.Done():
		case <-ctx.Done():
			t.Fatalf("round %d: the older connection was not closed", i)
		}
		var ce *mobileproto.CloseError
		if !errors.As(older.Err(), &ce) || ce.Code != mobileproto.CloseSessionReplaced || mobileproto.Reconnectable(ce.Code) {
			t.Fatalf("round %d: the older connection ended with %v, want close %d (terminal)", i, older.Err(), mobileproto.CloseSessionReplaced)
		}
		closed = append(closed, ce.Code)
		if _, err := older.SendLocation(ctx, fix(100)); err == nil {
			t.Fatalf("round %d: the replaced connection still stores fixes", i)
		}
		older = newer
	}
	sendFixes(t, older, 10, 12)
	for _, l := range receive(t, rider, 3) {
		if l.Seq < 10 {
			t.Fatalf("the rider got seq %d from a replaced connection", l.Seq)
		}
	}
	t.Logf("replaced connections closed with %v", closed)
}

func TestConnectionLimits(t *testing.T) {
	n := startNode(t, func(c *node.Config) {
		c.MaxConnections = 8
		c.MaxConnectionsPerIdentity = 2
		c.MaxConnectionsPerAddress = 3
		c.TrustedProxies = []string{"127.0.0.1"}
	})
	from := func(addr string) mobileproto.Option {
		return mobileproto.WithHeader(http.Header{"X-Forwarded-For": {addr}})
	}
	// The canary: a driver and its rider from their own address.
	canaryD := dial(t, n, mobileproto.RoleDriver, "canary", from("10.0.0.1"))
	canaryR := dial(t, n, mobileproto.RoleRider, "canary-r", from("10.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := canaryR.Track(ctx, "canary", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	check := func(name, query string, h http.Header, code mobileproto.Code, close int) {
		t.Helper()
		e, got := refusal(t, n.WebSocketURL()+"?"+query, h)
		if e.Code != code || got != close {
			t.Fatalf("%s: %s %q close %d, want %s close %d", name, e.Code, e.Message, got, code, close)
		}
		sendFixes(t, canaryD, 1, 1) // seq 1 again: a duplicate, acked; the canary is unharmed
	}
	xff := func(a string) http.Header { return http.Header{"X-Forwarded-For": {a}} }

	// Per identity: a rider's third connection.
	dial(t, n, mobileproto.RoleRider, "r-1", from("10.0.0.2"))
	dial(t, n, mobileproto.RoleRider, "r-1", from("10.0.0.3"))
	check("per identity", "role=rider&id=r-1", xff("10.0.0.4"), mobileproto.CodeTooManyConnections, mobileproto.CloseTooManyConnections)
	// Per address: a fourth connection from 10.0.0.9.
	for _, id := range []string{"a", "b", "c"} {
		dial(t, n, mobileproto.RoleRider, id, from("10.0.0.9"))
	}
	check("per address", "role=rider&id=d", xff("10.0.0.9"), mobileproto.CodeTooManyConnections, mobileproto.CloseTooManyConnections)
	// Per node: the canary's two, r-1's two, a, b, c and f make eight; the
	// ninth is refused.
	dial(t, n, mobileproto.RoleRider, "f", from("10.0.0.11"))
	check("per node", "role=rider&id=e", xff("10.0.0.10"), mobileproto.CodeUnavailable, mobileproto.CloseTryAgainLater)
	if s := n.Stats(); s.ConnectionsRefused != 3 {
		t.Fatalf("%d refusals counted, want 3", s.ConnectionsRefused)
	}
	sendFixes(t, canaryD, 2, 2)
	if ls := receive(t, canaryR, 2); ls[0].Seq != 1 || ls[1].Seq != 2 {
		t.Fatalf("canary rider got %+v", ls)
	}
}

func TestHTTPTimeouts(t *testing.T) {
	n := startNode(t, func(c *node.Config) {
		c.HeaderTimeout = 200 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	// A client that never finishes its request headers is cut off.
	conn, err := net.Dial("tcp", n.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("a slow request was not closed by the node: %v", err)
	}
	t.Logf("half-sent request closed after %v", time.Since(start).Round(time.Millisecond))

	// An idle keep-alive connection is closed too.
	conn2, err := net.Dial("tcp", n.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	io.WriteString(conn2, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn2); err != nil {
		t.Fatalf("an idle keep-alive connection was not closed by the node: %v", err)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// common name and returns the pool that trusts it.
func writeCert(t testing.TB, certPath, keyPath, cn string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// Key first, then the certificate: the reloader must cope with a renewal
	// seen half-written.
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func TestTLSEndToEndAndReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "edge.crt"), filepath.Join(dir, "edge.key")
	pool := writeCert(t, certPath, keyPath, "first")
	s := newSigner(t)
	n := startNode(t, func(c *node.Config) {
		c.Authenticator = s.authenticator()
		c.TLSCertFile, c.TLSKeyFile = certPath, keyPath
	})
	if !strings.HasPrefix(n.WebSocketURL(), "wss://") {
		t.Fatalf("URL %s", n.WebSocketURL())
	}
	dialer := func(pool *x509.CertPool) mobileproto.Option {
		return mobileproto.WithDialer(&websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second})
	}
	d := s.dial(n, s.token("d-1", mobileproto.RoleDriver, time.Hour), dialer(pool))
	r := s.dial(n, s.token("r-1", mobileproto.RoleRider, time.Hour, "d-1"), dialer(pool))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.Track(ctx, "d-1", mobileproto.TrackOptions{History: intp(0)}); err != nil {
		t.Fatal(err)
	}
	ack := sendFixes(t, d, 1, 1)[0]
	if l := receive(t, r, 1)[0]; l.Cursor != ack.Cursor {
		t.Fatalf("over TLS: %+v", l)
	}
	// Plain WebSocket is not served.
	if _, _, err := websocket.DefaultDialer.Dial(strings.Replace(n.WebSocketURL(), "wss://", "ws://", 1), bearer(s.token("d-2", mobileproto.RoleDriver, time.Hour))); err == nil {
		t.Fatal("a plain ws:// handshake succeeded on a TLS edge")
	}

	// A renewed certificate is served without a restart.
	pool2 := writeCert(t, certPath, keyPath, "second")
	checkFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		conn, err := tls.Dial("tcp", n.HTTPAddr(), &tls.Config{RootCAs: pool2})
		if err != nil {
			return err
		}
		defer conn.Close()
		if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "second" {
			return errf("still serving %q", cn)
		}
		return nil
	})
	// The connections made before the renewal go on.
	sendFixes(t, d, 2, 2)
	receive(t, r, 1)
}
