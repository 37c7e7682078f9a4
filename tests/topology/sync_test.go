package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/ratelimit/fairness"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/tests/topology"
	"github.com/syncflow/syncflow/workflows"
)

// TestComposeTopology runs docker-compose.yml's stack as real processes
// (package topology), syncs the 20,000 records of "orders" with the
// starter as `docker compose run starter sync` would, twice at once (two
// tasks, into two databases of the destination), SIGKILLs the worker holding the first sync's activity once 30
// pages are committed, and checks that both syncs complete with every
// record exactly once and as the source serves it, that the global per-key limit of deploy/config.yaml is on the
// task queue and that the demo API, which limits orders to fewer requests
// per second than two workers may send, never had to refuse one. Then every
// other dataset of deploy/config.yaml syncs completely.
func TestComposeTopology(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	top, root := up(ctx, t)
	workers := top.Procs("worker")
	require.Len(t, workers, 2, "docker-compose.yml runs two worker replicas")

	c, err := client.Dial(client.Options{
		HostPort:  top.Addr("temporal", "7233"),
		Namespace: composeEnv(t, top, "worker", "TEMPORAL_NAMESPACE"),
	})
	require.NoError(t, err)
	defer c.Close()
	dest := destination(ctx, t, top)

	// Two syncs of the dataset at once, so that both workers fetch pages of
	// the key at the same time: the second a task of its own into a second
	// database of the destination (`docker compose run -e SYNCFLOW_SINK=…
	// starter sync --id …`).
	const task, task2 = "sync-" + bigDataset, "sync-" + bigDataset + "-2"
	const db2 = "syncflow_second"
	_, err = dest.Exec(ctx, "CREATE DATABASE "+db2)
	require.NoError(t, err)
	sink := composeEnv(t, top, "starter", "SYNCFLOW_SINK")
	sink2 := strings.Replace(sink, "/"+composeEnv(t, top, "destination", "POSTGRES_DB")+"?", "/"+db2+"?", 1)
	require.NotEqual(t, sink, sink2)
	dest2 := destinationDB(ctx, t, top, db2)
	cfgPath := composeEnv(t, top, "starter", "SYNCFLOW_CONFIG")
	started := time.Now()
	starter, err := top.Run("starter", "sync", "--config", cfgPath, "--dataset", bigDataset)
	require.NoError(t, err)
	starter2, err := top.RunEnv("starter", map[string]string{"SYNCFLOW_SINK": sink2}, "sync", "--config", cfgPath, "--dataset", bigDataset, "--id", task2)
	require.NoError(t, err)

	poll(ctx, t, fmt.Sprintf("%d committed pages", killAfterPages), func() bool {
		return committedPages(ctx, dest, task) >= killAfterPages
	})
	victim := activityHolder(ctx, t, c, task, workers)
	require.NoError(t, victim.Kill())
	ws, ok := victim.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "%s should have died of SIGKILL", victim.Name)
	atKill := committedPages(ctx, dest, task)
	require.Less(t, atKill, int64(bigPages), "the sync must be mid-way when its worker is killed")
	t.Logf("SIGKILLed %s (pid %d), which held the activity of %s, after %d of %d pages", victim.Name, victim.Pid(), task, atKill, bigPages)

	require.NoError(t, starter.Wait(ctx), "starter sync exits 0 once the sync completed")
	require.NoError(t, starter2.Wait(ctx), "starter sync --id %s exits 0 once the sync completed", task2)
	elapsed := time.Since(started)
	want := sourceRecords(t, bigDataset, bigRecords)
	for id, conn := range map[string]*pgx.Conn{task: dest, task2: dest2} {
		var res workflows.SyncResult
		require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res))
		assert.Equal(t, int64(bigRecords), res.Records, "%s counted every record once", id)
		requireExact(ctx, t, conn, id, bigDataset, want)
	}
	requireGlobalLimit(ctx, t, top, c, root, elapsed)

	// Every other dataset of the compose configuration, one after the other.
	for _, ds := range demoapi.DefaultDatasets() {
		if ds.ID == bigDataset {
			continue
		}
		p, err := top.Run("starter", "sync", "--config", cfgPath, "--dataset", ds.ID)
		require.NoError(t, err)
		require.NoError(t, p.Wait(ctx), "starter sync --dataset %s", ds.ID)
		requireExact(ctx, t, dest, "sync-"+ds.ID, ds.ID, sourceRecords(t, ds.ID, ds.Total))
	}
}

// activityHolder returns the worker that runs the task's pending activity,
// from the identity the server reports (pid@host@ by default).
func activityHolder(ctx context.Context, t *testing.T, c client.Client, task string, workers []*topology.Proc) *topology.Proc {
	t.Helper()
	var holder *topology.Proc
	poll(ctx, t, "a started activity on one of the workers", func() bool {
		desc, err := c.DescribeWorkflowExecution(ctx, task, "")
		require.NoError(t, err)
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
				continue
			}
			pid, _, _ := strings.Cut(pa.GetLastWorkerIdentity(), "@")
			for _, w := range workers {
				if strconv.Itoa(w.Pid()) == pid {
					holder = w
				}
			}
		}
		return holder != nil
	})
	return holder
}

