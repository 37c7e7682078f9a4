package integration_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// Every pagination type syncs a multi-page dataset exactly.
func TestSyncEveryPaginationType(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	for _, p := range []string{
		source.PaginationCursor, source.PaginationNextURL, source.PaginationLinkHeader,
		source.PaginationPage, source.PaginationOffset,
	} {
		t.Run(p, func(t *testing.T) {
			src := newScriptedSource(t, 47, 10)
			ds := src.dataset("ds-"+p, p)
			res, err := e.result(e.start("task-"+p, ds, workflows.SyncOptions{}))
			require.NoError(t, err)
			require.Equal(t, task.Completed, res.State)
			require.EqualValues(t, 47, res.Records)
			e.requireExact(ds.ID, src)
			cp := e.checkpoint("task-" + p)
			require.Equal(t, task.Completed, cp.State)
			require.True(t, cp.Done)
		})
	}
}

// Transient faults on many pages: the sync completes with exactly the
// source's records.
func TestSyncSurvivesTransientFaults(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 120, 10)
	src.script(0, fault{status: 500})
	src.script(1, fault{status: 503}, fault{status: 502})
	src.script(2, fault{reset: true})
	src.script(4, fault{truncate: true}, fault{reset: true})
	src.script(6, fault{stall: true}) // past the 2 s per-request timeout
	src.script(8, fault{status: 504}, fault{truncate: true})
	src.script(11, fault{status: 408})
	ds := src.dataset("faulty", source.PaginationCursor)

	res, err := e.result(e.start("task-faulty", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.EqualValues(t, 120, res.Records)
	// Ten scripted faults; Go's transport itself retries a GET whose reused
	// connection is reset before any answer, so a reset may cost no retry.
	require.GreaterOrEqual(t, res.Retries, int64(8), "scripted faults cost retries")
	require.LessOrEqual(t, res.Retries, int64(10))
	require.Equal(t, 3, src.requestsFor(1), "page 1: two failures and a success")
}

// 429 with Retry-After: 2 stops every request for the dataset for 2 s; the
// sync completes.
func TestSyncWaitsRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 50, 10)
	src.script(2, fault{status: http.StatusTooManyRequests, retryAfter: "2"})
	ds := src.dataset("limited", source.PaginationCursor)

	res, err := e.result(e.start("task-limited", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.EqualValues(t, 1, res.RateLimitWaits)
	require.Zero(t, res.Retries, "a rate-limit wait is not a retry")

	log := src.log()
	for i, r := range log {
		if r.status == http.StatusTooManyRequests {
			require.Greater(t, len(log), i+1, "a request follows the 429")
			gap := log[i+1].at.Sub(r.at)
			require.GreaterOrEqual(t, gap, 2*time.Second, "next request %s after the 429", gap)
			return
		}
	}
	t.Fatal("the source never answered 429")
}

// A wait longer than MaxWait is taken by the workflow on a durable timer, and
// the progress query says until when.
func TestSyncLongRateLimitWaitIsDurable(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 30, 10)
	reached := make(chan struct{})
	src.onRequest = func(page, n int) {
		if page == 1 && n == 1 {
			close(reached)
		}
	}
	src.script(1, fault{status: http.StatusTooManyRequests, retryAfter: "3"})
	ds := src.dataset("slowdown", source.PaginationCursor)
	// max_wait 1 s (not the default 30 s): the 3 s Retry-After is longer,
	// so it is waited on a durable timer, in a short test.
	run := e.start("task-slowdown", ds, workflows.SyncOptions{MaxWait: source.Duration(time.Second)})

	require.Eventually(t, func() bool {
		v, err := e.c.QueryWorkflow(context.Background(), run.GetID(), "", workflows.QueryProgress)
		if err != nil {
			return false
		}
		var p workflows.Progress
		require.NoError(t, v.Get(&p))
		return p.State == task.RateLimited && !p.RateLimitedUntil.IsZero() &&
			p.LastErrorClass == string(sferrors.RateLimited)
	}, 10*time.Second, 50*time.Millisecond, "progress shows the rate-limit wait")

	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.EqualValues(t, 1, res.RateLimitWaits)
	<-reached
}

