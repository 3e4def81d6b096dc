package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rtls-io/rtls/mobileproto"
)

// members are the addresses of a cluster's nodes, in-process or processes
// alike.
type members []member

type member struct{ name, httpAddr, clientAddr string }

// index returns the index of the node with the given name, or -1.
func (ms members) index(name string) int {
	for i, m := range ms {
		if m.name == name {
			return i
		}
	}
	return -1
}

func (ms members) webSocketURL(i int) string { return "ws://" + ms[i].httpAddr + mobileproto.Path }

// webSocketURLs returns every node's WebSocket URL, comma-separated, for
// mobileproto.Dial.
func (ms members) webSocketURLs() string {
	urls := make([]string, len(ms))
	for i := range ms {
		urls[i] = ms.webSocketURL(i)
	}
	return strings.Join(urls, ",")
}

// streamLeader polls the running nodes (their client URLs from running)
// until one names the stream leader, and returns its index.
func (ms members) streamLeader(ctx context.Context, running func() []string) (int, error) {
	var idx int
	err := waitFor(ctx, 50*time.Millisecond, func() error {
		name, err := StreamLeader(ctx, running())
		if err != nil {
			return err
		}
		if idx = ms.index(name); idx < 0 {
			return fmt.Errorf("cluster: unknown leader %q", name)
		}
		return nil
	})
	return idx, err
}
