package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// durableTimer is one rate-limit timer of a workflow's history and what
// ran while it did.
type durableTimer struct {
	summary  string
	duration time.Duration
	fired    bool
	// activitiesDuring counts activities open when the timer started or
	// scheduled before it fired: 0 means no worker slot was held.
	activitiesDuring int
}

// historyOf reads the events of a workflow's latest run.
func historyOf(t *testing.T, c client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	return events
}

// timersOf returns the timers of a workflow's history, in order.
func timersOf(t *testing.T, events []*historypb.HistoryEvent) []durableTimer {
	t.Helper()
	var timers []durableTimer
	open := 0 // activities scheduled and not closed
	waiting := -1
	for _, ev := range events {
		switch {
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			open++
			if waiting >= 0 {
				timers[waiting].activitiesDuring++
			}
		case ev.GetActivityTaskCompletedEventAttributes() != nil, ev.GetActivityTaskFailedEventAttributes() != nil,
			ev.GetActivityTaskTimedOutEventAttributes() != nil, ev.GetActivityTaskCanceledEventAttributes() != nil:
			open--
		case ev.GetTimerStartedEventAttributes() != nil:
			var summary string
			if p := ev.GetUserMetadata().GetSummary(); p != nil {
				require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &summary))
			}
			timers = append(timers, durableTimer{
				summary:          summary,
				duration:         ev.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration(),
				activitiesDuring: open,
			})
			waiting = len(timers) - 1
		case ev.GetTimerFiredEventAttributes() != nil:
			if waiting >= 0 {
				timers[waiting].fired = true
			}
			waiting = -1
		}
	}
	return timers
}

// maxAttempt is the highest SyncPages attempt of a history.
func maxAttempt(events []*historypb.HistoryEvent) int32 {
	var most int32
	for _, ev := range events {
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > most {
			most = a.GetAttempt()
		}
	}
	return most
}

// An hourly quota signalled on a 200 (GitHub's primary limit: 5000 an
// hour, none left, reset at an epoch) is waited out on a durable timer:
// the task is rate limited with no activity running (its summary says
// until when and why), no request reaches the source before the reset,
// and no attempt is burnt. The reset is 12 s away (a quota: package
// ratelimit takes a shorter horizon for a token bucket's burst) and
// max_wait 1 s (not the default 30 s) so that the test is short: the wait
// is longer than max_wait, as an hour is longer than 30 s.
func TestQuotaOnSuccessWaitsOnDurableTimer(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 30, 10)
	var arr arrivals
	arr.watch(src)
	reset := time.Now().Add(12 * time.Second).Truncate(time.Second)
	src.script(0, fault{header: http.Header{
		"X-Ratelimit-Limit":     {"5000"},
		"X-Ratelimit-Remaining": {"0"},
		"X-Ratelimit-Reset":     {strconv.FormatInt(reset.Unix(), 10)},
		"X-Ratelimit-Resource":  {"core"},
	}})
	ds := src.dataset("hourly", source.PaginationCursor)
	run := e.start("task-hourly", ds, workflows.SyncOptions{MaxWait: source.Duration(time.Second)})

	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.Zero(t, res.Retries, "no attempt burnt")
	require.EqualValues(t, 1, res.RateLimitWaits)

	log := src.log()
	require.Len(t, log, 3, "one request per page, none refused")
	require.Equal(t, 1, arr.between(time.Time{}, reset), "no request between the quota's 200 and its reset")

	events := historyOf(t, e.c, run.GetID())
	require.EqualValues(t, 1, maxAttempt(events), "every execution's first attempt succeeded")
	timers := timersOf(t, events)
	require.Len(t, timers, 1, "the quota wait is one durable timer")
	tm := timers[0]
	assert.True(t, tm.fired)
	assert.Zero(t, tm.activitiesDuring, "no activity ran during the wait")
	assert.Greater(t, tm.duration, time.Second, "longer than max_wait")
	assert.Contains(t, tm.summary, "rate limited: hourly until ")
	assert.Contains(t, tm.summary, "quota used up", "the summary says why: %q", tm.summary)
}

// A quota wait that would end after the task's deadline fails the task
// rate limited, saying so, instead of waiting past it (before, the task
// slept in the activity and then failed unrecoverable, "exceeded its
// deadline").
func TestDeadlineDuringRateLimitWaitFailsRateLimited(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 30, 10)
	src.script(0, fault{header: http.Header{"Ratelimit": {`"default";r=0;t=30`}}})
	ds := src.dataset("deadline-wait", source.PaginationCursor)
	// A 5 s deadline and max_wait 1 s, so that the 30 s quota wait is
	// durable and outlasts the deadline in a short test.
	run := e.start("task-deadline-wait", ds, workflows.SyncOptions{
		MaxWait: source.Duration(time.Second), Deadline: source.Duration(5 * time.Second),
	})
	_, err := e.result(run)
	requireFailureType(t, err, sferrors.TypeRateLimited)
	require.Contains(t, err.Error(), "deadline of 5s reached while rate limited")
	require.Equal(t, 1, len(src.log()), "nothing was sent after the quota ran out")
	require.Equal(t, task.Failed, e.checkpoint("task-deadline-wait").State)
}

