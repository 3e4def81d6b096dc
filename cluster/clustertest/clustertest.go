// Package clustertest starts rtls clusters for tests, in the spirit of
// nats-server's createJetStreamClusterExplicit: data dirs under t.TempDir(),
// free ports, and everything stopped by t.Cleanup.
package clustertest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rtls-io/rtls/cluster"
	"github.com/rtls-io/rtls/internal/testnode"
	"github.com/rtls-io/rtls/node"
)

// New starts a cluster of size nodes in this process and returns once every
// node is ready. adjust, if given, changes each node's configuration.
func New(t testing.TB, size int, adjust ...func(i int, c *node.Config)) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Spec{
		Size:    size,
		DataDir: t.TempDir(),
		Node: func(i int, cfg *node.Config) {
			cfg.Logger = testnode.Logger()
			for _, a := range adjust {
				a(i, cfg)
			}
		},
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("cluster shutdown: %v", err)
		}
	})
	return c
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Rtlsd builds the rtlsd binary (once per test binary) and returns its path.
func Rtlsd(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "rtlsd-build-"); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "rtlsd"), "github.com/rtls-io/rtls/node/cmd/rtlsd").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("go build rtlsd:\n%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build rtlsd: %v", buildErr)
	}
	return filepath.Join(buildDir, "rtlsd")
}

// NewProcesses starts a cluster of size rtlsd processes and returns once
// every node is ready. The nodes' logs go to a file that is printed when the
// test fails (and always with RTLS_TEST_LOG=1).
func NewProcesses(t testing.TB, size int, adjust ...func(i int, c *node.Config)) *cluster.Processes {
	t.Helper()
	return newProcesses(t, size, nil, adjust...)
}

// NewSecureProcesses starts a production cluster of rtlsd processes: token
// authentication with the secrets' key, and their bus identities and route
// password.
func NewSecureProcesses(t testing.TB, size int, s *testnode.Secrets, adjust ...func(i int, c *node.Config)) *cluster.Processes {
	t.Helper()
	return newProcesses(t, size, func(_ int, f *node.File) { s.ConfigureFile(f) },
		append([]func(int, *node.Config){func(_ int, c *node.Config) { s.Configure(c) }}, adjust...)...)
}

// NewSecure starts a production cluster in this process (see
// NewSecureProcesses).
func NewSecure(t testing.TB, size int, s *testnode.Secrets, adjust ...func(i int, c *node.Config)) *cluster.Cluster {
	t.Helper()
	return New(t, size, append([]func(int, *node.Config){func(_ int, c *node.Config) { s.Configure(c) }}, adjust...)...)
}

func newProcesses(t testing.TB, size int, file func(int, *node.File), adjust ...func(i int, c *node.Config)) *cluster.Processes {
	t.Helper()
	bin := Rtlsd(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "nodes.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ps, err := cluster.StartProcesses(ctx, bin, cluster.Spec{
		Size:    size,
		DataDir: dir,
		Node: func(i int, cfg *node.Config) {
			for _, a := range adjust {
				a(i, cfg)
			}
		},
		File: file,
	}, logFile)
	t.Cleanup(func() {
		if ps != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ps.Shutdown(ctx); err != nil {
				t.Errorf("cluster shutdown: %v", err)
			}
		}
		logFile.Close()
		if t.Failed() || os.Getenv("RTLS_TEST_LOG") != "" {
			printTail(t, logPath, 200)
		}
	})
	if err != nil {
		t.Fatalf("start cluster processes: %v", err)
	}
	return ps
}

func printTail(t testing.TB, path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	t.Logf("last %d lines of the nodes' logs (%s):", len(lines), path)
	for _, l := range lines {
		t.Log(l)
	}
}
