package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// batchFlags are the flags of `starter batch`.
type batchFlags struct {
	config, tasks, id string
	concurrency       int
	detach            bool
}

func (a *app) batchCommand() *cobra.Command {
	var o batchFlags
	c := &cobra.Command{
		Use:   "batch --config FILE [--tasks FILE] [--concurrency N] [--id BATCH_ID] [--detach]",
		Short: "start a batch of syncs from a config file and follow it",
		Long: `
Starts a batch: one sync per dataset of the configuration file (task ID =
dataset ID), or one per entry of a tasks file (a YAML or JSON list of
{id, dataset}), at most --concurrency at a time, and follows it: a totals
line and a line per running task, then a table of every task. Each task runs
as the workflow BATCH_ID/TASK_ID. An invalid request fails its task and the
batch goes on; any other failure stops the batch.

Ctrl-C cancels the batch (and its running tasks) and waits for it; a second
Ctrl-C detaches. A worker must be running (go run ./worker).

Exit status: 0 every task completed, 1 otherwise, 2 bad arguments or
configuration, 130 interrupted.`,
		Example: `starter batch --config syncflow.yaml
starter batch --config syncflow.yaml --tasks tasks.yaml --concurrency 2 --id nightly`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return exit(a.batch(c.Context(), o)) },
	}
	f := c.Flags()
	f.StringVar(&o.config, "config", "", "configuration `FILE` (YAML): sink and datasets (required)")
	f.StringVar(&o.tasks, "tasks", "", "tasks `FILE` (YAML or JSON list of {id, dataset}); default one task per dataset")
	f.IntVar(&o.concurrency, "concurrency", 0, fmt.Sprintf("at most `N` tasks at once (default %d)", workflows.DefaultBatchConcurrency))
	f.StringVar(&o.id, "id", "", "batch (workflow) `ID` (default batch-<config file name>)")
	f.BoolVar(&o.detach, "detach", false, "start the batch, print its ID and how to follow it, and exit")
	return c
}

func (a *app) batch(ctx context.Context, o batchFlags) int {
	switch {
	case o.config == "":
		return a.usageError("batch", "--config is required")
	case o.concurrency < 0:
		return a.usageError("batch", "--concurrency must not be negative")
	}
	f, code, ok := a.loadConfig("batch", o.config)
	if !ok {
		return code
	}
	in, code, ok := a.batchInput(f, o)
	if !ok {
		return code
	}
	id := o.id
	if id == "" {
		base := filepath.Base(o.config)
		id = "batch-" + strings.TrimSuffix(base, filepath.Ext(base))
	}
	sc, closeClient, run, code, ok := a.dialAndStart(ctx, "batch", f, func(ctx context.Context, sc *syncclient.Client) (client.WorkflowRun, error) {
		return sc.StartBatch(ctx, id, in)
	})
	if !ok {
		return code
	}
	defer closeClient()
	fmt.Fprintf(a.stdout, "batch %s: %d tasks → %s, run %s\n", id, len(in.Tasks), syncclient.SinkKind(f.Sink), run.GetRunID())
	if o.detach {
		a.followHint(id)
		return exitOK
	}
	fmt.Fprintln(a.stdout, "Ctrl-C cancels the batch")
	return a.followBatch(ctx, sc, run)
}

// batchTasks are the tasks of a batch: the tasks file's, or one per
// dataset of f.
func (a *app) batchTasks(f *config.File, o batchFlags) ([]config.Task, int, bool) {
	var tasks []config.Task
	if o.tasks != "" {
		var err error
		if tasks, err = config.LoadTasks(o.tasks); err == nil {
			err = f.CheckTasks(tasks, o.tasks)
		}
		if err != nil {
			return nil, a.usageError("batch", "invalid tasks file:\n"+err.Error()), false
		}
	} else {
		for _, id := range f.DatasetIDs() {
			tasks = append(tasks, config.Task{ID: id, Dataset: id})
		}
	}
	if len(tasks) == 0 {
		return nil, a.usageError("batch", "no tasks to run"), false
	}
	return tasks, exitOK, true
}

// batchInput is the input of the batch that o asks for.
func (a *app) batchInput(f *config.File, o batchFlags) (workflows.BatchInput, int, bool) {
	// The destination travels with the batch's tasks (ARCHITECTURE.md
	// §Sink protocol): the worker writes where the file says.
	in := workflows.BatchInput{Datasets: map[string]config.Dataset{}, Concurrency: o.concurrency, Sink: syncclient.TaskSink(f.Sink)}
	tasks, code, ok := a.batchTasks(f, o)
	if !ok {
		return in, code, false
	}
	for _, t := range tasks {
		ds, err := f.Dataset(t.Dataset)
		if err != nil {
			return in, a.usageError("batch", err.Error()), false
		}
		in.Datasets[ds.ID] = ds
		in.Tasks = append(in.Tasks, workflows.BatchTask{ID: t.ID, Dataset: t.Dataset})
		if ds.RateLimit.GlobalRPS > 0 {
			// The global limit bounds activity dispatch: one page per
			// activity makes it bound requests. Options are the batch's,
			// so every task of the batch runs one page per activity.
			in.Options.PagesPerActivity = 1
		}
	}
	// Refused before dialling: a batch too large for Temporal's payloads.
	if err := workflows.CheckBatchSize(in); err != nil {
		return in, a.usageError("batch", err.Error()), false
	}
	return in, exitOK, true
}

