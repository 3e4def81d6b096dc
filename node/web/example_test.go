package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/rtls-io/rtls/node/web"
)

// A node mounts the page at "/" (node.Config.Web configures it); any
// http.ServeMux can.
func ExampleNew() {
	page, err := web.New(web.Config{Tiles: web.NoTiles})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", page)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/web/config.json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: {"attribution":"","auth":"dev","tiles":""}
}
