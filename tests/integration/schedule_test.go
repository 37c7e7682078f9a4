package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// gatedSource serves a dataset of n records on one page; while gated, a
// request blocks until release is closed (or the client gives up).
type gatedSource struct {
	n        int
	requests atomic.Int64
	gated    atomic.Bool
	mu       sync.Mutex
	arrived  []time.Time   // of each request, for failure messages
	blocked  chan struct{} // receives (if there is room) for each request that blocks
	release  chan struct{}
	once     sync.Once
}

func newGatedSource(n int) *gatedSource {
	g := &gatedSource{n: n, blocked: make(chan struct{}, 16), release: make(chan struct{})}
	g.gated.Store(true)
	return g
}

func (g *gatedSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.arrived = append(g.arrived, time.Now())
	g.mu.Unlock()
	g.requests.Add(1)
	if g.gated.Load() {
		select {
		case g.blocked <- struct{}{}:
		default:
		}
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
	}
	recs := make([]map[string]any, g.n)
	for i := range recs {
		recs[i] = map[string]any{"id": fmt.Sprintf("t-%d", i)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": recs, "next": ""})
}

// times are the arrival times of the requests so far.
func (g *gatedSource) times() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, len(g.arrived))
	for i, at := range g.arrived {
		out[i] = at.Format("15:04:05.000")
	}
	return out
}

// open lets every request through from now on.
func (g *gatedSource) open() {
	g.once.Do(func() {
		g.gated.Store(false)
		close(g.release)
	})
}

// serve starts an HTTP server for g; at the end of the test the gate opens
// first, so that no blocked request holds up the server's Close.
func (g *gatedSource) serve(t *testing.T) *httptest.Server {
	api := httptest.NewServer(g)
	t.Cleanup(api.Close)
	t.Cleanup(g.open)
	return api
}

// scheduleWorld is the embedded dev server (with its Web UI), a real
// worker on the syncflow task queue and a configuration file.
type scheduleWorld struct {
	srv  *devserver.Server
	c    client.Client
	sc   *syncclient.Client
	dest sink.Sink
	dsn  string
}

