package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncflow/syncflow/source"
)

// State is a task's state as recorded in its checkpoint.
type State string

// Checkpoint states.
const (
	StateRunning   State = "running"
	StateCompleted State = "completed"
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
)

// valid reports whether s is one of the checkpoint states.
func (s State) valid() bool {
	switch s {
	case StateRunning, StateCompleted, StateCancelled, StateFailed:
		return true
	}
	return false
}

// ErrStaleCheckpoint is returned (wrapped) by Commit when the stored
// checkpoint of the task is ahead of the one being committed: same
// Generation, more Pages. It means another attempt of the activity has
// overtaken this one; nothing was written.
var ErrStaleCheckpoint = errors.New("stale checkpoint")

// Checkpoint is where a task stands: written with every committed page.
type Checkpoint struct {
	TaskID     string
	DatasetID  string
	Generation string // identifies one sync run of the task (stable across continue-as-new)
	Cursor     string // cursor of the next page to fetch
	Done       bool   // the source reported the end
	Pages      int64  // pages committed in this generation
	Records    int64  // records committed in this generation (counting re-sent keys)
	State      State
	Message    string    // why the task failed or was cancelled (SetState); Commit clears it
	UpdatedAt  time.Time // set by the sink when the checkpoint is written (UTC)
}

// Sink is a destination database.
type Sink interface {
	// Commit upserts records into dataset cp.DatasetID and writes cp, in one
	// transaction: both or neither. An empty cp.State means StateRunning.
	// A checkpoint never moves backwards: when the stored checkpoint has the
	// same Generation and more Pages, Commit writes nothing and returns an
	// error wrapping ErrStaleCheckpoint.
	Commit(ctx context.Context, cp Checkpoint, records []source.Record) error
	// Load returns the checkpoint of a task; ok is false when there is none.
	Load(ctx context.Context, taskID string) (cp Checkpoint, ok bool, err error)
	// SetState records a task's state (and the message of a failure) in its
	// checkpoint, creating it if needed; cursor and counters are kept.
	SetState(ctx context.Context, taskID, datasetID string, state State, message string) error
	// Count returns the number of records stored for a dataset.
	Count(ctx context.Context, datasetID string) (int64, error)
	// Close releases the connection.
	Close() error
}

// CheckCommit validates the checkpoint given to Commit and returns the state
// to store (StateRunning when cp.State is empty). Every driver calls it first
// so that all refuse the same checkpoints.
func CheckCommit(cp Checkpoint) (State, error) {
	if cp.TaskID == "" || cp.DatasetID == "" {
		return "", fmt.Errorf("checkpoint needs a task ID and a dataset ID (task %q, dataset %q)", cp.TaskID, cp.DatasetID)
	}
	if cp.Pages < 0 || cp.Records < 0 {
		return "", fmt.Errorf("task %q: negative counters (pages %d, records %d)", cp.TaskID, cp.Pages, cp.Records)
	}
	state := cp.State
	if state == "" {
		state = StateRunning
	}
	if !state.valid() {
		return "", fmt.Errorf("task %q: unknown state %q", cp.TaskID, state)
	}
	return state, nil
}

// CheckSetState validates the arguments of SetState, for every driver alike.
func CheckSetState(taskID, datasetID string, state State) error {
	if taskID == "" || datasetID == "" {
		return fmt.Errorf("need a task ID and a dataset ID (task %q, dataset %q)", taskID, datasetID)
	}
	if !state.valid() {
		return fmt.Errorf("task %q: unknown state %q", taskID, state)
	}
	return nil
}
