package syncclient

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

const batchWorkflowName = workflows.BatchWorkflowName

// StartBatch starts a BatchWorkflow with workflow ID batchID (which also
// becomes in.BatchID). in.Sink (and a task's own Sink) is the destination
// its tasks carry, as for StartSync: no literal password in it. Like StartSync, it attaches to a running batch with
// that ID and starts a new run when a closed one has it.
func (c *Client) StartBatch(ctx context.Context, batchID string, in workflows.BatchInput) (client.WorkflowRun, error) {
	if batchID == "" {
		return nil, errors.New("start batch: empty batch id")
	}
	in.BatchID = batchID
	if err := workflows.CheckBatchSize(in); err != nil {
		return nil, fmt.Errorf("start batch %s: %w", batchID, err)
	}
	run, err := c.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       batchID,
		TaskQueue:                workflows.TaskQueue,
		StaticSummary:            fmt.Sprintf("batch %s: %d syncs", batchID, len(in.Tasks)),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchAttrBatch.ValueSet(batchID),
			workflows.SearchAttrState.ValueSet(string(task.Running)),
		),
	}, workflows.BatchWorkflowName, in)
	if err != nil {
		return nil, fmt.Errorf("start batch %s: %w", batchID, err)
	}
	st, err := c.describe(ctx, batchID, run.GetRunID())
	if err != nil {
		return nil, fmt.Errorf("start batch %s: %w", batchID, err)
	}
	if st.Type != workflows.BatchWorkflowName {
		return nil, fmt.Errorf("start batch %s: workflow ID is in use by a running %s", batchID, st.Type)
	}
	return run, nil
}

// BatchStatus asks a batch for its status (the "status" query): counts
// and per-task states, of every task of a batch of at most
// workflows.StatusPageSize tasks, else of the first StatusPageSize that did
// not complete (BatchStatus.Omitted counts the rest; see BatchStatusPage).
func (c *Client) BatchStatus(ctx context.Context, batchID string) (workflows.BatchStatus, error) {
	var s workflows.BatchStatus
	v, err := c.c.QueryWorkflow(ctx, batchID, "", workflows.QueryBatchStatus)
	if err != nil {
		return s, fmt.Errorf("query status of batch %s: %w", batchID, notFound(err))
	}
	if err := v.Get(&s); err != nil {
		return s, fmt.Errorf("decode status of batch %s: %w", batchID, err)
	}
	return s, nil
}

// BatchStatusPage asks a batch for one page of its tasks (the "status"
// query with a workflows.BatchStatusRequest); follow NextOffset for the
// next page.
func (c *Client) BatchStatusPage(ctx context.Context, batchID string, req workflows.BatchStatusRequest) (workflows.BatchStatus, error) {
	var s workflows.BatchStatus
	v, err := c.c.QueryWorkflow(ctx, batchID, "", workflows.QueryBatchStatus, req)
	if err != nil {
		return s, fmt.Errorf("query status of batch %s: %w", batchID, notFound(err))
	}
	if err := v.Get(&s); err != nil {
		return s, fmt.Errorf("decode status of batch %s: %w", batchID, err)
	}
	return s, nil
}

// CancelTask cancels one task of a running batch (the "cancel_task"
// update): a pending task is never started; a running task's sync is
// cancelled and CancelTask returns once it has ended. The batch goes on
// with its other tasks. It returns the task's status after the
// cancellation. The batch rejects unknown and finished tasks. To cancel a
// whole batch, Cancel it.
func (c *Client) CancelTask(ctx context.Context, batchID, taskID string) (workflows.TaskStatus, error) {
	var ts workflows.TaskStatus
	h, err := c.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   batchID,
		UpdateName:   workflows.UpdateCancelTask,
		Args:         []any{workflows.CancelTaskRequest{TaskID: taskID}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return ts, fmt.Errorf("cancel task %s of batch %s: %w", taskID, batchID, notFound(err))
	}
	if err := h.Get(ctx, &ts); err != nil {
		return ts, fmt.Errorf("cancel task %s of batch %s: %w", taskID, batchID, err)
	}
	return ts, nil
}

// WaitBatch waits for a batch to close and returns its result.
func (c *Client) WaitBatch(ctx context.Context, run client.WorkflowRun) (workflows.BatchResult, error) {
	var res workflows.BatchResult
	if err := run.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("batch %s: %w", run.GetID(), err)
	}
	return res, nil
}
