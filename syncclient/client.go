// Package syncclient is the Go API to start, follow and cancel syncflow syncs
// and batches. It speaks to Temporal only (never to a worker, a source or a
// sink), so any program that can reach the Temporal frontend can use it: the
// starter CLI is built on it.
//
//	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:7233"})
//	...
//	sc := syncclient.New(c)
//	run, err := sc.StartSync(ctx, "", dataset, workflows.SyncOptions{}, "sqlite://syncflow.db")
//	...
//	err = sc.Watch(ctx, run.GetID(), time.Second, func(p workflows.Progress) {
//		fmt.Printf("%s: %d records\n", p.State, p.Records)
//	})
//	res, err := sc.Wait(ctx, run)
//
// A sync's workflow ID is its task ID (ARCHITECTURE.md §Data flow). Starting a sync whose
// ID is running attaches to the running one; starting one whose ID has
// closed starts a new run: a re-sync, which upserts by record key.
package syncclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// QueryTimeout bounds a progress query made by Describe: a query needs a
// worker, and without one it would otherwise wait for the caller's deadline.
const QueryTimeout = 5 * time.Second

// ErrNotFound is matched (errors.Is) by the errors of calls naming a workflow
// ID that the namespace does not know.
var ErrNotFound = errors.New("workflow not found")

// Client starts, follows and cancels syncflow workflows through a Temporal
// client. It is safe for concurrent use.
type Client struct {
	c  client.Client
	dc converter.DataConverter // decodes what describe reads raw
}

// Option configures New.
type Option func(*Client)

// WithDataConverter names the data converter the Temporal client was
// dialled with (client.Options.DataConverter), e.g. the payload codec's
// (codec.Codec.DataConverter): Describe decodes the workflow's summary and
// its activities' failure messages with it. Default Temporal's default
// converter.
func WithDataConverter(dc converter.DataConverter) Option {
	return func(c *Client) {
		if dc != nil {
			c.dc = dc
		}
	}
}

// New wraps a Temporal client; the caller keeps ownership and closes it.
func New(c client.Client, opts ...Option) *Client {
	sc := &Client{c: c, dc: converter.GetDefaultDataConverter()}
	for _, o := range opts {
		o(sc)
	}
	return sc
}

// Temporal returns the wrapped Temporal client.
func (c *Client) Temporal() client.Client { return c.c }

// DefaultTaskID is the task (and workflow) ID of a sync of dataset started
// without one.
func DefaultTaskID(dataset string) string { return "sync-" + dataset }

// StartSync starts a SyncWorkflow copying ds into the destination sinkName:
// a DSN (sqlite://PATH, postgres://...) travels with the task
// (SyncInput.Sink), so the worker writes there whatever its own --sink; a
// bare kind such as "sqlite", or "", leaves the task to the worker's
// default destination. The DSN must hold no literal password (refer to it
// as ${NAME}, resolved by the worker); only its kind is shown, in the
// workflow's summary. The workflow ID is taskID, or DefaultTaskID(ds.ID)
// when taskID is empty. If a sync with that ID is running, StartSync returns
// it instead (after checking that it syncs the same dataset); if one has
// closed, it starts a new run.
func (c *Client) StartSync(ctx context.Context, taskID string, ds config.Dataset, opts workflows.SyncOptions, sinkName string) (client.WorkflowRun, error) {
	if ds.ID == "" {
		return nil, errors.New("start sync: dataset has no id")
	}
	if taskID == "" {
		taskID = DefaultTaskID(ds.ID)
	}
	run, err := c.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       taskID,
		TaskQueue:                workflows.TaskQueue,
		StaticSummary:            fmt.Sprintf("sync %s → %s", ds.ID, SinkKind(sinkName)),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchAttrDataset.ValueSet(ds.ID),
			workflows.SearchAttrState.ValueSet(string(task.Running)),
		),
	}, workflows.SyncWorkflowName, workflows.SyncInput{TaskID: taskID, Dataset: ds, Options: opts, Sink: TaskSink(sinkName)})
	if err != nil {
		return nil, fmt.Errorf("start sync %s: %w", taskID, err)
	}
	// USE_EXISTING may have returned a running workflow started by someone
	// else: make sure it is the same kind of work.
	st, err := c.describe(ctx, taskID, run.GetRunID())
	if err != nil {
		return nil, fmt.Errorf("start sync %s: %w", taskID, err)
	}
	switch {
	case st.Type != workflows.SyncWorkflowName:
		return nil, fmt.Errorf("start sync %s: workflow ID is in use by a running %s", taskID, st.Type)
	case st.Dataset != "" && st.Dataset != ds.ID:
		return nil, fmt.Errorf("start sync %s: workflow ID is in use by a running sync of dataset %q", taskID, st.Dataset)
	}
	return run, nil
}

