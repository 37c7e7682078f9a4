package chaos_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/tests/faultproxy"
	"github.com/syncflow/syncflow/workflows"
)

// TestRandomSchedules runs N random schedules (schedule_test.go) over real
// processes: a `worker --dev` (embedded server on a SQLite file, and a
// worker) and a plain worker beside it, syncing from the demo API and an
// incremental API behind a fault proxy into SQLite or a PostgreSQL server of
// the test's own. Each schedule is seeded and its seed printed; after it the
// invariants of invariants_test.go are checked, and a failure names the
// seed and the command that replays the schedule.
//
//	go test -count=1 -run TestRandomSchedules ./tests/chaos/ -chaos.n=20
//	go test -count=1 -run TestRandomSchedules ./tests/chaos/ -chaos.seed=123
//
// SYNCFLOW_CHAOS_N and SYNCFLOW_CHAOS_SEED do the same as the flags (for
// `go test ./...`, where flags reach every package).
func TestRandomSchedules(t *testing.T) {
	needWorker(t)
	seeds := chaosSeeds(t)
	var pg *pgCluster
	var results []scheduleResult
	for _, seed := range seeds {
		usePG := seed%3 == 0
		if usePG && pg == nil {
			if bin := pgBinDir(); bin != "" {
				pg = startPGCluster(context.Background(), t, bin)
			} else if os.Getenv("CI") == "true" {
				t.Fatal("no /usr/lib/postgresql/*/bin/initdb: the PostgreSQL schedules need one (apt-get install postgresql)")
			} else {
				t.Logf("seed %d: no PostgreSQL server binaries: this schedule writes to SQLite instead", seed)
				usePG = false
			}
		}
		s := newSchedule(seed, usePG)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			results = append(results, runSchedule(t, s, pg))
		})
	}
	t.Log(summarize(results))
}

var (
	chaosN    = flag.Int("chaos.n", 3, "TestRandomSchedules: how many random schedules to run (env SYNCFLOW_CHAOS_N)")
	chaosSeed = flag.Uint64("chaos.seed", 0, "TestRandomSchedules: run only the schedule of this seed (env SYNCFLOW_CHAOS_SEED)")
)

// chaosSeeds are the seeds of the schedules to run: the one asked for, or N
// consecutive ones from a random start (consecutive: every third schedule
// writes to PostgreSQL).
func chaosSeeds(t *testing.T) []uint64 {
	t.Helper()
	seed, n := *chaosSeed, *chaosN
	if v := os.Getenv("SYNCFLOW_CHAOS_SEED"); v != "" && seed == 0 {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SYNCFLOW_CHAOS_SEED=%q: want a whole number", v)
		}
	}
	if seed != 0 {
		return []uint64{seed}
	}
	if v := os.Getenv("SYNCFLOW_CHAOS_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("SYNCFLOW_CHAOS_N=%q: want a whole number >= 1", v)
		}
	}
	base := 1 + mrand.Uint64N(1_000_000)
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	t.Logf("chaos: %d schedules, seeds %d..%d; rerun one with -chaos.seed=N (or SYNCFLOW_CHAOS_SEED=N)", n, seeds[0], seeds[n-1])
	return seeds
}

// scheduleTimeout bounds one schedule.
const scheduleTimeout = 5 * time.Minute

// chaosRun is one schedule being run.
type chaosRun struct {
	t       *testing.T
	s       schedule
	ctx     context.Context
	dir     string
	src     *chaosSource
	pg      *pgCluster
	testDSN string // the destination as the test opens it (literal password)
	taskDSN string // as the tasks carry it (a ${PG_PASSWORD} reference)
	secrets []string
	env     []string
	args    []string // the secret bindings every worker gets
	dev     devWorker
	devProc *workerProc
	plain   *workerProc
	// plainBase is the plain worker's goroutines once healthy (leftovers_test.go).
	plainBase int
	procs     []*workerProc
	sink      sink.Sink
	workers   int // plain workers started

	mu       sync.Mutex
	c        client.Client
	runs     map[string][]string // workflow ID → run IDs known
	injected map[faultKind]int
	notes    []string
	failures int
	outcomes map[string]string // workflow ID → final state
	replayed int               // runs replayed
	midSync  int               // steps injected while a sync was running
}