func newScheduleWorld(t *testing.T, ctx context.Context) *scheduleWorld {
	t.Helper()
	srv, err := devserver.Start(ctx, devserver.Options{
		InMemory: true, FreePorts: true,
		SearchAttributes: workflows.SearchAttributes(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "dest.db")
	dest, err := engine.OpenSink(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = dest.Close() })
	w, _, err := engine.New(c, engine.Options{Sink: dest, DefaultDSN: dsn, HeartbeatEvery: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return &scheduleWorld{srv: srv, c: c, sc: syncclient.New(c), dest: dest, dsn: dsn}
}

// writeScheduleConfig writes a configuration with one dataset per
// id → schedule, all served by url, into the world's destination.
func (w *scheduleWorld) writeConfig(t *testing.T, url string, schedules map[string]string) *config.File {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "sink: %s\ndatasets:\n", w.dsn)
	for id, sched := range schedules {
		fmt.Fprintf(&b, "  - id: %s\n    source:\n      url: %s\n      records: data\n      key: id\n      pagination: {type: next_url, next: next}\n", id, url)
		if sched != "" {
			fmt.Fprintf(&b, "    schedule: %q\n", sched)
		}
	}
	path := filepath.Join(t.TempDir(), "schedules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	f, err := config.Load(path)
	require.NoError(t, err)
	return f
}

// describeWhen describes a schedule until cond holds (the scheduler
// reports events as they happen; no timing is assumed).
func (w *scheduleWorld) describeWhen(t *testing.T, ctx context.Context, id, what string, cond func(syncclient.ScheduleStatus) bool) syncclient.ScheduleStatus {
	t.Helper()
	var st syncclient.ScheduleStatus
	var last error
	ok := assert.Eventually(t, func() bool {
		got, err := w.sc.DescribeSchedule(ctx, id)
		if err != nil {
			last = err
			return false
		}
		st = got
		return cond(st)
	}, time.Minute, 100*time.Millisecond)
	require.True(t, ok, "schedule %s: %s; last seen %+v (last error %v)", id, what, st, last)
	return st
}

// A dataset's schedule on the embedded server fires, never starts a
// second run while one is open (overlap skip) and shows in the temporal
// CLI, the Web UI's Schedules API and ListSchedules; each run is an
// ordinary SyncWorkflow of the dataset.
func TestScheduleFiresWithoutOverlapAndIsListed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newScheduleWorld(t, ctx)
	src := newGatedSource(7)
	api := src.serve(t)
	f := w.writeConfig(t, api.URL, map[string]string{"tickets": "@every 2s"})

	applied, err := w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{})
	require.NoError(t, err)
	require.Equal(t, []syncclient.AppliedSchedule{{ID: "sync-tickets", Dataset: "tickets", Schedule: "@every 2s", Change: syncclient.ScheduleCreated}}, applied)
	again, err := w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{})
	require.NoError(t, err)
	require.Equal(t, syncclient.ScheduleUnchanged, again[0].Change, "applying the same file again changes nothing")

	// The first run blocks on its first page. Times that come due while it
	// is open start nothing.
	<-src.blocked
	st := w.describeWhen(t, ctx, "sync-tickets", "a time skipped while the first run is open",
		func(st syncclient.ScheduleStatus) bool { return st.SkippedOverlap >= 1 })
	require.Equal(t, 1, st.Actions, "one run started: %+v", st)
	require.Len(t, st.Running, 1)
	require.Equal(t, "skip", st.Overlap)
	require.Equal(t, time.Minute, st.CatchupWindow)
	first := st.Running[0]
	requireOnlyRunReachedSource(t, ctx, w.c, first, src)
	require.True(t, strings.HasPrefix(first, "sync-tickets-"), "the workflow ID %s shows the schedule", first)

	// Listed by the temporal CLI, the Web UI's API and ListSchedules.
	requireListedByCLI(t, ctx, w.srv, "sync-tickets")
	requireListedByWebUI(t, ctx, w.srv, "sync-tickets")
	list, err := w.sc.ListSchedules(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "tickets", list[0].Dataset)
	require.Equal(t, "@every 2s", list[0].Schedule)

	src.open()
	st = w.describeWhen(t, ctx, "sync-tickets", "a second run started after the first ended",
		func(st syncclient.ScheduleStatus) bool { return st.Actions >= 2 })
	require.NoError(t, w.sc.PauseSchedule(ctx, "sync-tickets", "test done"))
	st = w.describeWhen(t, ctx, "sync-tickets", "paused", func(st syncclient.ScheduleStatus) bool { return st.Paused })
	require.GreaterOrEqual(t, len(st.Recent), 2)
	var prevClose time.Time
	for _, r := range st.Recent {
		var res workflows.SyncResult
		require.NoError(t, w.c.GetWorkflow(ctx, r.WorkflowID, r.RunID).Get(ctx, &res), r.WorkflowID)
		require.Equal(t, task.Completed, res.State)
		require.Equal(t, "sync-tickets", res.TaskID, "scheduled runs are the dataset's default task")
		require.EqualValues(t, 7, res.Records)
		d, err := w.sc.Describe(ctx, r.WorkflowID)
		require.NoError(t, err)
		require.Equal(t, workflows.SyncWorkflowName, d.Type)
		require.Equal(t, "tickets", d.Dataset, "the run carries the SyncDataset search attribute")
		require.Contains(t, d.Summary, "schedule sync-tickets")
		require.False(t, d.StartTime.Before(prevClose), "run %s started before the previous one closed", r.WorkflowID)
		prevClose = d.CloseTime
	}
	require.Equal(t, first, st.Recent[0].WorkflowID)
	n, err := w.dest.Count(ctx, "tickets")
	require.NoError(t, err)
	require.EqualValues(t, 7, n, "upserted by key: no duplicates across runs")
}

