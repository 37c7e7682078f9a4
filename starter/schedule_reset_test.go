package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// withSchedule writes a copy of the world's configuration whose last
// dataset has the given schedule, and returns its path.
func (w *world) withSchedule(t *testing.T, name, schedule string) string {
	t.Helper()
	raw, err := os.ReadFile(w.cfgPath)
	require.NoError(t, err)
	path := w.dir + "/" + name
	require.NoError(t, os.WriteFile(path, append(raw, []byte("    schedule: \""+schedule+"\"\n")...), 0o644))
	return path
}

// describeSchedule is `starter schedule describe ID --json`.
func (w *world) describeSchedule(t *testing.T, id string) syncclient.ScheduleStatus {
	t.Helper()
	r := w.run("schedule", "describe", id, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var st syncclient.ScheduleStatus
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	return st
}

func TestScheduleCommands(t *testing.T) {
	w := newWorld(t, demoapi.Options{Seed: 5, Datasets: []demoapi.DatasetSpec{
		{ID: "orders", Pagination: source.PaginationCursor, Total: 120},
	}}, "orders")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	yearly := w.withSchedule(t, "yearly.yaml", "0 0 1 1 *")

	r := w.run("schedule", "apply", "--config", w.cfgPath)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "no dataset of "+w.cfgPath+" has a schedule")
	r = w.run("schedule", "apply", "--config", yearly)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `sync-orders\s+orders\s+0 0 1 1 \*\s+created`, r.stdout)
	r = w.run("schedule", "apply", "-config", yearly)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `sync-orders\s+orders\s+0 0 1 1 \*\s+unchanged`, r.stdout)

	require.Eventually(t, func() bool {
		r := w.run("schedule", "list")
		return r.code == exitOK && regexpMatch(`sync-orders\s+orders\s+0 0 1 1 \*\s+active`, r.stdout)
	}, 30*time.Second, 200*time.Millisecond, "schedule list shows sync-orders")
	r = w.run("schedule", "describe", "sync-orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `overlap:\s+skip`, r.stdout)
	require.Regexp(t, `catch-up window:\s+1h0m0s`, r.stdout)

	r = w.run("schedule", "pause", "sync-orders", "--note", "maintenance")
	require.Equal(t, exitOK, r.code, r.stderr)
	st := w.describeSchedule(t, "sync-orders")
	require.True(t, st.Paused)
	require.Equal(t, "maintenance", st.Note)
	r = w.run("schedule", "unpause", "sync-orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.False(t, w.describeSchedule(t, "sync-orders").Paused)

	r = w.run("schedule", "trigger", "sync-orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Eventually(t, func() bool { return len(w.describeSchedule(t, "sync-orders").Recent) == 1 },
		30*time.Second, 100*time.Millisecond, "the triggered run starts")
	wid := w.describeSchedule(t, "sync-orders").Recent[0].WorkflowID
	require.True(t, strings.HasPrefix(wid, "sync-orders-"), wid)
	var res workflows.SyncResult
	require.NoError(t, w.c.GetWorkflow(ctx, wid, "").Get(ctx, &res))
	require.EqualValues(t, 120, w.count("orders"))

	// The schedule's ID given to status or cancel means its runs.
	r = w.run("status", "sync-orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "sync-orders is a schedule: showing its latest run, "+wid)
	require.Contains(t, r.stdout, wid)
	r = w.run("cancel", "sync-orders")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "sync-orders is a schedule, not a sync: it has no open run; stop it with `starter schedule pause sync-orders`")

	r = w.run("schedule", "delete", "sync-orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "records and state are kept")
	require.EqualValues(t, 120, w.count("orders"))
	r = w.run("schedule", "describe", "sync-orders")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "schedule not found")

	// --prune deletes the schedules the file no longer defines.
	r = w.run("schedule", "apply", "--config", yearly)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Eventually(t, func() bool { return strings.Contains(w.run("schedule", "list").stdout, "sync-orders") },
		30*time.Second, 200*time.Millisecond)
	r = w.run("schedule", "apply", "--config", w.cfgPath, "--prune")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `sync-orders\s+orders\s+0 0 1 1 \*\s+deleted`, r.stdout)

	for _, args := range [][]string{{"schedule"}, {"schedule", "apply"}, {"schedule", "pause"}, {"schedule", "trigger", "a", "b"}} {
		r := w.run(args...)
		require.Equal(t, exitUsage, r.code, "%q: %s", args, r.stderr)
	}
}

