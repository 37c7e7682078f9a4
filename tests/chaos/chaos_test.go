package chaos_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// Issue 3's acceptance: SIGKILL the process hosting the embedded server
// (`worker --dev`, file-backed) after two pages are committed, start it again
// with the same arguments: the sync resumes from the server's SQLite file and
// completes with exactly the source's records.
func TestKillDevWorkerMidSyncResumesFromServerFile(t *testing.T) {
	needWorker(t)
	ctx := testContext(t)
	dir := t.TempDir()
	src := newDemoSource(t)
	dbPath := filepath.Join(dir, "data.db")
	dsn := "sqlite://" + dbPath
	dev := newDevWorker(t, dir, dsn)

	first := dev.start(ctx, t, "worker --dev (first)")
	dev.requireUI(ctx, t)
	snk := openSink(ctx, t, dsn)

	const taskID = "chaos-sigkill-dev"
	sc := syncclient.New(dial(ctx, t, dev.frontend))
	_, err := sc.StartSync(ctx, taskID, src.dataset(), syncOptions(), dsn)
	require.NoError(t, err)

	cp := waitForPages(ctx, t, snk, taskID, 2, nil)
	first.kill()
	require.False(t, cp.Done, "the sync must be mid-way when the worker is killed")
	t.Logf("killed %s after %d of %d pages were committed", first.name, cp.Pages, totalPages)

	dev.start(ctx, t, "worker --dev (restarted)")
	dev.requireUI(ctx, t)
	// A new client: the old one's connection died with the server.
	sc = syncclient.New(dial(ctx, t, dev.frontend))
	res, err := sc.Wait(ctx, sc.Temporal().GetWorkflow(ctx, taskID, ""))
	require.NoError(t, err, "the sync started before the kill must complete after the restart")
	requireExact(ctx, t, src, res, snk, taskID, sqliteKeys(ctx, t, dbPath))
}

// SIGINT on a `worker --dev` while a page is being fetched: the worker lets
// that page commit and exits 0; once restarted the sync completes exactly,
// having fetched again at most the pages that were in flight.
func TestInterruptDevWorkerMidSyncCommitsPageInFlight(t *testing.T) {
	needWorker(t)
	ctx := testContext(t)
	dir := t.TempDir()
	src := newDemoSource(t)
	dbPath := filepath.Join(dir, "data.db")
	dsn := "sqlite://" + dbPath
	dev := newDevWorker(t, dir, dsn)

	first := dev.start(ctx, t, "worker --dev (first)")
	snk := openSink(ctx, t, dsn)

	const taskID = "chaos-sigint-dev"
	sc := syncclient.New(dial(ctx, t, dev.frontend))
	_, err := sc.StartSync(ctx, taskID, src.dataset(), syncOptions(), dsn)
	require.NoError(t, err)

	// Interrupt while the request for the next page is being answered.
	cp := waitForPages(ctx, t, snk, taskID, 2, func(cp sink.Checkpoint) bool {
		return src.isInFlight(int(cp.Pages) + 1)
	})
	inFlight := cp.Pages + 1
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, first.wait(ctx), "the worker must exit 0 after SIGINT")
	out := first.out.String()
	assert.Contains(t, out, "stopping: finishing the page in flight")
	assert.Contains(t, out, "worker stopped")

	cp, ok, err := snk.Load(ctx, taskID)
	require.NoError(t, err)
	require.True(t, ok)
	require.GreaterOrEqual(t, cp.Pages, inFlight, "page %d was being fetched at SIGINT: it must be committed before the worker exits", inFlight)
	require.False(t, cp.Done, "the sync must be mid-way when the worker stops")
	t.Logf("SIGINT while page %d was in flight; %d of %d pages committed at exit", inFlight, cp.Pages, totalPages)

	dev.start(ctx, t, "worker --dev (restarted)")
	sc = syncclient.New(dial(ctx, t, dev.frontend))
	res, err := sc.Wait(ctx, sc.Temporal().GetWorkflow(ctx, taskID, ""))
	require.NoError(t, err)
	requireExact(ctx, t, src, res, snk, taskID, sqliteKeys(ctx, t, dbPath))

	counts := src.requestCounts()
	var twice []int
	for page := 1; page <= totalPages; page++ {
		switch n := counts[page]; {
		case n == 0:
			t.Errorf("page %d was never requested", page)
		case n == 2:
			twice = append(twice, page)
		case n > 2:
			t.Errorf("page %d was requested %d times", page, n)
		}
	}
	// The pages in flight when the worker stopped (ARCHITECTURE.md §Data
	// flow, "Concurrent pages"): at most the window's bound.
	assert.LessOrEqual(t, len(twice), source.DefaultConcurrency, "at most the pages in flight fetched twice; twice: %v", twice)
	assert.Len(t, counts, totalPages, "no requests beyond the last page: %v", counts)
}

