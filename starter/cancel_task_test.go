package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// slowCleanupSink is a sink whose SetState (the cleanup of a cancelled or
// failed task) takes `took`: a destination under load.
type slowCleanupSink struct {
	sink.Sink
	took time.Duration
}

func (s slowCleanupSink) SetState(ctx context.Context, taskID, datasetID string, started time.Time, state task.State, message string) error {
	t := time.NewTimer(s.took)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Sink.SetState(ctx, taskID, datasetID, started, state, message)
}

// `cancel --task` waits for the task's cleanup however long it takes: here
// longer than the request timeout of short commands (it used to give up
// at that timeout with an error while the task was still cleaning up).
func TestCancelTaskWaitsForTheCleanup(t *testing.T) {
	old := requestTimeout
	requestTimeout = time.Second
	t.Cleanup(func() { requestTimeout = old })
	w := newWorldWithSink(t, demoapi.Options{
		Seed:     5,
		Datasets: []demoapi.DatasetSpec{{ID: "big", Pagination: source.PaginationCursor, Total: 20000}},
		Faults:   demoapi.Faults{Latency: 20 * time.Millisecond},
	}, func(s sink.Sink) sink.Sink { return slowCleanupSink{Sink: s, took: 3 * requestTimeout} }, "big")

	r := w.run("batch", "--config", w.cfgPath, "--id", "slow-cleanup", "--detach")
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	// Wait until the task runs: its first page is committed.
	require.Eventually(t, func() bool { return w.count("big") > 0 }, time.Minute, 20*time.Millisecond)

	r = w.run("cancel", "slow-cleanup", "--task", "big")
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "task big of batch slow-cleanup: cancelled")
	cp, ok, err := w.sink.Load(context.Background(), "slow-cleanup/big")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, task.Cancelled, cp.State, "the cleanup was done when cancel returned")
}