func TestResetCommand(t *testing.T) {
	w := newWorld(t, demoapi.Options{Seed: 4, Datasets: []demoapi.DatasetSpec{
		{ID: "big", Pagination: source.PaginationCursor, Total: 20000},
		{ID: "orders", Pagination: source.PaginationCursor, Total: 120},
	}, Faults: demoapi.Faults{Latency: 20 * time.Millisecond}}, "big", "orders")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r := w.run("sync", "--config", w.cfgPath, "--dataset", "orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	// The dataset has a schedule: a reset pauses it and puts it back.
	sched := w.withSchedule(t, "sched.yaml", "0 0 1 1 *")
	r = w.run("schedule", "apply", "--config", sched)
	require.Equal(t, exitOK, r.code, r.stderr)

	r = w.run("reset", "orders", "--config", w.cfgPath)
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "dataset orders reset in sqlite: state cleared, its 120 records kept; the next run is a full one")
	_, ok, err := w.sink.Load(ctx, "sync-orders")
	require.NoError(t, err)
	require.False(t, ok, "the checkpoint is gone")
	require.EqualValues(t, 120, w.count("orders"))
	require.False(t, w.describeSchedule(t, "sync-orders").Paused, "the schedule is active again")

	r = w.run("reset", "orders", "--config", w.cfgPath, "--records")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "its 120 records deleted")
	require.Zero(t, w.count("orders"))
	r = w.run("sync", "--config", w.cfgPath, "--dataset", "orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.EqualValues(t, 120, w.count("orders"), "the next run is a full one")

	// Refused while a sync of the dataset is open, with its default task
	// ID and with another one (found through visibility).
	for _, id := range []string{"sync-big", "big-nightly"} {
		r = w.run("sync", "--config", w.cfgPath, "--dataset", "big", "--id", id, "--detach")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Eventually(t, func() bool { _, ok, _ := w.sink.Load(ctx, id); return ok }, 30*time.Second, 50*time.Millisecond,
			"the sync %s has committed a page", id)
		r = w.run("reset", "big", "--config", w.cfgPath, "--records")
		require.Equal(t, exitFailed, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
		require.Contains(t, r.stderr, "refused: dataset big cannot be reset while a sync of it is open ("+id+")")
		require.Contains(t, r.stderr, "starter cancel "+id)
		require.Positive(t, w.count("big"), "a refused reset deletes nothing")
		_, ok, err = w.sink.Load(ctx, id)
		require.NoError(t, err)
		require.True(t, ok, "a refused reset keeps the checkpoint")
		r = w.run("cancel", id)
		require.Equal(t, exitOK, r.code, r.stderr)
		_ = w.c.GetWorkflow(ctx, id, "").Get(ctx, nil)
	}
	r = w.run("reset", "big", "--config", w.cfgPath, "--records")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Zero(t, w.count("big"))
	require.EqualValues(t, 120, w.count("orders"), "another dataset is left alone")

	for _, args := range [][]string{{"reset"}, {"reset", "orders"}, {"reset", "nope", "--config", w.cfgPath}, {"reset", "a", "b", "--config", w.cfgPath}} {
		r := w.run(args...)
		require.Equal(t, exitUsage, r.code, "%q: %s", args, r.stderr)
	}
}

// regexpMatch reports whether s matches the pattern.
func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// A malformed schedule is a configuration error (file, line, dataset,
// field), reported before Temporal is even dialled.
func TestScheduleApplyRefusesAMalformedSchedule(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "http://127.0.0.1:1", "sqlite://"+dir+"/d.db", "orders")
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	bad := dir + "/bad.yaml"
	require.NoError(t, os.WriteFile(bad, append(raw, []byte("    schedule: \"@every 10 minutes\"\n")...), 0o644))
	line := strings.Count(string(raw), "\n") + 1
	env := []string{"TEMPORAL_ADDRESS=127.0.0.1:1", "TEMPORAL_CONFIG_FILE=" + dir + "/none.toml"}
	for _, args := range [][]string{
		{"schedule", "apply", "--config", bad},
		{"sync", "--config", bad, "--dataset", "orders"},
		{"reset", "orders", "--config", bad},
	} {
		r := runCLI(env, args...)
		require.Equal(t, exitUsage, r.code, "%q: %s", args, r.stderr)
		require.Contains(t, r.stderr, fmt.Sprintf("%s:%d: datasets[0] (orders): schedule: \"@every 10 minutes\": \"10 minutes\" is not a duration", bad, line), "%q", args)
		require.NotContains(t, r.stderr, "cannot use Temporal", "%q: nothing is started", args)
	}
}
