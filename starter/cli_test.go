package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the goroutines of a command.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is one finished command.
type result struct {
	code           int
	stdout, stderr string
}

// invocation is a command about to run in-process.
type invocation struct {
	a              *app
	stdout, stderr *syncBuffer
	interrupts     chan struct{}
}

func newInvocation(environ []string) *invocation {
	inv := &invocation{stdout: &syncBuffer{}, stderr: &syncBuffer{}, interrupts: make(chan struct{}, 4)}
	inv.a = &app{stdout: inv.stdout, stderr: inv.stderr, environ: environ, interrupts: inv.interrupts}
	return inv
}

func (inv *invocation) run(args ...string) result {
	code := inv.a.main(args)
	return result{code: code, stdout: inv.stdout.String(), stderr: inv.stderr.String()}
}

// runCLI runs a command in-process with the given environment.
func runCLI(environ []string, args ...string) result {
	return newInvocation(environ).run(args...)
}

func TestHelpOfEveryCommand(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
				r := runCLI(nil, args...)
				require.Equal(t, exitOK, r.code, r.stderr)
				require.Contains(t, r.stdout, "Usage: starter "+c.name)
				require.Contains(t, r.stdout, "Example:\n  ")
				require.Empty(t, r.stderr)
			}
		})
	}
	flags := map[string][]string{
		"demo":   {"-db-dir", "-port", "-ui-port", "-faults", "-keep-running"},
		"sync":   {"-config", "-dataset", "-id", "-detach", "-json"},
		"batch":  {"-config", "-tasks", "-concurrency", "-id", "-detach"},
		"cancel": {"-task"},
		"status": {"-json"},
		"list":   {"-query", "-limit", "-json"},
	}
	for cmd, fl := range flags {
		r := runCLI(nil, cmd, "--help")
		for _, f := range fl {
			require.Regexp(t, `(?m)^  `+f+`\b`, r.stdout, "%s --help lists %s", cmd, f)
		}
	}

	r := runCLI(nil, "help")
	require.Equal(t, exitOK, r.code)
	for _, c := range commands() {
		require.Contains(t, r.stdout, "  "+c.name+" ")
	}
}

func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("sink: sqlite://x.db\ndatasets:\n  - id: a\n    source:\n      url: ftp://nope\n"), 0o644))
	good := writeConfig(t, dir, "http://127.0.0.1:1", "sqlite://"+filepath.Join(dir, "d.db"), "orders")
	noSink := filepath.Join(dir, "nosink.yaml")
	cfg, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(noSink, bytes.Replace(cfg, []byte("sink: "), []byte("# sink: "), 1), 0o644))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"sync", "--nope"}, "flag provided but not defined: -nope"},
		{"sync without config", []string{"sync", "--dataset", "orders"}, "--config is required"},
		{"sync without dataset", []string{"sync", "--config", good}, "--dataset is required"},
		{"sync missing file", []string{"sync", "--config", filepath.Join(dir, "missing.yaml"), "--dataset", "a"}, "missing.yaml"},
		{"sync invalid config", []string{"sync", "--config", bad, "--dataset", "a"}, "invalid configuration"},
		{"sync no sink", []string{"sync", "--config", noSink, "--dataset", "orders"}, "sink"},
		{"sync unknown dataset", []string{"sync", "--config", good, "--dataset", "nope"}, `dataset "nope" is not in`},
		{"sync extra argument", []string{"sync", "--config", good, "--dataset", "orders", "extra"}, `unexpected argument "extra"`},
		{"batch without config", []string{"batch"}, "--config is required"},
		{"batch bad tasks", []string{"batch", "--config", good, "--tasks", bad}, "invalid tasks file"},
		{"batch negative concurrency", []string{"batch", "--config", good, "--concurrency", "-1"}, "--concurrency"},
		{"status without id", []string{"status"}, "workflow ID"},
		{"status two ids", []string{"status", "a", "b"}, `unexpected argument "b"`},
		{"cancel without id", []string{"cancel", "--task", "x"}, "workflow ID"},
		{"list bad limit", []string{"list", "--limit", "0"}, "--limit must be positive"},
		{"demo bad port", []string{"demo", "--port", "70000"}, "--port 70000"},
		{"demo bad ui port", []string{"demo", "--ui-port", "-2"}, "--ui-port -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(nil, tc.args...)
			require.Equal(t, exitUsage, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			require.Contains(t, r.stderr, tc.want)
			require.Empty(t, r.stdout)
		})
	}
}

func TestSyncWithSinkOverride(t *testing.T) {
	// SYNCFLOW_SINK makes a file without a sink valid; the command then gets
	// as far as Temporal, which is not there.
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "http://127.0.0.1:1", "", "orders")
	addr := closedAddress(t)
	r := runCLI([]string{"TEMPORAL_ADDRESS=" + addr, "SYNCFLOW_SINK=sqlite://" + filepath.Join(dir, "o.db")},
		"sync", "--config", cfg, "--dataset", "orders")
	require.Equal(t, exitFailed, r.code, r.stderr)
	require.Contains(t, r.stderr, addr)
}

func TestTemporalUnreachable(t *testing.T) {
	addr := closedAddress(t)
	for _, args := range [][]string{{"status", "x"}, {"list"}, {"cancel", "x"}} {
		r := runCLI([]string{"TEMPORAL_ADDRESS=" + addr}, args...)
		require.Equal(t, exitFailed, r.code)
		require.Contains(t, r.stderr, addr, "the message names the address")
		require.Contains(t, r.stderr, "go run ./worker --dev", "the message says how to get a server")
	}
}

// closedAddress is a local address where nothing listens.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// writeConfig writes a configuration file syncing the given demo datasets
// from the demo API at baseURL into sinkDSN ("" leaves the sink out).
func writeConfig(t *testing.T, dir, baseURL, sinkDSN string, datasets ...string) string {
	t.Helper()
	var b strings.Builder
	if sinkDSN != "" {
		b.WriteString("sink: " + sinkDSN + "\n")
	}
	b.WriteString("datasets:\n")
	for _, id := range datasets {
		b.WriteString("  - id: " + id + "\n")
		b.WriteString("    source:\n")
		b.WriteString("      url: " + baseURL + "/datasets/" + id + "/records\n")
		b.WriteString("      records: data\n      key: id\n")
		b.WriteString("      pagination:\n        type: cursor\n        param: cursor\n        next: next_cursor\n        size_param: limit\n        page_size: 50\n")
	}
	path := filepath.Join(dir, "syncflow.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

func TestParseAllowsFlagsAfterPositionals(t *testing.T) {
	a := &app{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	cmd := a.cancelCommand()
	require.NoError(t, cmd.ParseFlags([]string{"b1", "--task", "t1"}))
	pos := cmd.Flags().Args()
	task, err := cmd.Flags().GetString("task")
	require.NoError(t, err)
	require.Equal(t, []string{"b1"}, pos)
	require.Equal(t, "t1", task)
}
