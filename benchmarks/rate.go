package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/ratelimit/fairness"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// The rate benchmarks (issue 4) run real syncs through Temporal against
// the demo API over loopback and count, at the source, the requests each
// dataset received and what they were answered. Every request is a page of
// rateBenchPageSize records, so that requests, not records, are the
// bottleneck.
const (
	rateBenchLimit    = 20 // req/s: the server's limit, the declared one, the global one
	rateBenchBurst    = 5  // the server's token bucket: a small burst
	rateBenchPageSize = 10
	// rateBenchWarmup was how long the undeclared key could take to find
	// the server's limit before the measure started (issue 4's "after the
	// first 10 s"); it now only sizes the datasets.
	rateBenchWarmup = 10 * time.Second
	// rateUnknownRequests is the length of the undeclared row's sync:
	// measured whole, first request to last (issue 12, point 3).
	rateUnknownRequests = 300
)

// rateParams are the rate benchmarks' knobs.
type rateParams struct {
	window     time.Duration // the measured span
	row        string        // run only this row (known, unknown, shared, global, open); "" for all
	partitions int           // the task queue's read and write partitions; 0: as fairness.ServerSettings (1)
}

// hit is one request the source answered.
type hit struct {
	at     time.Time
	status int
}

// recorder wraps the demo API and logs every record request by dataset.
// The record answers of the datasets in bare carry no rate-limit header:
// no RateLimit, RateLimit-Policy or Retry-After, as from a proxy that
// limits without saying how (nginx limit_req).
type recorder struct {
	next http.Handler
	bare map[string]bool
	mu   sync.Mutex
	hits map[string][]hit
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	id, ok := strings.CutPrefix(req.URL.Path, "/datasets/")
	if ok {
		id, ok = strings.CutSuffix(id, "/records")
	}
	sw.bare = ok && r.bare[id]
	r.next.ServeHTTP(sw, req)
	if !ok {
		return
	}
	r.mu.Lock()
	r.hits[id] = append(r.hits[id], hit{at: time.Now(), status: sw.status})
	r.mu.Unlock()
}

// log returns the requests of the datasets ids, merged in time order.
func (r *recorder) log(ids ...string) []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []hit
	for _, id := range ids {
		all = append(all, r.hits[id]...)
	}
	sortHits(all)
	return all
}

// first returns when the first request of any of ids arrived, waiting for
// it (bounded by ctx).
func (r *recorder) first(ctx context.Context, ids ...string) (time.Time, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if l := r.log(ids...); len(l) > 0 {
			return l[0].at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no request for %v: %w", ids, ctx.Err())
		case <-t.C:
		}
	}
}

func sortHits(h []hit) {
	slices.SortStableFunc(h, func(a, b hit) int { return a.at.Compare(b.at) })
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bare   bool // strip the rate-limit headers
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.strip()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.strip()
	return w.ResponseWriter.Write(b)
}

// strip removes the rate-limit headers of a bare answer.
func (w *statusWriter) strip() {
	if w.bare {
		for _, h := range []string{"RateLimit", "RateLimit-Policy", "Retry-After"} {
			w.Header().Del(h)
		}
	}
}

// count is what the source answered in a span.
type count struct {
	ok, limited, total int
	span               time.Duration
}

// countIn counts the requests of log in [from, from+span).
func countIn(log []hit, from time.Time, span time.Duration) count {
	c := count{span: span}
	to := from.Add(span)
	for _, h := range log {
		if h.at.Before(from) || !h.at.Before(to) {
			continue
		}
		c.total++
		switch h.status {
		case http.StatusOK:
			c.ok++
		case http.StatusTooManyRequests:
			c.limited++
		}
	}
	return c
}

func (c count) okRate() float64    { return float64(c.ok) / c.span.Seconds() }
func (c count) totalRate() float64 { return float64(c.total) / c.span.Seconds() }
func (c count) share429() float64 {
	if c.total == 0 {
		return 0
	}
	return float64(c.limited) / float64(c.total)
}