// runSchedule runs s and checks the invariants.
func runSchedule(t *testing.T, s schedule, pg *pgCluster) scheduleResult {
	t.Logf("schedule (rerun: -chaos.seed=%d):\n%s", s.Seed, s)
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), scheduleTimeout)
	t.Cleanup(cancel)
	r := &chaosRun{t: t, s: s, ctx: ctx, dir: t.TempDir(), pg: pg, runs: map[string][]string{}, injected: map[faultKind]int{}}
	r.setUp()
	units := r.startUnits()
	for i, st := range s.Steps {
		r.runStep(i+1, st)
	}
	r.heal()
	r.awaitAll(units)
	r.check()
	return r.result(time.Since(started))
}

// setUp starts the source, the destination and the processes.
func (r *chaosRun) setUp() {
	var specs []demoapi.DatasetSpec
	poison := map[string]demoapi.PoisonSpec{}
	incRecords := 0
	for _, ps := range r.s.Syncs {
		switch {
		case ps.Incremental:
			incRecords = ps.Total
		default:
			specs = append(specs, demoapi.DatasetSpec{ID: ps.Dataset, Pagination: ps.Pagination, Total: ps.Total})
		}
		if ps.Poison > 0 {
			poison[ps.Dataset] = demoapi.PoisonSpec{Page: ps.Poison, Status: http.StatusBadRequest}
		}
	}
	token := "tok-" + randomHex(12)
	r.secrets = append(r.secrets, token)
	r.src = newChaosSource(r.t, token, specs, poison, incRecords)
	r.src.proxy.Observe(r.observe)
	r.src.slow.Store(int64(700 * time.Millisecond))
	r.env = []string{demoapi.DefaultTokenEnv + "=" + token}
	r.args = []string{"--secret", demoapi.DefaultTokenEnv + "=127.0.0.1"}
	r.testDSN = "sqlite://" + filepath.Join(r.dir, "data.db")
	r.taskDSN = r.testDSN
	if r.s.Postgres {
		r.testDSN = freshSchema(r.ctx, r.t, r.pg.dsn())
		r.taskDSN = r.pg.taskDSN(r.testDSN)
		r.secrets = append(r.secrets, r.pg.password)
		r.env = append(r.env, "PG_PASSWORD="+r.pg.password)
		r.args = append(r.args, "--secret", "PG_PASSWORD=127.0.0.1")
	}
	r.dev = newDevWorker(r.t, r.dir, "sqlite://"+filepath.Join(r.dir, "default.db"))
	r.dev.args = append(r.dev.args, r.args...)
	r.startDev("worker --dev")
	r.startPlain()
	r.sink = openSink(r.ctx, r.t, r.testDSN)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startDev starts (or restarts, from its file) the `worker --dev` and dials
// its server afresh.
func (r *chaosRun) startDev(name string) {
	p := startWorker(r.t, name, r.dev.metrics, r.dev.args, r.env...)
	p.waitHealthy(r.ctx)
	r.devProc = p
	r.procs = append(r.procs, p)
	r.mu.Lock()
	r.c = dial(r.ctx, r.t, r.dev.frontend)
	r.mu.Unlock()
}

// startPlain starts a plain worker against the dev server.
func (r *chaosRun) startPlain() {
	r.workers++
	metrics := loopback(freePort(r.t))
	args := append([]string{"--sink", "sqlite://" + filepath.Join(r.dir, "default.db"), "--metrics", metrics}, r.args...)
	p := startWorker(r.t, fmt.Sprintf("worker %d", r.workers), metrics, args,
		append([]string{"TEMPORAL_ADDRESS=" + r.dev.frontend, "TEMPORAL_NAMESPACE=default"}, r.env...)...)
	p.waitHealthy(r.ctx)
	n, err := goroutines(r.ctx, metrics)
	if err != nil {
		r.t.Fatalf("%s: %v", p.name, err)
	}
	r.plain, r.plainBase = p, n
	r.procs = append(r.procs, p)
}

// client is the Temporal client of the server currently up.
func (r *chaosRun) client() client.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c
}

func (r *chaosRun) addRun(workflowID, runID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[workflowID] = append(r.runs[workflowID], runID)
}

