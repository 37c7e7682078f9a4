package integration_test

// Issue 11 §1: the destination belongs to the task. Records land in the
// sink the task names, whatever the worker's default; one worker serves
// many destinations; a destination that cannot be opened fails the task
// with its class and a message naming it, password redacted, at once.

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// startTo starts a SyncWorkflow for ds whose input names the destination
// dsn.
func (e *env) startTo(taskID string, ds config.Dataset, dsn string) client.WorkflowRun {
	e.t.Helper()
	run, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: taskID, TaskQueue: e.tq},
		workflows.SyncWorkflowName, workflows.SyncInput{TaskID: taskID, Dataset: ds, Sink: dsn, Options: workflows.SyncOptions{
			PagesPerActivity: 3, HeartbeatTimeout: source.Duration(2 * time.Second),
		}})
	require.NoError(e.t, err)
	return run
}

// sqliteKeys reads the record keys of a dataset from a SQLite file; none
// when the file has no records table.
func sqliteKeys(t *testing.T, path, dataset string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	keys := map[string]int{}
	rows, err := db.Query(`SELECT key FROM syncflow_records WHERE dataset = ?`, dataset)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return keys
	}
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		keys[k]++
	}
	require.NoError(t, rows.Err())
	return keys
}

// requireExactKeys asserts keys are exactly the source's, each once.
func requireExactKeys(t *testing.T, keys map[string]int, src *scriptedSource) {
	t.Helper()
	require.Len(t, keys, src.total)
	for k, n := range keys {
		require.Equalf(t, 1, n, "key %s stored %d times", k, n)
		require.Truef(t, src.keys()[k], "key %s is not the source's", k)
	}
}

// requireNothingIn asserts the worker's default destination got nothing.
func (e *env) requireNothingIn(dataset string, taskIDs ...string) {
	e.t.Helper()
	require.Empty(e.t, e.storedKeys(dataset), "records went to the worker's default destination")
	for _, id := range taskIDs {
		_, ok, err := e.sink.Load(context.Background(), id)
		require.NoError(e.t, err)
		require.False(e.t, ok, "checkpoint of %s in the worker's default destination", id)
	}
}

func TestTaskDestinationOverridesWorkerDefault(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 50, 10)
	b := filepath.Join(t.TempDir(), "b.db")
	run := e.startTo("to-b", src.dataset("orders", source.PaginationCursor), "sqlite://"+b)
	res, err := e.result(run)
	require.NoError(t, err)
	require.Equal(t, task.Completed, res.State)
	requireExactKeys(t, sqliteKeys(t, b, "orders"), src)
	e.requireNothingIn("orders", "to-b")
}

// One worker, two tasks at once with two destinations, and a batch whose
// tasks go to the batch's destination or their own.
func TestOneWorkerServesSeveralDestinations(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	dir := t.TempDir()
	b, c := filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db")
	srcB, srcC := newScriptedSource(t, 40, 10), newScriptedSource(t, 30, 10)
	runB := e.startTo("two-b", srcB.dataset("orders", source.PaginationCursor), "sqlite://"+b)
	runC := e.startTo("two-c", srcC.dataset("orders", source.PaginationCursor), "sqlite://"+c)
	for _, run := range []client.WorkflowRun{runB, runC} {
		_, err := e.result(run)
		require.NoError(t, err)
	}
	requireExactKeys(t, sqliteKeys(t, b, "orders"), srcB)
	requireExactKeys(t, sqliteKeys(t, c, "orders"), srcC)

	// The batch path: BatchInput.Sink for its tasks, a task's own Sink
	// for that task.
	srcX, srcY := newScriptedSource(t, 20, 10), newScriptedSource(t, 25, 10)
	d := filepath.Join(dir, "d.db")
	in := workflows.BatchInput{BatchID: "dests", Concurrency: 2, Sink: "sqlite://" + d,
		Datasets: map[string]config.Dataset{
			"x": srcX.dataset("x", source.PaginationCursor),
			"y": srcY.dataset("y", source.PaginationCursor),
		},
		Tasks:   []workflows.BatchTask{{ID: "tx", Dataset: "x"}, {ID: "ty", Dataset: "y", Sink: "sqlite://" + c}},
		Options: workflows.SyncOptions{PagesPerActivity: 3, HeartbeatTimeout: source.Duration(2 * time.Second)},
	}
	brun, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "dests", TaskQueue: e.tq}, workflows.BatchWorkflowName, in)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var bres workflows.BatchResult
	require.NoError(t, brun.Get(ctx, &bres))
	requireExactKeys(t, sqliteKeys(t, d, "x"), srcX)
	requireExactKeys(t, sqliteKeys(t, c, "y"), srcY)
	assert.Empty(t, sqliteKeys(t, d, "y"))
	e.requireNothingIn("orders", "two-b", "two-c")
	e.requireNothingIn("x")
	e.requireNothingIn("y")
}

