package integration_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// Histories of the behaviour added after the first committed ones, recorded
// under names of their own (the older files are never rewritten, so the
// replay test keeps proving that running syncs of the previous version
// replay): live progress signals with per-page tries at the product's
// default options, the total rate-limited wait's version marker, and a
// batch whose tasks end differently. Record with
// SYNCFLOW_UPDATE_HISTORIES=1 go test ./tests/integration -run TestReplayV2

// TestReplayV2LiveProgress: progress signals from the running activity
// (syncflow-progress) and transient faults retried per page inside one
// execution, at the default options.
func TestReplayV2LiveProgress(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 80, 10)
	src.script(2, fault{status: http.StatusInternalServerError})
	src.script(5, fault{status: http.StatusBadGateway}, fault{status: http.StatusServiceUnavailable})
	for p := range 8 {
		src.script(p, fault{delay: 300 * time.Millisecond}) // long enough for several reports
	}
	ds := src.dataset("replay-live", source.PaginationCursor)
	run := e.start("task-replay-live", ds, workflows.SyncOptions{})
	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	h := e.history(t.Context(), run.GetID(), run.GetRunID())
	require.True(t, strings.Contains(h.String(), workflowsSignal), "the history holds progress signals")
	require.Equal(t, 1, e.replayChain(run.GetID(), run.GetRunID(), "v2_sync_live"))
	require.EqualValues(t, 3, res.Retries)
}

const workflowsSignal = "syncflow-progress"

// TestReplayV2RateLimitBudget: 429s for ever, durable timers, and the
// failure once max_rate_limit_wait is used up (a version marker).
func TestReplayV2RateLimitBudget(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 30, 10)
	forever := make([]fault, 100)
	for i := range forever {
		forever[i] = fault{status: http.StatusTooManyRequests, retryAfter: "1"}
	}
	src.script(1, forever...)
	ds := src.dataset("replay-budget", source.PaginationCursor)
	run := e.start("task-replay-budget", ds, workflows.SyncOptions{
		MaxWait: source.Duration(500 * time.Millisecond), MaxRateLimitWait: source.Duration(3 * time.Second),
	})
	_, err := e.result(run)
	require.ErrorContains(t, err, "max_rate_limit_wait 3s")
	h := e.history(t.Context(), run.GetID(), run.GetRunID())
	require.Contains(t, h.String(), "max-rate-limit-wait", "the history holds the version marker")
	require.Equal(t, 1, e.replayChain(run.GetID(), run.GetRunID(), "v2_sync_budget"))
}

// TestReplayV2Batch: a batch of three tasks, one failing as an invalid
// request (the batch goes on), with its status queried.
func TestReplayV2Batch(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	good := newScriptedSource(t, 30, 10)
	bad := newScriptedSource(t, 30, 10)
	bad.script(1, fault{status: http.StatusBadRequest})
	in := workflows.BatchInput{BatchID: "batch-replay-v2", Concurrency: 2,
		Datasets: map[string]config.Dataset{
			"good": good.dataset("good", source.PaginationCursor),
			"bad":  bad.dataset("bad", source.PaginationCursor),
		},
		Tasks: []workflows.BatchTask{{ID: "a", Dataset: "good"}, {ID: "b", Dataset: "bad"}, {ID: "c", Dataset: "good"}},
	}
	run := e.startBatch(in)
	res, err := e.batchResult(run)
	require.NoError(t, err)
	require.Equal(t, 2, res.Counts[task.Completed], "%+v", res.Counts)
	require.Equal(t, 1, res.Counts[task.Failed], "%+v", res.Counts)
	_ = e.batchStatus(in.BatchID)
	require.Equal(t, 1, e.replayChain(run.GetID(), run.GetRunID(), "v2_batch"))
}
