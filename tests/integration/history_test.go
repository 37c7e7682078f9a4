package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/worker"

	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// historyDir holds the committed histories that workflows' replay test
// replays against the current code.
var historyDir = filepath.Join("..", "..", "workflows", "testdata", "replay")

// TestReplayFreshHistory runs a sync that takes every branch worth replaying
// (retries, an in-activity rate-limit wait, a durable rate-limit timer,
// continue-as-new), then replays its history against the current code.
// With SYNCFLOW_UPDATE_HISTORIES=1 it also writes the history into
// workflows/testdata/replay for the committed replay test.
func TestReplayFreshHistory(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 60, 10)
	src.script(1, fault{status: http.StatusServiceUnavailable})
	src.script(2, fault{status: http.StatusTooManyRequests, retryAfter: "1"})
	src.script(4, fault{status: http.StatusTooManyRequests, retryAfter: "2"})
	ds := src.dataset("replayed", source.PaginationCursor)
	run := e.start("task-replayed", ds, workflows.SyncOptions{
		PagesPerActivity: 2, ActivitiesPerRun: 2, MaxWait: source.Duration(1500 * time.Millisecond),
	})
	firstRunID := run.GetRunID()
	res, err := e.result(run)
	require.NoError(t, err)
	require.Greater(t, res.Runs, 1, "the sync continued as new")
	e.requireExact(ds.ID, src)

	require.Equal(t, res.Runs, e.replayChain(run.GetID(), firstRunID, "sync"), "runs replayed")
}

// TestReplayCancelledAndFailedHistories records and replays the two other
// endings: cancelled while waiting on a durable rate-limit timer (cleanup in
// a disconnected context), and failed on an invalid request.
func TestReplayCancelledAndFailedHistories(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 40, 10)
	src.script(1, fault{status: http.StatusTooManyRequests, retryAfter: "3600"})
	ds := src.dataset("replay-cancelled", source.PaginationCursor)
	run := e.start("task-replay-cancelled", ds, workflows.SyncOptions{})
	require.Eventually(t, func() bool {
		v, err := e.c.QueryWorkflow(context.Background(), run.GetID(), "", workflows.QueryProgress)
		var p workflows.Progress
		return err == nil && v.Get(&p) == nil && p.State == task.RateLimited
	}, time.Minute, 50*time.Millisecond)
	require.NoError(t, e.c.CancelWorkflow(context.Background(), run.GetID(), ""))
	_, err := e.result(run)
	require.Error(t, err)
	require.Equal(t, 1, e.replayChain(run.GetID(), run.GetRunID(), "sync_cancelled"))

	bad := newScriptedSource(t, 40, 10)
	bad.script(2, fault{status: http.StatusBadRequest})
	ds = bad.dataset("replay-failed", source.PaginationCursor)
	run = e.start("task-replay-failed", ds, workflows.SyncOptions{})
	_, err = e.result(run)
	require.Error(t, err)
	require.Equal(t, 1, e.replayChain(run.GetID(), run.GetRunID(), "sync_failed"))
}

// replayChain replays every run of a workflow from firstRunID on against the
// current code and returns how many there were. With
// SYNCFLOW_UPDATE_HISTORIES=1 it also writes them as NAME_runN.json into
// workflows/testdata/replay for the committed replay test.
func (e *env) replayChain(workflowID, firstRunID, name string) int {
	e.t.Helper()
	ctx := context.Background()
	replayer := worker.NewWorkflowReplayer()
	engine.RegisterWorkflows(replayer)
	runID, runs := firstRunID, 0
	for runID != "" {
		h := e.history(ctx, workflowID, runID)
		require.NoError(e.t, replayer.ReplayWorkflowHistory(nil, h), "replay run %d", runs)
		if os.Getenv("SYNCFLOW_UPDATE_HISTORIES") == "1" {
			b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
			require.NoError(e.t, err)
			require.NoError(e.t, os.MkdirAll(historyDir, 0o755))
			file := filepath.Join(historyDir, fmt.Sprintf("%s_run%d.json", name, runs))
			require.NoError(e.t, os.WriteFile(file, b, 0o644))
			e.t.Logf("wrote %s", file)
		}
		runID = nextRunID(h)
		runs++
	}
	return runs
}

// history returns the full history of one run.
func (e *env) history(ctx context.Context, workflowID, runID string) *historypb.History {
	e.t.Helper()
	it := e.c.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(e.t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

// nextRunID is the run a continued-as-new run handed over to, or "".
func nextRunID(h *historypb.History) string {
	last := h.Events[len(h.Events)-1]
	if a := last.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
		return a.GetNewExecutionRunId()
	}
	return ""
}
