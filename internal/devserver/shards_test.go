package devserver

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// A new database gets DefaultHistoryShards; a database made with another
// count keeps its own across a restart with the default, and its
// executions stay reachable (an execution's shard is its workflow ID's
// hash modulo the count: a changed count would lose it).
func TestExistingDatabaseKeepsItsHistoryShardCount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	fresh := startServer(t, Options{DBPath: filepath.Join(dir, "new.db"), FreePorts: true, UIPort: UIDisabled, Logger: testLogger(t)})
	assert.Equal(t, int32(DefaultHistoryShards), fresh.HistoryShards())
	require.NoError(t, fresh.Stop())

	const other = DefaultHistoryShards + 3
	oldPath := filepath.Join(dir, "old.db")
	old := startServer(t, Options{DBPath: oldPath, FreePorts: true, UIPort: UIDisabled, HistoryShards: other, Logger: testLogger(t)})
	require.Equal(t, int32(other), old.HistoryShards())
	c := dial(t, old)
	var runs []client.WorkflowRun
	for _, id := range []string{"shard-a", "shard-b", "shard-c", "shard-d", "shard-e"} {
		// No worker: the executions stay running, which is all we need.
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "devserver-shards-test"}, "NoSuchWorkflow")
		require.NoError(t, err)
		runs = append(runs, run)
	}
	c.Close()
	require.NoError(t, old.Stop())

	again := startServer(t, Options{DBPath: oldPath, FreePorts: true, UIPort: UIDisabled, Logger: testLogger(t)})
	assert.Equal(t, int32(other), again.HistoryShards(), "a persisted cluster keeps its shard count")
	c2 := dial(t, again)
	for _, run := range runs {
		desc, err := c2.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		require.NoError(t, err, "execution %s after the restart", run.GetID())
		assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())
		// A write on the execution's shard, too.
		require.NoError(t, c2.TerminateWorkflow(ctx, run.GetID(), run.GetRunID(), "test done"))
	}
}
