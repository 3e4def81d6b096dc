package mobileproto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/mobileproto"
)

// The test vectors (testdata/vectors.json) and how to run them are
// described in schema/README.md. This file is the reference runner: it runs
// every vector against a real node, which is the proof that the vectors say
// what a node does.

const vectorsFile = "testdata/vectors.json"

// vectorTimeout bounds each step: connecting, or getting every answer it
// expects.
const vectorTimeout = 10 * time.Second

// vectorStep is what one connection sends, and the answers it then expects.
type vectorStep struct {
	Role   string            `json:"role"`
	Send   []json.RawMessage `json:"send"`
	Expect []json.RawMessage `json:"expect"`
}

// vector is one test case: its first step, and the steps that follow it.
type vector struct {
	Name string `json:"name"`
	vectorStep
	Then []vectorStep `json:"then"`
}

// steps returns the vector's steps, each with its role.
func (v vector) steps() []vectorStep {
	steps := append([]vectorStep{v.vectorStep}, v.Then...)
	for i := range steps {
		if steps[i].Role == "" {
			steps[i].Role = v.Role
		}
	}
	return steps
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var vs []vector
	if err := d.Decode(&vs); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	names := map[string]bool{}
	for _, v := range vs {
		if v.Name == "" || names[v.Name] {
			t.Fatalf("%s: every vector needs a name of its own: %q", vectorsFile, v.Name)
		}
		names[v.Name] = true
		if v.Role != "driver" && v.Role != "rider" {
			t.Fatalf("%s: %q: role %q, want driver or rider", vectorsFile, v.Name, v.Role)
		}
		for i, s := range v.steps() {
			if s.Role != "driver" && s.Role != "rider" {
				t.Fatalf("%s: %q: step %d: role %q, want driver or rider", vectorsFile, v.Name, i, s.Role)
			}
			if len(s.Send) == 0 && len(s.Expect) == 0 {
				t.Fatalf("%s: %q: step %d sends and expects nothing", vectorsFile, v.Name, i)
			}
		}
	}
	return vs
}

// substitute replaces the vector's id placeholders in a JSON text.
func substitute(data []byte, ids map[string]string) []byte {
	for role, id := range ids {
		data = bytes.ReplaceAll(data, []byte("{{"+role+"}}"), []byte(id))
	}
	return data
}

// frameText is the text a client sends for one element of send: a JSON
// string is sent as it is written (raw: not JSON, a key twice, 13.0 as
// spelled), any other value as its JSON.
func frameText(t *testing.T, elem json.RawMessage) []byte {
	t.Helper()
	var raw string
	if err := json.Unmarshal(elem, &raw); err == nil {
		return []byte(raw)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, elem); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestVectorsFormat checks the vectors without a node: every expected
// answer names a node frame type, every send element that is not raw is a
// JSON object with a type, and each placeholder is one the runner fills.
func TestVectorsFormat(t *testing.T) {
	p := loadProtocol(t)
	node := p.frameDefs(t, "nodeFrame")
	vs := loadVectors(t)
	if len(vs) < 30 {
		t.Errorf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		for i, s := range v.steps() {
			for _, e := range s.Expect {
				var want map[string]any
				if err := json.Unmarshal(e, &want); err != nil {
					t.Errorf("%q step %d: expect %s is not an object", v.Name, i, e)
					continue
				}
				if typ, _ := want["type"].(string); node[typ] == "" {
					t.Errorf("%q step %d: expect %s has no node frame type", v.Name, i, e)
				}
			}
			for _, elem := range s.Send {
				if elem[0] == '"' {
					continue
				}
				var frame map[string]any
				if err := json.Unmarshal(elem, &frame); err != nil {
					t.Errorf("%q step %d: send %s is neither a raw string nor an object", v.Name, i, elem)
				}
			}
		}
		all, _ := json.Marshal(v)
		rest := substitute(all, map[string]string{"driver": "x", "rider": "y"})
		if bytes.Contains(rest, []byte("{{")) {
			t.Errorf("%q: a placeholder other than {{driver}} and {{rider}}", v.Name)
		}
	}
}

// TestVectors runs every vector against a real development-mode node, each
// with driver and rider ids of its own, in parallel: a node it starts, or
// the one at RTLS_VECTORS_URL (ws://HOST:PORT/v1/ws of an rtlsd -dev).
func TestVectors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	p := loadProtocol(t)
	vs := loadVectors(t)
	wsURL := os.Getenv("RTLS_VECTORS_URL")
	if wsURL == "" {
		wsURL = testnode.Start(t).WebSocketURL()
	}
	tag := make([]byte, 4)
	rand.Read(tag)
	for i, v := range vs {
		ids := map[string]string{
			"driver": fmt.Sprintf("vd%02d-%s", i, hex.EncodeToString(tag)),
			"rider":  fmt.Sprintf("vr%02d-%s", i, hex.EncodeToString(tag)),
		}
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			runVector(t, p, wsURL, v, ids)
		})
	}
}

