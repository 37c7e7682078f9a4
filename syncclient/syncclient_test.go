package syncclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// harness is one test's world: an in-process Temporal server with
// syncflow's search attributes, a worker with real activities, a demo API
// and a SQLite sink.
type harness struct {
	t    *testing.T
	c    client.Client
	sc   *syncclient.Client
	api  *demoapi.Server
	url  string
	sink sink.Sink
	dsn  string // the sink's: a task naming it writes there
}

func newHarness(t *testing.T, opts demoapi.Options) *harness {
	t.Helper()
	return newHarnessWrapped(t, opts, func(h http.Handler) http.Handler { return h })
}

// newHarnessWrapped is newHarness with the demo API served through wrap.
func newHarnessWrapped(t *testing.T, opts demoapi.Options, wrap func(http.Handler) http.Handler) *harness {
	t.Helper()
	ctx := context.Background()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.NewClientWithOptions(client.Options{
		Logger: log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        ts.GetDefaultNamespace(),
		SearchAttributes: workflows.SearchAttributes(),
	})
	require.NoError(t, err)

	api := demoapi.New(opts)
	srv := httptest.NewServer(wrap(api))
	t.Cleanup(srv.Close)

	dsn := "sqlite://" + filepath.Join(t.TempDir(), "data.db")
	s, err := engine.OpenSink(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	w, _, err := engine.New(c, engine.Options{
		Sink:           s,
		DefaultDSN:     dsn,
		HeartbeatEvery: 200 * time.Millisecond,
		StopTimeout:    2 * time.Second,
	})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop) // runs before the sink and the server are closed
	return &harness{t: t, c: c, sc: syncclient.New(c), api: api, url: srv.URL, sink: s, dsn: dsn}
}

// dataset is the config of one demo dataset.
func (h *harness) dataset(id string) config.Dataset {
	return config.Dataset{ID: id, Source: h.api.SourceConfig(h.url, id)}
}

func (h *harness) count(id string) int64 {
	h.t.Helper()
	n, err := h.sink.Count(context.Background(), id)
	require.NoError(h.t, err)
	return n
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartSyncCompletesAndResyncs(t *testing.T) {
	h := newHarness(t, demoapi.Options{Seed: 7, Datasets: []demoapi.DatasetSpec{
		{ID: "orders", Pagination: source.PaginationCursor, Total: 250},
	}})
	ctx := testCtx(t)

	run, err := h.sc.StartSync(ctx, "", h.dataset("orders"), workflows.SyncOptions{}, h.dsn)
	require.NoError(t, err)
	require.Equal(t, "sync-orders", run.GetID())
	res, err := h.sc.Wait(ctx, run)
	require.NoError(t, err)
	require.Equal(t, task.Completed, res.State)
	require.EqualValues(t, 250, res.Records)
	require.EqualValues(t, 3, res.Pages)
	require.EqualValues(t, 250, h.count("orders"))

	st, err := h.sc.Describe(ctx, "sync-orders")
	require.NoError(t, err)
	require.Equal(t, syncclient.StatusCompleted, st.Status)
	require.Equal(t, string(task.Completed), st.State)
	require.Equal(t, "orders", st.Dataset)
	require.Equal(t, "sync orders → sqlite", st.Summary)
	require.NotNil(t, st.Result)
	require.EqualValues(t, 250, st.Result.Records)
	require.False(t, st.CloseTime.IsZero())
	require.Empty(t, st.Failure)

	// A closed ID starts a new run: a re-sync that upserts by key.
	run2, err := h.sc.StartSync(ctx, "sync-orders", h.dataset("orders"), workflows.SyncOptions{}, "sqlite")
	require.NoError(t, err)
	require.NotEqual(t, run.GetRunID(), run2.GetRunID())
	res2, err := h.sc.Wait(ctx, run2)
	require.NoError(t, err)
	require.EqualValues(t, 250, res2.Records)
	require.EqualValues(t, 250, h.count("orders"), "a re-sync must not duplicate records")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		list, err := h.sc.List(ctx, `SyncDataset = "orders"`, 10)
		if !assert.NoError(c, err) {
			return
		}
		if assert.Len(c, list, 2) {
			assert.Equal(c, run2.GetRunID(), list[0].RunID, "most recent first")
			assert.Equal(c, syncclient.KindSync, list[0].Kind)
			assert.Equal(c, string(task.Completed), list[0].State)
			assert.Equal(c, "orders", list[0].Dataset)
		}
	}, 30*time.Second, 100*time.Millisecond)
}

