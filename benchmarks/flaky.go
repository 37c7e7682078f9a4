package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// flakyAPI answers a share of requests with 500 (seeded, at most two in a
// row for one page, so every page succeeds within three tries) and keeps,
// for every failed answer, how long the client waited before asking for
// the same page again: the real retry delays.
type flakyAPI struct {
	next  http.Handler
	share float64
	mu    sync.Mutex
	rng   *rand.Rand
	fails map[string]int       // URL → failures in a row
	since map[string]time.Time // URL → when its last failure was answered
	delay time.Duration        // sum of the waits after a failure
	n500  int
}

func newFlakyAPI(next http.Handler, share float64, seed uint64) *flakyAPI {
	return &flakyAPI{next: next, share: share, rng: rand.New(rand.NewPCG(seed, seed)),
		fails: map[string]int{}, since: map[string]time.Time{}}
}

func (f *flakyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := r.URL.String()
	f.mu.Lock()
	if t, ok := f.since[u]; ok {
		f.delay += time.Since(t)
		delete(f.since, u)
	}
	fail := f.fails[u] < 2 && f.rng.Float64() < f.share
	if fail {
		f.fails[u]++
		f.n500++
	} else {
		f.fails[u] = 0
	}
	f.mu.Unlock()
	if !fail {
		f.next.ServeHTTP(w, r)
		return
	}
	http.Error(w, `{"error":"flaky"}`, http.StatusInternalServerError)
	f.mu.Lock()
	f.since[u] = time.Now()
	f.mu.Unlock()
}

// flakyBench syncs the same page-numbered dataset at the product's default
// options twice on one in-process server: from a clean API (the baseline),
// then from one answering share of its requests 500. The ratio is the flaky
// sync's duration over the clean one's plus the retry delays the flaky one
// really waited: 1.0 means the faults cost exactly their backoff, nothing
// more (no lost executions, no heartbeat timeouts, no budget exhausted).
func flakyBench(ctx context.Context, out io.Writer, records, pageSize int, share float64) (row, error) {
	dir, err := os.MkdirTemp("", "syncflow-bench-flaky-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	ts := temporaltest.NewServer()
	defer ts.Stop()
	c := ts.GetDefaultClient()
	if err := connect.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace(), workflows.SearchAttributes()); err != nil {
		return row{}, err
	}
	dest, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(dir, "dest.db"))
	if err != nil {
		return row{}, err
	}
	defer dest.Close()
	w, _, err := engine.New(c, engine.Options{Sink: dest})
	if err != nil {
		return row{}, err
	}
	if err := w.Start(); err != nil {
		return row{}, err
	}
	defer w.Stop()

	clean, _, err := flakyRun(ctx, out, c, dest, "clean", records, pageSize, 0)
	if err != nil {
		return row{}, err
	}
	flaky, api, err := flakyRun(ctx, out, c, dest, "flaky", records, pageSize, share)
	if err != nil {
		return row{}, err
	}
	bound := clean + api.delay
	ratio := flaky.Seconds() / bound.Seconds()
	return row{
		name: fmt.Sprintf("transient faults, %.0f%% of requests 500, %d records in pages of %d, default options: duration / (clean + retry delays)",
			share*100, records, pageSize),
		measured: fmt.Sprintf("%s, %d answered 500", flaky.Round(time.Millisecond), api.n500),
		baseline: fmt.Sprintf("clean %s + delays %s", clean.Round(time.Millisecond), api.delay.Round(time.Millisecond)),
		ratio:    ratio,
		goal:     between(0.90, 1.25),
		target:   "completes exactly",
	}, nil
}

// flakyRun syncs one dataset from a fresh demo API behind a flakyAPI and
// checks that every record arrived once.
func flakyRun(ctx context.Context, out io.Writer, c client.Client, dest sink.Sink, id string, records, pageSize int, share float64) (time.Duration, *flakyAPI, error) {
	api := demoapi.New(demoapi.Options{Datasets: []demoapi.DatasetSpec{
		{ID: id, Pagination: source.PaginationPage, Total: records},
	}})
	flaky := newFlakyAPI(api, share, 11)
	srv := httptest.NewServer(flaky)
	defer srv.Close()
	cfg := api.SourceConfig(srv.URL, id)
	cfg.Pagination.PageSize = pageSize
	if cfg.Pagination.SizeParam == "" {
		cfg.Pagination.SizeParam = "limit"
	}
	// A ceiling far above what is reached: the row measures the cost of
	// the faults, not the adaptive discovery of an undeclared limit.
	ds := config.Dataset{ID: id, Source: cfg, RateLimit: config.RateLimit{RPS: 1e6, Burst: 1000}}
	start := time.Now()
	res, err := runSync(ctx, c, "bench-"+id, ds, workflows.SyncOptions{})
	if err != nil {
		return 0, nil, fmt.Errorf("%s sync: %w", id, err)
	}
	took := time.Since(start)
	stored, err := dest.Count(ctx, id)
	if err != nil || stored != int64(records) || res.Records != int64(records) {
		return 0, nil, fmt.Errorf("%s sync: %d records in the result, %d stored (%v), want %d", id, res.Records, stored, err, records)
	}
	fmt.Fprintf(out, "%s: %d records in %d pages, %s, %d retries, %d answered 500\n",
		id, res.Records, res.Pages, took.Round(time.Millisecond), res.Retries, flaky.n500)
	return took, flaky, nil
}
