package integration_test

// Issue 11 §3–§5: per-page tries, live and final progress, cancellations the
// workflow did not ask for, the total rate-limit wait. These tests run at
// the product's default options (no pages-per-activity override).

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// queryProgress runs the progress query.
func (e *env) queryProgress(id string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := e.c.QueryWorkflow(context.Background(), id, "", workflows.QueryProgress)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}

// awaitPages polls the progress query until it shows at least pages
// committed pages. The source holds the next page back until then, so the
// condition cannot pass by luck nor be missed.
func (e *env) awaitPages(id string, pages int64) workflows.Progress {
	e.t.Helper()
	var last workflows.Progress
	require.Eventuallyf(e.t, func() bool {
		p, err := e.queryProgress(id)
		last = p
		return err == nil && p.Pages >= pages
	}, 30*time.Second, 20*time.Millisecond, "progress query never showed %d pages (last %+v)", pages, last.Position)
	return last
}

// 15 % and more of the requests answer 500 over 200 pages, every page
// succeeding within three tries, at the default options: the sync
// completes with exact records and every retry counted. (Before per-page
// tries, the 10 attempts covered a whole 20-page execution, and a stretch of
// failing pages failed the task.)
func TestTransientFaultsCountPerPage(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	const pages = 200
	src := newScriptedSource(t, pages*10, 10)
	faults := 0
	for p := 40; p < 60; p++ { // one execution's 20 pages, each failing once
		src.script(p, fault{status: 500})
		faults++
	}
	rng := rand.New(rand.NewPCG(11, 3))
	for i, p := range rng.Perm(pages)[:18] {
		if p >= 40 && p < 60 {
			continue
		}
		n := 1 + i%5/4 // every fifth page fails twice
		for range n {
			src.script(p, fault{status: 500})
			faults++
		}
	}
	ds := src.dataset("flaky", source.PaginationCursor)

	res, err := e.result(e.start("task-flaky", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	requests := len(src.log())
	require.GreaterOrEqual(t, float64(faults)/float64(requests), 0.15, "%d faults of %d requests", faults, requests)
	require.Equal(t, pages+faults, requests, "each fault retried once")
	e.requireExact(ds.ID, src)
	require.EqualValues(t, pages, res.Pages)
	require.EqualValues(t, faults, res.Retries, "every retry counted")
}

// A page that fails max_attempts times in a row fails the task as transient
// after exactly that many tries, although earlier pages used more tries in
// total; the failure and the status report what was committed.
func TestPageFailingMaxAttemptsFailsTransient(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 100, 10)
	for p := 1; p <= 4; p++ {
		src.script(p, fault{status: 500}, fault{status: 502}) // two tries lost, the third succeeds
	}
	src.script(6, fault{status: 500}, fault{status: 500}, fault{status: 500})
	ds := src.dataset("failing", source.PaginationCursor)

	run := e.start("task-failing", ds, workflows.SyncOptions{MaxAttempts: 3})
	_, err := e.result(run)
	require.Error(t, err)
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.Transient, class, "%v", err)
	require.Contains(t, err.Error(), "page tried 3 times")
	require.Equal(t, 3, src.requestsFor(6))
	require.Equal(t, 0, src.requestsFor(7))

	f, ok := syncclient.FinalFailure(err)
	require.True(t, ok, "the failure carries the committed position")
	require.EqualValues(t, 6, f.Pages)
	require.EqualValues(t, 60, f.Records)
	st, err := syncclient.New(e.c).Describe(context.Background(), run.GetID())
	require.NoError(t, err)
	require.NotNil(t, st.Progress, "status of a failed task shows its counts")
	require.EqualValues(t, 60, st.Progress.Records)
	require.Equal(t, task.Failed, st.Progress.State)
	require.EqualValues(t, 6, e.checkpoint("task-failing").Pages)
}

