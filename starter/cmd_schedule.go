package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncflow/syncflow/syncclient"
)

// applyTimeout bounds `schedule apply` once connected: one or two calls
// per dataset.
const applyTimeout = 2 * time.Minute

func (a *app) scheduleCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "schedule",
		Short: "manage the Temporal Schedules of datasets with a schedule:",
		Long: `
A dataset with 'schedule:' in the configuration file is synced on a Temporal
Schedule, one per dataset, ID sync-<dataset>: 'apply' creates or updates
them from the file. Each run is an ordinary SyncWorkflow (task ID
sync-<dataset>, workflow ID sync-<dataset>-<scheduled time>); two runs of a
dataset never overlap (a time due while one runs starts nothing), and times
missed while Temporal was down are not made up in a burst. The Web UI's
Schedules page and 'temporal schedule list' show them too. Deleting a
schedule leaves the dataset's records and state alone.`,
		Example: `starter schedule apply --config syncflow.yaml
starter schedule list
starter schedule pause sync-orders --note "API maintenance"
starter schedule trigger sync-orders`,
		Args:              noArgs,
		RunE:              func(c *cobra.Command, _ []string) error { c.SetOut(a.stderr); _ = c.Help(); return exit(exitUsage) },
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.AddCommand(a.scheduleApplyCommand(), a.scheduleListCommand(), a.scheduleDescribeCommand(),
		a.scheduleNoteCommand("pause"), a.scheduleNoteCommand("unpause"),
		a.scheduleIDCommand("trigger"), a.scheduleIDCommand("delete"))
	return c
}

// oneScheduleID wants exactly one positional argument: a schedule ID.
func oneScheduleID(_ *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return errors.New("the schedule ID is required (sync-<dataset>; starter schedule list shows them)")
	case len(args) > 1:
		return fmt.Errorf("unexpected argument %q", args[1])
	}
	return nil
}

func (a *app) scheduleApplyCommand() *cobra.Command {
	var cfg string
	var prune bool
	c := &cobra.Command{
		Use:   "apply --config FILE [--prune]",
		Short: "create or update the schedules of a config file's datasets",
		Long: `
Creates the schedule of every dataset of the file that has 'schedule:',
updates those that differ (a paused one stays paused) and leaves the others
alone: applying the same file twice changes nothing. Nothing is removed
unless --prune, which deletes the syncflow schedules the file does not
define (datasets no longer in it, or without 'schedule:'). The runs write to
the file's sink (SYNCFLOW_SINK overrides it).`,
		Example: `starter schedule apply --config syncflow.yaml
starter schedule apply --config syncflow.yaml --prune`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return exit(a.scheduleApply(c.Context(), cfg, prune)) },
	}
	c.Flags().StringVar(&cfg, "config", "", "configuration `FILE` (YAML) whose datasets' schedules to apply (required)")
	c.Flags().BoolVar(&prune, "prune", false, "also delete syncflow schedules the file does not define")
	return c
}

func (a *app) scheduleApply(ctx context.Context, path string, prune bool) int {
	const cmd = "schedule apply"
	if path == "" {
		return a.usageError(cmd, "--config is required")
	}
	f, code, ok := a.loadConfig(cmd, path)
	if !ok {
		return code
	}
	return a.sessionFor(ctx, cmd, applyTimeout, func(ctx context.Context, sc *syncclient.Client) int {
		a.ensureSearchAttributes(ctx, sc.Temporal())
		a.applyGlobalLimits(ctx, sc.Temporal(), f)
		applied, err := sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{Prune: prune})
		if len(applied) > 0 {
			rows := [][]string{{"SCHEDULE", "DATASET", "SPEC", "CHANGE"}}
			for _, s := range applied {
				rows = append(rows, []string{s.ID, s.Dataset, s.Schedule, string(s.Change)})
			}
			table(a.stdout, rows)
		}
		if err != nil {
			return a.failf(cmd, "%v", err)
		}
		if len(applied) == 0 {
			fmt.Fprintf(a.stdout, "no dataset of %s has a schedule: nothing to apply\n", path)
		}
		return exitOK
	})
}

func (a *app) scheduleListCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "list [--json]",
		Short:   "list syncflow's schedules",
		Long:    "\nLists syncflow's schedules: dataset, spec, paused or active, next and last run.",
		Example: "starter schedule list\nstarter schedule list --json",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return exit(a.session(c.Context(), "schedule list", func(ctx context.Context, sc *syncclient.Client) int {
				list, err := sc.ListSchedules(ctx)
				if err != nil {
					return a.failf("schedule list", "%v", err)
				}
				if asJSON {
					_ = writeJSON(a.stdout, list)
					return exitOK
				}
				rows := [][]string{{"SCHEDULE", "DATASET", "SPEC", "STATE", "NEXT RUN", "LAST RUN"}}
				for _, s := range list {
					rows = append(rows, []string{s.ID, s.Dataset, s.Schedule, pausedName(s.Paused), fmtTime(s.NextRun), orDash(s.LastWorkflowID)})
				}
				table(a.stdout, rows)
				return exitOK
			}))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return c
}

