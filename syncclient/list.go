package syncclient

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/syncflow/syncflow/workflows"
)

// DefaultListLimit is List's limit when it is given none.
const DefaultListLimit = 20

// Summary is one syncflow workflow in a list.
type Summary struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Type       string `json:"type"`
	// Kind is "sync" or "batch".
	Kind      string    `json:"kind"`
	Status    string    `json:"status"` // StatusRunning, StatusCompleted, ...
	State     string    `json:"state"`  // the task state (see Status.State)
	Dataset   string    `json:"dataset,omitempty"`
	Batch     string    `json:"batch,omitempty"`
	StartTime time.Time `json:"start_time"`
	CloseTime time.Time `json:"close_time,omitzero"`
}

// Kinds of Summary.
const (
	KindSync  = "sync"
	KindBatch = "batch"
)

// List returns up to limit (DefaultListLimit when <= 0) syncflow workflows,
// syncs and batches, most recently started first. query is an optional
// Temporal visibility query that narrows the list, e.g.
// `SyncDataset = "orders"` or `ExecutionStatus = "Running"`. Visibility is
// eventually consistent: a workflow started a moment ago may be missing.
func (c *Client) List(ctx context.Context, query string, limit int) ([]Summary, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	q := fmt.Sprintf("(WorkflowType = '%s' OR WorkflowType = '%s')", workflows.SyncWorkflowName, batchWorkflowName)
	if strings.TrimSpace(query) != "" {
		q += " AND (" + query + ")"
	}
	var out []Summary
	var token []byte
	for {
		resp, err := c.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         q,
			PageSize:      int32(min(limit, 1000)),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list workflows (query %s): %w", q, err)
		}
		for _, info := range resp.GetExecutions() {
			s := Summary{
				WorkflowID: info.GetExecution().GetWorkflowId(),
				RunID:      info.GetExecution().GetRunId(),
				Type:       info.GetType().GetName(),
				Status:     statusName(info.GetStatus()),
				Kind:       KindSync,
			}
			if s.Type == batchWorkflowName {
				s.Kind = KindBatch
			}
			if t := info.GetStartTime(); t != nil {
				s.StartTime = t.AsTime()
			}
			if t := info.GetCloseTime(); t != nil && s.Status != StatusRunning {
				s.CloseTime = t.AsTime()
			}
			attrs := searchAttrs(info.GetSearchAttributes())
			s.Dataset = attrs[workflows.SearchAttrDataset.GetName()]
			s.Batch = attrs[workflows.SearchAttrBatch.GetName()]
			s.State = taskState(attrs[workflows.SearchAttrState.GetName()], s.Status)
			out = append(out, s)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || len(out) >= limit {
			break
		}
	}
	// Visibility stores order open workflows first, then by close time:
	// sort by start time for a list that reads like a history.
	slices.SortStableFunc(out, func(a, b Summary) int { return cmp.Compare(b.StartTime.UnixNano(), a.StartTime.UnixNano()) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