// Plain workers (no --dev) against a Temporal server: SIGKILL the one running
// the sync's activity, start another: the sync resumes on a surviving worker
// and completes exactly. The server runs in the test process (devserver, on a
// SQLite file) so that killing a worker never kills the server.
func TestKillPlainWorkerSyncResumesOnAnother(t *testing.T) {
	needWorker(t)
	ctx := testContext(t)
	dir := t.TempDir()
	src := newDemoSource(t)
	dbPath := filepath.Join(dir, "data.db")
	dsn := "sqlite://" + dbPath

	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath:           filepath.Join(dir, "temporal.db"),
		FreePorts:        true,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() }) // after the workers are killed (cleanups run last-in first-out)

	plain := func(name string) *workerProc {
		metrics := loopback(freePort(t))
		p := startWorker(t, name, metrics, []string{"--sink", dsn, "--metrics", metrics},
			"TEMPORAL_ADDRESS="+srv.FrontendAddress(), "TEMPORAL_NAMESPACE="+srv.Namespace())
		p.waitHealthy(ctx)
		return p
	}
	workers := []*workerProc{plain("worker A"), plain("worker B")}
	snk := openSink(ctx, t, dsn)

	const taskID = "chaos-sigkill-plain"
	c := dial(ctx, t, srv.FrontendAddress())
	sc := syncclient.New(c)
	opts := syncOptions()
	opts.PagesPerActivity = totalPages // one activity execution: it stays on one worker until killed
	_, err = sc.StartSync(ctx, taskID, src.dataset(), opts, dsn)
	require.NoError(t, err)

	cp := waitForPages(ctx, t, snk, taskID, 2, nil)
	desc, err := c.DescribeWorkflowExecution(ctx, taskID, "")
	require.NoError(t, err)
	require.Len(t, desc.GetPendingActivities(), 1)
	pa := desc.GetPendingActivities()[0]
	require.Equal(t, enumspb.PENDING_ACTIVITY_STATE_STARTED, pa.GetState())
	holderPID, err := identityPID(pa.GetLastWorkerIdentity())
	require.NoError(t, err, "identity %q", pa.GetLastWorkerIdentity())
	var victim *workerProc
	for _, w := range workers {
		if w.pid() == holderPID {
			victim = w
		}
	}
	require.NotNil(t, victim, "the activity runs on pid %d, which is neither worker", holderPID)
	victim.kill()
	require.False(t, cp.Done, "the sync must be mid-way when its worker is killed")
	t.Logf("killed %s (pid %d) running the activity after %d of %d pages", victim.name, holderPID, cp.Pages, totalPages)

	plain("worker C")
	res, err := sc.Wait(ctx, c.GetWorkflow(ctx, taskID, ""))
	require.NoError(t, err)
	requireExact(ctx, t, src, res, snk, taskID, sqliteKeys(ctx, t, dbPath))

	// The last SyncPages execution completed on another process.
	iter := c.GetWorkflowHistory(ctx, taskID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	lastIdentity := ""
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			lastIdentity = a.GetIdentity()
		}
	}
	pid, err := identityPID(lastIdentity)
	require.NoError(t, err, "identity %q", lastIdentity)
	assert.NotEqual(t, holderPID, pid, "the sync must have completed on a surviving worker")
}
