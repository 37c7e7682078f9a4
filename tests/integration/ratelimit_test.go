package integration_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// queryWorkflowMetadata is the SDK's built-in query that returns a
// workflow's current details (what the Web UI shows).
const queryWorkflowMetadata = "__temporal_workflow_metadata"

// freeze is one rate-limit freeze as the registry reported it.
type freeze struct {
	key       string
	at, until time.Time
}

// recordingLimits is the real registry, remembering every freeze it set.
type recordingLimits struct {
	*ratelimit.Registry
	mu      sync.Mutex
	freezes []freeze
}

func newRecordingLimits() *recordingLimits {
	return &recordingLimits{Registry: ratelimit.NewRegistry(ratelimit.Options{})}
}

func (l *recordingLimits) Freeze(key string, d time.Duration) time.Time {
	at := time.Now()
	until := l.Registry.Freeze(key, d)
	l.mu.Lock()
	l.freezes = append(l.freezes, freeze{key: key, at: at, until: until})
	l.mu.Unlock()
	return until
}

func (l *recordingLimits) log() []freeze {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]freeze(nil), l.freezes...)
}

// arrivals records when each request reached a scripted source (before it
// is answered).
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) watch(src *scriptedSource) {
	src.onRequest = func(int, int) {
		a.mu.Lock()
		a.at = append(a.at, time.Now())
		a.mu.Unlock()
	}
}

func (a *arrivals) between(from, to time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, t := range a.at {
		if t.After(from) && t.Before(to) {
			n++
		}
	}
	return n
}

func (a *arrivals) after(t time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, x := range a.at {
		if x.After(t) {
			n++
		}
	}
	return n
}

// Two datasets share one rate_limit.key and sync at once on one worker. A
// 429 with Retry-After: 3 to one of them freezes the key for both: no
// request for the key reaches either source until the freeze ends (but
// the one request the other task may have had in flight when the answer
// came), then both resume and complete. The two datasets share one
// registry key: its request count is both sources' requests.
func TestRetryAfterFreezesEveryTaskOfTheKey(t *testing.T) {
	e := newEnv(t)
	limits := newRecordingLimits()
	e.startWorker(workerOptions{limits: limits})

	srcA, srcB := newScriptedSource(t, 400, 10), newScriptedSource(t, 400, 10)
	var arrA, arrB arrivals
	arrA.watch(srcA)
	arrB.watch(srcB)
	srcA.script(3, fault{status: http.StatusTooManyRequests, retryAfter: "3"})
	rl := config.RateLimit{RPS: 40, Key: "shared-api"}
	dsA, dsB := srcA.dataset("shared-a", source.PaginationCursor), srcB.dataset("shared-b", source.PaginationCursor)
	dsA.RateLimit, dsB.RateLimit = rl, rl

	// Ten pages per activity (not the default 20): each 40-page sync runs
	// several executions, so the freeze is seen across executions too.
	runA := e.start("task-shared-a", dsA, workflows.SyncOptions{PagesPerActivity: 10})
	runB := e.start("task-shared-b", dsB, workflows.SyncOptions{PagesPerActivity: 10})
	resA, errA := e.result(runA)
	resB, errB := e.result(runB)
	require.NoError(t, errA)
	require.NoError(t, errB)
	e.requireExact(dsA.ID, srcA)
	e.requireExact(dsB.ID, srcB)
	require.EqualValues(t, 1, resA.RateLimitWaits)
	require.Zero(t, resB.RateLimitWaits, "B was never answered 429, only held back")

	fz := limits.log()
	require.Len(t, fz, 1, "one rate-limit answer, one freeze")
	f := fz[0]
	require.Equal(t, "shared-api", f.key)
	require.GreaterOrEqual(t, f.until.Sub(f.at), 3*time.Second, "the freeze lasts the hinted 3 s")
	// A's task waits at the gate after its 429: nothing reaches A.
	require.Zero(t, arrA.between(f.at, f.until), "request to A during the freeze")
	// B had at most one request in flight when the answer came (one fetch
	// runs ahead); nothing else reaches B until the freeze ends.
	require.LessOrEqual(t, arrB.between(f.at, f.until), 1, "requests to B during the freeze")
	require.Positive(t, arrB.after(f.until), "B resumed after the freeze (it had %d pages)", 40)
	require.Positive(t, arrA.after(f.until), "A resumed after the freeze")

	// One budget: the key's registry entry counts the requests of both.
	st := limits.Status("shared-api")
	require.EqualValues(t, len(srcA.log())+len(srcB.log()), st.Requests)
	require.EqualValues(t, 1, st.Freezes)
	require.Zero(t, limits.Status(dsA.ID).Requests, "no separate key per dataset")
	require.Zero(t, limits.Status(dsB.ID).Requests, "no separate key per dataset")
}

// A rate-limit wait longer than MaxWait does not hold the worker's only
// activity slot: while A waits on the workflow's durable timer, B's whole
// sync runs on that slot and completes. A's wait is an hour (Retry-After:
// 3600), so that "B completed while A was waiting" holds however slow the
// machine is; A is then cancelled in its wait (that a durable wait ends and
// the sync completes is TestSyncLongRateLimitWaitIsDurable's). The progress
// query and the current details show the key's rate.
func TestLongRateLimitWaitFreesTheSlot(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{slots: 1})

	srcA, srcB := newScriptedSource(t, 30, 10), newScriptedSource(t, 50, 10)
	srcA.script(1, fault{status: http.StatusTooManyRequests, retryAfter: "3600"})
	dsA, dsB := srcA.dataset("slot-a", source.PaginationCursor), srcB.dataset("slot-b", source.PaginationCursor)
	dsB.RateLimit = config.RateLimit{RPS: 50}
	runA := e.start("task-slot-a", dsA, workflows.SyncOptions{})

	progress := func(id string) workflows.Progress {
		v, err := e.c.QueryWorkflow(context.Background(), id, "", workflows.QueryProgress)
		require.NoError(t, err)
		var p workflows.Progress
		require.NoError(t, v.Get(&p))
		return p
	}
	require.Eventually(t, func() bool {
		return progress(runA.GetID()).State == task.RateLimited
	}, 20*time.Second, 50*time.Millisecond, "A waits on its durable timer")
	pA := progress(runA.GetID())
	require.False(t, pA.RateLimitedUntil.IsZero())
	assert.Positive(t, pA.Rate, "A's progress shows its key's rate")

	resB, err := e.result(e.start("task-slot-b", dsB, workflows.SyncOptions{}))
	require.NoError(t, err)
	require.EqualValues(t, 50, resB.Records)
	require.Equal(t, task.RateLimited, progress(runA.GetID()).State,
		"B completed on the only slot while A was still waiting")

	pB := progress("task-slot-b")
	assert.Equal(t, 50.0, pB.Rate, "B's progress shows its declared rate")
	v, err := e.c.QueryWorkflow(context.Background(), "task-slot-b", "", queryWorkflowMetadata)
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	assert.True(t, strings.Contains(md.GetCurrentDetails(), "50.0 req/s"), "details: %q", md.GetCurrentDetails())

	e.requireExact(dsB.ID, srcB)

	require.NoError(t, e.c.CancelWorkflow(context.Background(), runA.GetID(), ""))
	_, err = e.result(runA)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled, "A is cancelled in its wait")
	require.Equal(t, 2, len(srcA.log()), "A: its first page, then the 429; nothing during the wait")
	require.Len(t, e.storedKeys(dsA.ID), 10, "A's first page stays committed")
}
