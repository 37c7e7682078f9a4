package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// The demo's fixed choices.
const (
	// demoSeed makes every demo serve the same records, so a re-run
	// upserts the same keys and counts stay exact.
	demoSeed = 20240601
	// demoTaskPrefix + dataset is a demo sync's task and workflow ID.
	demoTaskPrefix = "demo-"
	// demoPagesPerActivity keeps progress moving visibly: the progress
	// query learns of pages when an activity execution returns.
	demoPagesPerActivity = 2
	// After an interrupt: how long the cancelled syncs get to record their
	// state, and the bound on everything until exit (under 10 seconds).
	demoCancelWait = 5 * time.Second
	demoExitBudget = 9 * time.Second
)

// demoFaults are the failures the demo API injects with --faults: each
// request has a 14% chance to fail, a page at most 3 times in a row.
var demoFaults = demoapi.Faults{P500: 0.05, P503: 0.05, PReset: 0.02, PTruncate: 0.02}

// demoFlags are the flags of `starter demo`.
type demoFlags struct {
	dbDir        string
	port, uiPort int
	faults, keep bool
}

func (a *app) demoCommand() *cobra.Command {
	var o demoFlags
	c := &cobra.Command{
		Use:   "demo [--db-dir DIR] [--port N] [--ui-port N] [--faults=true|false] [--keep-running]",
		Short: "run everything in one process: Temporal, Web UI, demo API, worker, syncs",
		Long: `
Runs all of syncflow in this process: an embedded Temporal server with its
Web UI (state in DIR/temporal.db), the demo source API on a free local port
(flaky on purpose, one dataset rate-limited), a worker, and one sync per demo
dataset into the SQLite file DIR/data.db. It shows each sync's progress,
then a table and a check of every dataset's record count against the API.

Running it again re-syncs the same tasks (demo-<dataset>): records are
upserted by key, so the counts stay exact. Ctrl-C cancels every sync, waits
for their cleanup and exits with status 130.

Exit status: 0 every sync completed with exact counts, 1 otherwise, 2 bad
arguments, 130 interrupted.`,
		Example: `go run ./starter demo
go run ./starter demo --db-dir /tmp/syncflow --port 7300 --ui-port 8300 --faults=false`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return exit(a.demo(c.Context(), o)) },
	}
	f := c.Flags()
	f.StringVar(&o.dbDir, "db-dir", ".syncflow", "`DIR` for the Temporal state (temporal.db), the synced records (data.db) and the log (demo.log)")
	f.IntVar(&o.port, "port", devserver.DefaultGRPCPort, "Temporal frontend `PORT` (0 = any free port)")
	f.IntVar(&o.uiPort, "ui-port", devserver.DefaultUIPort, "Web UI `PORT` (0 = any free port, -1 = no Web UI)")
	f.BoolVar(&o.faults, "faults", true, "make the demo API fail now and then: 500, 503, connection resets, truncated bodies")
	f.BoolVar(&o.keep, "keep-running", false, "after the syncs, keep Temporal, the Web UI and the worker running until Ctrl-C")
	return c
}

func (a *app) demo(ctx context.Context, o demoFlags) int {
	switch {
	case o.port < 0 || o.port > 65535:
		return a.usageError("demo", fmt.Sprintf("--port %d is not a port (0-65535)", o.port))
	case o.uiPort < -1 || o.uiPort > 65535:
		return a.usageError("demo", fmt.Sprintf("--ui-port %d is not a port (0-65535, or -1 for no UI)", o.uiPort))
	case o.dbDir == "":
		return a.usageError("demo", "--db-dir must not be empty")
	}
	d := &demo{app: a, dbDir: o.dbDir, port: o.port, uiPort: o.uiPort, keep: o.keep, specs: a.demoSpecs}
	if d.specs == nil {
		d.specs = demoapi.DefaultDatasets()
	}
	if o.faults {
		d.faults, d.faultsOn = demoFaults, true
	}
	defer d.cleanup(time.Now().Add(30 * time.Second))
	return d.run(ctx)
}