// A page answering 400 fails the task as an invalid request after exactly one
// request for that page; the log says what is needed to debug it, without
// the secret header value.
func TestSyncInvalidRequestFailsAtOnce(t *testing.T) {
	t.Setenv("SCRIPTED_TOKEN", "s3cr3t-token-value")
	e := newEnv(t)
	e.startWorker(workerOptions{secrets: secrets.New(secrets.Bindings{"SCRIPTED_TOKEN": {"127.0.0.1"}}, nil)})
	src := newScriptedSource(t, 50, 10)
	src.script(3, fault{status: http.StatusBadRequest})
	ds := src.dataset("bad", source.PaginationCursor)
	ds.Source.Headers = map[string]string{"Authorization": "Bearer ${SCRIPTED_TOKEN}"}

	_, err := e.result(e.start("task-bad", ds, workflows.SyncOptions{}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Equal(t, 1, src.requestsFor(3), "requests for the bad page")
	// Pages 0 to 3 once each: no retry of anything, nothing after the
	// failure (page 4's cursor would come from page 3's body, so counting
	// its requests could not fail).
	require.Len(t, src.log(), 4, "requests in all")

	logs := e.logs.String()
	require.Contains(t, logs, "method=GET")
	require.Contains(t, logs, "status=400")
	require.Contains(t, logs, "/cursor?cursor=3")
	require.Contains(t, logs, "scripted status 400", "body excerpt")
	require.NotContains(t, logs, "s3cr3t-token-value")

	cp := e.checkpoint("task-bad")
	require.Equal(t, task.Failed, cp.State)
	require.EqualValues(t, 3, cp.Pages, "pages before the bad one stay committed")
}

// 401 fails the task as unrecoverable, without a retry.
func TestSyncUnauthorizedIsUnrecoverable(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 50, 10)
	src.script(1, fault{status: http.StatusUnauthorized})
	ds := src.dataset("unauth", source.PaginationCursor)

	_, err := e.result(e.start("task-unauth", ds, workflows.SyncOptions{}))
	requireFailureType(t, err, sferrors.TypeUnrecoverable)
	require.Equal(t, 1, src.requestsFor(1))
}

// Cancelling mid-sync ends the workflow Canceled, records it in the
// checkpoint, and no request reaches the source afterwards.
func TestSyncCancellation(t *testing.T) {
	e := newEnv(t)
	w := e.startWorker(workerOptions{})
	src := newScriptedSource(t, 100, 10)
	atPage3 := make(chan struct{})
	src.onRequest = func(page, n int) {
		if page == 3 && n == 0 {
			close(atPage3)
		}
	}
	src.script(3, fault{stall: true})
	ds := src.dataset("cancelme", source.PaginationCursor)
	// The stalled request would time out only after 10 minutes, past the
	// 2 minutes e.result waits: the sync can end in time only because the
	// cancellation reached the request in flight.
	ds.Source.Timeout = source.Duration(10 * time.Minute)
	run := e.start("task-cancel", ds, workflows.SyncOptions{})

	<-atPage3
	require.NoError(t, e.c.CancelWorkflow(context.Background(), run.GetID(), ""))
	_, err := e.result(run)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled)

	desc, err := e.c.DescribeWorkflowExecution(context.Background(), run.GetID(), "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, desc.GetWorkflowExecutionInfo().GetStatus())
	require.Equal(t, task.Cancelled, e.checkpoint("task-cancel").State)

	w.Stop() // waits for anything still running on the worker
	// The stalled request ended (it is logged when its handler returns,
	// which only the client giving up makes it do), and pages 0 to 3 were
	// asked once each: nothing was retried or fetched after the cancel.
	require.Eventually(t, func() bool { return src.requestsFor(3) == 1 }, time.Minute, 10*time.Millisecond,
		"the stalled request was cut by the cancellation")
	require.Len(t, src.log(), 4, "requests in all")
}

func requireFailureType(t *testing.T, err error, wantType string) {
	t.Helper()
	require.Error(t, err)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "not an application error: %v", err)
	require.Equal(t, wantType, app.Type(), "failure: %v", err)
	require.True(t, strings.Contains(err.Error(), "sync "), "message names the sync: %v", err)
}
