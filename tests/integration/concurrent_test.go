package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// Tests of concurrent pages (ARCHITECTURE.md §Data flow, "Concurrent
// pages"). Their datasets declare a rate far above what they reach: an
// undeclared key starts at 5 req/s (slow start), too slow for requests to
// overlap before a small dataset is done. Sync options are the product's
// defaults.

// overlap delays every request of a scripted source by delay and measures
// the most requests it was answering at once.
type overlap struct {
	delay         time.Duration
	mu            sync.Mutex
	inFlight, max int
}

func (o *overlap) watch(src *scriptedSource) {
	src.intercept = func(http.ResponseWriter, int) int {
		o.mu.Lock()
		o.inFlight++
		o.max = max(o.max, o.inFlight)
		o.mu.Unlock()
		time.Sleep(o.delay) // the source's latency, not a synchronisation
		o.mu.Lock()
		o.inFlight--
		o.mu.Unlock()
		return 0
	}
}

func (o *overlap) peak() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.max
}

// fastKey is a declared rate no test reaches.
var fastKey = config.RateLimit{RPS: 1000}

// At the default options a page or offset source sees several requests
// at once, and still gets every record once; cursor, next_url and Link
// sources see one request at a time (their next cursor comes with the
// page before).
func TestConcurrentPagesOverlapOnlyWherePredictable(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	for _, p := range []string{source.PaginationPage, source.PaginationOffset, source.PaginationCursor, source.PaginationNextURL, source.PaginationLinkHeader} {
		src := newScriptedSource(t, 300, 10)
		o := &overlap{delay: 30 * time.Millisecond}
		o.watch(src)
		ds := src.dataset("overlap-"+p, p)
		ds.RateLimit = fastKey
		res, err := e.result(e.start("task-overlap-"+p, ds, workflows.SyncOptions{}))
		require.NoError(t, err, p)
		e.requireExact(ds.ID, src)
		require.EqualValues(t, 300, res.Records, p)
		if ds.Source.Pagination.Predictable() {
			require.Greater(t, o.peak(), 1, "%s: requests in flight at once", p)
			require.LessOrEqual(t, o.peak(), source.DefaultConcurrency, "%s: never more than the bound", p)
		} else {
			require.Equal(t, 1, o.peak(), "%s stays sequential", p)
		}
	}
}

// commitLog is the task's sink, recording the page and first key of every
// commit.
type commitLog struct {
	sink.Sink
	mu      sync.Mutex
	commits []string // "pages:first key"
}

func (c *commitLog) Commit(ctx context.Context, cp sink.Checkpoint, recs []source.Record) error {
	err := c.Sink.Commit(ctx, cp, recs)
	if err == nil && len(recs) > 0 {
		c.mu.Lock()
		c.commits = append(c.commits, fmt.Sprintf("%d:%s", cp.Pages, recs[0].Key))
		c.mu.Unlock()
	}
	return err
}

// startWorkerWith starts a worker on the test's queue with a sink of its own.
func (e *env) startWorkerWith(snk sink.Sink, limits activities.Limiter) {
	e.t.Helper()
	w, _, err := engine.New(e.c, engine.Options{Sink: snk, Limits: limits, HeartbeatEvery: 200 * time.Millisecond, TaskQueue: e.tq})
	require.NoError(e.t, err)
	require.NoError(e.t, w.Start())
	e.t.Cleanup(w.Stop)
}

// heartbeatPages is the committed pages the running SyncPages heartbeats,
// -1 while there is none.
func (e *env) heartbeatPages(id string) int64 {
	d, err := e.c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil || len(d.GetPendingActivities()) == 0 || d.GetPendingActivities()[0].GetHeartbeatDetails() == nil {
		return -1
	}
	var hb activities.Heartbeat
	if err := converter.GetDefaultDataConverter().FromPayloads(d.GetPendingActivities()[0].GetHeartbeatDetails(), &hb); err != nil {
		return -1
	}
	return hb.Pages
}

// release holds the first request for page until the returned function is
// called (or the test ends); reached is closed when it arrives.
func holdUntilReleased(t *testing.T, src *scriptedSource, page int) (reached <-chan struct{}, release func()) {
	r, rel := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	src.onRequest = func(p, n int) {
		if p == page && n == 0 {
			close(r)
			<-rel
		}
	}
	return r, release
}

// answered reports whether every page in pages has been answered.
func answered(src *scriptedSource, pages ...int) bool {
	for _, p := range pages {
		ok := false
		for _, r := range src.log() {
			ok = ok || (r.page == p && r.status == http.StatusOK)
		}
		if !ok {
			return false
		}
	}
	return true
}

// Page 6 is held at the source while pages 7 to 9 are answered: the
// checkpoint, the heartbeat and the progress query all say 2 pages, and
// once page 6 comes, pages commit one by one in order, each with its own
// records.
func TestConcurrentCheckpointNeverClaimsAnUncommittedPage(t *testing.T) {
	e := newEnv(t)
	log := &commitLog{Sink: e.sink}
	e.startWorkerWith(log, nil)
	src := newScriptedSource(t, 200, 10)
	(&overlap{delay: 30 * time.Millisecond}).watch(src)
	// Page 6: the window opens as pages confirm their size (ramp), so by
	// then several pages are in flight.
	reached, release := holdUntilReleased(t, src, 5)
	ds := src.dataset("held", source.PaginationPage)
	ds.RateLimit = fastKey
	ds.Source.Timeout = 0 // the default: the held page is not cut off by the test's short timeout
	const id = "task-held"
	run := e.start(id, ds, workflows.SyncOptions{})

	<-reached
	require.Eventually(t, func() bool { return answered(src, 6, 7, 8) }, time.Minute, 10*time.Millisecond, "pages 7–9 answered while page 6 is held")
	e.awaitPages(id, 5)
	require.Eventually(t, func() bool { return e.heartbeatPages(id) == 5 }, 30*time.Second, 20*time.Millisecond, "heartbeat at 5 pages")
	require.EqualValues(t, 5, e.checkpoint(id).Pages, "checkpoint")
	p, err := e.queryProgress(id)
	require.NoError(t, err)
	require.EqualValues(t, 5, p.Pages, "progress query")
	require.EqualValues(t, 5, e.heartbeatPages(id), "heartbeat")
	release()

	_, err = e.result(run)
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	log.mu.Lock()
	defer log.mu.Unlock()
	require.Len(t, log.commits, 20)
	for i, c := range log.commits {
		require.Equal(t, fmt.Sprintf("%d:%s", i+1, src.key(i*10)), c, "commit %d is page %d with its own records", i+1, i+1)
	}
}

