package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// temporalCLI finds the temporal CLI (v1.5.1, installed by .ci/run with
// `go install github.com/temporalio/cli/cmd/temporal@v1.5.1`). CI must have
// it; elsewhere the test is skipped with the command that installs it.
func temporalCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "the temporal CLI is not installed: go install github.com/temporalio/cli/cmd/temporal@v1.5.1"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// The temporal CLI, against the embedded dev server, starts a SyncWorkflow
// with the JSON input the README documents (examples/sync-input.json),
// queries its progress and cancels it.
func TestTemporalCLIStartsQueriesAndCancelsASync(t *testing.T) {
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv, err := devserver.Start(ctx, devserver.Options{
		InMemory: true, FreePorts: true, UIPort: -1,
		SearchAttributes: workflows.SearchAttributes(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })

	// The demo API, stalling from the third page on, so that the sync is
	// still running when the CLI queries and cancels it.
	api := demoapi.New(demoapi.Options{})
	var served atomic.Int64
	stalled := make(chan struct{}, 1)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 2 {
			select {
			case stalled <- struct{}{}:
			default:
			}
			<-r.Context().Done()
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(src.Close)

	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	dest, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(t.TempDir(), "dest.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = dest.Close() })
	w, _, err := engine.New(c, engine.Options{Sink: dest, HeartbeatEvery: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	// The README's input, pointed at this test's demo API.
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "sync-input.json"))
	require.NoError(t, err)
	var in workflows.SyncInput
	require.NoError(t, json.Unmarshal(raw, &in), "examples/sync-input.json is a SyncInput")
	require.NotEmpty(t, in.Sink, "the example names its destination")
	// The input's destination, not the worker's default, gets the task.
	taskDest := filepath.Join(t.TempDir(), "task.db")
	input := strings.Replace(string(raw), "http://127.0.0.1:8080", src.URL, 1)
	input = strings.Replace(input, in.Sink, "sqlite://"+taskDest, 1)
	inputFile := filepath.Join(t.TempDir(), "input.json")
	require.NoError(t, os.WriteFile(inputFile, []byte(input), 0o600))

	tctl := func(args ...string) []byte {
		t.Helper()
		args = append(args, "--address", srv.FrontendAddress(), "--namespace", srv.Namespace())
		cmd := exec.CommandContext(ctx, cli, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "temporal %s: %s", strings.Join(args, " "), stderr.String())
		return out
	}

	id := in.TaskID
	tctl("workflow", "start", "--task-queue", workflows.TaskQueue, "--type", workflows.SyncWorkflowName,
		"--workflow-id", id, "--input-file", inputFile)
	<-stalled

	out := tctl("workflow", "query", "--workflow-id", id, "--name", workflows.QueryProgress, "--output", "json")
	var q struct {
		QueryResult []workflows.Progress `json:"queryResult"`
	}
	require.NoError(t, json.Unmarshal(out, &q), "query output: %s", out)
	require.Len(t, q.QueryResult, 1, "query output: %s", out)
	p := q.QueryResult[0]
	require.Equal(t, "orders", p.DatasetID)
	require.Equal(t, task.Running, p.State)
	require.Equal(t, id, p.TaskID)

	tctl("workflow", "cancel", "--workflow-id", id)
	err = c.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled)
	_, ok, err := dest.Load(ctx, id)
	require.NoError(t, err)
	require.False(t, ok, "the worker's default destination got the task")
	taskSink, err := engine.OpenSink(ctx, "sqlite://"+taskDest)
	require.NoError(t, err)
	t.Cleanup(func() { _ = taskSink.Close() })
	cp, ok, err := taskSink.Load(ctx, id)
	require.NoError(t, err)
	require.True(t, ok, "no checkpoint in the input's destination")
	require.Equal(t, task.Cancelled, cp.State)
	n, err := taskSink.Count(ctx, "orders")
	require.NoError(t, err)
	require.Positive(t, n, "the pages before the stall are in the input's destination")

	// A sync started the way starter starts one carries a static summary,
	// and both are found by the SyncDataset search attribute.
	sf := syncclient.New(c)
	run, err := sf.StartSync(ctx, "orders-from-starter", in.Dataset, workflows.SyncOptions{}, "sqlite://"+filepath.Join(t.TempDir(), "starter.db"))
	require.NoError(t, err)
	out = tctl("workflow", "describe", "--workflow-id", run.GetID(), "--output", "json")
	require.Contains(t, string(out), "sync orders → sqlite", "describe shows the summary")
	require.NoError(t, c.CancelWorkflow(ctx, run.GetID(), ""))
	require.Eventually(t, func() bool {
		out := tctl("workflow", "list", "--query", `SyncDataset="orders"`, "--output", "json")
		return strings.Contains(string(out), id) && strings.Contains(string(out), run.GetID())
	}, 30*time.Second, 200*time.Millisecond, "temporal workflow list --query 'SyncDataset=\"orders\"' finds both syncs")
}
