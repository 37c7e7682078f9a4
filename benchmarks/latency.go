package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// The resume benchmark's dataset: small pages served slowly, so that the
// sync is still running long after a worker is killed.
const (
	resumeDataset     = "resume"
	resumeRecords     = 250
	resumePageSize    = 10
	resumePages       = resumeRecords / resumePageSize
	resumePageLatency = 100 * time.Millisecond
	resumeHeartbeat   = 5 * time.Second
	resumeKillAfter   = 3 // committed pages before the kill
	resumeSlack       = 5 * time.Second
	resumeTimeout     = 90 * time.Second
)

// pageCounter serves a demo API and counts the requests for every page of
// its page-paginated datasets, and records when each request arrived.
type pageCounter struct {
	api *demoapi.Server

	mu       sync.Mutex
	requests map[string]map[int]int // dataset -> page -> requests
	arrivals map[string][]time.Time // dataset -> arrival times
}

func newPageCounter(api *demoapi.Server) *pageCounter {
	return &pageCounter{
		api:      api,
		requests: map[string]map[int]int{},
		arrivals: map[string][]time.Time{},
	}
}

func (p *pageCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	rest, ok := strings.CutPrefix(r.URL.Path, "/datasets/")
	id, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != "records" {
		p.api.ServeHTTP(w, r)
		return
	}
	page := 1
	if v := r.URL.Query().Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	p.mu.Lock()
	if p.requests[id] == nil {
		p.requests[id] = map[int]int{}
	}
	p.requests[id][page]++
	p.arrivals[id] = append(p.arrivals[id], now)
	p.mu.Unlock()
	p.api.ServeHTTP(w, r)
}

// counts returns a copy of dataset's requests per page.
func (p *pageCounter) counts(dataset string) map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int]int, len(p.requests[dataset]))
	for k, v := range p.requests[dataset] {
		out[k] = v
	}
	return out
}

// lastArrivalAfter returns the latest arrival of a request for dataset at
// or after t, and how many arrived then; ok is false when none did.
func (p *pageCounter) lastArrivalAfter(dataset string, t time.Time) (last time.Time, n int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.arrivals[dataset] {
		if !a.Before(t) {
			n++
			if a.After(last) {
				last = a
			}
		}
	}
	return last, n, n > 0
}

// quietLogger discards the Temporal client's logs.
func quietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// pollUntil calls cond every 10 ms until it returns true or ctx ends.
func pollUntil(ctx context.Context, what string, cond func() bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// buildWorker builds ./worker of this module into dir and returns the
// binary's path.
func buildWorker(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmarks from inside the syncflow module (go env GOMOD is empty)")
	}
	bin := filepath.Join(dir, "worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -o %s ./worker: %w\n%s", bin, err, out)
	}
	return bin, nil
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// workerSub is a worker binary running as a subprocess.
type workerSub struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// startWorkerSub runs bin with args, the environment minus TEMPORAL_* and
// SYNCFLOW_*, plus env.
func startWorkerSub(bin, dir string, args []string, env ...string) (*workerSub, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "SYNCFLOW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &workerSub{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (w *workerSub) kill() {
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
}

