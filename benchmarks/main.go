// Command benchmarks measures syncflow against baselines measured in the
// same run and prints a table of ratios (see BENCHMARKS.md):
//
//	go run ./benchmarks            # full figures
//	go run ./benchmarks -short     # the quick mode CI runs
//
// Every figure comes from real parts on this machine: an in-process Temporal
// server (temporaltest), a real worker, a real SQLite file and the demo
// source API over loopback HTTP.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/syncflow/syncflow/workflows"
)

// row is one line of the result table (report.go prints it).
type row struct {
	name     string
	measured string
	baseline string
	// bound says the baseline is a physical or configured bound (a
	// server's limit, a timeout, a fixed objective), not a figure
	// measured in the same run.
	bound  bool
	ratio  float64
	target string // without a goal: the whole target; with one: its other conditions
	ok     bool   // without a goal: whether the target is met
	// goal, when set, is the ratio's two-sided range; ok then follows from
	// it and extraFail (the row's other conditions failed).
	goal      goal
	extraFail bool
	// wrong, when not empty, says which correctness part failed (records,
	// states, requests the run must have made): the run fails, -short too.
	wrong string
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchmarks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "quick mode: smaller datasets (what CI runs); figures are indicative only")
	records := fs.Int("records", 100_000, "records in the throughput dataset")
	pageSize := fs.Int("page-size", 500, "page size of the throughput dataset")
	perActivity := fs.Int("pages-per-activity", 0, "pages one activity execution syncs (0: the workflow's default)")
	only := fs.String("only", "", "run only the benchmarks with this name: throughput, batch, resume, cancel, flaky, incremental, concurrent, limits, rate, or one rate row (rate:known, rate:unknown, rate:bare, rate:shared, rate:global, rate:open)")
	incRecords := fs.Int("incremental-records", 100_000, "records in the incremental dataset (-short: 50,000)")
	incPageSize := fs.Int("incremental-page-size", 500, "page size of the incremental dataset (-short: 250)")
	batchTasks := fs.Int("batch-tasks", 1000, "tasks in the batch benchmark (-short: 250)")
	batchConcurrency := fs.Int("batch-concurrency", 50, "concurrency of the batch benchmark")
	var tune batchTuning
	fs.Func("batch-shards", "history shards of the batch benchmark's embedded server (default: devserver.DefaultHistoryShards)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		tune.shards = int32(n)
		return err
	})
	fs.IntVar(&tune.pollers, "batch-pollers", 0, "workflow and activity task pollers of the batch benchmark's worker (0: the SDK's default)")
	partitions := fs.Int("rate-partitions", 0, "task queue partitions of the rate rows' server (0: as fairness.ServerSettings, 1; the server's own default is 4)")
	rateWindow := fs.Duration("rate-window", 0, "measured span of each rate row (default 30s, 10s with -short)")
	strict := fs.Bool("strict", false, "with -short, fail on a missed figure target too (a failed correctness check always fails)")
	samples := fs.Int("samples", 3, "alternating samples of the throughput row and the loopback unthrottled-pages row, whose median is reported (-short: 3 as well)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./benchmarks [flags]\n\nMeasures syncflow against baselines measured in the same run; prints ratios.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *short && *records == 100_000 {
		*records = 10_000
	}
	if *short && *incRecords == 100_000 && *incPageSize == 500 {
		// Fewer records, smaller pages: the first run still takes 200
		// requests, so that the request ratio can reach its target.
		*incRecords, *incPageSize = 50_000, 250
	}
	if *short && *batchTasks == 1000 {
		*batchTasks = 100
	}
	if *rateWindow <= 0 {
		*rateWindow = 30 * time.Second
		if *short {
			*rateWindow = 10 * time.Second
		}
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		fmt.Fprintf(stderr, "benchmarks: %v\n", err)
		return 1
	}
	defer stopProfile()
	fmt.Fprintf(stdout, "machine: %d cores, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())

	var rows []row
	if *only == "" || *only == "throughput" {
		r, err := throughput(ctx, stdout, *samples, *records, *pageSize, workflows.SyncOptions{PagesPerActivity: *perActivity})
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: throughput: %v\n", err)
			return 1
		}
		rows = append(rows, r)
	}
	if *only == "" || *only == "batch" {
		r, err := batchRun(ctx, stdout, *batchTasks, *batchConcurrency, tune)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: batch: %v\n", err)
			return 1
		}
		rows = append(rows, r)
	}
	if *only == "" || *only == "resume" {
		r, err := resumeBench(ctx, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: resume: %v\n", err)
			return 1
		}
		rows = append(rows, r)
	}
	if *only == "" || *only == "cancel" {
		r, err := cancelBench(ctx, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: cancel: %v\n", err)
			return 1
		}
		rows = append(rows, r)
	}
	if *only == "" || *only == "incremental" {
		rs, err := incrementalBench(ctx, stdout, *incRecords, *incPageSize)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: incremental: %v\n", err)
			return 1
		}
		rows = append(rows, rs...)
	}
	if *only == "" || *only == "flaky" {
		n := 2000
		if *short {
			n = 1000
		}
		r, err := flakyBench(ctx, stdout, n, 20, 0.15)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: flaky: %v\n", err)
			return 1
		}
		rows = append(rows, r)
	}
	if *only == "" || *only == "limits" {
		rs, err := limitsBenchmarks(ctx, stdout, *short)
		rows = append(rows, rs...)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: limits: %v\n", err)
			return 1
		}
	}
	if *only == "" || *only == "concurrent" {
		rs, err := concurrentBenchmarks(ctx, stdout, *short, *samples)
		rows = append(rows, rs...)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: concurrent: %v\n", err)
			return 1
		}
	}
	if rowName, isRate := strings.CutPrefix(*only, "rate"); *only == "" || isRate && (rowName == "" || rowName[0] == ':') {
		rs, err := rateBenchmarks(ctx, stdout, rateParams{window: *rateWindow, row: strings.TrimPrefix(rowName, ":"), partitions: *partitions})
		rows = append(rows, rs...)
		if err != nil {
			fmt.Fprintf(stderr, "benchmarks: rate: %v\n", err)
			return 1
		}
	}

	return printTable(stdout, rows).exitCode(stdout, *short, *strict)
}

// rate formats records per second.
func rate(n int, d time.Duration) string {
	return fmt.Sprintf("%.0f rec/s (%s)", float64(n)/d.Seconds(), d.Round(time.Millisecond))
}
