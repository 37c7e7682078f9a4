package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/syncflow/syncflow/engine"
)

// TestReplayCommittedHistories replays histories recorded from real runs
// (testdata/replay, written by integration.TestReplayFreshHistory with
// SYNCFLOW_UPDATE_HISTORIES=1) against the current workflow code. A change
// that breaks determinism fails here; guard it with workflow.GetVersion.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "replay", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no committed histories")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			engine.RegisterWorkflows(r)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
