package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// requestTimeout bounds the Temporal calls of the short commands.
var requestTimeout = 20 * time.Second // a variable for tests

// statusJSON is status --json: the workflow's status and, for a batch, the
// batch's own.
type statusJSON struct {
	syncclient.Status
	BatchStatus *workflows.BatchStatus `json:"batch_status,omitempty"`
	BatchError  string                 `json:"batch_error,omitempty"`
}

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status ID [--json]",
		Short: "show a sync's or a batch's status",
		Long: `
Shows a sync's or a batch's status. For a sync: Temporal's view (status,
times, the activity in flight with its attempt, last failure and next retry)
and the sync's own progress while it runs, its result or failure once it has
ended. For a batch: its state and every task's.`,
		Example: `starter status sync-orders
starter status nightly --json`,
		Args: oneID,
		RunE: func(c *cobra.Command, args []string) error {
			return exit(a.session(c.Context(), "status", func(ctx context.Context, sc *syncclient.Client) int {
				return a.status(ctx, sc, args[0], asJSON)
			}))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return c
}

func (a *app) status(ctx context.Context, sc *syncclient.Client, id string, asJSON bool) int {
	st, err := sc.Describe(ctx, id)
	if errors.Is(err, syncclient.ErrNotFound) {
		run, ok := a.scheduleRun(ctx, sc, id)
		if !ok {
			return a.failf("status", "no sync or batch with ID %q", id)
		}
		fmt.Fprintf(a.stderr, "%s is a schedule: showing its latest run, %s (`starter schedule describe %s` shows the schedule)\n", id, run, id)
		st, err = sc.Describe(ctx, run)
	}
	if err != nil {
		return a.failf("status", "%v", err)
	}
	out := statusJSON{Status: st}
	if st.Type == workflows.BatchWorkflowName {
		qctx, qcancel := context.WithTimeout(ctx, syncclient.QueryTimeout)
		bs, err := sc.BatchStatus(qctx, id)
		qcancel()
		if err != nil {
			out.BatchError = err.Error()
		} else {
			out.BatchStatus = &bs
		}
	}
	if asJSON {
		if err := writeJSON(a.stdout, out); err != nil {
			return a.failf("status", "write: %v", err)
		}
		return exitOK
	}
	printStatus(a.stdout, out)
	return exitOK
}

// printStatus renders a status for people.
func printStatus(w io.Writer, s statusJSON) {
	st := s.Status
	fmt.Fprintf(w, "%s  (%s, run %s)\n", st.WorkflowID, st.Type, st.RunID)
	table(w, statusRows(s))
	if bs := s.BatchStatus; bs != nil {
		fmt.Fprintf(w, "\nbatch %s: %s, concurrency %d, %s\n", bs.BatchID, bs.State, bs.Concurrency, countsText(bs.Counts))
		if bs.StoppedBy != "" {
			fmt.Fprintf(w, "stopped by task %s\n", bs.StoppedBy)
		}
		fmt.Fprintln(w)
		table(w, batchRows(bs.Tasks))
		if bs.Omitted > 0 {
			fmt.Fprintf(w, "(%d more tasks, completed or past the first %d, not listed)\n", bs.Omitted, workflows.StatusPageSize)
		}
	}
}

