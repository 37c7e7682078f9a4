package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// requireDemoData asserts that the demo's SQLite file holds exactly each
// dataset's records and that every demo task completed.
func requireDemoData(t *testing.T, dbDir string, specs []demoapi.DatasetSpec) {
	t.Helper()
	ctx := context.Background()
	s, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(dbDir, "data.db"))
	require.NoError(t, err)
	defer s.Close()
	for _, spec := range specs {
		n, err := s.Count(ctx, spec.ID)
		require.NoError(t, err)
		require.EqualValues(t, spec.Total, n, "records of %s", spec.ID)
		cp, ok, err := s.Load(ctx, demoTaskPrefix+spec.ID)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, task.Completed, cp.State, spec.ID)
	}
}

func TestDemoInProcess(t *testing.T) {
	specs := []demoapi.DatasetSpec{
		{ID: "orders", Pagination: source.PaginationCursor, Total: 450},
		{ID: "products", Pagination: source.PaginationLinkHeader, Total: 120},
		{ID: "events", Pagination: source.PaginationOffset, Total: 300, RPS: 20, Burst: 5},
	}
	dir := t.TempDir()
	inv := newInvocation(nil)
	inv.a.demoSpecs = specs
	r := inv.run("demo", "--db-dir", dir, "--port", "0", "--ui-port", "-1", "--faults=false")
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Regexp(t, `demo-orders\s+orders\s+completed\s+450\s+5\s`, r.stdout)
	require.Contains(t, r.stdout, "✓ events")
	require.Contains(t, r.stdout, "every record arrived exactly once")
	requireDemoData(t, dir, specs)
}

// committedPages reads the pages committed so far from a demo's SQLite
// file; 0 while it (or its tables) do not exist yet.
func committedPages(path string) int64 {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT COALESCE(SUM(pages), 0) FROM syncflow_checkpoints`).Scan(&n); err != nil {
		return 0
	}
	return n
}

// TestDemoInterruptAndRerun runs the real demo binary with its default
// datasets: SIGINT after the first committed page cancels the syncs and
// exits 130; the next demo in the same directory re-syncs to exact counts.
func TestDemoInterruptAndRerun(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the starter")
	}
	bin := filepath.Join(t.TempDir(), "starter")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build: %s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	output := &syncBuffer{}
	cmd := exec.CommandContext(ctx, bin, "demo", "--db-dir", dir, "--port", "0", "--ui-port", "0")
	cmd.Stdout, cmd.Stderr = output, output
	require.NoError(t, cmd.Start())

	dbPath := filepath.Join(dir, "data.db")
	require.Eventually(t, func() bool { return committedPages(dbPath) > 0 }, 2*time.Minute, 20*time.Millisecond,
		"no page committed; output:\n%s", output)
	sent := time.Now()
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err = cmd.Wait()
	t.Logf("demo exited %s after SIGINT", time.Since(sent).Round(time.Millisecond))
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "demo must exit non-zero after SIGINT, got %v; output:\n%s", err, output)
	require.Equal(t, exitInterrupted, exit.ExitCode(), "output:\n%s", output)
	require.Contains(t, output.String(), "syncs cancelled; run `go run ./starter demo` again to re-sync")

	// Every task that did not complete says cancelled in its checkpoint.
	s, err := engine.OpenSink(ctx, "sqlite://"+dbPath)
	require.NoError(t, err)
	cancelled := 0
	for _, spec := range demoapi.DefaultDatasets() {
		cp, ok, err := s.Load(ctx, demoTaskPrefix+spec.ID)
		require.NoError(t, err)
		if !ok {
			continue
		}
		require.Contains(t, []task.State{task.Cancelled, task.Completed}, cp.State, spec.ID)
		if cp.State == task.Cancelled {
			cancelled++
		}
	}
	require.NoError(t, s.Close())
	require.Positive(t, cancelled, "output:\n%s", output)

	// Again in the same directory: every dataset exact.
	output2 := &syncBuffer{}
	cmd = exec.CommandContext(ctx, bin, "demo", "--db-dir", dir, "--port", "0", "--ui-port", "-1")
	cmd.Stdout, cmd.Stderr = output2, output2
	require.NoError(t, cmd.Run(), "output:\n%s", output2)
	requireDemoData(t, dir, demoapi.DefaultDatasets())
}
