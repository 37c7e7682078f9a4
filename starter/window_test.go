package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// starter status shows an incremental run's window, from the progress of
// an open run and from the result of a completed one; a full run has none.
func TestStatusShowsTheIncrementalWindow(t *testing.T) {
	w := task.Window{From: "2026-01-01T00:00:00Z", To: "2026-01-02T00:00:00Z"}
	open := statusJSON{Status: syncclient.Status{WorkflowID: "sync-tickets", Status: syncclient.StatusRunning,
		Progress: &workflows.Progress{Position: task.Position{Window: w}}}}
	done := statusJSON{Status: syncclient.Status{WorkflowID: "sync-tickets", Status: syncclient.StatusCompleted,
		Result: &workflows.SyncResult{Position: task.Position{Window: task.Window{To: "42"}}}}}
	full := statusJSON{Status: syncclient.Status{WorkflowID: "sync-full", Status: syncclient.StatusCompleted,
		Result: &workflows.SyncResult{}}}
	for _, tt := range []struct {
		s    statusJSON
		want string
	}{
		{open, "window: from 2026-01-01T00:00:00Z to 2026-01-02T00:00:00Z"},
		{done, "window: from the beginning to 42"},
	} {
		var b bytes.Buffer
		printStatus(&b, tt.s)
		got := strings.Join(strings.Fields(b.String()), " ")
		if !strings.Contains(got, tt.want) {
			t.Errorf("status lacks %q:\n%s", tt.want, b.String())
		}
	}
	var b bytes.Buffer
	printStatus(&b, full)
	if strings.Contains(b.String(), "window") {
		t.Errorf("a full run shows a window:\n%s", b.String())
	}
}

// A configuration with a bad incremental or deletes setting is refused by
// starter sync before it contacts Temporal, naming file, line, dataset and
// field.
func TestSyncRefusesBadIncrementalConfig(t *testing.T) {
	for name, tt := range map[string]struct{ extra, want string }{
		"incremental without field": {"    incremental:\n      param: updated_since\n", ":14: datasets[0] (orders): incremental.field: required"},
		"incremental without param": {"    incremental:\n      field: updated_at\n", ":14: datasets[0] (orders): incremental.param: required"},
		"deletes mark with incremental": {"    incremental: {field: updated_at, param: since}\n    deletes: mark\n",
			":15: datasets[0] (orders): deletes: deletes: mark needs full runs"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, "http://127.0.0.1:1", "sqlite://"+filepath.Join(dir, "o.db"), "orders")
			f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString(tt.extra)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			addr := closedAddress(t)
			r := runCLI([]string{"TEMPORAL_ADDRESS=" + addr}, "sync", "--config", cfg, "--dataset", "orders")
			require.NotEqual(t, exitOK, r.code)
			require.Contains(t, r.stderr, cfg+tt.want)
			require.NotContains(t, r.stderr, addr, "refused before contacting Temporal")
		})
	}
}
