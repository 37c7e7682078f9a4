package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

var batchSpec = cmdSpec{
	name:     "batch",
	synopsis: "--config FILE [--tasks FILE] [--concurrency N] [--id BATCH_ID] [--detach]",
	about: `
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
	examples: []string{
		"starter batch --config syncflow.yaml",
		"starter batch --config syncflow.yaml --tasks tasks.yaml --concurrency 2 --id nightly",
	},
}

func (a *app) batch(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration `FILE` (YAML): sink and datasets (required)")
	tasksPath := fs.String("tasks", "", "tasks `FILE` (YAML or JSON list of {id, dataset}); default one task per dataset")
	concurrency := fs.Int("concurrency", 0, fmt.Sprintf("at most `N` tasks at once (default %d)", workflows.DefaultBatchConcurrency))
	batchID := fs.String("id", "", "batch (workflow) `ID` (default batch-<config file name>)")
	detach := fs.Bool("detach", false, "start the batch, print its ID and how to follow it, and exit")
	pos, code, done := a.parse(fs, batchSpec, args)
	switch {
	case done:
		return code
	case len(pos) > 0:
		return a.usageError("batch", fmt.Sprintf("unexpected argument %q", pos[0]))
	case *cfgPath == "":
		return a.usageError("batch", "--config is required")
	case *concurrency < 0:
		return a.usageError("batch", "--concurrency must not be negative")
	}
	f, code, ok := a.loadConfig("batch", *cfgPath)
	if !ok {
		return code
	}
	var tasks []config.Task
	if *tasksPath != "" {
		var err error
		if tasks, err = config.LoadTasks(*tasksPath); err == nil {
			err = f.CheckTasks(tasks, *tasksPath)
		}
		if err != nil {
			return a.usageError("batch", "invalid tasks file:\n"+err.Error())
		}
	} else {
		for _, id := range f.DatasetIDs() {
			tasks = append(tasks, config.Task{ID: id, Dataset: id})
		}
	}
	if len(tasks) == 0 {
		return a.usageError("batch", "no tasks to run")
	}
	id := *batchID
	if id == "" {
		base := filepath.Base(*cfgPath)
		id = "batch-" + strings.TrimSuffix(base, filepath.Ext(base))
	}
	in := workflows.BatchInput{Datasets: map[string]config.Dataset{}, Concurrency: *concurrency}
	for _, t := range tasks {
		ds, err := f.Dataset(t.Dataset)
		if err != nil {
			return a.usageError("batch", err.Error())
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

	sc, closeClient, code, ok := a.dial(ctx, "batch")
	if !ok {
		return code
	}
	defer closeClient()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a.ensureSearchAttributes(sctx, sc.Temporal())
	a.applyGlobalLimits(sctx, sc.Temporal(), f)
	run, err := sc.StartBatch(sctx, id, in)
	if err != nil {
		return a.failf("batch", "%v", err)
	}
	fmt.Fprintf(a.stdout, "batch %s: %d tasks → %s, run %s\n", id, len(in.Tasks), syncclient.SinkKind(f.Sink), run.GetRunID())
	if *detach {
		a.followHint(id)
		return exitOK
	}
	fmt.Fprintln(a.stdout, "Ctrl-C cancels the batch")
	return a.followBatch(ctx, sc, run)
}

// followBatch shows a batch's progress until it ends. The first interrupt
// cancels it and waits; the second detaches.
func (a *app) followBatch(ctx context.Context, sc *syncclient.Client, run client.WorkflowRun) int {
	id := run.GetID()
	type outcome struct {
		res workflows.BatchResult
		err error
	}
	wctx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	done := make(chan outcome, 1)
	go func() {
		res, err := sc.WaitBatch(wctx, run)
		done <- outcome{res, err}
	}()
	lv := newLive(a.stdout)
	tick := time.NewTicker(lv.interval())
	defer tick.Stop()
	var last *workflows.BatchStatus
	cancelled := false
	for {
		select {
		case o := <-done:
			return a.batchOutcome(ctx, sc, id, last, o.res, o.err, cancelled)
		case <-a.interrupts:
			if a.onInterrupt(ctx, sc, lv, a.stdout, "batch", id, "its tasks", &cancelled) {
				return exitInterrupted
			}
		case <-tick.C:
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			bs, err := sc.BatchStatus(qctx, id)
			if err == nil {
				last = &bs
				lv.show(batchLines(qctx, sc, bs), false)
			}
			cancel()
		}
	}
}

// batchLines are the live lines of a batch: totals, then each running task.
func batchLines(ctx context.Context, sc *syncclient.Client, bs workflows.BatchStatus) []string {
	lines := []string{fmt.Sprintf("batch %s %s: %s", bs.BatchID, bs.State, countsText(bs.Counts))}
	for _, t := range bs.Tasks {
		if t.State != task.Running {
			continue
		}
		st, err := sc.Describe(ctx, t.WorkflowID)
		if err != nil {
			lines = append(lines, fmt.Sprintf("  %-18s running", t.ID))
			continue
		}
		lines = append(lines, "  "+syncLine(t.ID, st, 0))
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
	tasks := res.Tasks
	counts := res.Counts
	if err != nil {
		// The closed batch still answers its status query (a worker
		// replays it); fall back to the last status seen.
		qctx, cancel := context.WithTimeout(ctx, syncclient.QueryTimeout)
		bs, qerr := sc.BatchStatus(qctx, id)
		cancel()
		switch {
		case qerr == nil:
			tasks, counts = bs.Tasks, bs.Counts
		case last != nil:
			tasks, counts = last.Tasks, last.Counts
		}
	}
	fmt.Fprintln(a.stdout)
	if len(tasks) > 0 {
		table(a.stdout, batchRows(tasks))
		fmt.Fprintln(a.stdout)
	}
	switch {
	case err == nil:
		fmt.Fprintf(a.stdout, "batch %s completed in %s: %s\n", id, fmtDuration(res.Duration), countsText(counts))
		if counts[task.Completed] == len(tasks) {
			return exitOK
		}
		return exitFailed
	case temporal.IsCanceledError(err) && interrupted:
		fmt.Fprintf(a.stderr, "interrupted: batch %s cancelled (%s); run the same command again to re-sync\n", id, countsText(counts))
		return exitInterrupted
	case temporal.IsCanceledError(err):
		fmt.Fprintf(a.stderr, "batch %s was cancelled (%s)\n", id, countsText(counts))
	default:
		fmt.Fprintf(a.stderr, "batch %s failed: %s\n", id, failureMessage(err))
	}
	return exitFailed
}
