// Package integration_test runs whole syncs: a real in-process Temporal
// server (temporaltest), a real worker, a real SQLite file and an httptest
// source that misbehaves on purpose.
package integration_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one test's world: server, client, sink, task queue.
type env struct {
	t        *testing.T
	ts       *temporaltest.TestServer
	c        client.Client
	sinkPath string
	sink     sink.Sink
	logs     *lockedBuffer
	tq       string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, logs: &lockedBuffer{}, tq: "syncflow-test"}
	e.ts = temporaltest.NewServer(temporaltest.WithT(t))
	e.c = e.ts.NewClientWithOptions(client.Options{
		Logger: log.NewStructuredLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := connect.EnsureSearchAttributes(ctx, e.c, e.ts.GetDefaultNamespace(), workflows.SearchAttributes())
	require.NoError(t, err, "register search attributes, as a worker does at start")
	e.sinkPath = filepath.Join(t.TempDir(), "dest.db")
	s, err := engine.OpenSink(ctx, "sqlite://"+e.sinkPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	e.sink = s
	return e
}

// workerOptions tune startWorker.
type workerOptions struct {
	stopTimeout time.Duration
	limits      activities.Limiter
	slots       int
	observer    activities.Observer
	secrets     *secrets.Resolver // the operator's secret bindings; nil binds none
}

// startWorker starts a syncflow worker on the test's task queue. It is
// stopped at the end of the test unless the test stops it first.
func (e *env) startWorker(o workerOptions) worker.Worker {
	e.t.Helper()
	w, _, err := engine.New(e.c, engine.Options{
		Sink:                    e.sink,
		Limits:                  o.limits,
		Observer:                o.observer,
		Secrets:                 o.secrets,
		HeartbeatEvery:          200 * time.Millisecond,
		TaskQueue:               e.tq,
		StopTimeout:             o.stopTimeout,
		MaxConcurrentActivities: o.slots,
	})
	require.NoError(e.t, err)
	require.NoError(e.t, w.Start())
	stopped := false
	var mu sync.Mutex
	e.t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			w.Stop()
		}
	})
	return &trackedWorker{Worker: w, stop: func() { mu.Lock(); stopped = true; mu.Unlock() }}
}

// trackedWorker remembers that a test stopped it.
type trackedWorker struct {
	worker.Worker
	stop func()
}

func (w *trackedWorker) Stop() {
	w.stop()
	w.Worker.Stop()
}

// start starts a SyncWorkflow for ds with test-friendly options.
func (e *env) start(taskID string, ds config.Dataset, opts workflows.SyncOptions) client.WorkflowRun {
	e.t.Helper()
	if opts.HeartbeatTimeout == 0 {
		opts.HeartbeatTimeout = source.Duration(2 * time.Second)
	}
	if opts.PagesPerActivity == 0 {
		opts.PagesPerActivity = 3
	}
	run, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:        taskID,
		TaskQueue: e.tq,
	}, workflows.SyncWorkflowName, workflows.SyncInput{TaskID: taskID, Dataset: ds, Options: opts})
	require.NoError(e.t, err)
	return run
}

// result waits for a run's result (bounded).
func (e *env) result(run client.WorkflowRun) (workflows.SyncResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res workflows.SyncResult
	err := run.Get(ctx, &res)
	return res, err
}

// storedKeys reads the record keys of a dataset straight from the SQLite
// file, bypassing the sink.
func (e *env) storedKeys(dataset string) []string {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.sinkPath)
	require.NoError(e.t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT key FROM syncflow_records WHERE dataset = ?`, dataset)
	require.NoError(e.t, err)
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		require.NoError(e.t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(e.t, rows.Err())
	return keys
}

// requireExact asserts the sink holds exactly the source's records: the
// same key set, each once.
func (e *env) requireExact(dataset string, src *scriptedSource) {
	e.t.Helper()
	keys := e.storedKeys(dataset)
	want := src.keys()
	seen := map[string]int{}
	for _, k := range keys {
		seen[k]++
	}
	for k, n := range seen {
		require.Equalf(e.t, 1, n, "key %s stored %d times", k, n)
		require.Truef(e.t, want[k], "key %s is not the source's", k)
	}
	require.Len(e.t, keys, src.total, "stored records")
	n, err := e.sink.Count(context.Background(), dataset)
	require.NoError(e.t, err)
	require.EqualValues(e.t, src.total, n)
}

// checkpoint loads a task's checkpoint.
func (e *env) checkpoint(taskID string) sink.Checkpoint {
	e.t.Helper()
	cp, ok, err := e.sink.Load(context.Background(), taskID)
	require.NoError(e.t, err)
	require.True(e.t, ok, "no checkpoint for %s", taskID)
	return cp
}