// resumeBench measures how long a sync takes to commit its next page after
// the worker running it is SIGKILLed and another one is started, and how
// many pages were fetched twice. The Temporal server (devserver, in memory)
// and the source run in this process; the workers are subprocesses.
func resumeBench(ctx context.Context, out io.Writer) (row, error) {
	ctx, cancel := context.WithTimeout(ctx, resumeTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "syncflow-bench-resume-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)

	buildStart := time.Now()
	bin, err := buildWorker(ctx, dir)
	if err != nil {
		return row{}, err
	}
	fmt.Fprintf(out, "resume: built ./worker in %s\n", time.Since(buildStart).Round(time.Millisecond))

	api := demoapi.New(demoapi.Options{
		Seed:     7,
		Datasets: []demoapi.DatasetSpec{{ID: resumeDataset, Pagination: source.PaginationPage, Total: resumeRecords}},
		Faults:   demoapi.Faults{Latency: resumePageLatency},
	})
	src := newPageCounter(api)
	hs := httptest.NewServer(src)
	defer hs.Close()
	cfg := api.SourceConfig(hs.URL, resumeDataset)
	cfg.Pagination.PageSize = resumePageSize
	ds := config.Dataset{ID: resumeDataset, Source: cfg}

	srv, err := devserver.Start(ctx, devserver.Options{
		InMemory:         true,
		FreePorts:        true,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(),
	})
	if err != nil {
		return row{}, err
	}
	defer func() { _ = srv.Stop() }()

	dsn := "sqlite://" + filepath.Join(dir, "dest.db")
	var workers []*workerSub
	defer func() { // before the server stops (defers run last-in first-out)
		for _, w := range workers {
			w.kill()
		}
	}()
	startOne := func(name string) error {
		wdir := filepath.Join(dir, name)
		if err := os.MkdirAll(wdir, 0o755); err != nil {
			return err
		}
		w, err := startWorkerSub(bin, wdir, []string{"--sink", dsn, "--metrics", "", "--log-level", "warn"},
			"TEMPORAL_ADDRESS="+srv.FrontendAddress(), "TEMPORAL_NAMESPACE="+srv.Namespace())
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		workers = append(workers, w)
		return nil
	}
	workerOutput := func() string {
		var b strings.Builder
		for i, w := range workers {
			fmt.Fprintf(&b, "--- worker %d ---\n%s", i+1, w.out.String())
		}
		return b.String()
	}
	if err := startOne("worker1"); err != nil {
		return row{}, err
	}

	snk, err := engine.OpenSink(ctx, dsn)
	if err != nil {
		return row{}, err
	}
	defer snk.Close()

	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quietLogger()})
	if err != nil {
		return row{}, err
	}
	defer c.Close()
	sc := syncclient.New(c)
	const taskID = "bench-resume"
	opts := workflows.SyncOptions{HeartbeatTimeout: source.Duration(resumeHeartbeat)}
	run, err := sc.StartSync(ctx, taskID, ds, opts, dsn)
	if err != nil {
		return row{}, err
	}

	pages := func() int64 {
		cp, ok, err := snk.Load(ctx, taskID)
		if err != nil || !ok {
			return -1
		}
		return cp.Pages
	}
	// Kill while the next page is being fetched: the worst case, whose page
	// the next worker must fetch again.
	if err := pollUntil(ctx, fmt.Sprintf("%d committed pages and the next one requested", resumeKillAfter), func() bool {
		n := pages()
		return n >= resumeKillAfter && src.counts(resumeDataset)[int(n)+1] > 0
	}); err != nil {
		return row{}, fmt.Errorf("%w\n%s", err, workerOutput())
	}
	killed := time.Now()
	workers[0].kill()
	if err := startOne("worker2"); err != nil {
		return row{}, err
	}
	atKill := pages() // read after the kill: the pages the dead worker committed
	requestedAtKill := src.counts(resumeDataset)[int(atKill)+1]
	if atKill >= resumePages {
		return row{}, fmt.Errorf("the sync completed before the kill (%d pages)", atKill)
	}
	if err := pollUntil(ctx, "the resumed sync's next page", func() bool { return pages() > atKill }); err != nil {
		return row{}, fmt.Errorf("%w\n%s", err, workerOutput())
	}
	resume := time.Since(killed)
	fmt.Fprintf(out, "resume: killed worker 1 after %d of %d pages (page %d requested %d time(s) by then); page %d committed %s later by worker 2\n",
		atKill, resumePages, atKill+1, requestedAtKill, atKill+1, resume.Round(time.Millisecond))

	res, err := sc.Wait(ctx, run)
	if err != nil {
		return row{}, fmt.Errorf("%w\n%s", err, workerOutput())
	}
	stored, err := snk.Count(ctx, resumeDataset)
	if err != nil {
		return row{}, err
	}
	if res.Records != resumeRecords || stored != resumeRecords {
		return row{}, fmt.Errorf("resumed sync: %d records synced, %d stored, want %d", res.Records, stored, resumeRecords)
	}
	counts := src.counts(resumeDataset)
	var twice []int
	for page, n := range counts {
		if n > 1 {
			twice = append(twice, page)
		}
	}
	slices.Sort(twice)
	fmt.Fprintf(out, "resume: sync completed, %d records stored; pages requested more than once: %v (retries %d)\n", stored, twice, res.Retries)

	baseline := resumeHeartbeat + resumeSlack
	ratio := resume.Seconds() / baseline.Seconds()
	return row{
		name:     fmt.Sprintf("resume after worker SIGKILL (heartbeat timeout %s, %s/page): resume / (HT+%s)", resumeHeartbeat, resumePageLatency, resumeSlack),
		measured: fmt.Sprintf("%s to next page; %d page(s) fetched twice", resume.Round(time.Millisecond), len(twice)),
		baseline: fmt.Sprintf("HT %s + %s = %s", resumeHeartbeat, resumeSlack, baseline),
		ratio:    ratio,
		// At most the pages in flight at the kill are fetched again: with
		// concurrent pages, up to the window's bound (ARCHITECTURE.md §Data
		// flow, "Concurrent pages").
		target: fmt.Sprintf("<= 1.00, fetched twice <= %d", source.DefaultConcurrency),
		ok:     ratio <= 1 && len(twice) <= source.DefaultConcurrency,
	}, nil
}