// requireOnlyRunReachedSource checks that every request src received is
// a try of the open run's SyncPages: one request per attempt (a retry of
// the held page is the run's own, a second run would add one more).
func requireOnlyRunReachedSource(t *testing.T, ctx context.Context, c client.Client, workflowID string, src *gatedSource) {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(t, err)
	require.Len(t, d.PendingActivities, 1, "the open run holds its page")
	pa := d.PendingActivities[0]
	require.Equal(t, "SyncPages", pa.GetActivityType().GetName())
	require.EqualValues(t, pa.GetAttempt(), src.requests.Load(),
		"no second run reached the source: requests at %v, the run's activity is at attempt %d (last failure: %v)",
		src.times(), pa.GetAttempt(), pa.GetLastFailure())
}

// requireListedByCLI waits until `temporal schedule list` shows id, and
// checks `temporal schedule describe`.
func requireListedByCLI(t *testing.T, ctx context.Context, srv *devserver.Server, id string) {
	t.Helper()
	cli := temporalCLI(t)
	run := func(args ...string) string {
		args = append(args, "--address", srv.FrontendAddress(), "--namespace", srv.Namespace())
		cmd := exec.CommandContext(ctx, cli, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "temporal %s: %s", strings.Join(args, " "), stderr.String())
		return string(out)
	}
	require.Eventually(t, func() bool { return strings.Contains(run("schedule", "list"), id) },
		30*time.Second, 200*time.Millisecond, "temporal schedule list shows %s", id)
	out := run("schedule", "describe", "--schedule-id", id, "--output", "json")
	require.Contains(t, out, workflows.SyncWorkflowName, "temporal schedule describe: %s", out)
	require.Contains(t, out, "SCHEDULE_OVERLAP_POLICY_SKIP", "temporal schedule describe: %s", out)
}

// requireListedByWebUI waits until the Web UI's API (what its Schedules
// page shows) lists id.
func requireListedByWebUI(t *testing.T, ctx context.Context, srv *devserver.Server, id string) {
	t.Helper()
	url := srv.UIAddress() + "/api/v1/namespaces/" + srv.Namespace() + "/schedules"
	var body string
	require.Eventually(t, func() bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		body = string(raw)
		return resp.StatusCode == http.StatusOK && strings.Contains(body, id)
	}, 30*time.Second, 200*time.Millisecond, "GET %s lists %s; last body: %s", url, id, body)
}

