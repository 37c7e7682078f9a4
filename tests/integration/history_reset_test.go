package integration_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// TestReplayResetHistory records and replays a ResetWorkflow that deletes
// a synced dataset's checkpoint and records (with
// SYNCFLOW_UPDATE_HISTORIES=1 it writes reset_run0.json).
func TestReplayResetHistory(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 20, 10)
	ds := src.dataset("replay-reset", source.PaginationCursor)
	_, err := e.result(e.start("task-replay-reset", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	e.requireExact(ds.ID, src)

	run, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "reset-" + ds.ID, TaskQueue: e.tq},
		workflows.ResetWorkflowName, workflows.ResetInput{DatasetID: ds.ID, Records: true})
	require.NoError(t, err)
	var res workflows.ResetResult
	require.NoError(t, run.Get(context.Background(), &res))
	require.Equal(t, workflows.ResetResult{DatasetID: ds.ID, RecordsBefore: 20, RecordsDeleted: true}, res)
	require.Empty(t, e.storedKeys(ds.ID))
	_, ok, err := e.sink.Load(context.Background(), "task-replay-reset")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, 1, e.replayChain(run.GetID(), run.GetRunID(), "reset"))
}