// While an activity is still running (the source holds page 10 back until
// the test has seen the first 10 pages), the progress query, the status
// and the workflow's current details show the committed pages; a
// cancellation then ends the task reporting them too.
func TestProgressIsLiveAndCancelledTaskReportsIt(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 300, 10)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	src.onRequest = func(page, n int) {
		if page == 10 {
			<-release
		}
	}
	ds := src.dataset("live", source.PaginationCursor)
	run := e.start("task-live", ds, workflows.SyncOptions{})

	p := e.awaitPages(run.GetID(), 10)
	require.EqualValues(t, 10, p.Pages)
	require.EqualValues(t, 100, p.Records)
	require.EqualValues(t, 0, p.Executions, "the first execution is still running")
	st, err := syncclient.New(e.c).Describe(context.Background(), run.GetID())
	require.NoError(t, err)
	require.NotNil(t, st.Progress)
	require.EqualValues(t, 100, st.Progress.Records, "status")
	v, err := e.c.QueryWorkflow(context.Background(), run.GetID(), "", queryWorkflowMetadata)
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	require.Contains(t, md.GetCurrentDetails(), "10 pages, 100 records")

	require.NoError(t, e.c.CancelWorkflow(context.Background(), run.GetID(), ""))
	_, err = e.result(run)
	require.Truef(t, temporal.IsCanceledError(err), "%v", err)
	once.Do(func() { close(release) })
	f, ok := syncclient.FinalFailure(err)
	require.True(t, ok, "the cancellation carries the committed position")
	require.EqualValues(t, 100, f.Records)
	st, err = syncclient.New(e.c).Describe(context.Background(), run.GetID())
	require.NoError(t, err)
	require.NotNil(t, st.Progress)
	require.EqualValues(t, 100, st.Progress.Records)
	require.Equal(t, task.Cancelled, st.Progress.State)
	require.Equal(t, task.Cancelled, e.checkpoint("task-live").State)
}

// A source that answers 429 forever: the task fails rate limited once its
// total rate-limited wait is used up, saying how long it waited.
func TestRateLimitedForeverEndsAfterMaxWait(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 50, 10)
	forever := make([]fault, 1000)
	for i := range forever {
		forever[i] = fault{status: http.StatusTooManyRequests, retryAfter: "1"}
	}
	src.script(2, forever...)
	ds := src.dataset("throttled", source.PaginationCursor)

	run := e.start("task-throttled", ds, workflows.SyncOptions{MaxRateLimitWait: source.Duration(3 * time.Second)})
	_, err := e.result(run)
	require.Error(t, err)
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.RateLimited, class, "%v", err)
	require.Contains(t, err.Error(), "rate limited for a total of")
	require.Contains(t, err.Error(), "max_rate_limit_wait 3s")
	f, ok := syncclient.FinalFailure(err)
	require.True(t, ok)
	require.EqualValues(t, 2, f.Pages)
}

// A page alternating transient errors and long 429s (returned to the
// workflow's timer, each time a new execution): the 429s do not reset the
// page's tries, so the task fails transient after max_attempts tries
// instead of looping.
func TestTransientAnd429AlternatingEnds(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 50, 10)
	var alt []fault
	for range 50 {
		alt = append(alt, fault{status: 500}, fault{status: http.StatusTooManyRequests, retryAfter: "2"})
	}
	src.script(1, alt...)
	ds := src.dataset("alternating", source.PaginationCursor)

	run := e.start("task-alternating", ds, workflows.SyncOptions{MaxAttempts: 3, MaxWait: source.Duration(time.Second)})
	_, err := e.result(run)
	require.Error(t, err)
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.Transient, class, "%v", err)
	require.Equal(t, 5, src.requestsFor(1), "three 500s and the two 429s between them")
}

// blockingLoad is a sink whose first Load blocks until its context ends,
// telling the test when it started.
type blockingLoad struct {
	sink.Sink
	once    sync.Once
	loading chan struct{}
}

func (b *blockingLoad) Load(ctx context.Context, taskID string) (sink.Checkpoint, bool, error) {
	first := false
	b.once.Do(func() { first = true })
	if !first {
		return b.Sink.Load(ctx, taskID)
	}
	close(b.loading)
	<-ctx.Done()
	return sink.Checkpoint{}, false, ctx.Err()
}

