package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// An execution that ends before the progress interval sends no progress
// signal: its result says where the task stands, and a signal would cost
// the server a workflow task of its own (the batch row in BENCHMARKS.md:
// most of a batch's tasks are such). The interval is a minute instead of
// the default second so that the execution certainly ends first on any
// machine; TestProgressIsLiveAndCancelledTaskReportsIt shows at the
// default that a longer execution still reports.
func TestShortExecutionSendsNoProgressSignal(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{reportEvery: time.Minute})
	src := newScriptedSource(t, 30, 10)
	ds := src.dataset("short", source.PaginationCursor)
	run := e.startDefault("task-short", ds, workflows.SyncOptions{})
	res, err := e.result(run)
	require.NoError(t, err)
	require.EqualValues(t, 30, res.Records)
	e.requireExact(ds.ID, src)
	h := e.history(t.Context(), run.GetID(), run.GetRunID())
	require.False(t, strings.Contains(h.String(), workflowsSignal), "a 3-page execution sent a progress signal")
}