func (a *app) scheduleDescribeCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "describe ID [--json]",
		Short:   "show one schedule: spec, policies, running, recent and next runs",
		Long:    "\nShows one schedule: its dataset and spec, overlap policy and catch-up window,\nthe run it has open, its recent runs, its next times and its counters.",
		Example: "starter schedule describe sync-orders\nstarter schedule describe sync-orders --json",
		Args:    oneScheduleID,
		RunE: func(c *cobra.Command, args []string) error {
			return exit(a.session(c.Context(), "schedule describe", func(ctx context.Context, sc *syncclient.Client) int {
				st, err := sc.DescribeSchedule(ctx, args[0])
				if err != nil {
					return a.failf("schedule describe", "%v", err)
				}
				if asJSON {
					_ = writeJSON(a.stdout, st)
					return exitOK
				}
				printSchedule(a.stdout, st)
				return exitOK
			}))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the schedule as JSON")
	return c
}

// printSchedule renders a described schedule for people.
func printSchedule(w io.Writer, st syncclient.ScheduleStatus) {
	rows := [][]string{
		{"schedule:", st.ID}, {"dataset:", orDash(st.Dataset)}, {"spec:", orDash(st.Schedule)},
		{"state:", pausedName(st.Paused)}, {"note:", orDash(st.Note)},
		{"overlap:", st.Overlap}, {"catch-up window:", st.CatchupWindow.String()},
		{"running:", orDash(strings.Join(st.Running, ", "))},
		{"runs:", fmt.Sprintf("%d started, %d skipped (a run was open), %d missed (outside the catch-up window)", st.Actions, st.SkippedOverlap, st.MissedCatchup)},
		{"next run:", fmtTime(st.NextRun)},
	}
	table(w, rows)
	if len(st.Recent) > 0 {
		fmt.Fprintln(w, "\nrecent runs:")
		recent := [][]string{{"  SCHEDULED", "STARTED", "WORKFLOW"}}
		for _, r := range st.Recent {
			recent = append(recent, []string{"  " + fmtTime(r.ScheduledAt), fmtTime(r.StartedAt), r.WorkflowID})
		}
		table(w, recent)
	}
}

// scheduleNoteCommand is pause or unpause: an ID and an optional note.
func (a *app) scheduleNoteCommand(name string) *cobra.Command {
	var note string
	short, long := "pause a schedule: it starts no run until unpaused", "\nPauses a schedule: it starts no run until 'starter schedule unpause'. A run\nalready open goes on."
	call := (*syncclient.Client).PauseSchedule
	if name == "unpause" {
		short, long = "unpause a paused schedule", "\nUnpauses a schedule; times missed while it was paused are not made up."
		call = (*syncclient.Client).UnpauseSchedule
	}
	c := &cobra.Command{
		Use:     name + " ID [--note TEXT]",
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("starter schedule %s sync-orders --note \"API maintenance\"", name),
		Args:    oneScheduleID,
		RunE: func(c *cobra.Command, args []string) error {
			return exit(a.session(c.Context(), "schedule "+name, func(ctx context.Context, sc *syncclient.Client) int {
				if err := call(sc, ctx, args[0], note); err != nil {
					return a.failf("schedule "+name, "%v", err)
				}
				fmt.Fprintf(a.stdout, "schedule %s %sd\n", args[0], name)
				return exitOK
			}))
		},
	}
	c.Flags().StringVar(&note, "note", "", "why (shown by describe and the Web UI)")
	return c
}

// scheduleIDCommand is trigger or delete: an ID only.
func (a *app) scheduleIDCommand(name string) *cobra.Command {
	short, long := "start a run of a schedule now (nothing while one is open)", "\nAsks a schedule to start a run now. Like a scheduled time, it starts nothing\nwhile a run of the dataset is open (overlap policy skip)."
	call, done := (*syncclient.Client).TriggerSchedule, "triggered (it starts nothing while a run of the dataset is open)"
	if name == "delete" {
		short, long = "delete a schedule (records and state stay)", "\nDeletes one of syncflow's schedules. A run already open goes on; the\ndataset's records and checkpoints stay in the destination. 'schedule apply'\ncreates it again if the file still defines it."
		call, done = (*syncclient.Client).DeleteSchedule, "deleted (the dataset's records and state are kept)"
	}
	return &cobra.Command{
		Use:     name + " ID",
		Short:   short,
		Long:    long,
		Example: "starter schedule " + name + " sync-orders",
		Args:    oneScheduleID,
		RunE: func(c *cobra.Command, args []string) error {
			return exit(a.session(c.Context(), "schedule "+name, func(ctx context.Context, sc *syncclient.Client) int {
				if err := call(sc, ctx, args[0]); err != nil {
					return a.failf("schedule "+name, "%v", err)
				}
				fmt.Fprintf(a.stdout, "schedule %s %s\n", args[0], done)
				return exitOK
			}))
		},
	}
}

// pausedName is a schedule's state in a table.
func pausedName(paused bool) string {
	if paused {
		return "paused"
	}
	return "active"
}

// orDash is s, or "-" when empty.
func orDash(s string) string { return orElse(s, "-") }
