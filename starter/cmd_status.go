package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// requestTimeout bounds the Temporal calls of the short commands.
const requestTimeout = 20 * time.Second

var statusSpec = cmdSpec{
	name:     "status",
	synopsis: "ID [--json]",
	about: `
Shows a sync's or a batch's status. For a sync: Temporal's view (status,
times, the activity in flight with its attempt, last failure and next retry)
and the sync's own progress while it runs, its result or failure once it has
ended. For a batch: its state and every task's.`,
	examples: []string{
		"starter status sync-orders",
		"starter status nightly --json",
	},
}

var listSpec = cmdSpec{
	name:     "list",
	synopsis: "[--query Q] [--limit N] [--json]",
	about: `
Lists recent syncs and batches, most recently started first, with their
state. --query narrows the list with a Temporal visibility query over
WorkflowId, ExecutionStatus, StartTime and syncflow's search attributes
SyncDataset, SyncState and SyncBatch.`,
	examples: []string{
		"starter list",
		`starter list --query 'SyncDataset = "orders"' --limit 5`,
		`starter list --query 'SyncState = "failed"' --json`,
	},
}

var cancelSpec = cmdSpec{
	name:     "cancel",
	synopsis: "ID [--task TASK_ID]",
	about: `
Cancels a sync or a batch: the workflow records the cancellation in the
sink's checkpoint and ends as cancelled (a batch cancels its running tasks).
With --task, cancels only that task of the batch ID (a pending task never
starts) and the batch goes on with the others.`,
	examples: []string{
		"starter cancel sync-orders",
		"starter cancel nightly --task orders",
	},
}

// statusJSON is status --json: the workflow's status and, for a batch, the
// batch's own.
type statusJSON struct {
	syncclient.Status
	BatchStatus *workflows.BatchStatus `json:"batch_status,omitempty"`
	BatchError  string                 `json:"batch_error,omitempty"`
}

// oneID checks that a command got exactly one workflow ID.
func (a *app) oneID(cmd string, pos []string) (id string, code int, ok bool) {
	switch {
	case len(pos) == 0:
		return "", a.usageError(cmd, "the workflow ID of a sync or a batch is required"), false
	case len(pos) > 1:
		return "", a.usageError(cmd, fmt.Sprintf("unexpected argument %q", pos[1])), false
	}
	return pos[0], 0, true
}

func (a *app) status(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	pos, code, done := a.parse(fs, statusSpec, args)
	if done {
		return code
	}
	id, code, ok := a.oneID("status", pos)
	if !ok {
		return code
	}
	sc, closeClient, code, ok := a.dial(ctx, "status")
	if !ok {
		return code
	}
	defer closeClient()
	ctx, cancel := a.untilInterrupt(ctx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, requestTimeout)
	defer cancelT()

	st, err := sc.Describe(ctx, id)
	if errors.Is(err, syncclient.ErrNotFound) {
		return a.failf("status", "no sync or batch with ID %q", id)
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
	if *asJSON {
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
		add("progress", fmt.Sprintf("%d records, %d pages, %d retries, %d rate-limit waits, %.1f req/s, run %d",
			p.Records, p.Pages, p.Retries, p.RateLimitWaits, p.Rate, p.Runs))
		if !p.RateLimitedUntil.IsZero() {
			add("rate limited", "until "+fmtTime(p.RateLimitedUntil))
		}
		if p.LastError != "" {
			add("last error", fmt.Sprintf("(%s) %s", p.LastErrorClass, p.LastError))
		}
	}
	add("progress error", st.ProgressError)
	for _, act := range st.Activities {
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
		add("activity", v)
	}
	if r := st.Result; r != nil {
		add("result", fmt.Sprintf("%s: %d records, %d pages, %d retries, %d rate-limit waits, %s, %d runs",
			r.State, r.Records, r.Pages, r.Retries, r.RateLimitWaits, fmtDuration(r.Duration), r.Runs))
	}
	add("failure", st.Failure)
	add("batch status", s.BatchError)
	table(w, rows)
	if bs := s.BatchStatus; bs != nil {
		fmt.Fprintf(w, "\nbatch %s: %s, concurrency %d, %s\n", bs.BatchID, bs.State, bs.Concurrency, countsText(bs.Counts))
		if bs.StoppedBy != "" {
			fmt.Fprintf(w, "stopped by task %s\n", bs.StoppedBy)
		}
		fmt.Fprintln(w)
		table(w, batchRows(bs.Tasks))
	}
}

func (a *app) list(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	query := fs.String("query", "", "Temporal visibility `QUERY` narrowing the list")
	limit := fs.Int("limit", syncclient.DefaultListLimit, "at most `N` workflows")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	pos, code, done := a.parse(fs, listSpec, args)
	switch {
	case done:
		return code
	case len(pos) > 0:
		return a.usageError("list", fmt.Sprintf("unexpected argument %q", pos[0]))
	case *limit <= 0:
		return a.usageError("list", "--limit must be positive")
	}
	sc, closeClient, code, ok := a.dial(ctx, "list")
	if !ok {
		return code
	}
	defer closeClient()
	ctx, cancel := a.untilInterrupt(ctx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, requestTimeout)
	defer cancelT()
	list, err := sc.List(ctx, *query, *limit)
	if err != nil {
		return a.failf("list", "%v", err)
	}
	if *asJSON {
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

func (a *app) cancel(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	task := fs.String("task", "", "cancel only this `TASK_ID` of the batch ID")
	pos, code, done := a.parse(fs, cancelSpec, args)
	if done {
		return code
	}
	id, code, ok := a.oneID("cancel", pos)
	if !ok {
		return code
	}
	sc, closeClient, code, ok := a.dial(ctx, "cancel")
	if !ok {
		return code
	}
	defer closeClient()
	ctx, cancel := a.untilInterrupt(ctx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, requestTimeout)
	defer cancelT()

	if *task != "" {
		ts, err := sc.CancelTask(ctx, id, *task)
		if errors.Is(err, syncclient.ErrNotFound) {
			return a.failf("cancel", "no batch with ID %q", id)
		}
		if err != nil {
			return a.failf("cancel", "%v", err)
		}
		fmt.Fprintf(a.stdout, "task %s of batch %s: %s\n", ts.ID, id, ts.State)
		return exitOK
	}
	st, err := sc.Describe(ctx, id)
	if errors.Is(err, syncclient.ErrNotFound) {
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
