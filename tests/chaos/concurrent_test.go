package chaos_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// Concurrent pages and a worker SIGKILLed (ARCHITECTURE.md §Data flow,
// "Concurrent pages"). The dataset declares 20 req/s: with the page
// latency of 200 ms about five pages are in flight at once.

// killCluster is a devserver in the test process and plain worker
// processes against it, syncing into one SQLite file.
type killCluster struct {
	srv    *devserver.Server
	dsn    string
	dbPath string
}

func newKillCluster(ctx context.Context, t *testing.T) *killCluster {
	dir := t.TempDir()
	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath: filepath.Join(dir, "temporal.db"), FreePorts: true, UIPort: devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	db := filepath.Join(dir, "data.db")
	return &killCluster{srv: srv, dsn: "sqlite://" + db, dbPath: db}
}

func (k *killCluster) worker(ctx context.Context, t *testing.T, name string) *workerProc {
	metrics := loopback(freePort(t))
	p := startWorker(t, name, metrics, []string{"--sink", k.dsn, "--metrics", metrics},
		"TEMPORAL_ADDRESS="+k.srv.FrontendAddress(), "TEMPORAL_NAMESPACE="+k.srv.Namespace())
	p.waitHealthy(ctx)
	return p
}

// killHolder SIGKILLs the worker running the task's activity.
func (k *killCluster) killHolder(ctx context.Context, t *testing.T, sc *syncclient.Client, taskID string, workers []*workerProc) {
	desc, err := sc.Temporal().DescribeWorkflowExecution(ctx, taskID, "")
	require.NoError(t, err)
	require.Len(t, desc.GetPendingActivities(), 1)
	pa := desc.GetPendingActivities()[0]
	require.Equal(t, enumspb.PENDING_ACTIVITY_STATE_STARTED, pa.GetState())
	pid, err := identityPID(pa.GetLastWorkerIdentity())
	require.NoError(t, err)
	for _, w := range workers {
		if w.pid() == pid {
			w.kill()
			return
		}
	}
	t.Fatalf("the activity runs on pid %d, which is no worker of the test", pid)
}

// inFlightCount is how many requests the source is answering.
func (s *demoSource) inFlightCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.inFlight {
		n += v
	}
	return n
}

// A worker killed while several pages are in flight: the sync resumes on
// another worker from its checkpoint and fetches again only pages that
// were requested and not committed when it died, at most the window's
// bound of them, each at most once more.
func TestKillWorkerWithPagesInFlightRefetchesOnlyThem(t *testing.T) {
	needWorker(t)
	ctx := testContext(t)
	k := newKillCluster(ctx, t)
	src := newDemoSource(t)
	workers := []*workerProc{k.worker(ctx, t, "worker A"), k.worker(ctx, t, "worker B")}
	snk := openSink(ctx, t, k.dsn)
	c := dial(ctx, t, k.srv.FrontendAddress())
	sc := syncclient.New(c)
	const taskID = "chaos-kill-window"
	ds := src.dataset()
	ds.RateLimit = config.RateLimit{RPS: 20}
	_, err := sc.StartSync(ctx, taskID, ds, syncOptions(), k.dsn)
	require.NoError(t, err)

	waitForPages(ctx, t, snk, taskID, 3, func(sink.Checkpoint) bool { return src.inFlightCount() >= 2 })
	k.killHolder(ctx, t, sc, taskID, workers)
	cp, ok, err := snk.Load(ctx, taskID) // its worker is dead: nothing commits until another takes over
	require.NoError(t, err)
	require.True(t, ok)
	var inFlight []int // requested, not committed
	for page := range src.requestCounts() {
		if int64(page) > cp.Pages {
			inFlight = append(inFlight, page)
		}
	}
	slices.Sort(inFlight)
	t.Logf("killed after %d pages committed; pages requested and not committed: %v", cp.Pages, inFlight)
	require.GreaterOrEqual(t, len(inFlight), 2, "several pages in flight at the kill")

	k.worker(ctx, t, "worker C")
	res, err := sc.Wait(ctx, c.GetWorkflow(ctx, taskID, ""))
	require.NoError(t, err)
	requireExact(ctx, t, src, res, snk, taskID, sqliteKeys(ctx, t, k.dbPath))
	var twice []int
	for page, n := range src.requestCounts() {
		require.LessOrEqual(t, n, 2, "page %d requested %d times", page, n)
		if n == 2 {
			twice = append(twice, page)
		}
	}
	slices.Sort(twice)
	for _, p := range twice {
		assert.Contains(t, inFlight, p, "page %d fetched twice though it was not in flight at the kill", p)
	}
	assert.LessOrEqual(t, len(twice), source.DefaultConcurrency, "pages fetched twice: %v", twice)
	assert.Len(t, src.requestCounts(), totalPages, "no requests beyond the last page")
}

// Concurrent pages against an API that answers 15 % of requests 500 and
// limits requests to 10/s (429 with Retry-After beyond it, while the
// dataset declares 20), with the worker SIGKILLed mid-way: every record
// arrives exactly once.
func TestConcurrentPagesExactUnderFaultsAndKill(t *testing.T) {
	needWorker(t)
	ctx := testContext(t)
	k := newKillCluster(ctx, t)
	src := newDemoSourceWith(t, demoapi.DatasetSpec{RPS: 10, Burst: 2}, demoapi.Faults{P500: 0.15, MaxConsecutive: 2})
	workers := []*workerProc{k.worker(ctx, t, "worker A"), k.worker(ctx, t, "worker B")}
	snk := openSink(ctx, t, k.dsn)
	c := dial(ctx, t, k.srv.FrontendAddress())
	sc := syncclient.New(c)
	const taskID = "chaos-faults-window"
	ds := src.dataset()
	ds.RateLimit = config.RateLimit{RPS: 20}
	_, err := sc.StartSync(ctx, taskID, ds, syncOptions(), k.dsn)
	require.NoError(t, err)

	waitForPages(ctx, t, snk, taskID, 6, nil)
	k.killHolder(ctx, t, sc, taskID, workers)
	k.worker(ctx, t, "worker C")
	res, err := sc.Wait(ctx, c.GetWorkflow(ctx, taskID, ""))
	require.NoError(t, err)
	requireExact(ctx, t, src, res, snk, taskID, sqliteKeys(ctx, t, k.dbPath))
	st := src.api.Stats(datasetID)
	t.Logf("%d requests: %d answered 429, %d answered 500; %d retries, %d rate-limit waits", st.Requests, st.RateLimited, st.Faults[demoapi.Fault500], res.Retries, res.RateLimitWaits)
	require.Positive(t, st.RateLimited, "the API refused requests (429)")
	require.Positive(t, st.Faults[demoapi.Fault500], "the API failed requests (500)")
}
