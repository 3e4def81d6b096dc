package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	ports, err := FreePorts(s.Host, 4*s.Size)
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

// FreePorts reserves n distinct free TCP ports on host: it holds n
// listeners at once, notes their ports and closes them. The ports are
// chosen below the system's ephemeral range where it can be read (Linux):
// a port from that range, once closed, can be handed to any outgoing
// connection or port-0 listener of another program before the node binds
// it (seen in CI as "address already in use"); below it, only a program
// choosing the same port by number can. Elsewhere, or when that range
// leaves too little room, the system picks them (port 0).
func FreePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	if lo := ephemeralLow(); lo-lowestPort >= 64*n {
		for tries := 0; len(ls) < n && tries < 32*n; tries++ {
			p := lowestPort + rand.IntN(lo-lowestPort)
			if l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
				ls = append(ls, l)
			}
		}
	}
	for len(ls) < n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("cluster: reserve a port: %w", err)
		}
		ls = append(ls, l)
	}
	ports := make([]int, 0, n)
	for _, l := range ls {
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lowestPort is the lowest port freePorts picks by number: below it are
// well-known and commonly configured services.
const lowestPort = 10000

// ephemeralLow returns the lowest port of the system's ephemeral range, or
// 0 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}