// A 429 to one dataset freezes the key it shares with another for longer
// than max_wait: both tasks wait on durable timers (the other one's
// summary says a rate-limit answer closed the key), neither holds a slot,
// and both complete.
func TestFreezeByAnotherDatasetIsDurable(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	srcA, srcB := newScriptedSource(t, 200, 10), newScriptedSource(t, 200, 10)
	srcA.script(2, fault{status: http.StatusTooManyRequests, retryAfter: "3"})
	rl := config.RateLimit{Key: "frozen-together"}
	dsA, dsB := srcA.dataset("together-a", source.PaginationCursor), srcB.dataset("together-b", source.PaginationCursor)
	dsA.RateLimit, dsB.RateLimit = rl, rl
	// max_wait 1 s (not 30 s): the 3 s freeze is longer than it, so it is
	// waited on durable timers, as a longer freeze would be at the default.
	opts := workflows.SyncOptions{MaxWait: source.Duration(time.Second), PagesPerActivity: 20}
	runA, runB := e.start("task-together-a", dsA, opts), e.start("task-together-b", dsB, opts)
	_, errA := e.result(runA)
	_, errB := e.result(runB)
	require.NoError(t, errA)
	require.NoError(t, errB)
	e.requireExact(dsA.ID, srcA)
	e.requireExact(dsB.ID, srcB)

	timersB := timersOf(t, historyOf(t, e.c, runB.GetID()))
	require.NotEmpty(t, timersB, "B, never answered 429, waited for the frozen key on a durable timer")
	assert.Contains(t, timersB[0].summary, "closed by a rate-limit answer")
	assert.Zero(t, timersB[0].activitiesDuring)
	timersA := timersOf(t, historyOf(t, e.c, runA.GetID()))
	require.NotEmpty(t, timersA)
	assert.Contains(t, timersA[0].summary, "status 429")
}

// leakyBucket is Shopify's REST call limit: each request fills the bucket
// by one, it drains leak per second, and a request that finds it full is
// answered 429 (with Retry-After). Every answer says how full it is in
// X-Shopify-Shop-Api-Call-Limit.
type leakyBucket struct {
	mu          sync.Mutex
	size, leak  float64
	level       float64
	last        time.Time
	refused     int
	highest     float64
	contentions int
}

func (b *leakyBucket) intercept(w http.ResponseWriter, _ int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if !b.last.IsZero() {
		b.level = max(0, b.level-now.Sub(b.last).Seconds()*b.leak)
	}
	b.last = now
	if b.level+1 > b.size {
		b.refused++
		w.Header().Set("Retry-After", "2.0")
		w.Header().Set("X-Shopify-Shop-Api-Call-Limit", fmt.Sprintf("%d/%d", int(b.size), int(b.size)))
		w.WriteHeader(http.StatusTooManyRequests)
		return http.StatusTooManyRequests
	}
	b.level++
	b.highest = max(b.highest, b.level)
	w.Header().Set("X-Shopify-Shop-Api-Call-Limit", fmt.Sprintf("%d/%d", int(b.level+0.5), int(b.size)))
	return 0
}

// A Shopify-style call-limit header slows the key to the bucket's leak
// rate before the API has to answer 429: an adaptive key (which starts at
// 5 req/s and doubles every second) syncs 50 pages against a 40-request
// bucket draining 2 per second without a single 429, and the key's rate
// ends at the leak rate.
func TestShopifyCallLimitSlowsBeforeAny429(t *testing.T) {
	e := newEnv(t)
	limits := newRecordingLimits()
	e.startWorker(workerOptions{limits: limits})
	src := newScriptedSource(t, 50, 1)
	bucket := &leakyBucket{size: 40, leak: 2}
	src.intercept = bucket.intercept
	ds := src.dataset("shop-orders", source.PaginationCursor)
	// One execution for the 50 pages (not the default 20 per activity): the
	// key's rate is followed within one execution, from start to leak rate.
	res, err := e.result(e.start("task-shop", ds, workflows.SyncOptions{PagesPerActivity: 50}))
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	bucket.mu.Lock()
	defer bucket.mu.Unlock()
	require.Zero(t, bucket.refused, "429 answers (the bucket reached %.1f of 40)", bucket.highest)
	require.Zero(t, res.RateLimitWaits)
	require.Less(t, bucket.highest, 40.0)
	assert.LessOrEqual(t, limits.Status(ds.ID).Rate, 2.0, "held to the leak rate")
}

