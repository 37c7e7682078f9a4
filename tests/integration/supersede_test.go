package integration_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// Two workflows sync the same task ID into one destination (issue 11 §5:
// "a second workflow reusing the task ID"). The older one's attempt is
// held inside its first request while the newer one runs to the end; when
// it is let go, its commit must not overwrite the newer generation's
// checkpoint or records: it fails as invalid request, saying it was
// superseded, and its cleanup does not mark the newer task failed.
func TestOlderGenerationCannotOverwriteANewerOne(t *testing.T) {
	e := newEnv(t)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := r.URL.Path[1:]
		if tag == "older" {
			select {
			case arrived <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":[{"id":"k1","v":%q},{"id":"k2","v":%q}],"meta":{"next_cursor":""}}`, tag, tag)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	dataset := func(tag string) config.Dataset {
		return config.Dataset{ID: "shared", Source: source.Config{
			URL: srv.URL + "/" + tag, Records: "data", Key: "id", Timeout: source.Duration(time.Minute),
			Pagination: source.Pagination{Type: source.PaginationCursor, Param: "cursor", Next: "meta.next_cursor"},
		}}
	}
	e.startWorker(workerOptions{})
	start := func(wid, tag string) client.WorkflowRun {
		run, err := e.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: e.tq},
			workflows.SyncWorkflowName, workflows.SyncInput{TaskID: "task-x", Dataset: dataset(tag),
				Options: workflows.SyncOptions{HeartbeatTimeout: source.Duration(time.Minute)}})
		require.NoError(t, err)
		return run
	}
	older := start("task-x-older", "older")
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("the older workflow's request never arrived")
	}
	newer := start("task-x-newer", "newer")
	res, err := e.result(newer)
	require.NoError(t, err)
	require.Equal(t, task.Completed, res.State)

	release <- struct{}{} // let the older attempt commit its page now
	_, err = e.result(older)
	require.Error(t, err, "the older generation completed over the newer one")
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.InvalidRequest, class, "%v", err)
	require.Contains(t, err.Error(), "superseded")

	cp := e.checkpoint("task-x")
	require.Equal(t, newer.GetRunID(), cp.Generation)
	require.Equal(t, task.Completed, cp.State, "the older run's cleanup relabelled the checkpoint: %s", cp.Message)
	require.False(t, cp.GenerationStarted.IsZero())
	db, err := sql.Open("sqlite", e.sinkPath)
	require.NoError(t, err)
	defer db.Close()
	for _, k := range []string{"k1", "k2"} {
		var v string
		require.NoError(t, db.QueryRow(`SELECT data->>'v' FROM syncflow_records WHERE dataset = 'shared' AND key = ?`, k).Scan(&v))
		require.Equal(t, "newer", v, "record %s", k)
	}
}
