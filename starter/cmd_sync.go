package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/ratelimit/fairness"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// syncFlags are the flags of `starter sync`.
type syncFlags struct {
	config, dataset, id string
	detach, json        bool
}

func (a *app) syncCommand() *cobra.Command {
	var o syncFlags
	c := &cobra.Command{
		Use:   "sync --config FILE --dataset ID [--id TASK_ID] [--detach] [--json]",
		Short: "start one sync from a config file and follow it",
		Long: `
Starts a sync of one dataset of a configuration file and follows it until it
ends, then prints its counts. The file is validated before anything starts;
SYNCFLOW_SINK overrides its sink. The task ID is the workflow ID: if a sync
with that ID is running, starter follows it; if one has finished, a new run
re-syncs the dataset (records are upserted by key, never duplicated).

Ctrl-C cancels the sync and waits for its cleanup; a second Ctrl-C detaches
and leaves it to Temporal. A worker must be running (go run ./worker).

Exit status: 0 completed, 1 failed, 2 bad arguments or configuration,
130 interrupted.`,
		Example: `starter sync --config syncflow.yaml --dataset orders
starter sync --config syncflow.yaml --dataset orders --id orders-nightly --detach`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return exit(a.sync(c.Context(), o)) },
	}
	f := c.Flags()
	f.StringVar(&o.config, "config", "", "configuration `FILE` (YAML): sink and datasets (required)")
	f.StringVar(&o.dataset, "dataset", "", "`ID` of the dataset to sync (required)")
	f.StringVar(&o.id, "id", "", "task and workflow `ID` (default sync-<dataset>)")
	f.BoolVar(&o.detach, "detach", false, "start the sync, print its ID and how to follow it, and exit")
	f.BoolVar(&o.json, "json", false, "print the result (with --detach: the IDs) as JSON on stdout; progress goes to stderr")
	return c
}

func (a *app) sync(ctx context.Context, o syncFlags) int {
	switch {
	case o.config == "":
		return a.usageError("sync", "--config is required")
	case o.dataset == "":
		return a.usageError("sync", "--dataset is required")
	}
	f, code, ok := a.loadConfig("sync", o.config)
	if !ok {
		return code
	}
	ds, err := f.Dataset(o.dataset)
	if err != nil {
		return a.usageError("sync", fmt.Sprintf("dataset %q is not in %s (it has: %s)", o.dataset, o.config, strings.Join(f.DatasetIDs(), ", ")))
	}
	var opts workflows.SyncOptions
	if ds.RateLimit.GlobalRPS > 0 {
		// The global limit bounds activity dispatch: one page per activity
		// makes it bound requests.
		opts.PagesPerActivity = 1
	}
	sc, closeClient, run, code, ok := a.dialAndStart(ctx, "sync", f, func(ctx context.Context, sc *syncclient.Client) (client.WorkflowRun, error) {
		return sc.StartSync(ctx, o.id, ds, opts, f.Sink)
	})
	if !ok {
		return code
	}
	defer closeClient()
	return a.startedSync(ctx, sc, run, ds.ID, syncclient.SinkKind(f.Sink), o)
}

// startedSync reports a started sync, then follows it unless detached.
func (a *app) startedSync(ctx context.Context, sc *syncclient.Client, run client.WorkflowRun, dataset, sinkKind string, o syncFlags) int {
	id := run.GetID()
	if o.detach {
		if o.json {
			_ = writeJSON(a.stdout, map[string]string{"workflow_id": id, "run_id": run.GetRunID()})
			return exitOK
		}
		fmt.Fprintf(a.stdout, "sync %s started (dataset %s → %s), run %s\n", id, dataset, sinkKind, run.GetRunID())
		a.followHint(id)
		return exitOK
	}
	progress := a.stdout
	if o.json {
		progress = a.stderr
	}
	fmt.Fprintf(progress, "sync %s: dataset %s → %s, run %s (Ctrl-C cancels)\n", id, dataset, sinkKind, run.GetRunID())
	return a.followSync(ctx, sc, run, dataset, o.json)
}

