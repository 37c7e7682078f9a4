package main

import (
	"bytes"
	"strings"
	"testing"

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