// demo is one run of the demo command.
type demo struct {
	*app
	dbDir        string
	port, uiPort int
	keep         bool
	specs        []demoapi.DatasetSpec
	faults       demoapi.Faults
	faultsOn     bool

	cleanups []func() // run in reverse order
	logPath  string
	srv      *devserver.Server
	api      *demoapi.Server
	sc       *syncclient.Client
	sink     sink.Sink
	sinkDSN  string
	baseURL  string
	token    string // the demo API's bearer token, bound to its host only
	tasks    []*demoTask
}

// demoTask is one demo sync.
type demoTask struct {
	id, dataset string
	total       int64
	run         client.WorkflowRun
	st          syncclient.Status // last seen
	closed      bool
	err         error
}

// taskDone is a demo sync's end, from its Wait.
type taskDone struct {
	i   int
	err error
}

func (d *demo) run(ctx context.Context) int {
	// Until the syncs start, an interrupt simply aborts the start-up.
	sctx, stopStartup := d.untilInterrupt(ctx)
	code, ok := d.start(sctx)
	interruptedEarly := sctx.Err() != nil
	stopStartup()
	if interruptedEarly {
		fmt.Fprintln(d.stderr, "interrupted during start-up")
		return exitInterrupted
	}
	if !ok {
		return code
	}
	if code, ok := d.startSyncs(ctx); !ok {
		return code
	}
	return d.follow(ctx)
}

// start brings up the server, the API and the worker, in that order.
func (d *demo) start(ctx context.Context) (int, bool) {
	logger, code, ok := d.openLog()
	if !ok {
		return code, false
	}
	fmt.Fprintf(d.stdout, "syncflow demo: embedded Temporal, demo API, worker and %d syncs in this process\n", len(d.specs))
	fmt.Fprintf(d.stdout, "state in %s/ (temporal.db, data.db), logs in %s\n", d.dbDir, d.logPath)
	if code, ok := d.startServer(ctx, logger); !ok {
		return code, false
	}
	if code, ok := d.startAPI(logger); !ok {
		return code, false
	}
	// The embedded server is ours: ignore TEMPORAL_* settings and profiles
	// meant for another server.
	c, err := connect.Dial(ctx, connect.Options{
		Logger: logger, HostPort: d.srv.FrontendAddress(), ConfigFile: os.DevNull,
		Env: func(string) (string, bool) { return "", false }, Environ: func() []string { return nil },
	})
	if err != nil {
		return d.failf("demo", "%v", err), false
	}
	d.cleanups = append(d.cleanups, c.Close)
	d.sc = syncclient.New(c)

	d.sinkDSN = "sqlite://" + filepath.Join(d.dbDir, "data.db")
	d.sink, err = engine.OpenSink(ctx, d.sinkDSN)
	if err != nil {
		return d.failf("demo", "open the sink: %v", err), false
	}
	d.cleanups = append(d.cleanups, func() { _ = d.sink.Close() })
	return d.startWorker(c)
}

// openLog opens DIR/demo.log, where everything but the progress goes.
func (d *demo) openLog() (*slog.Logger, int, bool) {
	if err := os.MkdirAll(d.dbDir, 0o755); err != nil {
		return nil, d.failf("demo", "create %s: %v", d.dbDir, err), false
	}
	d.logPath = filepath.Join(d.dbDir, "demo.log")
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, d.failf("demo", "open log: %v", err), false
	}
	d.cleanups = append(d.cleanups, func() { _ = logFile.Close() })
	return slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo})), exitOK, true
}

// startServer starts the embedded Temporal server and its Web UI.
func (d *demo) startServer(ctx context.Context, logger *slog.Logger) (int, bool) {
	var err error
	d.srv, err = devserver.Start(ctx, devserver.Options{
		DBPath:           filepath.Join(d.dbDir, "temporal.db"),
		GRPCPort:         d.port,
		UIPort:           d.uiPort,
		FreePorts:        d.port == 0 || d.uiPort == 0,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           logger,
	})
	if errors.Is(err, devserver.ErrPortInUse) {
		return d.failf("demo", "%v\nIs another demo, `go run ./worker --dev` or `temporal server start-dev` running? "+
			"Stop it, or pick other ports with --port and --ui-port.", err), false
	}
	if err != nil {
		return d.failf("demo", "start the embedded Temporal server: %v", err), false
	}
	d.cleanups = append(d.cleanups, func() { _ = d.srv.Stop() })
	if ui := d.srv.UIAddress(); ui != "" {
		fmt.Fprintf(d.stdout, "Temporal Web UI: %s/namespaces/%s/workflows\n", ui, d.srv.Namespace())
	}
	fmt.Fprintf(d.stdout, "Temporal frontend: %s (e.g. TEMPORAL_ADDRESS=%s go run ./starter list)\n", d.srv.FrontendAddress(), d.srv.FrontendAddress())
	return exitOK, true
}

