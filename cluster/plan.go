package cluster

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/rtls-io/rtls/node"
)

// Spec describes a cluster to run on one host.
type Spec struct {
	// Size is the number of nodes. Zero value means 3.
	Size int
	// Name is the NATS cluster name. Zero value means "rtls".
	Name string
	// DataDir is the root of the nodes' data dirs: node i keeps its store
	// in DataDir/n<i>. Required.
	DataDir string
	// Host is the address every listener binds. Zero value means 127.0.0.1.
	Host string
	// Node, if set, adjusts each node's configuration (i counts from 0).
	Node func(i int, c *node.Config)
	// Env is added to the environment of node processes (StartProcesses
	// only), for example GOMAXPROCS=1.
	Env []string
	// File, if set, adjusts each node process's configuration file
	// (StartProcesses only), for what a Config cannot say, such as the
	// files of token keys.
	File func(i int, f *node.File)
}

// ErrInvalidSpec is wrapped by Plan for a Spec it cannot plan.
var ErrInvalidSpec = errors.New("cluster: invalid spec")

// Plan returns the configuration of every node of the cluster. Each node
// gets free ports reserved from the operating system for its WebSocket
// edge, its NATS client port, its route port and its admin listener (the
// same ports are reused when a node restarts), and routes to every node.
func Plan(s Spec) ([]node.Config, error) {
	if s.Size == 0 {
		s.Size = 3
	}
	if s.Name == "" {
		s.Name = "rtls"
	}
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	if s.Size < 1 || s.Size > 9 {
		return nil, fmt.Errorf("%w: size %d: must be within [1, 9]", ErrInvalidSpec, s.Size)
	}
	if s.DataDir == "" {
		return nil, fmt.Errorf("%w: no data dir", ErrInvalidSpec)
	}
	ports, err := freePorts(s.Host, 4*s.Size)
	if err != nil {
		return nil, err
	}
	addr := func(p int) string { return net.JoinHostPort(s.Host, strconv.Itoa(p)) }
	var routes []string
	if s.Size > 1 {
		for i := 0; i < s.Size; i++ {
			routes = append(routes, "nats://"+addr(ports[4*i+2]))
		}
	}
	cfgs := make([]node.Config, s.Size)
	for i := range cfgs {
		name := "n" + strconv.Itoa(i+1)
		c := node.Config{
			Name:       name,
			DataDir:    filepath.Join(s.DataDir, name),
			HTTPAddr:   addr(ports[4*i]),
			ClientAddr: addr(ports[4*i+1]),
			AdminAddr:  addr(ports[4*i+3]),
		}
		if s.Size > 1 {
			c.ClusterName = s.Name
			c.ClusterAddr = addr(ports[4*i+2])
			c.Routes = routes
		}
		if s.Node != nil {
			s.Node(i, &c)
		}
		cfgs[i] = c
	}
	return cfgs, nil
}

// parallel runs f for 0..n-1 at once and joins their errors. Nodes start
// together because JetStream elects its meta leader only once they see each
// other.
func parallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freePorts reserves n distinct free TCP ports on host: it holds n listeners
// on port 0 at once, notes their ports and closes them.
func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("cluster: reserve a port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
