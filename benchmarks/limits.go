package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/source"
)

// The limits rows (issue 12, point 3): an undeclared limit on the
// latency-bound page-numbered source of the concurrent group
// (concurrent.go: same records, pages, latency, limit and burst), measured
// over the whole sync. The declared variant is the concurrent group's.
const (
	latencyRecords  = LatencyBoundRecords // -short: latencyShort
	latencyShort    = 2000
	latencyPageSize = LatencyBoundPageSize
	latencyLimit    = LatencyBoundLimit // req/s, the server's
	latencyBurst    = LatencyBoundBurst
	latencyDelay    = LatencyBoundLatency
	// The second server of the limits rows: a slower limit without any
	// burst, a shorter latency, 300 pages (skipped with -short).
	strictLimit   = 20
	strictBurst   = 1
	strictDelay   = 80 * time.Millisecond
	strictRecords = 300 * latencyPageSize
)

// limitsServer is one server of the limits rows.
type limitsServer struct {
	limit, burst int
	delay        time.Duration
	records      int
}

// limitsBenchmarks runs the limits rows, each server on an embedded
// Temporal server of its own: the first one closed before the second
// starts (left running, its pollers and timers on the same two cores
// delayed requests on their way, and the server without a burst refused
// requests sent at 0.87 of its limit).
func limitsBenchmarks(ctx context.Context, out io.Writer, short bool) ([]row, error) {
	rows, err := latencyRows(ctx, out, short)
	if err != nil || short {
		return rows, err
	}
	r, err := strictUndeclared(ctx, out)
	if err != nil {
		return rows, err
	}
	return append(rows, r), nil
}

// latencyRows runs the undeclared rows of the concurrent group's source,
// with and without the demo API's headers.
func latencyRows(ctx context.Context, out io.Writer, short bool) ([]row, error) {
	records := latencyRecords
	if short {
		records = latencyShort
	}
	spec := func(id string) demoapi.DatasetSpec {
		return demoapi.DatasetSpec{ID: id, Pagination: source.PaginationPage, Total: records, RPS: latencyLimit, Burst: latencyBurst}
	}
	e, err := newRateEnvWith(ctx, demoapi.Options{
		Datasets: []demoapi.DatasetSpec{spec("latency-undeclared"), spec("latency-bare")},
		Faults:   demoapi.Faults{Latency: latencyDelay},
	}, 0)
	if err != nil {
		return nil, err
	}
	defer e.close()
	var rows []row
	srv := limitsServer{limit: latencyLimit, burst: latencyBurst, delay: latencyDelay, records: records}
	for _, v := range []struct{ id, what string }{
		{"latency-undeclared", "the demo API's RateLimit headers"},
		{"latency-bare", "no rate-limit header, no Retry-After"},
	} {
		r, err := latencyUndeclared(ctx, out, e, v.id, v.what, srv)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// strictUndeclared is the bare row against a second server: strictLimit
// req/s without a burst, strictDelay per request, strictRecords records.
func strictUndeclared(ctx context.Context, out io.Writer) (row, error) {
	const id = "latency-bare" // the recorder strips this dataset's headers
	e, err := newRateEnvWith(ctx, demoapi.Options{
		Datasets: []demoapi.DatasetSpec{{ID: id, Pagination: source.PaginationPage, Total: strictRecords, RPS: strictLimit, Burst: strictBurst}},
		Faults:   demoapi.Faults{Latency: strictDelay},
	}, 0)
	if err != nil {
		return row{}, err
	}
	defer e.close()
	srv := limitsServer{limit: strictLimit, burst: strictBurst, delay: strictDelay, records: strictRecords}
	return latencyUndeclared(ctx, out, e, id, "no rate-limit header, no Retry-After", srv)
}

// latencyUndeclared syncs a page-numbered source answering each request
// after latencyDelay, limiting at latencyLimit req/s, with no declared
// rate, at the product's default options: the whole sync's rate of
// successful requests over the server's limit, and the share answered 429.
// The sequential path cannot exceed one request per latencyDelay (6.7
// req/s, 0.17 of the limit); pages in flight at once lift that bound.
func latencyUndeclared(ctx context.Context, out io.Writer, e *rateEnv, id, what string, srv limitsServer) (row, error) {
	tq, task := "limits-"+id, "bench-limits-"+id
	w, _, err := e.worker(tq)
	if err != nil {
		return row{}, err
	}
	cfg := e.api.SourceConfig(e.srv.URL, id)
	cfg.Pagination.PageSize = latencyPageSize
	ds := config.Dataset{ID: id, Source: cfg}
	c, err := e.wholeSync(ctx, tq, task, ds, w)
	if err != nil {
		return row{}, err
	}
	fmt.Fprintf(out, "limits, latency-bound undeclared (%s, %d/s burst %d, %s): %d records, %d requests in %s: %.2f req/s ok, %d answered 429\n",
		what, srv.limit, srv.burst, srv.delay, srv.records, c.total, c.span.Round(time.Millisecond), c.okRate(), c.limited)
	ratio := c.okRate() / float64(srv.limit)
	sequential := float64(time.Second) / float64(srv.delay)
	return row{
		name: fmt.Sprintf("limits, page-numbered source, %s per request, limit %d/s undeclared, %s, %d records: achieved over the whole sync / limit, 429 share",
			srv.delay, srv.limit, what, srv.records),
		measured: fmt.Sprintf("%.2f req/s over %s, %.2f%% 429 (%d of %d)", c.okRate(), c.span.Round(time.Millisecond), 100*c.share429(), c.limited, c.total),
		baseline: fmt.Sprintf("server limit %d req/s, burst %d (one request at a time: %.1f req/s)", srv.limit, srv.burst, sequential),
		bound:    true,
		ratio:    ratio,
		target:   ">= 0.85, 429 <= 3%",
		ok:       ratio >= 0.85 && c.share429() <= 0.03,
	}, nil
}