// apply creates, updates and (with prune only) deletes; trigger starts a
// run of a cron schedule that is not due; a paused schedule stays paused
// when applied again; delete leaves the dataset's records and checkpoint.
func TestScheduleApplyTriggerPruneDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newScheduleWorld(t, ctx)
	src := newGatedSource(3)
	src.open()
	api := src.serve(t)
	yearly := "0 0 1 1 *" // not due during the test
	f := w.writeConfig(t, api.URL, map[string]string{"orders": yearly, "invoices": "@daily", "plain": ""})
	applied, err := w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{})
	require.NoError(t, err)
	require.ElementsMatch(t, []syncclient.AppliedSchedule{
		{ID: "sync-orders", Dataset: "orders", Schedule: yearly, Change: syncclient.ScheduleCreated},
		{ID: "sync-invoices", Dataset: "invoices", Schedule: "@daily", Change: syncclient.ScheduleCreated},
	}, applied, "a dataset without schedule: gets none")
	st, err := w.sc.DescribeSchedule(ctx, "sync-orders")
	require.NoError(t, err)
	require.Equal(t, yearly, st.Schedule, "the cron expression reads as written")
	require.Equal(t, syncclient.MaxCatchupWindow, st.CatchupWindow)
	require.Zero(t, st.Actions)

	// trigger: a run now, an ordinary sync of the dataset.
	require.NoError(t, w.sc.TriggerSchedule(ctx, "sync-orders"))
	st = w.describeWhen(t, ctx, "sync-orders", "the triggered run", func(st syncclient.ScheduleStatus) bool { return len(st.Recent) == 1 })
	var res workflows.SyncResult
	require.NoError(t, w.c.GetWorkflow(ctx, st.Recent[0].WorkflowID, "").Get(ctx, &res))
	require.EqualValues(t, 3, res.Records)

	// A changed schedule is updated; a paused one stays paused.
	require.NoError(t, w.sc.PauseSchedule(ctx, "sync-invoices", ""))
	f = w.writeConfig(t, api.URL, map[string]string{"orders": yearly, "invoices": "@every 1h", "plain": ""})
	applied, err = w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{})
	require.NoError(t, err)
	require.ElementsMatch(t, []syncclient.AppliedSchedule{
		{ID: "sync-orders", Dataset: "orders", Schedule: yearly, Change: syncclient.ScheduleUnchanged},
		{ID: "sync-invoices", Dataset: "invoices", Schedule: "@every 1h", Change: syncclient.ScheduleUpdated},
	}, applied)
	st, err = w.sc.DescribeSchedule(ctx, "sync-invoices")
	require.NoError(t, err)
	require.True(t, st.Paused, "apply keeps a schedule paused")
	require.Equal(t, "@every 1h", st.Schedule)
	require.NoError(t, w.sc.UnpauseSchedule(ctx, "sync-invoices", ""))

	// Without prune nothing goes; with it the schedules the file no longer
	// defines go (the list is eventually consistent: wait for it).
	f = w.writeConfig(t, api.URL, map[string]string{"orders": yearly})
	require.Eventually(t, func() bool {
		l, err := w.sc.ListSchedules(ctx)
		return err == nil && len(l) == 2
	}, 30*time.Second, 100*time.Millisecond)
	applied, err = w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{})
	require.NoError(t, err)
	require.Len(t, applied, 1)
	_, err = w.sc.DescribeSchedule(ctx, "sync-invoices")
	require.NoError(t, err, "apply without --prune removes nothing")
	applied, err = w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{Prune: true})
	require.NoError(t, err)
	require.Contains(t, applied, syncclient.AppliedSchedule{ID: "sync-invoices", Dataset: "invoices", Schedule: "@every 1h", Change: syncclient.ScheduleDeleted})
	_, err = w.sc.DescribeSchedule(ctx, "sync-invoices")
	require.ErrorIs(t, err, syncclient.ErrScheduleNotFound)

	// A schedule that is not syncflow's is never listed, pruned, deleted
	// or taken over.
	_, err = w.c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:     "sync-foreign",
		Spec:   client.ScheduleSpec{CronExpressions: []string{yearly}},
		Action: &client.ScheduleWorkflowAction{Workflow: "OtherWorkflow", TaskQueue: "other"},
	})
	require.NoError(t, err)
	f2 := w.writeConfig(t, api.URL, map[string]string{"foreign": "@daily"})
	_, err = w.sc.ApplySchedules(ctx, f2.Datasets, f2.Sink, syncclient.ApplyOptions{})
	require.ErrorContains(t, err, "schedule sync-foreign exists but is not syncflow's schedule of dataset foreign")
	require.ErrorContains(t, w.sc.DeleteSchedule(ctx, "sync-foreign"), "not a syncflow schedule")
	require.Eventually(t, func() bool {
		_, err := w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{Prune: true})
		require.NoError(t, err)
		raw, err := w.c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
		require.NoError(t, err)
		for raw.HasNext() {
			if e, err := raw.Next(); err == nil && e.ID == "sync-foreign" {
				return true // visible to the prune, and kept
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond)
	_, err = w.sc.DescribeSchedule(ctx, "sync-foreign")
	require.NoError(t, err, "prune leaves a schedule that is not syncflow's")
	list, err := w.sc.ListSchedules(ctx)
	require.NoError(t, err)
	for _, s := range list {
		require.NotEqual(t, "sync-foreign", s.ID)
	}

	// delete: the schedule goes, the data and the state stay.
	require.NoError(t, w.sc.DeleteSchedule(ctx, "sync-orders"))
	_, err = w.sc.DescribeSchedule(ctx, "sync-orders")
	require.ErrorIs(t, err, syncclient.ErrScheduleNotFound)
	n, err := w.dest.Count(ctx, "orders")
	require.NoError(t, err)
	require.EqualValues(t, 3, n, "deleting a schedule keeps the records")
	cp, ok, err := w.dest.Load(ctx, "sync-orders")
	require.NoError(t, err)
	require.True(t, ok, "deleting a schedule keeps the checkpoint")
	require.Equal(t, task.Completed, cp.State)
	require.ErrorIs(t, w.sc.DeleteSchedule(ctx, "sync-orders"), syncclient.ErrScheduleNotFound)
}
