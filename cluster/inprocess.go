package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rtls-io/rtls/node"
	"github.com/rtls-io/rtls/node/auth"
)

// Cluster is a cluster of nodes running in this process.
type Cluster struct {
	cfgs    []node.Config
	members members
	mu      sync.Mutex
	nodes   []*node.Node // nil for a stopped node
}

// Start plans the cluster, starts every node concurrently (JetStream elects
// its meta leader only once the nodes see each other) and returns when all
// are ready. Every node gets the development Authenticator unless Spec.Node
// sets another. On error the nodes started are stopped again.
func Start(ctx context.Context, s Spec) (*Cluster, error) {
	cfgs, err := Plan(s)
	if err != nil {
		return nil, err
	}
	for i := range cfgs {
		if cfgs[i].Authenticator == nil {
			cfgs[i].Authenticator = auth.Dev()
		}
	}
	c := &Cluster{cfgs: cfgs, nodes: make([]*node.Node, len(cfgs))}
	for _, cfg := range cfgs {
		c.members = append(c.members, member{name: cfg.Name, httpAddr: cfg.HTTPAddr, clientAddr: cfg.ClientAddr})
	}
	if err := parallel(len(cfgs), func(i int) error { return c.startNode(ctx, i) }); err != nil {
		c.Shutdown(context.Background())
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startNode(ctx context.Context, i int) error {
	n, err := node.New(c.cfgs[i])
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
	return nil
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.cfgs) }

// Node returns node i, or nil while it is stopped.
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Config returns node i's configuration.
func (c *Cluster) Config(i int) node.Config { return c.cfgs[i] }

// Index returns the index of the node with the given name, or -1.
func (c *Cluster) Index(name string) int { return c.members.index(name) }

// WebSocketURLs returns every node's WebSocket URL, comma-separated, for
// mobileproto.Dial.
func (c *Cluster) WebSocketURLs() string { return c.members.webSocketURLs() }

// WebSocketURL returns node i\'s WebSocket URL.
func (c *Cluster) WebSocketURL(i int) string { return c.members.webSocketURL(i) }

// ClientURLs returns every node's NATS client URL.
func (c *Cluster) ClientURLs() []string {
	urls := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		urls[i] = "nats://" + cfg.ClientAddr
	}
	return urls
}

// StreamLeader returns the index of the node that leads the stream.
func (c *Cluster) StreamLeader(ctx context.Context) (int, error) {
	return c.members.streamLeader(ctx, c.runningClientURLs)
}

func (c *Cluster) runningClientURLs() []string {
	var urls []string
	for i, u := range c.ClientURLs() {
		if c.Node(i) != nil {
			urls = append(urls, u)
		}
	}
	return urls
}

// Stop shuts node i down gracefully and keeps its configuration and data
// for Restart.
func (c *Cluster) Stop(ctx context.Context, i int) error {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Shutdown(ctx)
}

// Restart starts node i again on its data dir and ports; it returns once the
// node has caught up with its peers and is ready.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if c.Node(i) != nil {
		return fmt.Errorf("cluster: node %s is running", c.cfgs[i].Name)
	}
	return c.startNode(ctx, i)
}

// Shutdown stops every running node, one after the other, so that each
// hands its leaderships to nodes still running.
func (c *Cluster) Shutdown(ctx context.Context) error {
	var errs []error
	for i := range c.cfgs {
		errs = append(errs, c.Stop(ctx, i))
	}
	return errors.Join(errs...)
}
