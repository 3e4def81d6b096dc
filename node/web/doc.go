// Package web is the browser demo every node serves at "/": a Driver view
// that shares the device's position (or a simulated walk) and a Rider view
// that follows one driver on a map, live, across reconnects.
//
// The page speaks only the public protocol (mobileproto/PROTOCOL.md) over
// the node's WebSocket, like any app, and learns how to identify itself
// from /web/config.json: in the development mode role and id go in the
// WebSocket URL's query; with tokens the token goes in the WebSocket
// subprotocol ("rtls.v1", "bearer.<token>"), because browsers cannot set
// headers on a WebSocket.
//
// Everything the page needs is embedded in the binary: plain HTML, CSS and
// JavaScript without a build step, and Leaflet 1.9.4 from the npm registry
// under static/vendor/leaflet. Assets are served with their content hash in
// the URL and cached for a year; the page itself is revalidated on every
// load. Every answer carries a strict Content-Security-Policy (no inline
// scripts or styles; images only from the node, data: URLs and the
// configured tile server). Without tiles the map draws a coordinate grid.
//
// A Handler is immutable once New returns and safe for concurrent use; it
// starts no goroutines.
package web