// startAPI serves the demo source API on a free local port. It requires a
// fresh bearer token, which the demo's worker alone holds (startWorker).
func (d *demo) startAPI(logger *slog.Logger) (int, bool) {
	d.token = rand.Text()
	faults := d.faults
	faults.Token = d.token
	d.api = demoapi.New(demoapi.Options{Seed: demoSeed, Datasets: d.specs, Faults: faults})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return d.failf("demo", "listen for the demo API: %v", err), false
	}
	hs := &http.Server{Handler: d.api, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = hs.Serve(ln) }()
	d.cleanups = append(d.cleanups, func() { _ = hs.Close() })
	d.baseURL = "http://" + ln.Addr().String()
	fmt.Fprintf(d.stdout, "demo API: %s/datasets (faults %s)\n", d.baseURL, onOff(d.faultsOn))
	return exitOK, true
}

// startWorker runs a worker for the demo's syncs in this process. Its
// one secret binding (ARCHITECTURE.md §Data flow, "Secret binding") is the
// demo API's token, to the demo API's host, from memory: the demo reads no
// environment variable for it.
func (d *demo) startWorker(c client.Client) (int, bool) {
	host := strings.TrimPrefix(d.baseURL, "http://")
	token := secrets.New(secrets.Bindings{demoapi.DefaultTokenEnv: {host}}, func(name string) (string, bool) {
		return d.token, name == demoapi.DefaultTokenEnv
	})
	w, _, err := engine.New(c, engine.Options{
		Sink:    d.sink,
		Secrets: token,
		// The demo's syncs name this destination: they share the sink.
		DefaultDSN: d.sinkDSN,
		// An interrupted demo has cancelled its syncs before it stops the
		// worker: there is nothing in flight to wait for.
		StopTimeout: 2 * time.Second,
	})
	if err != nil {
		return d.failf("demo", "assemble the worker: %v", err), false
	}
	if err := w.Start(); err != nil {
		return d.failf("demo", "start the worker: %v", err), false
	}
	d.cleanups = append(d.cleanups, w.Stop)
	return exitOK, true
}

// startSyncs starts one sync per dataset. An interrupt meanwhile waits in
// its channel: follow then cancels what was started.
func (d *demo) startSyncs(ctx context.Context) (int, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, spec := range d.specs {
		ds := config.Dataset{ID: spec.ID, Source: d.api.SourceConfig(d.baseURL, spec.ID), RateLimit: demoRate(spec)}
		t := &demoTask{id: demoTaskPrefix + spec.ID, dataset: spec.ID, total: int64(spec.Total)}
		if code, ok := d.supersede(ctx, t.id); !ok {
			return code, false
		}
		var err error
		t.run, err = d.sc.StartSync(ctx, t.id, ds, workflows.SyncOptions{PagesPerActivity: demoPagesPerActivity}, d.sinkDSN)
		if err != nil {
			return d.failf("demo", "%v", err), false
		}
		d.tasks = append(d.tasks, t)
	}
	fmt.Fprintf(d.stdout, "started %d syncs (Ctrl-C cancels them)\n\n", len(d.tasks))
	return exitOK, true
}