// statusRows are the "key: value" rows of a status, empty values left out.
func statusRows(s statusJSON) [][]string {
	st := s.Status
	rows := [][]string{}
	add := func(k, v string) {
		if v != "" {
			rows = append(rows, []string{"  " + k + ":", v})
		}
	}
	add("summary", st.Summary)
	add("status", fmt.Sprintf("%s (state %s)", st.Status, st.State))
	add("dataset", st.Dataset)
	add("batch", st.Batch)
	add("started", fmtTime(st.StartTime))
	if st.Open() {
		add("running for", fmtDuration(st.Duration()))
	} else {
		add("closed", fmt.Sprintf("%s (after %s)", fmtTime(st.CloseTime), fmtDuration(st.Duration())))
	}
	if p := st.Progress; p != nil {
		add("rate-limit key", p.RateLimitKey)
		add("progress", fmt.Sprintf("%d records, %d pages, %d retries, %d rate-limit waits, %.1f req/s, run %d",
			p.Records, p.Pages, p.Retries, p.RateLimitWaits, p.Rate, p.Runs))
		if !p.Window.IsZero() && st.Result == nil {
			add("window", p.Window.String())
		}
		if !p.RateLimitedUntil.IsZero() {
			add("rate limited", "until "+fmtTime(p.RateLimitedUntil))
		}
		if p.LastError != "" {
			add("last error", fmt.Sprintf("(%s) %s", p.LastErrorClass, p.LastError))
		}
	}
	add("progress error", st.ProgressError)
	for _, act := range st.Activities {
		add("activity", activityText(act))
	}
	if r := st.Result; r != nil {
		add("result", fmt.Sprintf("%s: %d records, %d pages, %d retries, %d rate-limit waits, %s, %d runs",
			r.State, r.Records, r.Pages, r.Retries, r.RateLimitWaits, fmtDuration(r.Duration), r.Runs))
		if !r.Window.IsZero() {
			add("window", r.Window.String())
		}
	}
	add("failure", st.Failure)
	add("batch status", s.BatchError)
	return rows
}

// activityText describes an activity in flight: its attempt, next attempt
// and last failure.
func activityText(act syncclient.PendingActivity) string {
	v := fmt.Sprintf("%s %s, attempt %d", act.Type, act.State, act.Attempt)
	if act.MaximumAttempts > 0 {
		v += fmt.Sprintf(" of %d", act.MaximumAttempts)
	}
	if !act.NextAttempt.IsZero() {
		v += ", next attempt " + fmtTime(act.NextAttempt)
	}
	if act.LastFailure != "" {
		v += ", last failure: " + oneLine(act.LastFailure, 200)
	}
	return v
}

func (a *app) listCommand() *cobra.Command {
	var query string
	var limit int
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--query Q] [--limit N] [--json]",
		Short: "list recent syncs and batches",
		Long: `
Lists recent syncs and batches, most recently started first, with their
state. --query narrows the list with a Temporal visibility query over
WorkflowId, ExecutionStatus, StartTime and syncflow's search attributes
SyncDataset, SyncState and SyncBatch.`,
		Example: `starter list
starter list --query 'SyncDataset = "orders"' --limit 5
starter list --query 'SyncState = "failed"' --json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit <= 0 {
				return exit(a.usageError("list", "--limit must be positive"))
			}
			return exit(a.session(c.Context(), "list", func(ctx context.Context, sc *syncclient.Client) int {
				return a.list(ctx, sc, query, limit, asJSON)
			}))
		},
	}
	f := c.Flags()
	f.StringVar(&query, "query", "", "Temporal visibility `QUERY` narrowing the list")
	f.IntVar(&limit, "limit", syncclient.DefaultListLimit, "at most `N` workflows")
	f.BoolVar(&asJSON, "json", false, "print the list as JSON")
	return c
}

func (a *app) list(ctx context.Context, sc *syncclient.Client, query string, limit int, asJSON bool) int {
	list, err := sc.List(ctx, query, limit)
	if err != nil {
		return a.failf("list", "%v", err)
	}
	if asJSON {
		if list == nil {
			list = []syncclient.Summary{}
		}
		if err := writeJSON(a.stdout, list); err != nil {
			return a.failf("list", "write: %v", err)
		}
		return exitOK
	}
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "no syncs or batches found")
		return exitOK
	}
	rows := [][]string{{"WORKFLOW ID", "KIND", "DATASET", "BATCH", "STATE", "STATUS", "STARTED", "DURATION"}}
	for _, s := range list {
		end := s.CloseTime
		if end.IsZero() {
			end = time.Now()
		}
		rows = append(rows, []string{s.WorkflowID, s.Kind, dash(s.Dataset), dash(s.Batch), s.State, s.Status,
			fmtTime(s.StartTime), fmtDuration(end.Sub(s.StartTime))})
	}
	table(a.stdout, rows)
	return exitOK
}

func (a *app) cancelCommand() *cobra.Command {
	var task string
	c := &cobra.Command{
		Use:   "cancel ID [--task TASK_ID]",
		Short: "cancel a sync, a batch, or one task of a batch",
		Long: `
