package syncclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// Execution statuses, as Status.Status and Summary.Status report them.
const (
	StatusRunning        = "running"
	StatusCompleted      = "completed"
	StatusFailed         = "failed"
	StatusCanceled       = "canceled"
	StatusTerminated     = "terminated"
	StatusContinuedAsNew = "continued_as_new"
	StatusTimedOut       = "timed_out"
	StatusUnknown        = "unknown"
)

// Status is what is known about one syncflow workflow: Temporal's view
// (status, times, pending activity with its retries) combined with the
// sync's own (progress query while open, result or failure once closed).
type Status struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// Type is the workflow type: workflows.SyncWorkflowName or the batch's.
	Type string `json:"type"`
	// Status is the execution status (StatusRunning, StatusCompleted, ...).
	Status string `json:"status"`
	// State is the task's state: the progress query's while it runs, the
	// result's once completed, else derived from the search attribute and
	// the execution status.
	State string `json:"state"`
	// Summary is the workflow's static summary, e.g. "sync orders → sqlite".
	Summary   string    `json:"summary,omitempty"`
	Dataset   string    `json:"dataset,omitempty"`
	Batch     string    `json:"batch,omitempty"`
	StartTime time.Time `json:"start_time"`
	CloseTime time.Time `json:"close_time,omitzero"`
	// Progress is the progress query's answer while a sync is open; for a
	// failed or cancelled sync, what its destination had committed when it
	// ended (from the failure's workflows.SyncFailure detail).
	Progress *workflows.Progress `json:"progress,omitempty"`
	// ProgressError says why the progress query failed, e.g. no worker.
	ProgressError string `json:"progress_error,omitempty"`
	// Result is a completed sync's result.
	Result *workflows.SyncResult `json:"result,omitempty"`
	// Failure is why a closed workflow did not complete.
	Failure string `json:"failure,omitempty"`
	// Activities are the pending activities: where live retries show.
	Activities []PendingActivity `json:"pending_activities,omitempty"`
}

// PendingActivity is an activity the workflow is waiting for, with its
// retry state.
type PendingActivity struct {
	Type  string `json:"type"`
	State string `json:"state"` // scheduled, started, cancel_requested, paused
	// Attempt is the current attempt, 1 for the first.
	Attempt         int32     `json:"attempt"`
	MaximumAttempts int32     `json:"maximum_attempts,omitempty"` // 0 = unlimited
	LastFailure     string    `json:"last_failure,omitempty"`
	NextAttempt     time.Time `json:"next_attempt,omitzero"` // when a retry is scheduled
	LastHeartbeat   time.Time `json:"last_heartbeat,omitzero"`
	LastStarted     time.Time `json:"last_started,omitzero"`
}

// Open reports whether the workflow is still running.
func (s Status) Open() bool { return s.Status == StatusRunning }

// Duration is how long the workflow ran (so far, when open, as of now).
func (s Status) Duration() time.Duration {
	if s.StartTime.IsZero() {
		return 0
	}
	if s.CloseTime.IsZero() {
		return time.Since(s.StartTime)
	}
	return s.CloseTime.Sub(s.StartTime)
}

// Describe returns the status of a sync (or, with less detail, a batch):
// DescribeWorkflowExecution plus the progress query when the workflow is
// open (bounded by QueryTimeout; its failure lands in ProgressError) or its
// result or failure when it has closed.
func (c *Client) Describe(ctx context.Context, workflowID string) (Status, error) {
	st, err := c.describe(ctx, workflowID, "")
	if err != nil {
		return st, err
	}
	if st.Type != workflows.SyncWorkflowName {
		return st, nil
	}
	if st.Open() {
		qctx, cancel := context.WithTimeout(ctx, QueryTimeout)
		defer cancel()
		p, err := c.progress(qctx, workflowID, st.RunID)
		if err != nil {
			st.ProgressError = err.Error()
		} else {
			st.Progress = &p
			st.State = string(p.State)
		}
		return st, nil
	}
	var res workflows.SyncResult
	err = c.c.GetWorkflow(ctx, workflowID, st.RunID).Get(ctx, &res)
	switch {
	case err == nil:
		st.Result = &res
		if res.State != "" {
			st.State = string(res.State)
		}
	case ctx.Err() != nil:
		return st, fmt.Errorf("describe %s: %w", workflowID, ctx.Err())
	default:
		st.Failure = FailureText(err)
		st.Progress = finalProgress(st, err)
	}
	return st, nil
}