func (r *chaosRun) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.notes = append(r.notes, msg)
	r.mu.Unlock()
	r.t.Log(msg)
}

// observe counts the proxy's events (the counters are in its Stats).
func (r *chaosRun) observe(e faultproxy.Event) {
	if e.Kind == faultproxy.Stalled {
		select {
		case stalled <- struct{}{}:
		default:
		}
	}
}

// stalled receives a value when a connection starts to stall.
var stalled = make(chan struct{}, 1)

// retry calls f with the current client until it succeeds or the schedule
// runs out of time (the server may be down for a restart).
func (r *chaosRun) retry(what string, f func(client.Client) error) error {
	var err error
	for {
		if err = f(r.client()); err == nil {
			return nil
		}
		if !pause(r.ctx, 250*time.Millisecond) {
			return fmt.Errorf("%s: %w (last error: %v)", what, r.ctx.Err(), err)
		}
	}
}

// pause waits d; false when ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// startUnits starts the syncs of the schedule, each in a goroutine: the
// single syncs, the batch and the incremental dataset's two runs. The
// channel gets every error and is closed when all have started (the
// incremental's second run after the first closed).
func (r *chaosRun) startUnits() <-chan error {
	errs := make(chan error, len(r.s.Syncs)+1)
	var wg sync.WaitGroup
	var batch []workflows.BatchTask
	for _, ps := range r.s.Syncs {
		switch {
		case ps.BatchTask != "":
			batch = append(batch, workflows.BatchTask{ID: ps.BatchTask, Dataset: ps.Dataset})
		case ps.Incremental:
			wg.Go(func() { errs <- r.runIncremental(ps) })
		default:
			wg.Go(func() { errs <- r.startSync(ps) })
		}
	}
	if len(batch) > 0 {
		wg.Go(func() { errs <- r.startBatch(batch) })
	}
	go func() {
		wg.Wait()
		close(errs)
	}()
	return errs
}

func (r *chaosRun) startSync(ps plannedSync) error {
	ds := r.src.dataset(ps.Dataset)
	return r.retry("start "+ps.ID, func(c client.Client) error {
		run, err := syncclient.New(c).StartSync(r.ctx, ps.ID, ds, r.s.Options, r.taskDSN)
		if err == nil {
			r.addRun(ps.ID, run.GetRunID())
		}
		return err
	})
}

func (r *chaosRun) startBatch(tasks []workflows.BatchTask) error {
	in := workflows.BatchInput{Tasks: tasks, Concurrency: 2, Options: r.s.Options, Sink: r.taskDSN, Datasets: map[string]config.Dataset{}}
	for _, bt := range tasks {
		in.Datasets[bt.Dataset] = r.src.dataset(bt.Dataset)
	}
	return r.retry("start the batch", func(c client.Client) error {
		run, err := syncclient.New(c).StartBatch(r.ctx, r.s.Batch, in)
		if err == nil {
			r.addRun(r.s.Batch, run.GetRunID())
		}
		return err
	})
}

// runIncremental runs the incremental dataset's first run, changes the
// source (seeded by the schedule) and starts the second run.
func (r *chaosRun) runIncremental(ps plannedSync) error {
	ds := r.src.incDataset(ps.Dataset)
	start := func() (string, error) {
		var runID string
		err := r.retry("start "+ps.ID, func(c client.Client) error {
			run, err := syncclient.New(c).StartSync(r.ctx, ps.ID, ds, r.s.Options, r.taskDSN)
			if err == nil {
				runID = run.GetRunID()
				r.addRun(ps.ID, runID)
			}
			return err
		})
		return runID, err
	}
	first, err := start()
	if err != nil {
		return err
	}
	if _, err := r.awaitClosed(ps.ID, first); err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(r.s.Seed, 2))
	changed := rng.Perm(ps.Total)[:ps.Updates]
	for i := range changed {
		changed[i]++ // record numbers are 1-based
	}
	r.src.inc.update(changed...)
	r.src.inc.insert(ps.Inserts)
	_, err = start()
	return err
}