// supersede terminates a demo sync left running by an earlier demo that
// did not exit cleanly: its input names that demo's API port, which is gone.
func (d *demo) supersede(ctx context.Context, id string) (int, bool) {
	st, err := d.sc.Describe(ctx, id)
	switch {
	case errors.Is(err, syncclient.ErrNotFound):
		return exitOK, true
	case err != nil:
		return d.failf("demo", "%v", err), false
	case !st.Open():
		return exitOK, true
	}
	reason := "superseded by a new demo run (the earlier demo's API is gone)"
	if err := d.sc.Temporal().TerminateWorkflow(ctx, id, "", reason); err != nil {
		return d.failf("demo", "terminate the stale sync %s: %v", id, err), false
	}
	fmt.Fprintf(d.stdout, "%s was still running from an earlier demo: terminated, re-syncing\n", id)
	return exitOK, true
}

// demoRate is a demo dataset's declared request budget. A dataset the API
// limits gets twice the API's rate, so that the API answers 429 and the
// worker's freeze-and-back-off shows; the others get a generous budget.
// The demo API limits each dataset on its own, so each has its own key
// although all send the same token (README §Authentication, timeouts and
// shared budgets).
func demoRate(spec demoapi.DatasetSpec) config.RateLimit {
	if spec.RPS > 0 {
		return config.RateLimit{RPS: 2 * spec.RPS, Burst: max(spec.Burst, 1), Key: spec.ID}
	}
	return config.RateLimit{RPS: 50, Burst: 5, Key: spec.ID}
}

// follow shows progress until every sync ends or an interrupt comes.
func (d *demo) follow(ctx context.Context) int {
	wctx, stopWaits := context.WithCancel(ctx)
	defer stopWaits()
	ended := make(chan taskDone, len(d.tasks))
	for i, t := range d.tasks {
		go func() {
			_, err := d.sc.Wait(wctx, t.run)
			ended <- taskDone{i, err}
		}()
	}
	lv := newLive(d.stdout)
	defer lv.close()
	tick := time.NewTicker(lv.interval())
	defer tick.Stop()
	for open := len(d.tasks); open > 0; {
		select {
		case e := <-ended:
			d.tasks[e.i].closed, d.tasks[e.i].err = true, e.err
			open--
		case <-d.interrupts:
			return d.interrupted(ctx, lv, ended)
		case <-tick.C:
			d.refresh(ctx, 3*time.Second, false)
			lv.show(d.lines(), false)
		}
	}
	d.refresh(ctx, 10*time.Second, true)
	lv.show(d.lines(), true)
	code := d.report(ctx)
	if d.keep {
		d.keepRunning()
	}
	return code
}

// refresh describes the tasks (closed ones once more if final is set).
func (d *demo) refresh(ctx context.Context, timeout time.Duration, final bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, t := range d.tasks {
		if t.closed && !final && !t.st.Open() && t.st.WorkflowID != "" {
			continue
		}
		if st, err := d.sc.Describe(ctx, t.id); err == nil {
			// A closed sync that did not complete answers no query:
			// keep the last progress seen for its counts.
			if st.Progress == nil && st.Result == nil {
				st.Progress = t.st.Progress
			}
			t.st = st
		}
	}
}

// lines are the live lines of the demo: one per sync.
func (d *demo) lines() []progressLine {
	lines := make([]progressLine, 0, len(d.tasks))
	for _, t := range d.tasks {
		lines = append(lines, syncLine(t.dataset, t.st, t.total))
	}
	return lines
}

// report prints the table and the verification and returns the exit code.
func (d *demo) report(ctx context.Context) int {
	out := d.stdout
	fmt.Fprintln(out)
	rows := [][]string{resultHeader}
	for _, t := range d.tasks {
		rows = append(rows, resultRow(t.id, t.dataset, t.st.State, countsOf(t.st), t.st.Duration()))
	}
	table(out, rows)
	fmt.Fprintln(out)

	ok := true
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, t := range d.tasks {
		n, err := d.sink.Count(cctx, t.dataset)
		switch {
		case err != nil:
			ok = false
			fmt.Fprintf(out, "✗ %-10s cannot count records: %v\n", t.dataset, err)
		case n == t.total:
			fmt.Fprintf(out, "✓ %-10s %6d records in %s = %d served by the API\n", t.dataset, n, d.sinkDSN, t.total)
		default:
			ok = false
			fmt.Fprintf(out, "✗ %-10s %6d records in %s, but the API serves %d\n", t.dataset, n, d.sinkDSN, t.total)
		}
		if t.err != nil {
			ok = false
			fmt.Fprintf(out, "  %s: %s\n", t.id, syncclient.FailureText(t.err))
		}
	}
	fmt.Fprintln(out, d.apiStats())
	if !ok {
		fmt.Fprintln(d.stderr, "demo: not every sync completed with exact counts; see the table above and", d.logPath)
		return exitFailed
	}
	fmt.Fprintln(out, "every record arrived exactly once. Run the demo again to re-sync: counts stay exact.")
	return exitOK
}