// A destination that cannot be opened fails the task at once (one
// attempt) with its class, and the message names it, password redacted.
func TestUnopenableDestinationFailsTheTask(t *testing.T) {
	t.Setenv("SYNCFLOW_TEST_DEST_PW", "hunter2-canary")
	t.Setenv("SYNCFLOW_TEST_UNBOUND_PW", "unbound-canary")
	e := newEnv(t)
	// The operator binds the destination secrets to their hosts, as
	// --secret would; SYNCFLOW_TEST_UNBOUND_PW is set but bound to none.
	e.startWorker(workerOptions{secrets: secrets.New(secrets.Bindings{
		"SYNCFLOW_TEST_DEST_PW":  {"db", "127.0.0.1"},
		"SYNCFLOW_TEST_UNSET_PW": {"127.0.0.1"},
	}, nil)})
	src := newScriptedSource(t, 20, 10)
	tests := []struct {
		name, dsn string
		class     sferrors.Class
		names     string // what the message must contain
	}{
		{"unsupported scheme", "mysql://app:${SYNCFLOW_TEST_DEST_PW}@db/x", sferrors.InvalidRequest, "mysql://app:${SYNCFLOW_TEST_DEST_PW}@db/x"},
		{"unset variable", "postgres://app:${SYNCFLOW_TEST_UNSET_PW}@127.0.0.1:1/x", sferrors.InvalidRequest, "${SYNCFLOW_TEST_UNSET_PW} is bound to host 127.0.0.1:1 but is not set"},
		{"unbound variable", "postgres://app:${SYNCFLOW_TEST_UNBOUND_PW}@127.0.0.1:1/x", sferrors.InvalidRequest, "${SYNCFLOW_TEST_UNBOUND_PW} is not bound to any host"},
		{"literal password", "postgres://app:hunter2-canary@127.0.0.1:1/x", sferrors.InvalidRequest, "postgres://app:xxxxx@127.0.0.1:1/x"},
		{"sqlite file that cannot be created", "sqlite:///proc/syncflow-none/x.db", sferrors.Unrecoverable, "sqlite:///proc/syncflow-none/x.db"},
	}
	if pg := postgresDSN(t, false); pg != "" {
		missing := withDatabase(t, pg, "syncflow_no_such_database")
		tests = append(tests,
			struct {
				name, dsn string
				class     sferrors.Class
				names     string
			}{"missing postgres database", missing, sferrors.Unrecoverable, "syncflow_no_such_database"},
			struct {
				name, dsn string
				class     sferrors.Class
				names     string
			}{"unknown postgres role", withUser(t, pg, "syncflow_no_such_role", "${SYNCFLOW_TEST_DEST_PW}"), sferrors.Unrecoverable, "syncflow_no_such_role:${SYNCFLOW_TEST_DEST_PW}@"})
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "bad-dest-" + string(rune('a'+i))
			run := e.startTo(id, src.dataset("orders", source.PaginationCursor), tt.dsn)
			_, err := e.result(run)
			require.Error(t, err)
			class, _, ok := sferrors.ClassOf(err)
			require.True(t, ok, "%v", err)
			msg := sferrors.Message(err)
			t.Logf("%s: %s", class, msg)
			assert.Equal(t, tt.class, class, "%v", err)
			assert.Contains(t, msg, tt.names)
			assert.NotContains(t, err.Error(), "hunter2-canary")
			assert.NotContains(t, err.Error(), "unbound-canary")
			require.Equal(t, 1, activityAttempts(t, e.c, id), "not retried")
		})
	}
	e.requireNothingIn("orders")
	assert.NotContains(t, e.logs.String(), "hunter2-canary")
	assert.NotContains(t, e.logs.String(), "unbound-canary")
}

// activityAttempts is the highest attempt of SyncPages in a workflow's
// history.
func activityAttempts(t *testing.T, c client.Client, id string) int {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	most := 0
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && int(a.GetAttempt()) > most {
			most = int(a.GetAttempt())
		}
	}
	return most
}
