package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// silentTemporal is a TCP listener that accepts connections and never
// answers: a Temporal address where dialling hangs. accepted receives
// once per connection.
func silentTemporal(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan struct{}, 16)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String(), ch
}

// buildStarter builds this program into a temporary directory.
func buildStarter(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the starter")
	}
	bin := filepath.Join(t.TempDir(), "starter")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "build: %s", out)
	return bin
}

// Ctrl-C while `sync` or `batch` is still connecting to a Temporal that
// does not answer ends the starter at once with status 130 (it used to
// wait for the 15 s dial timeout and exit 1).
func TestInterruptWhileDialling(t *testing.T) {
	bin := buildStarter(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "syncflow.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`sink: sqlite://`+filepath.Join(dir, "x.db")+`
datasets:
  - id: orders
    source:
      url: http://127.0.0.1:1/orders
      key: id
      pagination: {type: page}
`), 0o600))
	for _, args := range [][]string{
		{"sync", "--config", cfg, "--dataset", "orders"},
		{"batch", "--config", cfg},
	} {
		t.Run(args[0], func(t *testing.T) {
			addr, accepted := silentTemporal(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out := &syncBuffer{}
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+addr, "TEMPORAL_NAMESPACE=default")
			cmd.Stdout, cmd.Stderr = out, out
			require.NoError(t, cmd.Start())
			select {
			case <-accepted: // the starter is dialling
			case <-ctx.Done():
				t.Fatalf("the starter never connected; output:\n%s", out)
			}
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
			err := cmd.Wait()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "want a non-zero exit, got %v; output:\n%s", err, out)
			require.Equal(t, exitInterrupted, exit.ExitCode(), "output:\n%s", out)
			require.Contains(t, out.String(), "interrupted while connecting to Temporal")
		})
	}
}