// A worker stopped at once (stop timeout 0) while its activity loads the
// checkpoint: a cancellation the workflow did not ask for. Another worker
// retries it, and the task completes.
func TestWorkerStopWhileLoadingIsRetried(t *testing.T) {
	e := newEnv(t)
	bl := &blockingLoad{Sink: e.sink, loading: make(chan struct{})}
	w1, _, err := engine.New(e.c, engine.Options{Sink: bl, TaskQueue: e.tq, StopTimeout: -1, HeartbeatEvery: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w1.Start())
	src := newScriptedSource(t, 40, 10)
	ds := src.dataset("stopped", source.PaginationCursor)
	run := e.start("task-stopped", ds, workflows.SyncOptions{HeartbeatTimeout: source.Duration(2 * time.Second)})

	<-bl.loading
	w1.Stop()
	e.startWorker(workerOptions{})
	res, err := e.result(run)
	var appErr *temporal.ApplicationError
	require.False(t, errors.As(err, &appErr), "task failed: %v", err)
	require.NoError(t, err)
	require.Equal(t, task.Completed, res.State)
	e.requireExact(ds.ID, src)
	require.False(t, strings.Contains(e.logs.String(), "sync failed"))
}

// An activity reset from the CLI or Web UI (`temporal activity reset`)
// while a page is in flight cancels the running attempt without the
// workflow asking: the task goes on from the last committed page and
// completes, instead of failing as cancelled.
func TestActivityResetIsRetried(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 60, 10)
	reached := src.holdFirst(3)
	ds := src.dataset("reset", source.PaginationCursor)
	run := e.start("task-reset", ds, workflows.SyncOptions{})

	<-reached
	_, err := e.c.WorkflowService().ResetActivity(context.Background(), &workflowservice.ResetActivityRequest{
		Namespace: e.ts.GetDefaultNamespace(),
		Execution: &commonpb.WorkflowExecution{WorkflowId: run.GetID()},
		Activity:  &workflowservice.ResetActivityRequest_Type{Type: "SyncPages"},
		Identity:  "test",
	})
	require.NoError(t, err)
	res, err := e.result(run)
	require.NoError(t, err)
	require.Equal(t, task.Completed, res.State)
	e.requireExact(ds.ID, src)
}

// An activity paused from the CLI or Web UI (`temporal activity pause`)
// while a page is in flight: the attempt stops without failing the task,
// and after `temporal activity unpause` the task completes.
func TestActivityPauseIsRetried(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 60, 10)
	reached := src.holdFirst(3)
	ds := src.dataset("pause", source.PaginationCursor)
	run := e.start("task-pause", ds, workflows.SyncOptions{})
	exec := &commonpb.WorkflowExecution{WorkflowId: run.GetID()}

	<-reached
	_, err := e.c.WorkflowService().PauseActivity(context.Background(), &workflowservice.PauseActivityRequest{
		Namespace: e.ts.GetDefaultNamespace(), Execution: exec,
		Activity: &workflowservice.PauseActivityRequest_Type{Type: "SyncPages"}, Identity: "test",
	})
	require.NoError(t, err)
	sc := syncclient.New(e.c)
	require.Eventually(t, func() bool { // the paused attempt has ended
		st, err := sc.Describe(context.Background(), run.GetID())
		return err == nil && len(st.Activities) == 1 && st.Activities[0].State == "paused" && st.Activities[0].LastFailure != ""
	}, 30*time.Second, 20*time.Millisecond)
	_, err = e.c.WorkflowService().UnpauseActivity(context.Background(), &workflowservice.UnpauseActivityRequest{
		Namespace: e.ts.GetDefaultNamespace(), Execution: exec,
		Activity: &workflowservice.UnpauseActivityRequest_Type{Type: "SyncPages"}, Identity: "test",
	})
	require.NoError(t, err)
	res, err := e.result(run)
	require.NoError(t, err)
	require.Equal(t, task.Completed, res.State)
	e.requireExact(ds.ID, src)
}