// applyGlobalLimits sets the global per-key limits of f on the task queue
// (package fairness); a failure is a warning: the per-worker limits hold.
func (a *app) applyGlobalLimits(ctx context.Context, c client.Client, f *config.File) {
	limits := f.GlobalLimits()
	if len(limits) == 0 {
		return
	}
	_, ns, _ := connect.Describe(a.connectOptions(nil))
	if err := fairness.Apply(ctx, c, ns, workflows.TaskQueue, limits); err != nil {
		fmt.Fprintf(a.stderr, "starter: warning: global rate limits not applied (only the per-worker limits hold): %v\n", err)
	}
}

// loadConfig loads and checks a configuration file, SYNCFLOW_SINK applied.
func (a *app) loadConfig(cmd, path string) (*config.File, int, bool) {
	f, err := config.Load(path)
	if err != nil {
		return nil, a.usageError(cmd, "invalid configuration:\n"+err.Error()), false
	}
	if v, ok := a.getenv("SYNCFLOW_SINK"); ok {
		f.ApplySinkOverride(v)
	}
	if err := f.CheckSink(); err != nil {
		return nil, a.usageError(cmd, "invalid configuration:\n"+err.Error()), false
	}
	return f, exitOK, true
}

// followHint tells how to follow a workflow from elsewhere.
func (a *app) followHint(id string) {
	fmt.Fprintf(a.stdout, "follow it with:\n  starter status %s\n  temporal workflow describe -w %s\ncancel it with:\n  starter cancel %s\n", id, id, id)
}

// followSync shows a sync's progress until it ends. The first interrupt
// cancels it and keeps following its cleanup; the second detaches.
func (a *app) followSync(ctx context.Context, sc *syncclient.Client, run client.WorkflowRun, dataset string, asJSON bool) int {
	id := run.GetID()
	type outcome struct {
		res workflows.SyncResult
		err error
	}
	out := a.stdout
	if asJSON {
		out = a.stderr
	}
	var last syncclient.Status
	o, cancelled, detached := follow(a, ctx, sc, followed{kind: "sync", id: id, waitsFor: "its cleanup", out: out},
		func(ctx context.Context) outcome {
			res, err := sc.Wait(ctx, run)
			return outcome{res, err}
		},
		func(ctx context.Context) []progressLine {
			st, err := sc.Describe(ctx, id)
			if err != nil {
				return nil
			}
			last = st
			return []progressLine{syncLine(id, st, 0)}
		})
	if detached {
		return exitInterrupted
	}
	return a.syncOutcome(id, dataset, last, o.res, o.err, cancelled, asJSON)
}

// syncOutcome reports how a followed sync ended and returns the exit code.
func (a *app) syncOutcome(id, dataset string, last syncclient.Status, res workflows.SyncResult, err error, interrupted, asJSON bool) int {
	if err == nil {
		if asJSON {
			_ = writeJSON(a.stdout, res)
			return exitOK
		}
		fmt.Fprintln(a.stdout)
		table(a.stdout, [][]string{resultHeader, resultRow(id, res.DatasetID, string(res.State), countsOfResult(res), res.Duration)})
		return exitOK
	}
	state := task.Failed
	if temporal.IsCanceledError(err) {
		state = task.Cancelled
	}
	msg := syncclient.FailureText(err)
	c := countsOf(last)
	if f, ok := syncclient.FinalFailure(err); ok { // what the destination committed
		c.records, c.pages = f.Records, f.Pages
	}
	if asJSON {
		_ = writeJSON(a.stdout, map[string]any{"task_id": id, "dataset_id": dataset, "state": state, "error": msg,
			"records": c.records, "pages": c.pages})
	} else {
		fmt.Fprintln(a.stdout)
		table(a.stdout, [][]string{resultHeader, resultRow(id, dataset, string(state), c, last.Duration())})
	}
	switch {
	case state == task.Cancelled && interrupted:
		fmt.Fprintf(a.stderr, "interrupted: sync %s cancelled; run the same command again to re-sync\n", id)
		return exitInterrupted
	case state == task.Cancelled:
		fmt.Fprintf(a.stderr, "sync %s was cancelled\n", id)
	default:
		fmt.Fprintf(a.stderr, "sync %s failed: %s\n", id, msg)
	}
	return exitFailed
}