// awaitClosed waits until the run (the latest when runID is "") is closed
// and returns its status.
func (r *chaosRun) awaitClosed(workflowID, runID string) (enumspb.WorkflowExecutionStatus, error) {
	for {
		desc, err := r.client().DescribeWorkflowExecution(r.ctx, workflowID, runID)
		if err == nil {
			if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return st, nil
			}
		}
		if !pause(r.ctx, 200*time.Millisecond) {
			return 0, fmt.Errorf("%s (run %q) is still open after %s: %w (describe: %v)", workflowID, runID, scheduleTimeout, r.ctx.Err(), err)
		}
	}
}

// runStep waits for the step's trigger and injects its fault.
func (r *chaosRun) runStep(n int, st step) {
	if st.AtPages > 0 {
		r.waitPages(st.Target, st.AtPages)
	}
	pause(r.ctx, st.Delay)
	running := r.running()
	r.note("seed %d: step %d at %s, %d of %d syncs running: %s", r.s.Seed, n, time.Now().Format("15:04:05.000"), running, len(r.s.Syncs), st)
	r.injected[st.Fault]++
	if running > 0 {
		r.midSync++
	}
	switch st.Fault {
	case netReset, netTruncate, netStall, burst429, burst5xx:
		r.drain() // a fault still armed would be overwritten
	}
	switch st.Fault {
	case killWorker:
		r.plain.kill()
		r.startPlain()
	case interruptWorker:
		r.interruptPlain()
	case killDev:
		r.devProc.kill()
		r.startDev(fmt.Sprintf("worker --dev (restart %d)", r.injected[killDev]))
	case netReset:
		r.src.proxy.Set(faultproxy.Fault{Reset: st.Bytes%2 == 0, ResetAfter: st.Bytes * (st.Bytes % 2), Times: st.N})
	case netTruncate:
		r.src.proxy.Set(faultproxy.Fault{TruncateAfter: st.Bytes, Times: st.N})
	case netStall:
		r.stall(st.Hold)
	case burst429:
		r.src.burst(http.StatusTooManyRequests, st.N)
	case burst5xx:
		r.src.burst(http.StatusInternalServerError, st.N)
	case pgRestart:
		restartPostgres(r.ctx, r.t, r.pg.pgCtl, r.pg.dataDir)
	case userCancel:
		r.cancel(st.Target)
	case workflowReset:
		r.reset(st.Target)
	}
}

// waitPages waits (at most 30 s: the task may be done, or slow) until
// the task's checkpoint has n pages, or it is no longer running.
func (r *chaosRun) waitPages(taskID string, n int64) {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	for {
		cp, ok, err := r.sink.Load(ctx, taskID)
		if err == nil && ok && (cp.Pages >= n || cp.Done) {
			return
		}
		if !pause(ctx, 50*time.Millisecond) {
			r.note("seed %d: %s did not reach %d pages within 30 s; the step goes ahead", r.s.Seed, taskID, n)
			return
		}
	}
}

// running counts the syncs whose checkpoint says neither done nor ended
// (the incremental one until its second run is done).
func (r *chaosRun) running() int {
	n := 0
	for _, ps := range r.s.Syncs {
		cp, ok, err := r.sink.Load(r.ctx, ps.ID)
		if err != nil || !ok || cp.State == task.Running || cp.State == task.RateLimited || (ps.Incremental && r.incRuns() < 2) {
			n++
		}
	}
	return n
}

// incRuns is how many runs of the incremental sync have started.
func (r *chaosRun) incRuns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs["inc"])
}

// interruptPlain sends SIGINT to the plain worker, which must let its page
// in flight commit and exit 0, and starts another.
func (r *chaosRun) interruptPlain() {
	p := r.plain
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		r.failf("signal", "SIGINT %s: %v", p.name, err)
	}
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	if err := p.wait(ctx); err != nil {
		r.failf("sigint", "%s must exit 0 after SIGINT: %v", p.name, err)
	}
	r.startPlain()
}

// stall holds the next response back for hold, then releases it. A stall
// that no request met within 20 s is withdrawn.
func (r *chaosRun) stall(hold time.Duration) {
	select {
	case <-stalled:
	default:
	}
	r.src.proxy.Set(faultproxy.Fault{Stall: true, Times: 1})
	select {
	case <-stalled:
		pause(r.ctx, hold)
	case <-time.After(20 * time.Second):
		r.note("seed %d: no request met the stall within 20 s", r.s.Seed)
	case <-r.ctx.Done():
	}
	r.src.proxy.Set(faultproxy.Pass)
	r.src.proxy.Release()
}