// vectorConn is one connection of a vector.
type vectorConn struct {
	role string
	ws   *websocket.Conn
}

func runVector(t *testing.T, p *protocol, wsURL string, v vector, ids map[string]string) {
	conns := map[string]*vectorConn{}
	for i, s := range v.steps() {
		c := conns[s.Role]
		if c == nil {
			c = dialVector(t, p, wsURL, s.Role, ids[s.Role])
			conns[s.Role] = c
		}
		for _, elem := range s.Send {
			text := substitute(frameText(t, elem), ids)
			c.ws.SetWriteDeadline(time.Now().Add(vectorTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, text); err != nil {
				t.Fatalf("step %d (%s): send %s: %v", i, s.Role, text, err)
			}
		}
		var want []map[string]any
		types := map[string]bool{mobileproto.TypeError: true}
		for _, e := range s.Expect {
			m, err := decodeValue(substitute(e, ids))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, m.(map[string]any))
			types[m.(map[string]any)["type"].(string)] = true
		}
		c.expect(t, p, i, want, types)
	}
}

// dialVector connects as role and id, and checks the welcome.
func dialVector(t *testing.T, p *protocol, wsURL, role, id string) *vectorConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), vectorTimeout)
	defer cancel()
	u := wsURL + "?" + url.Values{"role": {role}, "id": {id}}.Encode()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	c := &vectorConn{role: role, ws: ws}
	ws.SetReadDeadline(time.Now().Add(vectorTimeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("%s %s: no welcome: %v", role, id, err)
	}
	if err := validate(p.defs["welcome"], data); err != nil {
		t.Fatalf("%s %s: the first frame is not a valid welcome: %s: %v", role, id, data, err)
	}
	welcome, _ := decodeValue(data)
	if msg := mismatch(map[string]any{"type": "welcome", "version": json.Number("1"), "role": role, "client": id}, welcome.(map[string]any)); msg != "" {
		t.Fatalf("%s %s: welcome %s: %s", role, id, data, msg)
	}
	return c
}

// expect reads the node's frames until each of want has been matched, in
// order. Frames of a type that is neither expected nor error are skipped.
func (c *vectorConn) expect(t *testing.T, p *protocol, step int, want []map[string]any, types map[string]bool) {
	t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(vectorTimeout))
	var skipped []string
	for i := 0; i < len(want); {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatalf("step %d (%s): waiting for %s (skipped %v): %v", step, c.role, jsonText(want[i]), skipped, err)
		}
		if err := validate(p.node, data); err != nil {
			t.Errorf("step %d (%s): the node sent a frame the schema refuses: %s: %v", step, c.role, data, err)
		}
		v, err := decodeValue(data)
		if err != nil {
			t.Fatalf("step %d (%s): %s: %v", step, c.role, data, err)
		}
		got := v.(map[string]any)
		if typ, _ := got["type"].(string); !types[typ] {
			skipped = append(skipped, string(data))
			continue
		}
		if msg := mismatch(want[i], got); msg != "" {
			t.Fatalf("step %d (%s): answer %d is\n%s\nwant %s: %s", step, c.role, i, data, jsonText(want[i]), msg)
		}
		i++
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// mismatch says how got fails to match the partial frame want ("" when it
// matches): each member of want must be in got with an equal value, a null
// member of want must be absent from got, and members of got that want
// does not list are ignored.
func mismatch(want, got map[string]any) string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case w == nil && ok && g != nil:
			diffs = append(diffs, fmt.Sprintf("%s is %v, want it absent", k, g))
		case w == nil:
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s is missing", k))
		case !sameJSON(w, g):
			diffs = append(diffs, fmt.Sprintf("%s is %v, want %v", k, g, w))
		}
	}
	return strings.Join(diffs, "; ")
}