// grantLog is the real registry, recording when each request was let
// through and, at each freeze, how many had been let through before it.
type grantLog struct {
	*recordingLimits
	mu      sync.Mutex
	grants  []time.Time
	before  []int64 // per freeze: requests let through before it was set
	froze   chan struct{}
	onFroze sync.Once
}

func (g *grantLog) WaitAtMost(ctx context.Context, key string, l ratelimit.Limit, limit time.Duration) error {
	err := g.recordingLimits.WaitAtMost(ctx, key, l, limit)
	if err == nil {
		g.mu.Lock()
		g.grants = append(g.grants, time.Now())
		g.mu.Unlock()
	}
	return err
}

func (g *grantLog) Freeze(key string, d time.Duration) time.Time {
	until := g.recordingLimits.Freeze(key, d)
	n := g.Status(key).Requests
	g.mu.Lock()
	g.before = append(g.before, n)
	g.mu.Unlock()
	g.onFroze.Do(func() { close(g.froze) })
	return until
}

// A 429 (Retry-After: 1) to page 5 while page 4 is still being answered
// freezes the key at once: no request is let through until the hinted
// time, not even the pages waiting at the limiter behind it; page 5 is
// fetched again after the freeze, and neither counts as a try.
func TestConcurrent429FreezesTheOtherPagesInFlight(t *testing.T) {
	e := newEnv(t)
	g := &grantLog{recordingLimits: newRecordingLimits(), froze: make(chan struct{})}
	e.startWorkerWith(e.sink, g)
	src := newScriptedSource(t, 400, 10)
	(&overlap{delay: 100 * time.Millisecond}).watch(src)
	src.script(4, fault{status: http.StatusTooManyRequests, retryAfter: "1"})
	reached, release := holdUntilReleased(t, src, 3)
	ds := src.dataset("frozen", source.PaginationPage)
	ds.Source.Timeout = 0 // the default: the held page is not cut off by the test's short timeout
	// Turns 20 ms apart, one at a time: pages queue at the limiter.
	ds.RateLimit = config.RateLimit{RPS: 50, Burst: 1}
	run := e.start("task-frozen", ds, workflows.SyncOptions{})

	<-reached
	select {
	case <-g.froze:
	case <-time.After(time.Minute):
		t.Fatal("the 429 to page 5 did not freeze the key while page 4 was in flight")
	}
	release()
	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact(ds.ID, src)
	require.EqualValues(t, 1, res.RateLimitWaits)
	require.Zero(t, res.Retries, "a rate-limit answer is no try")
	require.Equal(t, 2, src.requestsFor(4), "page 5 fetched again after the freeze")

	fz := g.log()
	require.Len(t, fz, 1)
	g.mu.Lock()
	defer g.mu.Unlock()
	early := 0
	for _, at := range g.grants {
		if at.Before(fz[0].until) {
			early++
		}
	}
	// Every request let through before the freeze's end was let through
	// before the freeze was set.
	require.LessOrEqual(t, int64(early), g.before[0], "requests let through during the freeze")
}

// offsetSource serves records 0..total-1 by offset, at most capped per
// page whatever the limit asked, and a short page of short records at
// offset shortAt; no total: the first empty page ends the dataset.
type offsetSource struct {
	total, capped, shortAt, short int
	mu                            sync.Mutex
	offsets                       []int
}

func (o *offsetSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	o.mu.Lock()
	o.offsets = append(o.offsets, off)
	o.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // latency
	n := o.capped
	if off == o.shortAt {
		n = o.short
	}
	type rec struct {
		ID string `json:"id"`
	}
	recs := []rec{}
	for i := off; i < min(off+n, o.total); i++ {
		recs = append(recs, rec{ID: fmt.Sprintf("rec-%06d", i)})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": recs})
}

// An offset source that caps its pages at 10 records (25 asked) and
// serves one short page in the middle: the offsets predicted from the
// first pages are corrected at the short page and no record is lost.
func TestConcurrentOffsetsCorrectedOnShortPages(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	api := &offsetSource{total: 437, capped: 10, shortAt: 100, short: 7}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ds := config.Dataset{ID: "capped", RateLimit: fastKey, Source: source.Config{
		URL: srv.URL + "/records", Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationOffset, Param: "offset", SizeParam: "limit", PageSize: 25},
	}}
	res, err := e.result(e.start("task-capped", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	require.EqualValues(t, 437, res.Records)
	keys := e.storedKeys(ds.ID)
	slices.Sort(keys)
	require.Len(t, keys, 437)
	for i, k := range keys {
		require.Equal(t, fmt.Sprintf("rec-%06d", i), k)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	require.Contains(t, api.offsets, 107, "the real cursor after the short page was fetched")
}
