package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/workflows"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDevWorkerStopsOnSIGINT builds the worker, runs it with --dev as a
// separate process, waits until it reports healthy, checks that it registered
// syncflow's search attributes and serves metrics, then sends SIGINT and
// expects a clean exit (status 0) with the stopping message logged.
func TestDevWorkerStopsOnSIGINT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	bin := filepath.Join(dir, "worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	devPort, uiPort, metricsPort := freePort(t), freePort(t), freePort(t)
	metricsAddr := "127.0.0.1:" + strconv.Itoa(metricsPort)
	cmd := exec.Command(bin, "--dev",
		"--dev-port", strconv.Itoa(devPort),
		"--ui-port", strconv.Itoa(uiPort),
		"--dev-db", filepath.Join(dir, "temporal.db"),
		"--sink", "sqlite://"+filepath.Join(dir, "data.db"),
		"--metrics", metricsAddr,
		"--log-format", "json",
	)
	cmd.Dir = dir
	// Nothing from the developer's environment may redirect the worker.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "SYNCFLOW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr syncBuffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("worker output:\n%s", stderr.String())
		}
	}()

	// Readiness: poll /healthz, bounded by ctx; fail at once if the worker dies.
	healthURL := "http://" + metricsAddr + "/healthz"
	ready := false
	for !ready {
		select {
		case err := <-exited:
			t.Fatalf("worker exited before it was ready: %v", err)
		case <-ctx.Done():
			t.Fatal("worker did not become healthy in time")
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(healthURL)
		if err == nil {
			ready = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}

	// The worker registered its search attributes in the dev server.
	c, err := client.DialContext(ctx, client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(devPort)})
	require.NoError(t, err)
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for name, typ := range workflows.SearchAttributes() {
		assert.Equal(t, typ, list.GetCustomAttributes()[name], name)
	}
	c.Close()

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Contains(t, body.String(), "temporal_", "the SDK's metrics are exported")
	assert.Contains(t, stderr.String(), `"msg":"worker running"`)
	assert.NotContains(t, stderr.String(), "level=ERROR")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err, "worker should exit 0 after SIGINT")
	case <-time.After(60 * time.Second):
		t.Fatal("worker did not exit within 60s of SIGINT")
	}
	assert.Contains(t, stderr.String(), stoppingMessage)
	assert.Contains(t, stderr.String(), `"msg":"worker stopped"`)
}
