package syncclient

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// FinalFailure reads the detail of a failed or cancelled SyncWorkflow's
// error: its class, message and what the destination had committed when it
// ended. ok is false when err carries none (a workflow of an older version,
// a termination, a timeout).
func FinalFailure(err error) (f workflows.SyncFailure, ok bool) {
	defer func() {
		if recover() != nil { // details of another shape: the SDK assigns by reflection
			f, ok = workflows.SyncFailure{}, false
		}
	}()
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.HasDetails() {
		return f, app.Details(&f) == nil && f.Class != ""
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() {
		var msg string // the details are ("sync cancelled", SyncFailure)
		return f, canceled.Details(&msg, &f) == nil && f.Class != ""
	}
	return f, false
}

// finalProgress is the progress of a sync that ended without completing,
// from its failure's detail, or nil.
func finalProgress(st Status, err error) *workflows.Progress {
	f, ok := FinalFailure(err)
	if !ok {
		return nil
	}
	state := task.Failed
	if temporal.IsCanceledError(err) {
		state = task.Cancelled
	}
	return &workflows.Progress{
		TaskID: st.WorkflowID, DatasetID: st.Dataset, State: state, Position: f.Position,
		LastErrorClass: string(f.Class), LastError: f.Message,
	}
}
