package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// world is an in-process Temporal server, a worker with real activities
// writing to a SQLite file, a demo API and a configuration file naming
// them: what the starter talks to in production, in one test.
type world struct {
	t    *testing.T
	c    client.Client
	env  []string
	sink sink.Sink // the configuration's destination
	// workerDefault is the worker's default destination (its --sink).
	workerDefault sink.Sink
	cfgPath       string
	dir           string
}

func newWorld(t *testing.T, api demoapi.Options, datasets ...string) *world {
	t.Helper()
	return newWorldWithSink(t, api, nil, datasets...)
}

// newWorldWithSink is newWorld whose worker writes the tasks' destination
// through wrap(sink) (nil: the sink itself).
func newWorldWithSink(t *testing.T, api demoapi.Options, wrap func(sink.Sink) sink.Sink, datasets ...string) *world {
	t.Helper()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.NewClientWithOptions(client.Options{
		Logger: log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	srv := httptest.NewServer(demoapi.New(api))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	// The worker's default destination is not the configuration's: the
	// tasks carry theirs (issue 11 §1), and nothing may land here.
	workerDefault, err := engine.OpenSink(context.Background(), "sqlite://"+filepath.Join(dir, "worker-default.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = workerDefault.Close() })
	sinkPath := filepath.Join(dir, "data.db")
	s, err := engine.OpenSink(context.Background(), "sqlite://"+sinkPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	w, _, err := engine.New(c, engine.Options{
		Sink: workerDefault, HeartbeatEvery: 200 * time.Millisecond,
		// The tasks' destination (the configuration's) comes from the
		// worker's pool, opened through wrap.
		OpenSink: func(ctx context.Context, dsn string) (sink.Sink, error) {
			opened, err := engine.OpenSink(ctx, dsn)
			if err != nil || wrap == nil {
				return opened, err
			}
			return wrap(opened), nil
		},
		StopTimeout: 2 * time.Second,
	})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return &world{
		t: t, c: c, sink: s, workerDefault: workerDefault, dir: dir,
		env: []string{
			"TEMPORAL_ADDRESS=" + ts.GetFrontendHostPort(),
			"TEMPORAL_NAMESPACE=" + ts.GetDefaultNamespace(),
			"TEMPORAL_CONFIG_FILE=" + filepath.Join(dir, "no-profiles.toml"),
		},
		cfgPath: writeConfig(t, dir, srv.URL, "sqlite://"+sinkPath, datasets...),
	}
}

func (w *world) run(args ...string) result {
	w.t.Helper()
	return runCLI(w.env, args...)
}

func (w *world) count(dataset string) int64 {
	w.t.Helper()
	n, err := w.sink.Count(context.Background(), dataset)
	require.NoError(w.t, err)
	return n
}

func TestSyncStatusListCancelBatch(t *testing.T) {
	w := newWorld(t, demoapi.Options{
		Seed: 3,
		Datasets: []demoapi.DatasetSpec{
			{ID: "orders", Pagination: source.PaginationCursor, Total: 120},
			{ID: "big", Pagination: source.PaginationCursor, Total: 20000},
		},
		// Slow enough that "big" is still running when it is cancelled.
		Faults: demoapi.Faults{Latency: 20 * time.Millisecond},
	}, "orders", "big")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// sync in the foreground: exact records, a table of counts.
	r := w.run("sync", "--config", w.cfgPath, "--dataset", "orders")
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Regexp(t, `sync-orders\s+orders\s+completed\s+120\s+3\s`, r.stdout)
	require.EqualValues(t, 120, w.count("orders"))

	// Again, as JSON: a re-sync, still exact.
	r = w.run("sync", "--config", w.cfgPath, "--dataset", "orders", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var res workflows.SyncResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r.stdout)
	require.Equal(t, task.Completed, res.State)
	require.EqualValues(t, 120, res.Records)
	require.EqualValues(t, 120, w.count("orders"), "a re-sync must not duplicate")

	// status of the finished sync.
	r = w.run("status", "sync-orders", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	require.Equal(t, syncclient.StatusCompleted, st.Status.Status)
	require.Equal(t, string(task.Completed), st.State)
	require.Equal(t, "orders", st.Dataset)
	require.Equal(t, "sync orders → sqlite", st.Summary)
	require.NotNil(t, st.Result)
	require.EqualValues(t, 120, st.Result.Records)
	r = w.run("status", "sync-orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "completed: 120 records, 3 pages")

	// --detach, then cancel.
	r = w.run("sync", "--config", w.cfgPath, "--dataset", "big", "--detach")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "starter status sync-big")
	require.Contains(t, r.stdout, "temporal workflow describe -w sync-big")
	r = w.run("cancel", "sync-big")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "cancellation of sync-big requested")
	err := w.c.GetWorkflow(ctx, "sync-big", "").Get(ctx, nil)
	require.True(t, temporal.IsCanceledError(err), "want cancelled, got %v", err)
	cp, ok, err := w.sink.Load(ctx, "sync-big")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, task.Cancelled, cp.State)
	r = w.run("status", "sync-big", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	st = statusJSON{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	require.Equal(t, syncclient.StatusCanceled, st.Status.Status)
	require.Equal(t, string(task.Cancelled), st.State)

	r = w.run("cancel", "sync-big")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "already ended")
	r = w.run("cancel", "no-such-sync")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, `no sync or batch with ID "no-such-sync"`)
	r = w.run("status", "no-such-sync")
	require.Equal(t, exitFailed, r.code)

	// A batch from a tasks file.
	tasks := filepath.Join(w.dir, "tasks.yaml")
	require.NoError(t, os.WriteFile(tasks, []byte("- id: o1\n  dataset: orders\n"), 0o644))
	r = w.run("batch", "--config", w.cfgPath, "--tasks", tasks, "--id", "b1")
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Regexp(t, `o1\s+orders\s+completed\s+120\s+3\s+b1/o1`, r.stdout)
	require.Contains(t, r.stdout, "batch b1 completed")
	r = w.run("status", "b1", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	st = statusJSON{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	require.NotNil(t, st.BatchStatus, st.BatchError)
	require.Equal(t, task.Completed, st.BatchStatus.State)
	require.Equal(t, 1, st.BatchStatus.Counts[task.Completed])
	for _, ds := range []string{"orders", "big"} {
		n, err := w.workerDefault.Count(ctx, ds)
		require.NoError(t, err)
		require.Zero(t, n, "records of %s went to the worker's default destination, not the configuration's", ds)
	}

	// list: both runs of sync-orders, sync-big, the batch and its task.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := w.run("list", "--json")
		if !assert.Equal(c, exitOK, r.code, r.stderr) {
			return
		}
		var list []syncclient.Summary
		if !assert.NoError(c, json.Unmarshal([]byte(r.stdout), &list)) {
			return
		}
		states := map[string][]string{}
		for _, s := range list {
			states[s.WorkflowID] = append(states[s.WorkflowID], s.State)
		}
		assert.Equal(c, map[string][]string{
			"sync-orders": {"completed", "completed"},
			"sync-big":    {"cancelled"},
			"b1":          {"completed"},
			"b1/o1":       {"completed"},
		}, states)
	}, 30*time.Second, 200*time.Millisecond)
	r = w.run("list", "--query", `SyncDataset = "big"`)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `sync-big\s+sync\s+big\s+-\s+cancelled\s+canceled`, r.stdout)
	require.NotContains(t, r.stdout, "sync-orders")
}

func TestSyncForegroundInterruptCancels(t *testing.T) {
	w := newWorld(t, demoapi.Options{
		Seed:     3,
		Datasets: []demoapi.DatasetSpec{{ID: "big", Pagination: source.PaginationCursor, Total: 20000}},
		Faults:   demoapi.Faults{Latency: 20 * time.Millisecond},
	}, "big")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	inv := newInvocation(w.env)
	done := make(chan result, 1)
	go func() { done <- inv.run("sync", "--config", w.cfgPath, "--dataset", "big", "--id", "fg") }()
	// Interrupt once the sync is running.
	sc := syncclient.New(w.c)
	require.Eventually(t, func() bool {
		st, err := sc.Describe(ctx, "fg")
		return err == nil && st.Open()
	}, 30*time.Second, 20*time.Millisecond)
	inv.interrupts <- struct{}{}

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("sync did not end after the interrupt")
	}
	require.Equal(t, exitInterrupted, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stderr, "interrupted: sync fg cancelled")
	require.Regexp(t, `fg\s+big\s+cancelled`, r.stdout)
	cp, ok, err := w.sink.Load(ctx, "fg")
	require.NoError(t, err)
	require.True(t, ok, "the cancelled sync records its state even before its first page")
	require.Equal(t, task.Cancelled, cp.State)
	st, err := sc.Describe(ctx, "fg")
	require.NoError(t, err)
	require.Equal(t, syncclient.StatusCanceled, st.Status)
}