// describe is DescribeWorkflowExecution decoded into a Status.
func (c *Client) describe(ctx context.Context, workflowID, runID string) (Status, error) {
	resp, err := c.c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return Status{}, fmt.Errorf("describe %s: %w", workflowID, notFound(err))
	}
	info := resp.GetWorkflowExecutionInfo()
	st := Status{
		WorkflowID: info.GetExecution().GetWorkflowId(),
		RunID:      info.GetExecution().GetRunId(),
		Type:       info.GetType().GetName(),
		Status:     statusName(info.GetStatus()),
		Summary:    payloadString(c.dc, resp.GetExecutionConfig().GetUserMetadata().GetSummary()),
	}
	if t := info.GetStartTime(); t != nil {
		st.StartTime = t.AsTime()
	}
	if t := info.GetCloseTime(); t != nil && st.Status != StatusRunning {
		st.CloseTime = t.AsTime()
	}
	attrs := searchAttrs(info.GetSearchAttributes())
	st.Dataset = attrs[workflows.SearchAttrDataset.GetName()]
	st.Batch = attrs[workflows.SearchAttrBatch.GetName()]
	st.State = taskState(attrs[workflows.SearchAttrState.GetName()], st.Status)
	for _, pa := range resp.GetPendingActivities() {
		a := PendingActivity{
			Type:            pa.GetActivityType().GetName(),
			State:           activityState(pa.GetState()),
			Attempt:         pa.GetAttempt(),
			MaximumAttempts: pa.GetMaximumAttempts(),
			LastFailure:     c.failureMessage(pa.GetLastFailure()),
		}
		if t := pa.GetNextAttemptScheduleTime(); t != nil {
			a.NextAttempt = t.AsTime()
		}
		if t := pa.GetLastHeartbeatTime(); t != nil {
			a.LastHeartbeat = t.AsTime()
		}
		if t := pa.GetLastStartedTime(); t != nil {
			a.LastStarted = t.AsTime()
		}
		st.Activities = append(st.Activities, a)
	}
	return st, nil
}

// taskState reconciles the SyncState search attribute with the execution
// status: a workflow terminated or timed out never got to update it.
func taskState(attr, status string) string {
	switch {
	case status == StatusRunning || status == StatusContinuedAsNew:
		if attr == "" {
			return string(task.Running)
		}
		return attr
	case attr == string(task.Completed) || attr == string(task.Cancelled) || attr == string(task.Failed):
		return attr
	case status == StatusCompleted:
		return string(task.Completed)
	case status == StatusCanceled:
		return string(task.Cancelled)
	default:
		return status // failed, terminated, timed_out
	}
}

// FailureText is how a closed workflow's failure reads for people: a
// cancellation says "cancelled", a termination "terminated", and an
// application error its type (the failure class) and its message
// (sferrors.Message), without the SDK's wrapping.
func FailureText(err error) string {
	if temporal.IsCanceledError(err) {
		return "cancelled"
	}
	var term *temporal.TerminatedError
	if errors.As(err, &term) {
		return "terminated"
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() != "" {
		return app.Type() + ": " + sferrors.Message(err)
	}
	return sferrors.Message(err)
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return StatusRunning
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return StatusCompleted
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return StatusFailed
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return StatusCanceled
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return StatusTerminated
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return StatusContinuedAsNew
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return StatusTimedOut
	default:
		return StatusUnknown
	}
}

func activityState(s enumspb.PendingActivityState) string {
	switch s {
	case enumspb.PENDING_ACTIVITY_STATE_SCHEDULED:
		return "scheduled"
	case enumspb.PENDING_ACTIVITY_STATE_STARTED:
		return "started"
	case enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
		return "cancel_requested"
	case enumspb.PENDING_ACTIVITY_STATE_PAUSED:
		return "paused"
	case enumspb.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED:
		return "pause_requested"
	default:
		return "unknown"
	}
}

// searchAttrs decodes the keyword search attributes that syncflow sets;
// others are skipped.
func searchAttrs(sa *commonpb.SearchAttributes) map[string]string {
	out := map[string]string{}
	for name := range workflows.SearchAttributes() {
		if p, ok := sa.GetIndexedFields()[name]; ok {
			out[name] = payloadString(converter.GetDefaultDataConverter(), p) // search attributes are never encoded
		}
	}
	return out
}

// failureMessage is a failure's message, decrypted when the payload codec
// encrypted it (ARCHITECTURE.md §Payload encryption).
func (c *Client) failureMessage(f *failurepb.Failure) string {
	if f.GetEncodedAttributes() == nil {
		return f.GetMessage()
	}
	f = proto.Clone(f).(*failurepb.Failure)
	converter.DecodeCommonFailureAttributes(c.dc, f)
	return f.GetMessage()
}

// payloadString decodes a string payload with dc; "" when p is nil or not
// a string.
func payloadString(dc converter.DataConverter, p *commonpb.Payload) string {
	if p == nil {
		return ""
	}
	var s string
	if err := dc.FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}
