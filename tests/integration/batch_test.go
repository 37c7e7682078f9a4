package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// startBatch starts a BatchWorkflow whose ID is its batch ID, with
// test-friendly sync options.
func (e *env) startBatch(in workflows.BatchInput) client.WorkflowRun {
	e.t.Helper()
	if in.Options.HeartbeatTimeout == 0 {
		in.Options.HeartbeatTimeout = source.Duration(2 * time.Second)
	}
	if in.Options.PagesPerActivity == 0 {
		in.Options.PagesPerActivity = 3
	}
	run, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:        in.BatchID,
		TaskQueue: e.tq,
	}, workflows.BatchWorkflowName, in)
	require.NoError(e.t, err)
	return run
}

// batchResult waits for a batch's result (bounded).
func (e *env) batchResult(run client.WorkflowRun) (workflows.BatchResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res workflows.BatchResult
	err := run.Get(ctx, &res)
	return res, err
}

// batchStatus queries a batch, running or closed.
func (e *env) batchStatus(batchID string) workflows.BatchStatus {
	e.t.Helper()
	v, err := e.c.QueryWorkflow(context.Background(), batchID, "", workflows.QueryBatchStatus)
	require.NoError(e.t, err)
	var st workflows.BatchStatus
	require.NoError(e.t, v.Get(&st))
	return st
}

// requireReplays replays a closed workflow's history against the current
// code: the batch's coroutines, updates and cancellations are deterministic.
func (e *env) requireReplays(workflowID string) {
	e.t.Helper()
	replayer := worker.NewWorkflowReplayer()
	engine.RegisterWorkflows(replayer)
	require.NoError(e.t, replayer.ReplayWorkflowHistory(nil, e.history(context.Background(), workflowID, "")))
}

// waitFor waits until ch is closed, or fails the test after a bound.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func batchCounts(pending, running, completed, failed, cancelled, skipped int) map[task.State]int {
	return map[task.State]int{
		task.Pending: pending, task.Running: running, task.Completed: completed,
		task.Failed: failed, task.Cancelled: cancelled, task.Skipped: skipped,
	}
}

