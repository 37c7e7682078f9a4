package syncclient

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/workflows"
)

// ErrRunOpen is matched (errors.Is) by the error of Reset while a sync of
// the dataset is open; the error is an *OpenRunError naming the runs.
var ErrRunOpen = errors.New("a sync of the dataset is open")

// OpenRunError is why Reset refused: the open syncs of the dataset.
type OpenRunError struct {
	Dataset     string
	WorkflowIDs []string
}

func (e *OpenRunError) Error() string {
	return fmt.Sprintf("dataset %s cannot be reset while a sync of it is open (%s): wait for it to end or cancel it (starter cancel %s), then reset again",
		e.Dataset, strings.Join(e.WorkflowIDs, ", "), e.WorkflowIDs[0])
}

// Is makes the error match ErrRunOpen.
func (e *OpenRunError) Is(target error) bool { return target == ErrRunOpen }

// ResetWorkflowID is the workflow ID of a reset of dataset.
func ResetWorkflowID(dataset string) string { return "reset-" + dataset }

// resetIDRE is what a dataset ID may hold (config's rule), so that it can
// go into a visibility query.
var resetIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ResetOptions tune Reset.
type ResetOptions struct {
	// Records deletes the dataset's records too (otherwise they stay and
	// the next full run upserts over them).
	Records bool
}

// Reset makes the next run of every task of a dataset a full one: a
// ResetWorkflow on a worker clears the dataset's state in its destination
// sinkName (a DSN as in StartSync, "" for the worker's default): the
// checkpoints of all its tasks and, with o.Records, its records
// (sink.Sink.Reset). It is refused with an *OpenRunError (ErrRunOpen)
// while a sync of the dataset is open: its default task, its schedule's
// run, or any SyncWorkflow visibility lists with its SyncDataset. While it
// runs, the dataset's schedule (if any) is paused, so that it cannot start
// a run in between, and then put back as it was. Visibility is eventually
// consistent: a sync started with another task ID a moment before may not
// be seen yet.
func (c *Client) Reset(ctx context.Context, dataset, sinkName string, o ResetOptions) (workflows.ResetResult, error) {
	var res workflows.ResetResult
	if !resetIDRE.MatchString(dataset) {
		return res, fmt.Errorf("reset: invalid dataset ID %q", dataset)
	}
	resume, err := c.holdSchedule(ctx, dataset)
	if err != nil {
		return res, err
	}
	defer resume()
	if open, err := c.openSyncs(ctx, dataset); err != nil {
		return res, fmt.Errorf("reset %s: %w", dataset, err)
	} else if len(open) > 0 {
		return res, &OpenRunError{Dataset: dataset, WorkflowIDs: open}
	}
	run, err := c.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       ResetWorkflowID(dataset),
		TaskQueue:                workflows.TaskQueue,
		StaticSummary:            fmt.Sprintf("reset %s (records: %t) → %s", dataset, o.Records, SinkKind(sinkName)),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.SearchAttrDataset.ValueSet(dataset)),
	}, workflows.ResetWorkflowName, workflows.ResetInput{DatasetID: dataset, Records: o.Records, Sink: TaskSink(sinkName)})
	if err != nil {
		return res, fmt.Errorf("start reset of %s: %w", dataset, err)
	}
	if err := run.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("reset %s: %w", dataset, err)
	}
	return res, nil
}

// holdSchedule pauses the dataset's schedule, if it has one that is not
// paused, and returns what puts it back.
func (c *Client) holdSchedule(ctx context.Context, dataset string) (resume func(), err error) {
	id := ScheduleID(dataset)
	st, err := c.DescribeSchedule(ctx, id)
	switch {
	case errors.Is(err, ErrScheduleNotFound):
		return func() {}, nil
	case err != nil:
		return nil, fmt.Errorf("reset %s: %w", dataset, err)
	case st.Paused || st.Dataset != dataset:
		return func() {}, nil
	}
	if err := c.PauseSchedule(ctx, id, fmt.Sprintf("paused while dataset %s is reset (starter reset); unpause it if it stays paused", dataset)); err != nil {
		return nil, fmt.Errorf("reset %s: %w", dataset, err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = c.UnpauseSchedule(uctx, id, "unpaused after the reset of dataset "+dataset)
	}, nil
}

// openSyncs lists the workflow IDs of the dataset's open syncs: its
// schedule's running workflows and its default task (both read
// consistently), and what visibility knows of.
func (c *Client) openSyncs(ctx context.Context, dataset string) ([]string, error) {
	var open []string
	if st, err := c.DescribeSchedule(ctx, ScheduleID(dataset)); err == nil && st.Dataset == dataset {
		open = append(open, st.Running...)
	} else if err != nil && !errors.Is(err, ErrScheduleNotFound) {
		return nil, err
	}
	if st, err := c.describe(ctx, DefaultTaskID(dataset), ""); err == nil {
		if st.Open() && st.Type == workflows.SyncWorkflowName {
			open = append(open, st.WorkflowID)
		}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	q := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND ExecutionStatus = 'Running'",
		workflows.SyncWorkflowName, workflows.SearchAttrDataset.GetName(), dataset)
	resp, err := c.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("list open syncs: %w", err)
	}
	for _, e := range resp.GetExecutions() {
		open = append(open, e.GetExecution().GetWorkflowId())
	}
	slices.Sort(open)
	return slices.Compact(open), nil
}