// sourceRecords are the records the demo API serves for dataset (total of
// them; the compose command sets no seed, so the default 1), from the
// demo API package itself: key → record.
func sourceRecords(t *testing.T, dataset string, total int) map[string]map[string]any {
	t.Helper()
	api := demoapi.New(demoapi.Options{Seed: 1, Datasets: []demoapi.DatasetSpec{{ID: dataset, Pagination: source.PaginationOffset, Total: total}}})
	out := map[string]map[string]any{}
	for offset := 0; offset < total; offset += demoapi.MaxPageSize {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet,
			fmt.Sprintf("/datasets/%s/records?offset=%d&limit=%d", dataset, offset, demoapi.MaxPageSize), nil))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var body struct {
			Results []map[string]any `json:"results"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		for _, r := range body.Results {
			out[fmt.Sprint(r["id"])] = r
		}
	}
	require.Len(t, out, total)
	return out
}

// requireExact checks the destination holds exactly want for dataset, each
// record once and equal to the source's, and that the task's checkpoint is
// completed with every record counted once.
func requireExact(ctx context.Context, t *testing.T, conn *pgx.Conn, task, dataset string, want map[string]map[string]any) {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT key, data::text FROM syncflow_records WHERE dataset = $1`, dataset)
	require.NoError(t, err)
	got := map[string]map[string]any{}
	dup := 0
	for rows.Next() {
		var key, data string
		require.NoError(t, rows.Scan(&key, &data))
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(data), &rec))
		if _, seen := got[key]; seen {
			dup++
		}
		got[key] = rec
	}
	require.NoError(t, rows.Err())
	assert.Zero(t, dup, "%s: keys stored twice", dataset)
	require.Len(t, got, len(want), "%s: records in the destination", dataset)
	wrong := 0
	for key, w := range want {
		if !assert.ObjectsAreEqual(w, got[key]) {
			if wrong == 0 {
				t.Errorf("%s: record %s is %v in the destination, %v at the source", dataset, key, got[key], w)
			}
			wrong++
		}
	}
	assert.Zero(t, wrong, "%s: records whose content differs from the source", dataset)

	var state string
	var done bool
	var records int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT state, done, records FROM syncflow_checkpoints WHERE task_id = $1`, task).Scan(&state, &done, &records))
	assert.Equal(t, "completed", state, "%s checkpoint", task)
	assert.True(t, done, "%s checkpoint", task)
	assert.Equal(t, int64(len(want)), records, "%s checkpoint records", task)
}

// requireGlobalLimit checks the global per-key limit of deploy/config.yaml:
// the task queue carries it (read back from the server), and the demo API,
// whose compose command limits the dataset below what the two workers'
// per-worker limits add up to, never answered 429. It reports the achieved
// rate; its bound is a benchmark's business (BENCHMARKS.md).
func requireGlobalLimit(ctx context.Context, t *testing.T, top *topology.Topology, c client.Client, root string, elapsed time.Duration) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(root, "deploy", "config.yaml"))
	require.NoError(t, err)
	ds, err := cfg.Dataset(bigDataset)
	require.NoError(t, err)
	limit := cfg.GlobalLimits()[ds.LimitKey()]
	require.Positive(t, limit, "deploy/config.yaml gives %s a global_rps", bigDataset)
	require.Greater(t, 2*ds.RateLimit.RPS, limit, "two workers' per-worker limits must exceed the global one, or it proves nothing")

	qcfg, err := fairness.Describe(ctx, c, composeEnv(t, top, "worker", "TEMPORAL_NAMESPACE"), workflows.TaskQueue)
	require.NoError(t, err)
	rate, ok := fairness.KeyRate(qcfg, ds.LimitKey())
	require.True(t, ok, "the task queue has per-key limits")
	assert.InDelta(t, limit, rate, 1e-3, "the task queue's limit of key %q", ds.LimitKey())

	resp, err := http.Get("http://" + top.Addr("demo-api", "8080") + "/datasets/" + bigDataset + "/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st demoapi.StatsJSON
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	assert.Zero(t, st.RateLimited, "the demo API refused requests: the workers together exceeded its limit")
	assert.GreaterOrEqual(t, st.OK, int64(2*bigPages), "every page of both syncs was served")
	assert.Equal(t, st.Requests, st.OK, "no request failed")
	span := st.LastRequest.Sub(*st.FirstRequest)
	t.Logf("demo API: %d requests for %d pages (%d again after the kill) in %v: %.2f req/s under a global limit of %g/s (per worker %g/s, 2 workers); syncs %v",
		st.Requests, 2*bigPages, st.OK-2*bigPages, span.Round(time.Millisecond), float64(st.OK)/span.Seconds(), limit, ds.RateLimit.RPS, elapsed.Round(time.Millisecond))
}