// cancel is a user's cancel of a task: of the sync, or of the batch's task.
func (r *chaosRun) cancel(id string) {
	ps := r.s.sync(id)
	var err error
	if ps.BatchTask != "" {
		_, err = syncclient.New(r.client()).CancelTask(r.ctx, r.s.Batch, ps.BatchTask)
	} else {
		err = syncclient.New(r.client()).Cancel(r.ctx, id)
	}
	if err != nil {
		r.note("seed %d: cancel %s: %v", r.s.Seed, id, err)
	}
}

// reset resets the task's current run to its first workflow task, as
// `temporal workflow reset` or the Web UI's Reset would, if it still runs.
func (r *chaosRun) reset(id string) {
	c := r.client()
	desc, err := c.DescribeWorkflowExecution(r.ctx, id, "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		r.note("seed %d: workflow reset of %s skipped: not running (%v)", r.s.Seed, id, err)
		return
	}
	runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	var first int64
	it := c.GetWorkflowHistory(r.ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for first == 0 && it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			r.failf("reset", "history of %s: %v", id, err)
			return
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			first = ev.GetEventId()
		}
	}
	resp, err := c.ResetWorkflowExecution(r.ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 "default",
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
		Reason:                    "chaos schedule",
		WorkflowTaskFinishEventId: first,
		RequestId:                 "chaos-reset-" + randomHex(6),
	})
	if err != nil {
		r.note("seed %d: workflow reset of %s: %v", r.s.Seed, id, err)
		return
	}
	r.addRun(id, runID)
	r.addRun(id, resp.GetRunId())
}

// heal ends every fault: the proxy passes and releases its stalls, the
// source stops its bursts.
func (r *chaosRun) heal() {
	r.drain()
	r.src.proxy.Set(faultproxy.Pass)
	r.src.proxy.Release()
	r.src.calm()
}

// drain waits (at most 20 s, and only while a sync runs) until the network
// fault and the bursts armed have met their requests.
func (r *chaosRun) drain() {
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
	defer cancel()
	for r.src.proxy.Fault() != faultproxy.Pass || r.src.pending() {
		if r.running() == 0 {
			r.note("seed %d: no sync is running: the fault armed is withdrawn (%s)", r.s.Seed, r.src.proxy.Fault())
			return
		}
		if !pause(ctx, 100*time.Millisecond) {
			r.note("seed %d: a fault armed met no request within 20 s (%s)", r.s.Seed, r.src.proxy.Fault())
			return
		}
	}
}

// awaitAll waits for the units to have started everything, then for every
// workflow of the schedule to close.
func (r *chaosRun) awaitAll(units <-chan error) {
	for err := range units {
		if err != nil {
			r.failf("start", "%v", err)
		}
	}
	ids := r.s.workflowIDs()
	for _, id := range ids {
		if _, err := r.awaitClosed(id, ""); err != nil {
			r.failf("closed", "%v", err)
		}
	}
}

// sync is the planned sync with ID id.
func (s schedule) sync(id string) plannedSync {
	for _, ps := range s.Syncs {
		if ps.ID == id {
			return ps
		}
	}
	return plannedSync{}
}

// workflowIDs are the schedule's workflows, the batch first.
func (s schedule) workflowIDs() []string {
	var ids []string
	if s.Batch != "" {
		ids = append(ids, s.Batch)
	}
	for _, ps := range s.Syncs {
		ids = append(ids, ps.ID)
	}
	return ids
}

// failf fails the schedule's test with the seed and how to rerun it.
func (r *chaosRun) failf(invariant, format string, args ...any) {
	r.t.Helper()
	r.mu.Lock()
	r.failures++
	r.mu.Unlock()
	r.t.Errorf("seed %d: invariant %q broken: %s\n\trerun: go test -count=1 -run 'TestRandomSchedules' ./tests/chaos/ -chaos.seed=%d",
		r.s.Seed, invariant, fmt.Sprintf(format, args...), r.s.Seed)
}
