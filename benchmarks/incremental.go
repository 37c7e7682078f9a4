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

	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
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

// incrementalBench runs an incremental dataset of records records three
// times through SyncWorkflow: a first, full run; a second with the source
// unchanged (its requests over the first's); a third after 1 % of the
// records changed (its duration over the first's).
func incrementalBench(ctx context.Context, out io.Writer, records, pageSize int) ([]row, error) {
	dir, err := os.MkdirTemp("", "syncflow-bench-inc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := newIncSource(records)
	srv := httptest.NewServer(src)
	defer srv.Close()
	ds := config.Dataset{ID: "changes", RateLimit: config.RateLimit{RPS: 1e6, Burst: 1000},
		Incremental: &config.Incremental{Field: "updated_at", Param: "updated_since", Lookback: "1s"},
		Source: source.Config{URL: srv.URL + "/records", Records: "data", Key: "id",
			Pagination: source.Pagination{Type: source.PaginationCursor, Param: "after", Next: "next", SizeParam: "limit", PageSize: pageSize}}}

	ts := temporaltest.NewServer()
	defer ts.Stop()
	c := ts.GetDefaultClient()
	if err := connect.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace(), workflows.SearchAttributes()); err != nil {
		return nil, err
	}
	dest, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(dir, "inc.db"))
	if err != nil {
		return nil, err
	}
	defer dest.Close()
	w, _, err := engine.New(c, engine.Options{Sink: dest})
	if err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, err
	}
	defer w.Stop()

	type measured struct {
		requests int64
		took     time.Duration
		records  int64
	}
	sync := func(name string) (measured, error) {
		before := src.requests.Load()
		start := time.Now()
		res, err := runSync(ctx, c, "bench-incremental-"+name, ds, workflows.SyncOptions{})
		if err != nil {
			return measured{}, fmt.Errorf("%s run: %w", name, err)
		}
		m := measured{requests: src.requests.Load() - before, took: time.Since(start), records: res.Records}
		fmt.Fprintf(out, "incremental %s run: %d records, %d requests, %s, window %s\n", name, m.records, m.requests, m.took.Round(time.Millisecond), res.Window)
		return m, nil
	}
	first, err := sync("first")
	if err != nil {
		return nil, err
	}
	if first.records != int64(records) {
		return nil, fmt.Errorf("first run synced %d records, want %d", first.records, records)
	}
	unchanged, err := sync("unchanged")
	if err != nil {
		return nil, err
	}
	changed := src.touch(100)
	after, err := sync("changed")
	if err != nil {
		return nil, err
	}
	if after.records < int64(changed) {
		return nil, fmt.Errorf("run after %d changes synced %d records", changed, after.records)
	}
	if n, err := dest.Count(ctx, ds.ID); err != nil || n != int64(records) {
		return nil, fmt.Errorf("destination holds %d records (%v), want %d", n, err, records)
	}
	reqRatio := float64(unchanged.requests) / float64(first.requests)
	durRatio := after.took.Seconds() / first.took.Seconds()
	return []row{{
		name:     fmt.Sprintf("incremental, %d records unchanged, page %d: requests run 2 / run 1", records, pageSize),
		measured: fmt.Sprintf("%d requests (%s)", unchanged.requests, unchanged.took.Round(time.Millisecond)),
		baseline: fmt.Sprintf("%d requests (%s)", first.requests, first.took.Round(time.Millisecond)),
		ratio:    reqRatio, target: "<= 0.01", ok: reqRatio <= 0.01,
	}, {
		name:     fmt.Sprintf("incremental, 1%% of %d records changed: duration run 2 / run 1", records),
		measured: fmt.Sprintf("%s, %d records, %d requests", after.took.Round(time.Millisecond), after.records, after.requests),
		baseline: fmt.Sprintf("%s, %d records", first.took.Round(time.Millisecond), first.records),
		ratio:    durRatio, target: "<= 0.05", ok: durRatio <= 0.05,
	}}, nil
}
