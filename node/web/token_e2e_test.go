package web_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
	"github.com/rtls-io/rtls/node/web"
)

// TestBrowserDemoWithTokens: on a node that verifies tokens, the page asks
// for one (the node tells it so), presents it in the WebSocket
// subprotocol, and a rider's marker follows its driver.
func TestBrowserDemoWithTokens(t *testing.T) {
	key, err := auth.GenerateKey("k1", auth.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(auth.TokenConfig{Keys: []auth.Key{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	n := testnode.Start(t, func(c *node.Config) {
		c.Authenticator = tokens
		c.Web = web.Config{Tiles: web.NoTiles}
	})
	mint := func(sub, role string, drivers ...string) string {
		tok, err := auth.Mint(key, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}, Role: role, Drivers: drivers})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	br := newBrowser(t)
	base := "http://" + n.HTTPAddr()
	driver := newPage(t, br, "driver")
	driver.grantGeolocation(base)
	driver.setPosition(48.8566, 2.3522)
	driver.open(base + "/?view=driver&id=d-1")
	driver.do(chromedp.SendKeys(chromedp.CSS("#driver-token"), mint("d-1", "driver")), chromedp.Click(chromedp.CSS("#driver-start")))
	driver.waitMarker("driver-map", 48.8566, 2.3522)
	rider := newPage(t, br, "rider")
	rider.open(base + "/?view=rider&driver=d-1")
	rider.do(chromedp.SendKeys(chromedp.CSS("#rider-token"), mint("r-1", "rider", "d-1")), chromedp.Click(chromedp.CSS("#rider-start")))
	rider.waitMarker("rider-map", 48.8566, 2.3522)
	driver.setPosition(48.8570, 2.3530)
	rider.waitMarker("rider-map", 48.8570, 2.3530)
	driver.checkClean()
	rider.checkClean()
}