Cancels a sync or a batch: the workflow records the cancellation in the
sink's checkpoint and ends as cancelled (a batch cancels its running tasks).
With --task, cancels only that task of the batch ID (a pending task never
starts) and the batch goes on with the others; it waits, without a time
limit, until the task has ended and recorded its state (Ctrl-C stops the
waiting, not the cancellation).`,
		Example: `starter cancel sync-orders
starter cancel nightly --task orders`,
		Args: oneID,
		RunE: func(c *cobra.Command, args []string) error {
			if task != "" {
				// Waits as long as the task's cleanup takes: no timeout.
				return exit(a.sessionFor(c.Context(), "cancel", 0, func(ctx context.Context, sc *syncclient.Client) int {
					return a.cancelTask(ctx, sc, args[0], task)
				}))
			}
			return exit(a.session(c.Context(), "cancel", func(ctx context.Context, sc *syncclient.Client) int {
				return a.cancel(ctx, sc, args[0])
			}))
		},
	}
	c.Flags().StringVar(&task, "task", "", "cancel only this `TASK_ID` of the batch ID")
	return c
}

// cancelTask cancels one task of a batch.
func (a *app) cancelTask(ctx context.Context, sc *syncclient.Client, id, task string) int {
	fmt.Fprintf(a.stderr, "cancelling task %s of batch %s: waiting until it has ended and recorded its state (Ctrl-C stops waiting; the cancellation goes on)\n", task, id)
	ts, err := sc.CancelTask(ctx, id, task)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(a.stderr, "interrupted: the cancellation of task %s goes on; `starter status %s` shows it\n", task, id)
		return exitInterrupted
	}
	if errors.Is(err, syncclient.ErrNotFound) {
		return a.failf("cancel", "no batch with ID %q", id)
	}
	if err != nil {
		return a.failf("cancel", "%v", err)
	}
	fmt.Fprintf(a.stdout, "task %s of batch %s: %s\n", ts.ID, id, ts.State)
	return exitOK
}

// cancel cancels a sync or a batch.
func (a *app) cancel(ctx context.Context, sc *syncclient.Client, id string) int {
	st, err := sc.Describe(ctx, id)
	if errors.Is(err, syncclient.ErrNotFound) {
		if sst, err := sc.DescribeSchedule(ctx, id); err == nil {
			open := "it has no open run"
			if len(sst.Running) > 0 {
				open = fmt.Sprintf("cancel its open run with `starter cancel %s`", sst.Running[0])
			}
			return a.failf("cancel", "%s is a schedule, not a sync: %s; stop it with `starter schedule pause %s`", id, open, id)
		}
		return a.failf("cancel", "no sync or batch with ID %q", id)
	}
	if err != nil {
		return a.failf("cancel", "%v", err)
	}
	if !st.Open() {
		return a.failf("cancel", "%s already ended (%s, state %s): nothing to cancel", id, st.Status, st.State)
	}
	if err := sc.Cancel(ctx, id); err != nil {
		return a.failf("cancel", "%v", err)
	}
	fmt.Fprintf(a.stdout, "cancellation of %s requested; it records its state and ends as cancelled\n", id)
	fmt.Fprintf(a.stdout, "follow it with `starter status %s`\n", id)
	return exitOK
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// scheduleRun is, when id names a syncflow schedule, the workflow ID of its
// open run, else of its latest one: scheduled runs are named
// <schedule>-<time>, so a user asking for the schedule's ID means them.
func (a *app) scheduleRun(ctx context.Context, sc *syncclient.Client, id string) (string, bool) {
	st, err := sc.DescribeSchedule(ctx, id)
	if err != nil {
		return "", false
	}
	if len(st.Running) > 0 {
		return st.Running[0], true
	}
	if n := len(st.Recent); n > 0 {
		return st.Recent[n-1].WorkflowID, true
	}
	return "", false
}
