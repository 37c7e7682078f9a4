package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// incSource is an API of n records with an updated_since filter (RFC 3339,
// updated_at >= it) and a keyset cursor (after=ID): the shape an
// incremental dataset reads. Each record's updated_at is its own second;
// touch moves records to new seconds after all others.
type incSource struct {
	mu       sync.Mutex
	updated  []int // record i's updated_at, seconds after incEpoch
	tick     int
	requests atomic.Int64
}

var incEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newIncSource(n int) *incSource {
	s := &incSource{updated: make([]int, n)}
	for i := range s.updated {
		s.tick++
		s.updated[i] = s.tick
	}
	return s
}

// touch changes every step-th record.
func (s *incSource) touch(step int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := 0; i < len(s.updated); i += step {
		s.tick++
		s.updated[i] = s.tick
		n++
	}
	return n
}

func (s *incSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	limit = max(limit, 1)
	since := 0
	if v := q.Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			http.Error(w, "bad updated_since", http.StatusBadRequest)
			return
		}
		since = int(t.Sub(incEpoch) / time.Second)
	}
	after := -1
	if v := q.Get("after"); v != "" {
		after, _ = strconv.Atoi(v)
	}
	s.mu.Lock()
	start := sort.Search(len(s.updated), func(i int) bool { return i > after })
	b := make([]byte, 0, limit*64)
	b = append(b, `{"data":[`...)
	n, last := 0, -1
	for i := start; i < len(s.updated) && n < limit; i++ {
		if s.updated[i] < since {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		ts := incEpoch.Add(time.Duration(s.updated[i]) * time.Second).Format(time.RFC3339)
		b = fmt.Appendf(b, `{"id":%d,"updated_at":%q,"name":"record %d"}`, i, ts, i)
		n, last = n+1, i
	}
	s.mu.Unlock()
	b = append(b, `]`...)
	if n == limit {
		b = fmt.Appendf(b, `,"next":"%d"`, last)
	}
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// incBench is the incremental benchmark's world: the source, the dataset,
// an in-process server with a worker, and the destination.
type incBench struct {
	out  io.Writer
	src  *incSource
	ds   config.Dataset
	c    client.Client
	dest sink.Sink
}

// incMeasured is one run of the incremental benchmark.
type incMeasured struct {
	requests int64
	took     time.Duration
	records  int64
}

// newIncBench starts the world of records records; stop ends it.
func newIncBench(ctx context.Context, out io.Writer, records, pageSize int) (b *incBench, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	dir, err := os.MkdirTemp("", "syncflow-bench-inc-")
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { _ = os.RemoveAll(dir) })
	b = &incBench{out: out, src: newIncSource(records)}
	srv := httptest.NewServer(b.src)
	stops = append(stops, srv.Close)
	b.ds = config.Dataset{ID: "changes", RateLimit: config.RateLimit{RPS: 1e6, Burst: 1000},
		Incremental: &config.Incremental{Field: "updated_at", Param: "updated_since", Lookback: "1s"},
		Source: source.Config{URL: srv.URL + "/records", Records: "data", Key: "id",
			Pagination: source.Pagination{Type: source.PaginationCursor, Param: "after", Next: "next", SizeParam: "limit", PageSize: pageSize}}}
	ts := temporaltest.NewServer()
	stops = append(stops, ts.Stop)
	b.c = ts.GetDefaultClient()
	if err := connect.EnsureSearchAttributes(ctx, b.c, ts.GetDefaultNamespace(), workflows.SearchAttributes()); err != nil {
		return nil, stop, err
	}
	if b.dest, err = engine.OpenSink(ctx, "sqlite://"+filepath.Join(dir, "inc.db")); err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { _ = b.dest.Close() })
	w, _, err := engine.New(b.c, engine.Options{Sink: b.dest})
	if err != nil {
		return nil, stop, err
	}
	if err := w.Start(); err != nil {
		return nil, stop, err
	}
	stops = append(stops, w.Stop)
	return b, stop, nil
}

// sync runs the dataset once, as a new workflow, and measures it.
func (b *incBench) sync(ctx context.Context, name string) (incMeasured, error) {
	before := b.src.requests.Load()
	start := time.Now()
	res, err := runSync(ctx, b.c, "bench-incremental-"+name, b.ds, workflows.SyncOptions{})
	if err != nil {
		return incMeasured{}, fmt.Errorf("%s run: %w", name, err)
	}
	m := incMeasured{requests: b.src.requests.Load() - before, took: time.Since(start), records: res.Records}
	fmt.Fprintf(b.out, "incremental %s run: %d records, %d requests, %s, window %s\n", name, m.records, m.requests, m.took.Round(time.Millisecond), res.Window)
	return m, nil
}

// incrementalBench runs an incremental dataset of records records three
// times through SyncWorkflow: a first, full run; a second with the source
// unchanged (its requests over the first's); a third after 1 % of the
// records changed (its duration over the first's).
func incrementalBench(ctx context.Context, out io.Writer, records, pageSize int) ([]row, error) {
	b, stop, err := newIncBench(ctx, out, records, pageSize)
	if err != nil {
		return nil, err
	}
	defer stop()
	first, err := b.sync(ctx, "first")
	if err != nil {
		return nil, err
	}
	if first.records != int64(records) {
		return nil, fmt.Errorf("first run synced %d records, want %d", first.records, records)
	}
	unchanged, err := b.sync(ctx, "unchanged")
	if err != nil {
		return nil, err
	}
	changed := b.src.touch(100)
	after, err := b.sync(ctx, "changed")
	if err != nil {
		return nil, err
	}
	if after.records < int64(changed) {
		return nil, fmt.Errorf("run after %d changes synced %d records", changed, after.records)
	}
	if n, err := b.dest.Count(ctx, b.ds.ID); err != nil || n != int64(records) {
		return nil, fmt.Errorf("destination holds %d records (%v), want %d", n, err, records)
	}
	return incRows(records, pageSize, first, unchanged, after), nil
}

// incRows are the benchmark's two rows.
func incRows(records, pageSize int, first, unchanged, after incMeasured) []row {
	reqRatio := float64(unchanged.requests) / float64(first.requests)
	durRatio := after.took.Seconds() / first.took.Seconds()
	return []row{{
		name:     fmt.Sprintf("incremental, %d records unchanged, page %d: requests run 2 / run 1", records, pageSize),
		measured: fmt.Sprintf("%d requests (%s)", unchanged.requests, unchanged.took.Round(time.Millisecond)),
		baseline: fmt.Sprintf("%d requests (%s)", first.requests, first.took.Round(time.Millisecond)),
		ratio:    reqRatio, goal: aboveZeroTo(0.01), // 0: the unchanged run asked nothing, not even the lookback
	}, {
		name:     fmt.Sprintf("incremental, 1%% of %d records changed: duration run 2 / run 1", records),
		measured: fmt.Sprintf("%s, %d records, %d requests", after.took.Round(time.Millisecond), after.records, after.requests),
		baseline: fmt.Sprintf("%s, %d records", first.took.Round(time.Millisecond), first.records),
		ratio:    durRatio, goal: aboveZeroTo(0.05),
	}}
}