// apiStats summarises what the demo API did to the syncs.
func (d *demo) apiStats() string {
	var requests, limited int64
	faults := map[demoapi.FaultKind]int64{}
	for _, s := range d.specs {
		st := d.api.Stats(s.ID)
		requests += st.Requests
		limited += st.RateLimited
		for k, v := range st.Faults {
			faults[k] += v
		}
	}
	var parts []string
	var total int64
	for k, v := range faults {
		total += v
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	s := fmt.Sprintf("the demo API answered %d requests: %d injected faults", requests, total)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s + fmt.Sprintf(", %d rate-limit answers (429)", limited)
}

// interrupted cancels every open sync, waits (bounded) for their cleanup,
// prints the table and returns exitInterrupted, all within demoExitBudget.
func (d *demo) interrupted(ctx context.Context, lv *live, ended <-chan taskDone) int {
	start := time.Now()
	exitBy := start.Add(demoExitBudget)
	var open []*demoTask
	for _, t := range d.tasks {
		if !t.closed {
			open = append(open, t)
		}
	}
	lv.say("interrupted: cancelling %d syncs and waiting for their cleanup (Ctrl-C again to quit at once)", len(open))
	cctx, cancel := context.WithDeadline(ctx, start.Add(demoCancelWait))
	defer cancel()
	for _, t := range open {
		if err := d.sc.Cancel(cctx, t.id); err != nil {
			lv.say("could not cancel %s: %v", t.id, err)
		}
	}
	left := len(open)
	for left > 0 {
		select {
		case e := <-ended:
			d.tasks[e.i].closed, d.tasks[e.i].err = true, e.err
			left--
		case <-d.interrupts:
			lv.close()
			fmt.Fprintf(d.stderr, "second interrupt: exiting without waiting; run `go run ./starter demo` again to re-sync\n")
			return exitInterrupted
		case <-cctx.Done():
			lv.say("%d syncs did not finish their cleanup in time", left)
			left = 0
		}
	}
	d.refresh(ctx, time.Until(exitBy.Add(-3*time.Second)), true)
	lv.show(d.lines(), true)
	fmt.Fprintln(d.stdout)
	rows := [][]string{resultHeader}
	for _, t := range d.tasks {
		rows = append(rows, resultRow(t.id, t.dataset, t.st.State, countsOf(t.st), t.st.Duration()))
	}
	table(d.stdout, rows)
	fmt.Fprintf(d.stderr, "\ninterrupted: %d syncs cancelled; run `go run ./starter demo` again to re-sync\n", len(open))
	d.cleanup(exitBy)
	return exitInterrupted
}

// keepRunning waits for an interrupt, leaving everything up.
func (d *demo) keepRunning() {
	fmt.Fprintf(d.stdout, "\nTemporal, the Web UI and the worker keep running")
	if ui := d.srv.UIAddress(); ui != "" {
		fmt.Fprintf(d.stdout, " (Web UI %s)", ui)
	}
	fmt.Fprintf(d.stdout, "; try `TEMPORAL_ADDRESS=%s go run ./starter list`. Ctrl-C stops them.\n", d.srv.FrontendAddress())
	<-d.interrupts
}

// cleanup stops everything the demo started, newest first, giving up at
// deadline (the process is about to exit anyway).
func (d *demo) cleanup(deadline time.Time) {
	fns := d.cleanups
	d.cleanups = nil
	if len(fns) == 0 {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := len(fns) - 1; i >= 0; i-- {
			fns[i]()
		}
	}()
	t := time.NewTimer(max(time.Until(deadline), 0))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		fmt.Fprintln(d.stderr, "demo: shutdown is slow; exiting anyway")
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