// Stripe-Should-Retry wins over the status: a 500 saying false is not
// retried (the task fails as invalid request after one request); a 409
// saying true is retried and the task completes. A 505 is permanent: not
// retried either.
func TestProviderSignalsDecideRetries(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	no, yes, v505 := newScriptedSource(t, 30, 10), newScriptedSource(t, 30, 10), newScriptedSource(t, 30, 10)
	no.script(1, fault{status: http.StatusInternalServerError, header: http.Header{"Stripe-Should-Retry": {"false"}}})
	yes.script(1, fault{status: http.StatusConflict, header: http.Header{"Stripe-Should-Retry": {"true"}}})
	v505.script(1, fault{status: http.StatusHTTPVersionNotSupported})
	runNo := e.start("task-stripe-no", no.dataset("stripe-no", source.PaginationCursor), workflows.SyncOptions{})
	runYes := e.start("task-stripe-yes", yes.dataset("stripe-yes", source.PaginationCursor), workflows.SyncOptions{})
	run505 := e.start("task-505", v505.dataset("v505", source.PaginationCursor), workflows.SyncOptions{})

	_, err := e.result(runNo)
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Contains(t, err.Error(), "Stripe-Should-Retry: false")
	require.Equal(t, 1, no.requestsFor(1), "a 500 the server says not to retry is sent once")

	res, err := e.result(runYes)
	require.NoError(t, err)
	e.requireExact("stripe-yes", yes)
	require.Equal(t, 2, yes.requestsFor(1), "a 409 the server says to retry is retried")
	require.EqualValues(t, 1, res.Retries)

	_, err = e.result(run505)
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Equal(t, 1, v505.requestsFor(1), "505 is not retried")
}

// GitHub's secondary rate limit, a 403 whose body says so without
// Retry-After, is rate limited (before, unrecoverable: the task failed and
// its batch stopped): the task waits at least a minute on a durable timer
// with no activity running, and no request reaches the source meanwhile.
// The test cancels the task during the wait (a minute of wall time buys
// nothing more); the escalation and its bound are unit-tested in package
// activities.
func TestGitHubSecondaryLimitWaitsAMinute(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 30, 10)
	src.script(1, fault{status: http.StatusForbidden,
		body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`})
	ds := src.dataset("gh-issues", source.PaginationCursor)
	run := e.start("task-gh", ds, workflows.SyncOptions{})

	var p workflows.Progress
	require.Eventually(t, func() bool {
		v, err := e.c.QueryWorkflow(context.Background(), run.GetID(), "", workflows.QueryProgress)
		if err != nil {
			return false
		}
		require.NoError(t, v.Get(&p))
		return p.State == task.RateLimited
	}, 30*time.Second, 50*time.Millisecond, "the task waits, rate limited")
	require.Contains(t, p.LastError, "secondary rate limit")
	require.Equal(t, string(sferrors.RateLimited), p.LastErrorClass)

	timers := timersOf(t, historyOf(t, e.c, run.GetID()))
	require.Len(t, timers, 1)
	require.GreaterOrEqual(t, timers[0].duration, time.Minute, "GitHub: wait at least one minute")
	require.Zero(t, timers[0].activitiesDuring)
	require.True(t, strings.Contains(timers[0].summary, "status 403"), "summary %q", timers[0].summary)
	desc, err := e.c.DescribeWorkflowExecution(context.Background(), run.GetID(), "")
	require.NoError(t, err)
	require.Empty(t, desc.GetPendingActivities(), "no activity holds a slot during the wait")

	require.NoError(t, e.c.CancelWorkflow(context.Background(), run.GetID(), ""))
	_, err = e.result(run)
	require.Error(t, err)
	require.Equal(t, 1, src.requestsFor(1), "no request during the wait")
}

// Transient server errors slow the key down instead of letting retries
// pile onto a struggling API: two 503s (without Retry-After) to a key
// declared at 20 req/s cut its rate, the task completes, and the rate
// recovers along CUBIC's curve (unit-tested in package ratelimit) rather
// than jumping back.
func TestServerErrorsLowerTheKeyRate(t *testing.T) {
	e := newEnv(t)
	limits := newRecordingLimits()
	e.startWorker(workerOptions{limits: limits})
	src := newScriptedSource(t, 50, 10)
	src.script(1, fault{status: http.StatusServiceUnavailable}, fault{status: http.StatusServiceUnavailable})
	ds := src.dataset("strained", source.PaginationCursor)
	ds.RateLimit = config.RateLimit{RPS: 20}
	res, err := e.result(e.start("task-strained", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.EqualValues(t, 2, res.Retries)
	st := limits.Status(ds.ID)
	require.EqualValues(t, 2, st.Strains, "each 503 strained the key")
	require.Less(t, st.Rate, 20.0, "the key's rate was cut below its declared 20 req/s")
	require.Zero(t, st.Freezes, "a server error freezes nothing")
}
