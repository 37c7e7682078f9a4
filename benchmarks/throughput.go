package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// throughput is the median of samples alternating samples of
// throughputSample (report.go's sampleAlternating): the ratio is close to
// its target, and the path measured second has a warmer process.
func throughput(ctx context.Context, out io.Writer, samples, records, pageSize int, opts workflows.SyncOptions) (row, error) {
	return sampleAlternating(samples, func(i int, baselineFirst bool) (row, error) {
		fmt.Fprintf(out, "throughput sample %d of %d (direct loop first: %v)\n", i+1, samples, baselineFirst)
		return throughputSample(ctx, out, records, pageSize, opts, baselineFirst)
	})
}

// throughputSample syncs one unthrottled dataset twice into fresh SQLite
// files: by a direct loop (fetch, commit, repeat: the same source client
// and sink, no Temporal) and through SyncWorkflow on an in-process
// Temporal server, in the order given. The ratio is Temporal's records/s
// over the direct loop's.
func throughputSample(ctx context.Context, out io.Writer, records, pageSize int, opts workflows.SyncOptions, baselineFirst bool) (row, error) {
	dir, err := os.MkdirTemp("", "syncflow-bench-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)

	api := demoapi.New(demoapi.Options{Datasets: []demoapi.DatasetSpec{
		{ID: "bulk", Pagination: source.PaginationCursor, Total: records},
	}})
	srv := httptest.NewServer(api)
	defer srv.Close()
	cfg := api.SourceConfig(srv.URL, "bulk")
	cfg.Pagination.PageSize = pageSize
	if cfg.Pagination.SizeParam == "" {
		cfg.Pagination.SizeParam = "limit"
	}
	// The source is unthrottled: the dataset declares a ceiling far above
	// what is reached, so neither path waits on the limiter (an undeclared
	// rate would make the Temporal path discover the limit adaptively,
	// starting slow, and measure that instead of Temporal's overhead).
	ds := config.Dataset{ID: "bulk", Source: cfg, RateLimit: config.RateLimit{RPS: 1e6, Burst: 1000}}
	client := source.NewClient()

	// The server runs during both measurements, so that both share the
	// process (its heap, its background work) and differ only in the path.
	ts := temporaltest.NewServer()
	defer ts.Stop()
	c := ts.GetDefaultClient()
	if err := connect.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace(), workflows.SearchAttributes()); err != nil {
		return row{}, err
	}
	var directTime, temporalTime time.Duration
	// Baseline: the direct loop.
	baseline := func() error {
		direct, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(dir, "direct.db"))
		if err != nil {
			return err
		}
		defer direct.Close()
		start, cpu := time.Now(), processCPU()
		pages, n, err := directSync(ctx, client, direct, "direct", ds)
		if err != nil {
			return fmt.Errorf("direct loop: %w", err)
		}
		directTime = time.Since(start)
		directCPU := processCPU() - cpu
		if n != int64(records) {
			return fmt.Errorf("direct loop synced %d records, want %d", n, records)
		}
		fmt.Fprintf(out, "direct loop: %d records in %d pages, %s (process CPU %s)\n", n, pages, directTime.Round(time.Millisecond), directCPU.Round(time.Millisecond))
		return nil
	}
	// Temporal path.
	temporalPath := func() error {
		dest, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(dir, "temporal.db"))
		if err != nil {
			return err
		}
		defer dest.Close()
		w, _, err := engine.New(c, engine.Options{Source: client, Sink: dest})
		if err != nil {
			return err
		}
		if err := w.Start(); err != nil {
			return err
		}
		defer w.Stop()
		start, cpu := time.Now(), processCPU()
		res, err := runSync(ctx, c, "bench-throughput", ds, opts)
		if err != nil {
			return err
		}
		temporalTime = time.Since(start)
		temporalCPU := processCPU() - cpu
		if res.Records != int64(records) {
			return fmt.Errorf("temporal path synced %d records, want %d", res.Records, records)
		}
		stored, err := dest.Count(ctx, ds.ID)
		if err != nil || stored != int64(records) {
			return fmt.Errorf("temporal path stored %d records (%v), want %d", stored, err, records)
		}
		fmt.Fprintf(out, "temporal path: %d records in %d pages, %s (%d retries, process CPU %s)\n", res.Records, res.Pages, temporalTime.Round(time.Millisecond), res.Retries, temporalCPU.Round(time.Millisecond))
		return nil
	}
	first, second := baseline, temporalPath
	if !baselineFirst {
		first, second = temporalPath, baseline
	}
	if err := first(); err != nil {
		return row{}, err
	}
	if err := second(); err != nil {
		return row{}, err
	}

	ratio := directTime.Seconds() / temporalTime.Seconds()
	return row{
		name:     fmt.Sprintf("throughput %d records, page %d: Temporal / direct", records, pageSize),
		measured: rate(records, temporalTime),
		baseline: rate(records, directTime),
		ratio:    ratio,
		goal:     atLeast(0.80),
	}, nil
}

// runSync starts a SyncWorkflow and waits for its result.
func runSync(ctx context.Context, c client.Client, id string, ds config.Dataset, opts workflows.SyncOptions) (workflows.SyncResult, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.SyncWorkflowName, workflows.SyncInput{TaskID: id, Dataset: ds, Options: opts})
	if err != nil {
		return workflows.SyncResult{}, err
	}
	var res workflows.SyncResult
	if err := run.Get(ctx, &res); err != nil {
		return workflows.SyncResult{}, err
	}
	return res, nil
}