func TestStartSyncAttachesWatchAndCancel(t *testing.T) {
	h := newHarness(t, demoapi.Options{Seed: 7,
		Datasets: []demoapi.DatasetSpec{
			{ID: "slow", Pagination: source.PaginationPage, Total: 3000},
			{ID: "other", Pagination: source.PaginationPage, Total: 10},
		},
		Faults: demoapi.Faults{Latency: 150 * time.Millisecond},
	})
	ctx := testCtx(t)
	opts := workflows.SyncOptions{PagesPerActivity: 1}

	run, err := h.sc.StartSync(ctx, "t1", h.dataset("slow"), opts, "sqlite")
	require.NoError(t, err)

	// The same ID while it runs: the running sync, not a second one.
	again, err := h.sc.StartSync(ctx, "t1", h.dataset("slow"), opts, "sqlite")
	require.NoError(t, err)
	require.Equal(t, run.GetRunID(), again.GetRunID())
	_, err = h.sc.StartSync(ctx, "t1", h.dataset("other"), opts, "sqlite")
	require.ErrorContains(t, err, `running sync of dataset "slow"`)

	progress := make(chan workflows.Progress, 1000)
	watched := make(chan error, 1)
	go func() {
		watched <- h.sc.Watch(ctx, "t1", 100*time.Millisecond, func(p workflows.Progress) { progress <- p })
	}()
	for p := range progress {
		if p.Pages >= 2 {
			require.Equal(t, "slow", p.DatasetID)
			break
		}
	}

	st, err := h.sc.Describe(ctx, "t1")
	require.NoError(t, err)
	require.True(t, st.Open())
	require.NotNil(t, st.Progress, st.ProgressError)
	require.GreaterOrEqual(t, st.Progress.Pages, int64(2))

	require.NoError(t, h.sc.Cancel(ctx, "t1"))
	_, err = h.sc.Wait(ctx, run)
	require.True(t, temporal.IsCanceledError(err), "want a cancellation, got %v", err)
	require.NoError(t, <-watched, "Watch returns nil once the workflow closes")

	st, err = h.sc.Describe(ctx, "t1")
	require.NoError(t, err)
	require.Equal(t, syncclient.StatusCanceled, st.Status)
	require.Equal(t, string(task.Cancelled), st.State)
	require.Equal(t, "cancelled", st.Failure)
	cp, ok, err := h.sink.Load(ctx, "t1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, task.Cancelled, cp.State)
	require.Less(t, cp.Records, int64(3000))
}

func TestDescribeShowsLiveRetries(t *testing.T) {
	// The first request for the second page answers 500; its retry is held
	// at the source until the test has seen it, so Describe must show the
	// running retry with the last failure: it cannot end first.
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var mu sync.Mutex
	seen := 0
	h := newHarnessWrapped(t, demoapi.Options{Seed: 7,
		Datasets: []demoapi.DatasetSpec{{ID: "flaky", Pagination: source.PaginationOffset, Total: 50}},
	}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("offset") == "10" {
				mu.Lock()
				seen++
				n := seen
				mu.Unlock()
				if n == 1 {
					http.Error(w, `{"error":"flaky"}`, http.StatusInternalServerError)
					return
				}
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	ctx := testCtx(t)
	ds := h.dataset("flaky")
	ds.Source.Pagination.PageSize = 10
	run, err := h.sc.StartSync(ctx, "", ds, workflows.SyncOptions{}, "sqlite")
	require.NoError(t, err)

	var retry syncclient.PendingActivity
	require.Eventually(t, func() bool {
		st, err := h.sc.Describe(ctx, run.GetID())
		require.NoError(t, err)
		require.True(t, st.Open(), "the sync ended while its retry was held: %+v", st)
		for _, a := range st.Activities {
			if a.Attempt >= 2 && a.LastFailure != "" {
				retry = a
				return true
			}
		}
		return false
	}, time.Minute, 20*time.Millisecond, "Describe never showed the running retry")
	require.Contains(t, retry.LastFailure, "500")
	once.Do(func() { close(release) })

	res, err := h.sc.Wait(ctx, run)
	require.NoError(t, err)
	require.EqualValues(t, 50, res.Records)
	require.GreaterOrEqual(t, res.Retries, int64(1), "the retry shows in the result")
	require.EqualValues(t, 50, h.count("flaky"))
}

func TestBatchStartStatusCancelTask(t *testing.T) {
	h := newHarness(t, demoapi.Options{Seed: 7,
		Datasets: []demoapi.DatasetSpec{
			{ID: "a", Pagination: source.PaginationCursor, Total: 120},
			{ID: "b", Pagination: source.PaginationNextURL, Total: 80},
			{ID: "c", Pagination: source.PaginationNextURL, Total: 80},
		},
	})
	ctx := testCtx(t)
	in := workflows.BatchInput{
		Datasets: map[string]config.Dataset{"a": h.dataset("a"), "b": h.dataset("b"), "c": h.dataset("c")},
		Tasks:    []workflows.BatchTask{{ID: "a", Dataset: "a"}, {ID: "b", Dataset: "b"}, {ID: "c", Dataset: "c"}},
		// One at a time: b and c are still pending when b is cancelled.
		Concurrency: 1,
	}
	run, err := h.sc.StartBatch(ctx, "b1", in)
	require.NoError(t, err)
	require.Equal(t, "b1", run.GetID())

	ts, err := h.sc.CancelTask(ctx, "b1", "b")
	require.NoError(t, err)
	require.Equal(t, task.Cancelled, ts.State)
	_, err = h.sc.CancelTask(ctx, "b1", "nope")
	require.ErrorContains(t, err, "nope")

	res, err := h.sc.WaitBatch(ctx, run)
	require.NoError(t, err)
	require.Equal(t, 2, res.Counts[task.Completed])
	require.Equal(t, 1, res.Counts[task.Cancelled])
	require.EqualValues(t, 120, h.count("a"))
	require.EqualValues(t, 0, h.count("b"))
	require.EqualValues(t, 80, h.count("c"))

	bs, err := h.sc.BatchStatus(ctx, "b1")
	require.NoError(t, err)
	require.Equal(t, task.Completed, bs.State)
	require.Len(t, bs.Tasks, 3)
	require.Equal(t, workflows.ChildWorkflowID("b1", "a"), bs.Tasks[0].WorkflowID)
	page, err := h.sc.BatchStatusPage(ctx, "b1", workflows.BatchStatusRequest{States: []task.State{task.Completed}, Offset: 1})
	require.NoError(t, err)
	require.Equal(t, 2, page.Matching)
	require.Len(t, page.Tasks, 1)
	require.Equal(t, "c", page.Tasks[0].ID)

	// Over the cap: refused before anything starts.
	big := workflows.BatchInput{Datasets: in.Datasets}
	for i := range config.MaxBatchTasks + 1 {
		big.Tasks = append(big.Tasks, workflows.BatchTask{ID: fmt.Sprintf("t%d", i), Dataset: "a"})
	}
	_, err = h.sc.StartBatch(ctx, "too-big", big)
	require.ErrorContains(t, err, "a batch holds at most 10000")
	_, err = h.sc.Describe(ctx, "too-big")
	require.ErrorIs(t, err, syncclient.ErrNotFound, "nothing started")

	st, err := h.sc.Describe(ctx, "b1")
	require.NoError(t, err)
	require.Equal(t, workflows.BatchWorkflowName, st.Type)
	require.Equal(t, string(task.Completed), st.State)
	require.Equal(t, "b1", st.Batch)

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		list, err := h.sc.List(ctx, `SyncBatch = "b1"`, 10)
		if !assert.NoError(c, err) {
			return
		}
		kinds := map[string]int{}
		for _, s := range list {
			kinds[s.Kind]++
		}
		assert.Equal(c, map[string]int{syncclient.KindBatch: 1, syncclient.KindSync: 2}, kinds)
	}, 30*time.Second, 100*time.Millisecond)
}

func TestUnknownWorkflowIsNotFound(t *testing.T) {
	h := newHarness(t, demoapi.Options{Seed: 1})
	ctx := testCtx(t)
	_, err := h.sc.Describe(ctx, "missing")
	require.ErrorIs(t, err, syncclient.ErrNotFound)
	require.ErrorIs(t, h.sc.Cancel(ctx, "missing"), syncclient.ErrNotFound)
	err = h.sc.Watch(ctx, "missing", time.Second, func(workflows.Progress) { t.Error("no progress expected") })
	require.True(t, errors.Is(err, syncclient.ErrNotFound), "got %v", err)
}

func TestSinkKind(t *testing.T) {
	for dsn, want := range map[string]string{
		"sqlite:///var/lib/x.db":                "sqlite",
		"sqlite://rel/x.db":                     "sqlite",
		"postgres://u:secret@h:5432/db":         "postgres",
		"postgresql://u:secret@h/db?sslmode=no": "postgres",
		"sqlite":                                "sqlite",
		"":                                      "sink",
		"u:secret@host":                         "sink",
	} {
		require.Equal(t, want, syncclient.SinkKind(dsn), dsn)
	}
}