// rateEnv is the world of the rate benchmarks: one in-process Temporal
// server with fairness on (as the dev server and docker-compose run it),
// one demo API behind a recorder, one SQLite sink.
type rateEnv struct {
	ts   *temporaltest.TestServer
	c    client.Client
	ns   string
	dir  string
	dest sink.Sink
	api  *demoapi.Server
	rec  *recorder
	srv  *httptest.Server
}

// rateDatasets are the demo API's datasets for the rate benchmarks; each
// row uses its own.
func rateDatasets(total int) []demoapi.DatasetSpec {
	limited := func(id string) demoapi.DatasetSpec {
		return demoapi.DatasetSpec{ID: id, Pagination: source.PaginationCursor, Total: total, RPS: rateBenchLimit, Burst: rateBenchBurst}
	}
	free := func(id string) demoapi.DatasetSpec {
		return demoapi.DatasetSpec{ID: id, Pagination: source.PaginationCursor, Total: total}
	}
	unknown, bare := limited("unknown"), limited("unknown-bare")
	unknown.Total, bare.Total = rateUnknownRequests*rateBenchPageSize, rateUnknownRequests*rateBenchPageSize
	return []demoapi.DatasetSpec{
		limited("known"), unknown, bare,
		free("shared-a"), free("shared-b"), free("global-2"), free("global-4"), free("global-free"),
		free("open-declared"), free("open-adaptive"),
	}
}

func newRateEnv(ctx context.Context, total, partitions int) (*rateEnv, error) {
	return newRateEnvWith(ctx, demoapi.Options{Datasets: rateDatasets(total)}, partitions)
}

// newRateEnvWith is newRateEnv with the demo API's options.
func newRateEnvWith(ctx context.Context, apiOpts demoapi.Options, partitions int) (*rateEnv, error) {
	e := &rateEnv{}
	dir, err := os.MkdirTemp("", "syncflow-bench-rate-")
	if err != nil {
		return nil, err
	}
	e.dir = dir
	dc := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
	}
	// Fairness on and eager activities off: the global row's limit is
	// enforced by matching, which eager activities bypass.
	for k, v := range fairness.ServerSettings() {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	if partitions > 0 {
		dc[dynamicconfig.MatchingNumTaskqueueReadPartitions.Key()] = partitions
		dc[dynamicconfig.MatchingNumTaskqueueWritePartitions.Key()] = partitions
	}
	e.ts = temporaltest.NewServer(temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dc)))
	e.c = e.ts.GetDefaultClient()
	e.ns = e.ts.GetDefaultNamespace()
	if err := connect.EnsureSearchAttributes(ctx, e.c, e.ns, workflows.SearchAttributes()); err != nil {
		e.close()
		return nil, err
	}
	if e.dest, err = engine.OpenSink(ctx, "sqlite://"+filepath.Join(dir, "rate.db")); err != nil {
		e.close()
		return nil, err
	}
	e.api = demoapi.New(apiOpts)
	e.rec = &recorder{next: e.api, hits: map[string][]hit{}, bare: map[string]bool{"unknown-bare": true, "latency-bare": true}}
	e.srv = httptest.NewServer(e.rec)
	return e, nil
}

func (e *rateEnv) close() {
	if e.srv != nil {
		e.srv.Close()
	}
	if e.dest != nil {
		_ = e.dest.Close()
	}
	if e.ts != nil {
		e.ts.Stop()
	}
	_ = os.RemoveAll(e.dir)
}

// dataset returns the configuration of a demo dataset with page size
// rateBenchPageSize and the given budget.
func (e *rateEnv) dataset(id string, rl config.RateLimit) config.Dataset {
	cfg := e.api.SourceConfig(e.srv.URL, id)
	cfg.Pagination.PageSize = rateBenchPageSize
	return config.Dataset{ID: id, Source: cfg, RateLimit: rl}
}

// worker starts a worker on tq with its own limiter registry.
func (e *rateEnv) worker(tq string) (worker.Worker, *ratelimit.Registry, error) {
	reg := ratelimit.NewRegistry(ratelimit.Options{})
	w, _, err := engine.New(e.c, engine.Options{
		TaskQueue:   tq,
		StopTimeout: -1,
		Sink:        e.dest,
		Limits:      reg,
	})
	if err != nil {
		return nil, nil, err
	}
	return w, reg, w.Start()
}