// followBatch shows a batch's progress until it ends. The first interrupt
// cancels it and waits; the second detaches.
func (a *app) followBatch(ctx context.Context, sc *syncclient.Client, run client.WorkflowRun) int {
	id := run.GetID()
	type outcome struct {
		res workflows.BatchResult
		err error
	}
	var last *workflows.BatchStatus
	o, cancelled, detached := follow(a, ctx, sc, followed{kind: "batch", id: id, waitsFor: "its tasks", out: a.stdout},
		func(ctx context.Context) outcome {
			res, err := sc.WaitBatch(ctx, run)
			return outcome{res, err}
		},
		func(ctx context.Context) []progressLine {
			bs, err := sc.BatchStatus(ctx, id)
			if err != nil {
				return nil
			}
			last = &bs
			if bs.Omitted > 0 {
				// A summary of a large batch may leave running tasks out.
				if rs, err := sc.BatchStatusPage(ctx, id, workflows.BatchStatusRequest{States: []task.State{task.Running}}); err == nil {
					live := bs
					live.Tasks = rs.Tasks
					return batchLines(ctx, sc, live)
				}
			}
			return batchLines(ctx, sc, bs)
		})
	if detached {
		return exitInterrupted
	}
	return a.batchOutcome(ctx, sc, id, last, o.res, o.err, cancelled)
}

// batchLines are the live lines of a batch: totals, then each running task.
func batchLines(ctx context.Context, sc *syncclient.Client, bs workflows.BatchStatus) []progressLine {
	lines := []progressLine{{before: fmt.Sprintf("batch %s %s: %s", bs.BatchID, bs.State, countsText(bs.Counts))}}
	for _, t := range bs.Tasks {
		if t.State != task.Running {
			continue
		}
		st, err := sc.Describe(ctx, t.WorkflowID)
		if err != nil {
			lines = append(lines, progressLine{before: fmt.Sprintf("  %-18s running", t.ID)})
			continue
		}
		l := syncLine(t.ID, st, 0)
		l.before = "  " + l.before
		lines = append(lines, l)
	}
	return lines
}

// countsText renders task counts in a fixed order, skipping zeros.
func countsText(c map[task.State]int) string {
	var parts []string
	total := 0
	for _, s := range []task.State{task.Running, task.Pending, task.Completed,
		task.Failed, task.Cancelled, task.Skipped} {
		total += c[s]
		if c[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[s], s))
		}
	}
	return fmt.Sprintf("%d tasks: %s", total, strings.Join(parts, ", "))
}

// batchRows is the table of a batch's tasks.
func batchRows(tasks []workflows.TaskStatus) [][]string {
	rows := [][]string{{"TASK", "DATASET", "STATE", "RECORDS", "PAGES", "WORKFLOW ID", "MESSAGE"}}
	for _, t := range tasks {
		msg := t.Message
		if t.Class != "" {
			msg = t.Class + ": " + msg
		}
		rows = append(rows, []string{t.ID, t.Dataset, string(t.State), fmt.Sprint(t.Records), fmt.Sprint(t.Pages), t.WorkflowID, dash(oneLine(msg, 80))})
	}
	return rows
}

// batchOutcome prints a finished batch's table and returns the exit code.
func (a *app) batchOutcome(ctx context.Context, sc *syncclient.Client, id string, last *workflows.BatchStatus, res workflows.BatchResult, err error, interrupted bool) int {
	tasks, omitted := res.Tasks, res.Omitted
	counts := res.Counts
	if err != nil {
		// The closed batch still answers its status query (a worker
		// replays it); fall back to the last status seen.
		qctx, cancel := context.WithTimeout(ctx, syncclient.QueryTimeout)
		bs, qerr := sc.BatchStatus(qctx, id)
		cancel()
		switch {
		case qerr == nil:
			tasks, counts, omitted = bs.Tasks, bs.Counts, bs.Omitted
		case last != nil:
			tasks, counts, omitted = last.Tasks, last.Counts, last.Omitted
		}
	}
	fmt.Fprintln(a.stdout)
	if len(tasks) > 0 {
		table(a.stdout, batchRows(tasks))
		fmt.Fprintln(a.stdout)
	}
	if omitted > 0 {
		fmt.Fprintf(a.stdout, "(%d more tasks, completed or past the first %d, not listed)\n", omitted, workflows.StatusPageSize)
	}
	switch {
	case err == nil:
		fmt.Fprintf(a.stdout, "batch %s completed in %s: %s\n", id, fmtDuration(res.Duration), countsText(counts))
		if counts[task.Completed] == len(tasks)+omitted {
			return exitOK
		}
		return exitFailed
	case temporal.IsCanceledError(err) && interrupted:
		fmt.Fprintf(a.stderr, "interrupted: batch %s cancelled (%s); run the same command again to re-sync\n", id, countsText(counts))
		return exitInterrupted
	case temporal.IsCanceledError(err):
		fmt.Fprintf(a.stderr, "batch %s was cancelled (%s)\n", id, countsText(counts))
	default:
		fmt.Fprintf(a.stderr, "batch %s failed: %s\n", id, syncclient.FailureText(err))
	}
	return exitFailed
}