// A batch of 50 tasks over 5 datasets, 8 at a time: one task meets a 400 and
// fails alone, one is cancelled through the update while it waits on a
// stalled page; the other 48 complete and every dataset holds exactly its
// source's records.
func TestBatchCompletesAroundFailureAndCancellation(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})

	const records = 30
	paginations := []string{
		source.PaginationNextURL, source.PaginationLinkHeader, source.PaginationOffset,
		source.PaginationPage, source.PaginationCursor,
	}
	srcs := make([]*scriptedSource, len(paginations))
	in := workflows.BatchInput{BatchID: "nightly", Concurrency: 8, Datasets: map[string]config.Dataset{}}
	for i, p := range paginations {
		srcs[i] = newScriptedSource(t, records, 10)
		ds := srcs[i].dataset(fmt.Sprintf("ds-%d", i), p)
		if i == 4 {
			ds.Source.Timeout = source.Duration(time.Minute) // the stalled page waits for the cancellation
		}
		in.Datasets[ds.ID] = ds
	}
	// The first request for ds-3's page 1 answers 400: whichever ds-3 task
	// makes it fails.
	srcs[3].script(1, fault{status: http.StatusBadRequest})
	// The first request for ds-4's page 1 stalls. t-00 is ds-4's only task
	// until the last nine, so it is the one that stalls.
	srcs[4].script(1, fault{stall: true})
	stalled := make(chan struct{})
	srcs[4].onRequest = func(page, n int) {
		if page == 1 && n == 0 {
			close(stalled)
		}
	}
	for i := range 50 {
		ds := "ds-4"
		if i > 0 && i <= 40 {
			ds = fmt.Sprintf("ds-%d", i%4)
		}
		in.Tasks = append(in.Tasks, workflows.BatchTask{ID: fmt.Sprintf("t-%02d", i), Dataset: ds})
	}
	run := e.startBatch(in)

	waitFor(t, stalled, "the stalled page")
	st := e.batchStatus(in.BatchID)
	require.Equal(t, task.Running, st.State)
	require.Equal(t, task.Running, st.Tasks[0].State, "t-00 waits on the stalled page")
	for _, ts := range st.Tasks[41:] {
		require.Equal(t, task.Pending, ts.State, "%s must not share ds-4 with t-00 yet", ts.ID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := e.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   in.BatchID,
		UpdateName:   workflows.UpdateCancelTask,
		Args:         []any{workflows.CancelTaskRequest{TaskID: "t-00"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	require.NoError(t, err)
	var cancelled workflows.TaskStatus
	require.NoError(t, h.Get(ctx, &cancelled))
	require.Equal(t, task.Cancelled, cancelled.State)

	res, err := e.batchResult(run)
	require.NoError(t, err)
	require.Equal(t, batchCounts(0, 0, 48, 1, 1, 0), res.Counts)
	require.Len(t, res.Tasks, 50)
	var failed []workflows.TaskStatus
	for _, ts := range res.Tasks {
		switch ts.State {
		case task.Completed:
			require.EqualValues(t, records, ts.Records, ts.ID)
		case task.Failed:
			failed = append(failed, ts)
		}
	}
	require.Len(t, failed, 1)
	require.Equal(t, "ds-3", failed[0].Dataset)
	require.Equal(t, string(sferrors.InvalidRequest), failed[0].Class)
	require.Contains(t, failed[0].Message, "400")
	require.Equal(t, task.Cancelled, res.Tasks[0].State)
	for i, src := range srcs {
		e.requireExact(fmt.Sprintf("ds-%d", i), src)
	}

	desc, err := e.c.DescribeWorkflowExecution(context.Background(), workflows.ChildWorkflowID(in.BatchID, "t-00"), "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, desc.GetWorkflowExecutionInfo().GetStatus())
	require.Equal(t, task.Completed, e.batchStatus(in.BatchID).State)
	e.requireReplays(in.BatchID)
}

// A 401 stops the batch: no task starts after it, the running ones end
// cancelled, the pending ones are skipped, and the batch fails as
// unrecoverable, naming the task and the cause.
func TestBatchStopsOnUnauthorized(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})

	in := workflows.BatchInput{BatchID: "stop401", Concurrency: 4, Datasets: map[string]config.Dataset{}}
	// t-0 … t-2 each wait on a stalled page of their own source until they
	// are cancelled.
	stalledAll := make(chan struct{})
	stalls := make(chan struct{}, 3)
	for i := range 3 {
		src := newScriptedSource(t, 30, 10)
		src.script(1, fault{stall: true})
		src.onRequest = func(page, n int) {
			if page == 1 && n == 0 {
				stalls <- struct{}{}
			}
		}
		ds := src.dataset(fmt.Sprintf("slow-%d", i), source.PaginationCursor)
		ds.Source.Timeout = source.Duration(time.Minute)
		in.Datasets[ds.ID] = ds
		in.Tasks = append(in.Tasks, workflows.BatchTask{ID: fmt.Sprintf("t-%d", i), Dataset: ds.ID})
	}
	go func() {
		for range 3 {
			<-stalls
		}
		close(stalledAll)
	}()
	// t-3 gets 401 on its first page, once t-0 … t-2 are all stalled.
	auth := newScriptedSource(t, 30, 10)
	auth.script(0, fault{status: http.StatusUnauthorized})
	auth.onRequest = func(page, n int) {
		if page == 0 && n == 0 {
			select { // not the test's goroutine: no t.Fatal here
			case <-stalledAll:
			case <-time.After(30 * time.Second):
				t.Errorf("timed out waiting for three stalled tasks")
			}
		}
	}
	authDS := auth.dataset("auth", source.PaginationCursor)
	authDS.Source.Timeout = source.Duration(time.Minute) // it waits for the stalls
	in.Datasets["auth"] = authDS
	in.Tasks = append(in.Tasks, workflows.BatchTask{ID: "t-3", Dataset: "auth"})
	fine := newScriptedSource(t, 30, 10)
	in.Datasets["fine"] = fine.dataset("fine", source.PaginationCursor)
	for i := 4; i < 12; i++ {
		in.Tasks = append(in.Tasks, workflows.BatchTask{ID: fmt.Sprintf("t-%d", i), Dataset: "fine"})
	}

	_, err := e.batchResult(e.startBatch(in))
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, sferrors.TypeUnrecoverable, app.Type())
	require.True(t, app.NonRetryable())
	require.True(t, strings.HasPrefix(app.Message(), "batch stop401 stopped: task t-3 failed (unrecoverable): "), app.Message())
	require.Contains(t, app.Message(), "401")

	st := e.batchStatus(in.BatchID)
	require.Equal(t, task.Failed, st.State)
	require.Equal(t, "t-3", st.StoppedBy)
	require.Equal(t, batchCounts(0, 0, 0, 1, 3, 8), st.Counts)
	for _, ts := range st.Tasks[:3] {
		require.Equal(t, task.Cancelled, ts.State, ts.ID)
		desc, err := e.c.DescribeWorkflowExecution(context.Background(), ts.WorkflowID, "")
		require.NoError(t, err)
		require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, desc.GetWorkflowExecutionInfo().GetStatus(), ts.ID)
	}
	require.Equal(t, task.Failed, st.Tasks[3].State)
	require.Equal(t, string(sferrors.Unrecoverable), st.Tasks[3].Class)
	for _, ts := range st.Tasks[4:] {
		require.Equal(t, task.Skipped, ts.State, ts.ID)
		_, err := e.c.DescribeWorkflowExecution(context.Background(), ts.WorkflowID, "")
		var notFound *serviceerror.NotFound
		require.ErrorAs(t, err, &notFound, "%s must never start", ts.ID)
	}
	require.Empty(t, fine.log(), "no request for a skipped task")
	e.requireReplays(in.BatchID)
}