// start starts a SyncWorkflow on tq.
func (e *rateEnv) start(ctx context.Context, tq, id string, ds config.Dataset, opts workflows.SyncOptions) error {
	_, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq},
		workflows.SyncWorkflowName, workflows.SyncInput{TaskID: id, Dataset: ds, Options: opts})
	return err
}

// measure waits for the first request of ids, then for skip+window, and
// returns the log of ids and the time of the first request.
func (e *rateEnv) measure(ctx context.Context, span time.Duration, ids ...string) ([]hit, time.Time, error) {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0, err := e.rec.first(fctx, ids...)
	if err != nil {
		return nil, time.Time{}, err
	}
	select {
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	case <-time.After(time.Until(t0.Add(span))):
	}
	return e.rec.log(ids...), t0, nil
}

// stop terminates the syncs (the measure is over) and stops the workers.
func (e *rateEnv) stop(ids []string, ws ...worker.Worker) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range ids {
		_ = e.c.TerminateWorkflow(ctx, id, "", "benchmark window over")
	}
	for _, w := range ws {
		w.Stop()
	}
}

// rateBenchmarks runs the rate rows of issue 4.
func rateBenchmarks(ctx context.Context, out io.Writer, p rateParams) ([]row, error) {
	// Enough records that no sync ends inside its window at any rate the
	// rows can reach.
	total := int((rateBenchWarmup+p.window).Seconds()*2000) * rateBenchPageSize
	e, err := newRateEnv(ctx, total, p.partitions)
	if err != nil {
		return nil, err
	}
	defer e.close()
	var rows []row
	one := func(f func(context.Context, io.Writer, *rateEnv, rateParams) (row, error)) func(context.Context, io.Writer, *rateEnv, rateParams) ([]row, error) {
		return func(ctx context.Context, out io.Writer, e *rateEnv, p rateParams) ([]row, error) {
			r, err := f(ctx, out, e, p)
			if err != nil {
				return nil, err
			}
			return []row{r}, nil
		}
	}
	for _, b := range []struct {
		name string
		f    func(context.Context, io.Writer, *rateEnv, rateParams) ([]row, error)
	}{
		{"known", one(rateKnown)}, {"unknown", one(rateUnknown)}, {"bare", one(rateUnknownBare)}, {"shared", one(rateSharedKey)}, {"global", rateGlobal}, {"open", one(rateOpen)},
	} {
		if p.row != "" && p.row != b.name {
			continue
		}
		rs, err := b.f(ctx, out, e, p)
		rows = append(rows, rs...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// rateKnown: the server allows 20 req/s (burst 5) and the dataset declares
// 20: the sync should reach the limit without a single 429.
func rateKnown(ctx context.Context, out io.Writer, e *rateEnv, p rateParams) (row, error) {
	const tq, id = "rate-known", "bench-rate-known"
	w, _, err := e.worker(tq)
	if err != nil {
		return row{}, err
	}
	ds := e.dataset("known", config.RateLimit{RPS: rateBenchLimit})
	if err := e.start(ctx, tq, id, ds, workflows.SyncOptions{}); err != nil {
		return row{}, err
	}
	log, t0, err := e.measure(ctx, p.window, ds.ID)
	e.stop([]string{id}, w)
	if err != nil {
		return row{}, err
	}
	c := countIn(log, t0, p.window)
	fmt.Fprintf(out, "rate, declared: %d requests in %s: %d ok, %d answered 429\n", c.total, p.window, c.ok, c.limited)
	ratio := c.okRate() / rateBenchLimit
	return row{
		name:     fmt.Sprintf("rate, limit %d/s declared: achieved / limit, 429 share", rateBenchLimit),
		measured: fmt.Sprintf("%.2f req/s over %s, %.2f%% 429", c.okRate(), p.window, 100*c.share429()),
		baseline: fmt.Sprintf("server limit %d req/s, burst %d", rateBenchLimit, rateBenchBurst),
		ratio:    ratio,
		target:   ">= 0.95, no 429",
		ok:       ratio >= 0.95 && c.limited == 0,
	}, nil
}

// rateUnknown: the same server, no declared rate: the key discovers the
// limit during a sync of rateUnknownRequests pages, measured whole, from
// its first request to its last: slow start, refusals and freezes count.
// The demo API announces its limit (RateLimit-Policy: 20 per second) and
// its bucket (RateLimit), which the key uses; rateUnknownBare is the same
// without any header.
func rateUnknown(ctx context.Context, out io.Writer, e *rateEnv, _ rateParams) (row, error) {
	return rateUndeclared(ctx, out, e, "unknown", "with the demo API's RateLimit headers")
}

// rateUnknownBare: rateUnknown against the same server stripped of every
// rate-limit header (no policy, no Retry-After), as behind nginx limit_req.
func rateUnknownBare(ctx context.Context, out io.Writer, e *rateEnv, _ rateParams) (row, error) {
	return rateUndeclared(ctx, out, e, "unknown-bare", "no rate-limit header, no Retry-After")
}

func rateUndeclared(ctx context.Context, out io.Writer, e *rateEnv, id, what string) (row, error) {
	tq, task := "rate-"+id, "bench-rate-"+id
	w, _, err := e.worker(tq)
	if err != nil {
		return row{}, err
	}
	ds := e.dataset(id, config.RateLimit{})
	c, err := e.wholeSync(ctx, tq, task, ds, w)
	if err != nil {
		return row{}, err
	}
	fmt.Fprintf(out, "rate, undeclared (%s): whole sync of %d requests in %s: %.2f req/s ok, %d answered 429\n",
		what, c.total, c.span.Round(time.Millisecond), c.okRate(), c.limited)
	ratio := c.okRate() / rateBenchLimit
	return row{
		name: fmt.Sprintf("rate, limit %d/s undeclared, %s, %d-request sync: achieved over the whole sync / limit, 429 share",
			rateBenchLimit, what, rateUnknownRequests),
		measured: fmt.Sprintf("%.2f req/s over %s, %.2f%% 429 (%d of %d)", c.okRate(), c.span.Round(time.Millisecond), 100*c.share429(), c.limited, c.total),
		baseline: fmt.Sprintf("server limit %d req/s, burst %d", rateBenchLimit, rateBenchBurst),
		ratio:    ratio,
		target:   ">= 0.85, 429 <= 3%",
		ok:       ratio >= 0.85 && c.share429() <= 0.03,
	}, nil
}

// wholeSync runs one SyncWorkflow of ds on tq (worker w, stopped after) to
// its end and counts its requests from the first to the last; the span
// ends one request interval of the server's limit after the last request,
// so that n requests at exactly the limit measure the limit.
func (e *rateEnv) wholeSync(ctx context.Context, tq, id string, ds config.Dataset, w worker.Worker) (count, error) {
	defer w.Stop()
	run, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq},
		workflows.SyncWorkflowName, workflows.SyncInput{TaskID: id, Dataset: ds})
	if err != nil {
		return count{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := run.Get(rctx, nil); err != nil {
		return count{}, fmt.Errorf("sync %s: %w", id, err)
	}
	log := e.rec.log(ds.ID)
	if len(log) == 0 {
		return count{}, fmt.Errorf("sync %s: no request", id)
	}
	interval := time.Second / time.Duration(max(e.limitOf(ds.ID), 1))
	span := log[len(log)-1].at.Sub(log[0].at) + interval
	return countIn(log, log[0].at, span), nil
}

// limitOf returns the demo API's limit of dataset id in req/s (0: none).
func (e *rateEnv) limitOf(id string) int {
	for _, d := range e.api.Datasets() {
		if d.ID == id {
			return int(d.RPS)
		}
	}
	return 0
}

// rateSharedKey: two datasets share one rate_limit.key, each declaring 20
// req/s, on one worker; the server does not limit. Together they must stay
// within 20 req/s (plus the key's burst).
func rateSharedKey(ctx context.Context, out io.Writer, e *rateEnv, p rateParams) (row, error) {
	const tq = "rate-shared"
	ids := []string{"bench-rate-shared-a", "bench-rate-shared-b"}
	w, reg, err := e.worker(tq)
	if err != nil {
		return row{}, err
	}
	rl := config.RateLimit{RPS: rateBenchLimit, Key: "shared"}
	a, b := e.dataset("shared-a", rl), e.dataset("shared-b", rl)
	for i, ds := range []config.Dataset{a, b} {
		if err := e.start(ctx, tq, ids[i], ds, workflows.SyncOptions{}); err != nil {
			return row{}, err
		}
	}
	log, t0, err := e.measure(ctx, p.window, a.ID, b.ID)
	e.stop(ids, w)
	if err != nil {
		return row{}, err
	}
	c := countIn(log, t0, p.window)
	ca, cb := countIn(e.rec.log(a.ID), t0, p.window), countIn(e.rec.log(b.ID), t0, p.window)
	fmt.Fprintf(out, "rate, shared key: %d + %d requests in %s; registry counts %d for the key\n",
		ca.total, cb.total, p.window, reg.Status("shared").Requests)
	// The key's budget over the window: rate × window plus its burst.
	budget := rateBenchLimit*p.window.Seconds() + 2
	ratio := float64(c.total) / budget
	return row{
		name:     fmt.Sprintf("rate, 2 datasets sharing a key of %d/s: requests / budget", rateBenchLimit),
		measured: fmt.Sprintf("%.2f req/s (%d + %d) over %s", c.totalRate(), ca.total, cb.total, p.window),
		baseline: fmt.Sprintf("%d req/s × %s + burst 2", rateBenchLimit, p.window),
		ratio:    ratio,
		target:   "<= 1.00",
		ok:       ratio <= 1,
	}, nil
}

// rateGlobal: 2 and then 4 workers, each with its own (high) limiter,
// sync rateGlobalTasks tasks of one dataset whose key has a global limit of
// 20/s set through fairness.Apply; activities of one page each, so that
// Temporal's activity dispatch rate is the request rate. A baseline without
// the global limit (2 workers) shows that the limit is what binds.
//
// The ratio is the combined request rate over the span (from the first
// request) against the limit, two-sided. The matching service's per-key
// limiter may let a burst of one second of the limit go once (package
// fairness); over 30 s that is at most 1/30 above the limit.
// rateGlobalTasks is how many tasks the global rows sync at once: each task
// runs one activity at a time, and on a loaded machine a task completes
// fewer than 10 a second, so 8 keep a task of the key waiting in matching.
const rateGlobalTasks = 8

// rateGlobalWorkers are the worker counts of the global rows.
var rateGlobalWorkers = []int{2, 4}

// rateGlobalRun syncs rateGlobalTasks tasks of dataset id on tq with n
// workers for span, under a global limit (0: none), and counts the
// requests of the span.
func rateGlobalRun(ctx context.Context, e *rateEnv, tq, id string, n int, global float64, span time.Duration) (count, error) {
	ids := make([]string, rateGlobalTasks)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", id, i+1)
	}
	ds := e.dataset(id, config.RateLimit{RPS: 1000})
	if global > 0 {
		if err := fairness.Apply(ctx, e.c, e.ns, tq, map[string]float64{ds.LimitKey(): global}); err != nil {
			return count{}, err
		}
		if err := waitKeyRate(ctx, e, tq, ds.LimitKey()); err != nil {
			return count{}, err
		}
	}
	var ws []worker.Worker
	for range n {
		w, _, err := e.worker(tq)
		if err != nil {
			e.stop(nil, ws...)
			return count{}, err
		}
		ws = append(ws, w)
	}
	for _, id := range ids {
		if err := e.start(ctx, tq, id, ds, workflows.SyncOptions{PagesPerActivity: 1}); err != nil {
			e.stop(nil, ws...)
			return count{}, err
		}
	}
	log, t0, err := e.measure(ctx, span, ds.ID)
	e.stop(ids, ws...)
	if err != nil {
		return count{}, err
	}
	return countIn(log, t0, span), nil
}

// waitKeyRate waits until the activity queue tq knows key's limit: the
// configuration reaches it asynchronously, and tasks dispatched before
// would not be limited.
func waitKeyRate(ctx context.Context, e *rateEnv, tq, key string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		if cfg, err := fairness.Describe(ctx, e.c, e.ns, tq); err == nil {
			if _, ok := fairness.KeyRate(cfg, key); ok && len(cfg.GetFairnessWeightOverrides()) > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("task queue %s: the limit of key %s did not arrive: %w", tq, key, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// rateGlobal returns one row per worker count of rateGlobalWorkers. The
// baseline without the limit runs last, on a warm server (run first, it
// measured below the limit while the server warmed up).
func rateGlobal(ctx context.Context, out io.Writer, e *rateEnv, p rateParams) ([]row, error) {
	parts := "1 partition"
	if p.partitions > 1 {
		parts = fmt.Sprintf("%d partitions", p.partitions)
	}
	counts := make([]count, len(rateGlobalWorkers))
	for i, n := range rateGlobalWorkers {
		id := fmt.Sprintf("global-%d", n)
		c, err := rateGlobalRun(ctx, e, "rate-"+id, id, n, rateBenchLimit, p.window)
		if err != nil {
			return nil, err
		}
		counts[i] = c
	}
	free, err := rateGlobalRun(ctx, e, "rate-global-free", "global-free", 2, 0, min(p.window, 5*time.Second))
	if err != nil {
		return nil, err
	}
	var rows []row
	for i, n := range rateGlobalWorkers {
		c := counts[i]
		ratio := c.totalRate() / rateBenchLimit
		fmt.Fprintf(out, "rate, global: %d requests in %s from %d workers, %d tasks (%.2f req/s), %s; without the limit (2 workers) %.2f req/s\n",
			c.total, p.window, n, rateGlobalTasks, c.totalRate(), parts, free.totalRate())
		rows = append(rows, row{
			name:     fmt.Sprintf("rate, global %d/s, %d workers, %d tasks, %s, 1 page/activity: combined / limit", rateBenchLimit, n, rateGlobalTasks, parts),
			measured: fmt.Sprintf("%.2f req/s (%d) over %s", c.totalRate(), c.total, p.window),
			baseline: fmt.Sprintf("limit %d req/s; %.2f req/s without it", rateBenchLimit, free.totalRate()),
			ratio:    ratio,
			target:   "within [0.95, 1.05]",
			ok:       ratio >= 0.95 && ratio <= 1.05,
		})
	}
	return rows, nil
}

// rateOpen: an unthrottled API, no declared rate: how fast does the
// adaptive key get going? Requests in its first window against a declared,
// unreachable ceiling on the same path, one after the other.
func rateOpen(ctx context.Context, out io.Writer, e *rateEnv, p rateParams) (row, error) {
	span := min(p.window, 10*time.Second)
	run := func(tq, id string, ds config.Dataset) (count, error) {
		w, _, err := e.worker(tq)
		if err != nil {
			return count{}, err
		}
		if err := e.start(ctx, tq, id, ds, workflows.SyncOptions{}); err != nil {
			return count{}, err
		}
		log, t0, err := e.measure(ctx, span, ds.ID)
		e.stop([]string{id}, w)
		if err != nil {
			return count{}, err
		}
		return countIn(log, t0, span), nil
	}
	declared, err := run("rate-open-declared", "bench-rate-open-declared", e.dataset("open-declared", config.RateLimit{RPS: 1e6, Burst: 1000}))
	if err != nil {
		return row{}, err
	}
	adaptive, err := run("rate-open-adaptive", "bench-rate-open-adaptive", e.dataset("open-adaptive", config.RateLimit{}))
	if err != nil {
		return row{}, err
	}
	fmt.Fprintf(out, "rate, unthrottled: first %s: undeclared %.0f req/s, declared unlimited %.0f req/s\n", span, adaptive.okRate(), declared.okRate())
	ratio := adaptive.okRate() / declared.okRate()
	return row{
		name:     fmt.Sprintf("rate, unthrottled API, undeclared: first %s req/s / declared", span),
		measured: fmt.Sprintf("%.0f req/s", adaptive.okRate()),
		baseline: fmt.Sprintf("%.0f req/s (declared unlimited)", declared.okRate()),
		ratio:    ratio,
		target:   ">= 0.50",
		ok:       ratio >= 0.5,
	}, nil
}
