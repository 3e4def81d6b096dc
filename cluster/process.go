package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rtls-io/rtls/node"
)

// Processes is a cluster of rtlsd processes, each started from its own
// configuration file.
type Processes struct {
	binary string
	env    []string
	log    io.Writer
	logMu  sync.Mutex

	mu      sync.Mutex
	procs   []*process
	members members
}

type process struct {
	name, cfgPath        string
	httpAddr, clientAddr string
	cmd                  *exec.Cmd // nil while stopped
	exited               chan struct{}
	exitErr              error
}

// StartProcesses plans the cluster, writes one configuration file per node
// into Spec.DataDir and starts the rtlsd binary once per node; it returns
// when every node is ready. Output of the processes goes to log, each line
// prefixed with the node's name (nil discards it).
func StartProcesses(ctx context.Context, binary string, s Spec, log io.Writer) (*Processes, error) {
	cfgs, err := Plan(s)
	if err != nil {
		return nil, err
	}
	var files []string
	for i, c := range cfgs {
		f := node.FileFor(c, "info")
		if s.File != nil {
			s.File(i, f)
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return nil, err
		}
		p := filepath.Join(s.DataDir, c.Name+".conf")
		if err := os.MkdirAll(s.DataDir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		files = append(files, p)
	}
	return startFiles(ctx, binary, files, log, s.Env)
}

// StartFiles starts one rtlsd process per configuration file and returns
// when every node is ready. env is added to the processes' environment
// (and must already be in this one's, for the files' $VARIABLES).
func StartFiles(ctx context.Context, binary string, files []string, log io.Writer, env ...string) (*Processes, error) {
	return startFiles(ctx, binary, files, log, env)
}

func startFiles(ctx context.Context, binary string, files []string, log io.Writer, env []string) (*Processes, error) {
	if log == nil {
		log = io.Discard
	}
	ps := &Processes{binary: binary, log: log, env: env}
	for _, f := range files {
		fc, err := node.ReadConfigFile(f)
		if err != nil {
			return nil, err
		}
		cfg, err := fc.Config()
		if err != nil {
			return nil, err
		}
		if cfg.HTTPAddr == "" {
			cfg.HTTPAddr = "127.0.0.1:8080"
		}
		ps.procs = append(ps.procs, &process{name: cfg.Name, cfgPath: f, httpAddr: cfg.HTTPAddr, clientAddr: cfg.ClientAddr})
		ps.members = append(ps.members, member{name: cfg.Name, httpAddr: cfg.HTTPAddr, clientAddr: cfg.ClientAddr})
	}
	if err := parallel(len(ps.procs), func(i int) error { return ps.start(ctx, i) }); err != nil {
		ps.Shutdown(context.Background())
		return nil, err
	}
	return ps, nil
}

func (ps *Processes) start(ctx context.Context, i int) error {
	p := ps.procs[i]
	cmd := exec.Command(ps.binary, "-config", p.cfgPath)
	if len(ps.env) > 0 {
		cmd.Env = append(os.Environ(), ps.env...)
	}
	out := &prefixWriter{prefix: []byte("[" + p.name + "] "), w: ps.log, mu: &ps.logMu}
	cmd.Stdout, cmd.Stderr = out, out
	// The node dies with us, even when we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cluster: start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	ps.mu.Lock()
	p.cmd, p.exited = cmd, exited
	ps.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.flush()
		ps.mu.Lock()
		p.exitErr = err
		ps.mu.Unlock()
		close(exited)
	}()
	client := &http.Client{Timeout: time.Second}
	return waitFor(ctx, 50*time.Millisecond, func() error {
		select {
		case <-exited:
			return backoffStop{fmt.Errorf("cluster: %s exited while starting: %v", p.name, p.exitErr)}
		default:
		}
		resp, err := client.Get("http://" + p.httpAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("cluster: %s: /readyz %d", p.name, resp.StatusCode)
		}
		return nil
	})
}

// backoffStop marks an error that ends waitFor at once.
type backoffStop struct{ error }

// Size is the number of nodes, running or not.
func (ps *Processes) Size() int { return len(ps.procs) }

// Name returns node i's name.
func (ps *Processes) Name(i int) string { return ps.procs[i].name }

// Index returns the index of the node with the given name, or -1.
func (ps *Processes) Index(name string) int { return ps.members.index(name) }

// PID returns node i's process id, or 0 while it is stopped.
func (ps *Processes) PID(i int) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if cmd := ps.procs[i].cmd; cmd != nil && cmd.Process != nil {
		return cmd.Process.Pid
	}
	return 0
}

// Running reports whether node i's process runs.
func (ps *Processes) Running(i int) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.procs[i]
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// WebSocketURLs returns every node's WebSocket URL, comma-separated.
func (ps *Processes) WebSocketURLs() string { return ps.members.webSocketURLs() }

// WebSocketURL returns node i's WebSocket URL.
func (ps *Processes) WebSocketURL(i int) string { return ps.members.webSocketURL(i) }

// ClientURLs returns the NATS client URLs of the running nodes.
func (ps *Processes) ClientURLs() []string {
	var urls []string
	for i, p := range ps.procs {
		if p.clientAddr != "" && ps.Running(i) {
			urls = append(urls, "nats://"+p.clientAddr)
		}
	}
	return urls
}

// StreamLeader returns the index of the node that leads the stream.
func (ps *Processes) StreamLeader(ctx context.Context) (int, error) {
	return ps.members.streamLeader(ctx, ps.ClientURLs)
}

// Kill kills node i's process with SIGKILL, as a crash would, and waits
// for it to be gone.
func (ps *Processes) Kill(i int) error {
	return ps.signal(context.Background(), i, syscall.SIGKILL)
}

// Stop stops node i gracefully (SIGTERM); if it is still running when ctx
// ends it is killed.
func (ps *Processes) Stop(ctx context.Context, i int) error {
	return ps.signal(ctx, i, syscall.SIGTERM)
}

func (ps *Processes) signal(ctx context.Context, i int, sig syscall.Signal) error {
	ps.mu.Lock()
	p := ps.procs[i]
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	ps.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("cluster: %s did not stop in time: %w", p.name, ctx.Err())
	}
}

// ExitError is how node i's process last ended: nil for a clean exit
// (or while it runs).
func (ps *Processes) ExitError(i int) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.procs[i].cmd != nil {
		return nil
	}
	return ps.procs[i].exitErr
}

// Restart starts node i's process again on its configuration and data and
// returns once it is ready (it has caught up with its peers).
func (ps *Processes) Restart(ctx context.Context, i int) error {
	if ps.Running(i) {
		return fmt.Errorf("cluster: node %s is running", ps.procs[i].name)
	}
	return ps.start(ctx, i)
}

// Shutdown stops every node gracefully and waits.
func (ps *Processes) Shutdown(ctx context.Context) error {
	return parallel(len(ps.procs), func(i int) error { return ps.Stop(ctx, i) })
}

// prefixWriter writes each complete line to w with a prefix; mu serialises
// the writers sharing w.
type prefixWriter struct {
	prefix []byte
	w      io.Writer
	mu     *sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := append(append([]byte{}, p.prefix...), p.buf[:i+1]...)
		p.w.Write(line)
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.w.Write(append(append(append([]byte{}, p.prefix...), p.buf...), '\n'))
		p.buf = nil
	}
}
