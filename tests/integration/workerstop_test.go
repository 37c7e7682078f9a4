package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// The worker-stop tests sync 20 pages of 10 at the product's defaults (20
// pages per activity: one execution would sync them all) and stop the
// worker while page 7's request, the fetch running ahead of page 6's
// commit, is held inside the source. A second worker then finishes the
// sync.
const stopPages, stopPageSize, stopHeld = 20, 10, 7

// A graceful stop (a stop timeout long enough for the page in flight)
// loses no work: the execution commits the page whose request is already
// out, returns its progress (WorkerStopping) instead of failing, no
// attempt is retried, and no page is fetched twice.
func TestSyncSurvivesGracefulWorkerStop(t *testing.T) {
	e := newEnv(t)
	w1 := e.startWorker(workerOptions{stopTimeout: time.Minute})
	src := newScriptedSource(t, stopPages*stopPageSize, stopPageSize)
	reached, release := src.hold(stopHeld)
	ds := src.dataset("resumable-graceful", source.PaginationCursor)
	run := e.start("task-resume-graceful", ds, workflows.SyncOptions{})

	<-reached
	stopped := make(chan struct{})
	go func() { w1.Stop(); close(stopped) }()
	// Release the held page only once the execution has seen the stop, so
	// that the stop finds a request in flight.
	require.Eventually(t, func() bool { return strings.Contains(e.logs.String(), "worker stopping") },
		time.Minute, 10*time.Millisecond, "the execution never noticed its worker stopping")
	release()
	<-stopped
	e.startWorker(workerOptions{})
	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.EqualValues(t, stopPages*stopPageSize, res.Records)

	for p := range stopPages {
		require.Equalf(t, 1, src.arrivals(p), "requests for page %d", p)
	}
	require.Zero(t, res.Retries, "retries")
	events := historyOf(t, e.c, run.GetID())
	require.EqualValues(t, 1, maxAttempt(events), "no execution was retried")
	results := activityResults(t, events)
	require.Len(t, results, 2, "one execution per worker")
	require.True(t, results[0].WorkerStopping, "the first execution returned its progress")
	require.EqualValues(t, stopHeld+1, results[0].PagesFetched, "it committed the held page before returning")
}

// An abrupt stop (no stop timeout) cuts the execution off: the next one
// resumes from the checkpoint, so at most the pages in flight at the stop
// (requested, not committed: the held one, and the one committing if its
// commit was cut) are fetched twice, and no other.
func TestSyncSurvivesAbruptWorkerStop(t *testing.T) {
	e := newEnv(t)
	w1 := e.startWorker(workerOptions{stopTimeout: -1})
	src := newScriptedSource(t, stopPages*stopPageSize, stopPageSize)
	reached := src.holdFirst(stopHeld)
	ds := src.dataset("resumable-abrupt", source.PaginationCursor)
	run := e.start("task-resume-abrupt", ds, workflows.SyncOptions{})

	<-reached
	w1.Stop()
	committed := e.checkpoint("task-resume-abrupt").Pages
	inFlight := map[int]bool{}
	for p := int(committed); p < stopPages; p++ {
		if src.arrivals(p) > 0 {
			inFlight[p] = true
		}
	}
	require.True(t, inFlight[stopHeld], "the held page was in flight (committed %d)", committed)
	e.startWorker(workerOptions{})
	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.EqualValues(t, stopPages*stopPageSize, res.Records)
	for p := range stopPages {
		if inFlight[p] {
			require.LessOrEqualf(t, src.arrivals(p), 2, "requests for page %d (in flight at the stop)", p)
		} else {
			require.Equalf(t, 1, src.arrivals(p), "requests for page %d (not in flight at the stop)", p)
		}
	}
	require.LessOrEqual(t, len(inFlight), 2, "pages in flight: the one committing and the one fetched ahead")
}

// activityResults decodes the SyncPages results of a history, in order.
func activityResults(t *testing.T, events []*historypb.HistoryEvent) []activities.SyncPagesResult {
	t.Helper()
	var out []activities.SyncPagesResult
	for _, ev := range events {
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			var r activities.SyncPagesResult
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &r))
			out = append(out, r)
		}
	}
	return out
}