// The cancel benchmark's parameters.
const (
	cancelReps        = 3
	cancelRecords     = 1000
	cancelPageSize    = 10
	cancelPageLatency = 200 * time.Millisecond
	cancelTarget      = 2 * time.Second
	cancelGrace       = time.Second // watched after the workflow closed, for stray requests
	cancelTimeout     = 60 * time.Second
)

// cancelBench measures cancellation latency: from CancelWorkflow to the last
// request the sync sends to the source, over cancelReps syncs, each
// cancelled at a different moment; the worst is reported.
func cancelBench(ctx context.Context, out io.Writer) (row, error) {
	ctx, cancel := context.WithTimeout(ctx, cancelTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "syncflow-bench-cancel-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)

	var specs []demoapi.DatasetSpec
	for i := range cancelReps {
		specs = append(specs, demoapi.DatasetSpec{ID: fmt.Sprintf("cancel%d", i+1), Pagination: source.PaginationPage, Total: cancelRecords})
	}
	api := demoapi.New(demoapi.Options{Seed: 7, Datasets: specs, Faults: demoapi.Faults{Latency: cancelPageLatency}})
	src := newPageCounter(api)
	hs := httptest.NewServer(src)
	defer hs.Close()

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

	var worst, worstClose time.Duration
	var all []string
	for i, spec := range specs {
		cfg := api.SourceConfig(hs.URL, spec.ID)
		cfg.Pagination.PageSize = cancelPageSize
		ds := config.Dataset{ID: spec.ID, Source: cfg}
		taskID := "bench-" + spec.ID
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: taskID, TaskQueue: workflows.TaskQueue},
			workflows.SyncWorkflowName, workflows.SyncInput{TaskID: taskID, Dataset: ds})
		if err != nil {
			return row{}, err
		}
		if err := pollUntil(ctx, taskID+" to commit 2 pages", func() bool {
			cp, ok, err := dest.Load(ctx, taskID)
			return err == nil && ok && cp.Pages >= 2
		}); err != nil {
			return row{}, err
		}
		// Cancel at a different phase of the page cycle each time.
		time.Sleep(time.Duration(i) * cancelPageLatency / cancelReps)
		t := time.Now()
		if err := c.CancelWorkflow(ctx, taskID, ""); err != nil {
			return row{}, err
		}
		err = run.Get(ctx, nil)
		closed := time.Since(t)
		if !temporal.IsCanceledError(err) {
			return row{}, fmt.Errorf("%s: want a cancelled workflow, got %v", taskID, err)
		}
		time.Sleep(cancelGrace)
		latency := time.Duration(0)
		last, n, ok := src.lastArrivalAfter(spec.ID, t)
		if ok {
			latency = last.Sub(t)
		}
		cp, _, _ := dest.Load(ctx, taskID)
		fmt.Fprintf(out, "cancel %d: %d pages committed; %d request(s) after the cancel, last %s after it; workflow closed after %s (checkpoint %s)\n",
			i+1, cp.Pages, n, latency.Round(time.Millisecond), closed.Round(time.Millisecond), cp.State)
		all = append(all, latency.Round(time.Millisecond).String())
		worst = max(worst, latency)
		worstClose = max(worstClose, closed)
	}

	ratio := worst.Seconds() / cancelTarget.Seconds()
	return row{
		name:     fmt.Sprintf("cancel latency (%s/page, worst of %d): last source request after cancel / %s", cancelPageLatency, cancelReps, cancelTarget),
		measured: fmt.Sprintf("%s [%s]; closed after %s", worst.Round(time.Millisecond), strings.Join(all, " "), worstClose.Round(time.Millisecond)),
		baseline: cancelTarget.String() + " (target)",
		ratio:    ratio,
		target:   "<= 1.00",
		ok:       ratio <= 1,
	}, nil
}
