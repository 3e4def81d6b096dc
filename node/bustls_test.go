package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rtls-io/rtls/cluster/clustertest"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/node"
)

// testCA issues certificates for 127.0.0.1 good for servers and clients
// alike (routes are both).
type testCA struct {
	t    testing.TB
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	path string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rtls test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{t: t, dir: t.TempDir(), cert: cert, key: key}
	ca.path = filepath.Join(ca.dir, "ca.pem")
	os.WriteFile(ca.path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return ca
}

// issue writes a certificate and key named name and returns their paths.
func (ca *testCA) issue(name string) (certPath, keyPath string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath = filepath.Join(ca.dir, name+".crt"), filepath.Join(ca.dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certPath, keyPath
}

// TestRoutesAndClientPortOverTLS: routes with mutual TLS and the client port
// with TLS. The cluster forms and carries fixes; a server that knows the
// cluster's name and even its route password, but has no certificate from
// the CA, does not join; a client without the CA cannot connect.
func TestRoutesAndClientPortOverTLS(t *testing.T) {
	s := testnode.NewSecrets(t)
	ca := newTestCA(t)
	c := clustertest.NewSecure(t, 3, s, func(i int, cfg *node.Config) {
		cert, key := ca.issue(cfg.Name)
		cfg.RouteTLS = node.TLSFiles{Cert: cert, Key: key, CA: ca.path, Verify: true}
		cfg.ClientTLS = node.TLSFiles{Cert: cert, Key: key}
	})
	cn := newCanary(t, s, c.Node(0))
	cn.check("over TLS routes")
	if sz, err := c.Node(0).Server().Routez(nil); err != nil || sz.NumRoutes == 0 {
		t.Fatalf("no routes: %v", err)
	}

	// The dashboard's way in: tls:// with the CA.
	url := c.Node(1).ClientURL()
	nc, err := nats.Connect(url, s.NATS(testnode.Dispatcher), nats.RootCAs(ca.path))
	if err != nil {
		t.Fatalf("a dispatcher with the CA: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(url, s.NATS(testnode.Dispatcher), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client that does not trust the CA connected")
	}

	// A rogue server with the name and the password but no certificate.
	routes := server.RoutesFromStr(c.Config(0).Routes[0])
	for _, r := range routes {
		r.User = urlUser("rtls", s.RoutePassword)
	}
	rogue, err := server.NewServer(&server.Options{ServerName: "rogue", Host: "127.0.0.1", Port: -1, NoSigs: true,
		Cluster: server.ClusterOpts{Name: c.Config(0).ClusterName, Host: "127.0.0.1", Port: -1}, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	rogue.Start()
	defer rogue.Shutdown()
	spy, err := nats.Connect(rogue.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	seen, _ := spy.SubscribeSync("rtls.>")
	spy.Flush()
	for i := 0; i < 10; i++ {
		cn.check("with the rogue server knocking")
	}
	if m, err := seen.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("the rogue server saw %s", m.Subject)
	}
	if r := rogue.NumRoutes(); r != 0 {
		t.Fatalf("the rogue server holds %d routes", r)
	}
}
