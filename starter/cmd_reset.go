package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/syncflow/syncflow/syncclient"
)

// resetFlags are the flags of `starter reset`.
type resetFlags struct {
	config  string
	records bool
}

func (a *app) resetCommand() *cobra.Command {
	var o resetFlags
	c := &cobra.Command{
		Use:   "reset DATASET --config FILE [--records]",
		Short: "make a dataset's next run a full one (state cleared; --records: data too)",
		Long: `
Clears a dataset's sync state in the destination of the configuration file
(SYNCFLOW_SINK overrides it): the checkpoints of all its tasks, so that the
next run of the dataset is a full one. With --records its records are
deleted too; without, they stay and the next run upserts over them. A worker
does it (ResetWorkflow, workflow ID reset-<dataset>). Refused while a sync
of the dataset is open: wait for it or cancel it first. The dataset's
schedule, if any, is paused while the reset runs, then put back.

Exit status: 0 reset, 1 refused or failed, 2 bad arguments or configuration,
130 interrupted (the reset itself goes on).`,
		Example: `starter reset orders --config syncflow.yaml
starter reset orders --config syncflow.yaml --records`,
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return errors.New("the dataset ID is required")
			case len(args) > 1:
				return fmt.Errorf("unexpected argument %q", args[1])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error { return exit(a.reset(c.Context(), args[0], o)) },
	}
	c.Flags().StringVar(&o.config, "config", "", "configuration `FILE` (YAML) that names the dataset and its destination (required)")
	c.Flags().BoolVar(&o.records, "records", false, "delete the dataset's records too")
	return c
}

func (a *app) reset(ctx context.Context, dataset string, o resetFlags) int {
	if o.config == "" {
		return a.usageError("reset", "--config is required")
	}
	f, code, ok := a.loadConfig("reset", o.config)
	if !ok {
		return code
	}
	if _, err := f.Dataset(dataset); err != nil {
		return a.usageError("reset", fmt.Sprintf("%v in %s", err, o.config))
	}
	// No time limit: deleting a large dataset's records takes a while; an
	// interrupt stops the waiting, not the reset.
	return a.sessionFor(ctx, "reset", 0, func(ctx context.Context, sc *syncclient.Client) int {
		res, err := sc.Reset(ctx, dataset, f.Sink, syncclient.ResetOptions{Records: o.records})
		var open *syncclient.OpenRunError
		switch {
		case errors.As(err, &open):
			return a.failf("reset", "refused: %v", err)
		case err != nil && ctx.Err() != nil:
			fmt.Fprintf(a.stderr, "starter reset: interrupted; the reset of %s goes on: starter status %s\n", dataset, syncclient.ResetWorkflowID(dataset))
			return exitInterrupted
		case err != nil:
			return a.failf("reset", "%s", syncclient.FailureText(err))
		}
		kept := fmt.Sprintf("its %d records kept", res.RecordsBefore)
		if res.RecordsDeleted {
			kept = fmt.Sprintf("its %d records deleted", res.RecordsBefore)
		}
		fmt.Fprintf(a.stdout, "dataset %s reset in %s: state cleared, %s; the next run is a full one\n", dataset, syncclient.SinkKind(f.Sink), kept)
		return exitOK
	})
}