// TaskSink is what a task carries as its destination for sinkName: the DSN
// itself, or "" (the worker's default) for a bare kind such as "sqlite".
func TaskSink(sinkName string) string {
	if strings.Contains(sinkName, "://") {
		return sinkName
	}
	return ""
}

// SinkKind returns the kind of a sink DSN ("sqlite", "postgres"), never the
// DSN itself, which may hold a password; "sink" when it is not a URL.
func SinkKind(dsn string) string {
	scheme, _, ok := strings.Cut(dsn, "://")
	switch {
	case ok && scheme != "" && !strings.ContainsAny(scheme, "/@?:"):
		scheme = strings.ToLower(scheme)
		if scheme == "postgresql" {
			return "postgres"
		}
		return scheme
	case dsn != "" && !strings.ContainsAny(dsn, ":/@?"):
		return dsn // already a kind
	default:
		return "sink"
	}
}

// Progress asks a running sync for its progress (the "progress" query).
func (c *Client) Progress(ctx context.Context, workflowID string) (workflows.Progress, error) {
	return c.progress(ctx, workflowID, "")
}

func (c *Client) progress(ctx context.Context, workflowID, runID string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := c.c.QueryWorkflow(ctx, workflowID, runID, workflows.QueryProgress)
	if err != nil {
		return p, fmt.Errorf("query progress of %s: %w", workflowID, notFound(err))
	}
	if err := v.Get(&p); err != nil {
		return p, fmt.Errorf("decode progress of %s: %w", workflowID, err)
	}
	return p, nil
}

// Cancel requests cancellation of a sync or a batch. The workflow records
// the cancellation (checkpoint state "cancelled") and ends as Canceled; use
// Wait or Describe to see it happen.
func (c *Client) Cancel(ctx context.Context, workflowID string) error {
	if err := c.c.CancelWorkflow(ctx, workflowID, ""); err != nil {
		return fmt.Errorf("cancel %s: %w", workflowID, notFound(err))
	}
	return nil
}

// Wait waits for a sync to close and returns its result. A cancelled sync
// returns an error matching temporal.IsCanceledError; a failed one an error
// whose *temporal.ApplicationError carries the failure class as its type.
func (c *Client) Wait(ctx context.Context, run client.WorkflowRun) (workflows.SyncResult, error) {
	var res workflows.SyncResult
	if err := run.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("sync %s: %w", run.GetID(), err)
	}
	return res, nil
}

// Watch calls fn with a sync's progress every interval (at least 100ms)
// until the workflow closes, then returns nil; it returns early with ctx's
// error or when the workflow does not exist. Query failures while the
// workflow runs (no worker yet, a workflow task in flight) skip a call.
// fn is not called after the workflow closes: use Wait or Describe for the
// outcome.
func (c *Client) Watch(ctx context.Context, workflowID string, every time.Duration, fn func(workflows.Progress)) error {
	every = max(every, 100*time.Millisecond)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- c.c.GetWorkflow(wctx, workflowID, "").Get(wctx, nil) }()

	t := time.NewTicker(every)
	defer t.Stop()
	for {
		qctx, qcancel := context.WithTimeout(wctx, max(every, time.Second))
		p, qerr := c.progress(qctx, workflowID, "")
		qcancel()
		if qerr == nil {
			fn(p)
		} else if errors.Is(qerr, ErrNotFound) {
			return qerr
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-closed:
			return c.closedOrErr(ctx, workflowID, err)
		case <-t.C:
		}
	}
}

// closedOrErr interprets the error of a Get that returned: any workflow
// outcome (success, failure, cancellation) means closed (nil); otherwise the
// error is the caller's.
func (c *Client) closedOrErr(ctx context.Context, workflowID string, getErr error) error {
	if getErr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st, err := c.describe(ctx, workflowID, "")
	if err != nil {
		return err
	}
	if st.Open() {
		return fmt.Errorf("watch %s: %w", workflowID, getErr)
	}
	return nil
}

// notFound makes a Temporal NotFound error match ErrNotFound, keeping the
// original in the chain.
func notFound(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
