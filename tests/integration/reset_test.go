package integration_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// A workflow reset (`temporal workflow reset`, the Web UI's Reset) to a
// point inside the sync's first run starts a new run that replays the first
// workflow task, so its generation start is the old run's. The reset run
// keeps the old run's generation (the original run ID), so the page rule
// orders the two: the reset run resumes from the committed pages, and an
// attempt of the old run that commits late (a zombie) is refused as stale
// instead of overwriting the newer checkpoint.
func TestWorkflowResetInTheFirstRunKeepsTheGeneration(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 60, 10)
	reached := src.holdFirst(3)
	ds := src.dataset("wf-reset", source.PaginationCursor)
	// One page per activity: after the reset, each later execution resumes
	// from the workflow's own position, not only from the checkpoint.
	run := e.startDefault("task-wf-reset", ds, workflows.SyncOptions{PagesPerActivity: 1})
	<-reached
	before := e.checkpoint("task-wf-reset")
	require.Equal(t, run.GetRunID(), before.Generation)

	resp, err := e.c.ResetWorkflowExecution(context.Background(), &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 e.ts.GetDefaultNamespace(),
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: run.GetID(), RunId: run.GetRunID()},
		Reason:                    "test",
		WorkflowTaskFinishEventId: e.firstWorkflowTaskCompleted(run.GetID(), run.GetRunID()),
		RequestId:                 "reset-1",
	})
	require.NoError(t, err)
	require.NotEqual(t, run.GetRunID(), resp.GetRunId())
	var res workflows.SyncResult
	require.NoError(t, e.c.GetWorkflow(context.Background(), run.GetID(), resp.GetRunId()).Get(context.Background(), &res))
	require.Equal(t, task.Completed, res.State)
	e.requireExact(ds.ID, src)
	cp := e.checkpoint("task-wf-reset")
	require.Equal(t, run.GetRunID(), cp.Generation, "the reset run keeps the original run's generation")
	require.True(t, cp.Done)
	require.True(t, cp.GenerationStarted.Equal(before.GenerationStarted), "the reset run keeps the original run's start %v, not %v", before.GenerationStarted, cp.GenerationStarted)
	require.EqualValues(t, 60, res.Records, "the distinct count includes the pages the original run committed")
	require.EqualValues(t, 60, cp.Records)

	// The old run's attempt commits its page late: refused as stale.
	zombie := before
	zombie.Position = before.Advance("late", false, 10)
	zombie.State = task.Running
	err = e.sink.Commit(context.Background(), zombie, nil)
	require.True(t, errors.Is(err, sink.ErrStaleCheckpoint), "%v", err)
	require.True(t, e.checkpoint("task-wf-reset").Done, "the newer checkpoint is kept")
}

// firstWorkflowTaskCompleted is the event ID of a run's first
// WorkflowTaskCompleted event: a reset point inside the first run.
func (e *env) firstWorkflowTaskCompleted(workflowID, runID string) int64 {
	e.t.Helper()
	for _, ev := range e.history(context.Background(), workflowID, runID).Events {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return ev.GetEventId()
		}
	}
	e.t.Fatal("no workflow task completed")
	return 0
}
