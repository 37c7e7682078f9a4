package integration_test

import (
	"context"
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
	"github.com/syncflow/syncflow/workflows"
)

// historyDir holds the committed histories that workflows' replay test
// replays against the current code.
var historyDir = filepath.Join("..", "workflows", "testdata", "replay")

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

	// Replay every run of the chain.
	ctx := context.Background()
	replayer := worker.NewWorkflowReplayer()
	engine.RegisterWorkflows(replayer)
	runID, runs := firstRunID, 0
	for i := 0; runID != ""; i++ {
		h := e.history(ctx, run.GetID(), runID)
		require.NoError(t, replayer.ReplayWorkflowHistory(nil, h), "replay run %d", i)
		if os.Getenv("SYNCFLOW_UPDATE_HISTORIES") == "1" {
			b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
			require.NoError(t, err)
			require.NoError(t, os.MkdirAll(historyDir, 0o755))
			name := filepath.Join(historyDir, "sync_run"+string(rune('0'+i))+".json")
			require.NoError(t, os.WriteFile(name, b, 0o644))
			t.Logf("wrote %s", name)
		}
		runID = nextRunID(h)
		runs++
	}
	require.Equal(t, res.Runs, runs, "runs replayed")
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
