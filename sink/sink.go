package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// validState reports whether s is one of the states a checkpoint holds.
func validState(s task.State) bool {
	switch s {
	case task.Running, task.Completed, task.Cancelled, task.Failed:
		return true
	}
	return false
}

// ErrStaleCheckpoint is returned (wrapped) by Commit when the stored
// checkpoint of the task is ahead of the one being committed: same
// Generation, more Pages. It means another attempt of the activity has
// overtaken this one; nothing was written.
var ErrStaleCheckpoint = errors.New("stale checkpoint")

// ErrSuperseded is returned (wrapped, classified invalid request) by Commit
// when the stored checkpoint of the task belongs to a generation that
// started after the one being committed: another run of the task (a second
// workflow reusing the task ID, a newer sync after this attempt's run
// ended) owns it now. Nothing was written, and retrying cannot succeed.
// When either generation's start is unknown (zero), generations are not
// ordered and the commit proceeds, as before starts were stored.
var ErrSuperseded = errors.New("checkpoint superseded by a newer generation of the task")

// StartNanos is how drivers store a generation start: Unix nanoseconds, 0
// for an unknown (zero) start.
func StartNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// StartFromNanos is the inverse of StartNanos (UTC).
func StartFromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// CountMargin is how much earlier than a generation's start (the
// workflow's clock) another task's commit (the worker's clock) still counts
// as concurrent, so that a final distinct count is never taken while
// another task of the dataset may have taken over keys.
const CountMargin = time.Minute

// Refused is the error of a Commit whose checkpoint write changed nothing,
// given the stored checkpoint's generation, its start (Unix nanoseconds)
// and pages: ErrSuperseded when the stored one is of another generation
// (the write's condition refuses only an older one), else
// ErrStaleCheckpoint. op names the driver's operation.
func Refused(op string, cp Checkpoint, storedGen string, storedStart, storedPages int64) error {
	if storedGen != cp.Generation {
		return sferrors.New(sferrors.InvalidRequest, "", fmt.Errorf(
			"%s task %q: generation %q started %s, but the stored checkpoint is of generation %q started %s (page %d): %w",
			op, cp.TaskID, cp.Generation, cp.GenerationStarted.Format(time.RFC3339Nano),
			storedGen, StartFromNanos(storedStart).Format(time.RFC3339Nano), storedPages, ErrSuperseded))
	}
	return fmt.Errorf("%s task %q: page %d of generation %q, stored checkpoint is at page %d: %w",
		op, cp.TaskID, cp.Pages, cp.Generation, storedPages, ErrStaleCheckpoint)
}

// StateRefused is the error of a SetState that changed nothing: the stored
// checkpoint is of a generation that started after generationStarted.
func StateRefused(op, taskID string, generationStarted time.Time) error {
	return sferrors.New(sferrors.InvalidRequest, "", fmt.Errorf(
		"%s task %q: the stored checkpoint is of a generation that started after this run's (%s): %w",
		op, taskID, generationStarted.Format(time.RFC3339Nano), ErrSuperseded))
}

// Checkpoint is where a task stands: written with every committed page.
type Checkpoint struct {
	TaskID    string
	DatasetID string
	// Position is the task's position after the committed page: its
	// generation, the cursor of the next page, the pages and records
	// committed in the generation, and whether the source reported the end.
	task.Position
	State   task.State
	Message string // why the task failed or was cancelled (SetState); Commit clears it
	// Incremental is the dataset's incremental field ("" for a full
	// sync): the commit that completes the run promotes Window.To to the
	// dataset's mark (IncrementalState), in the same transaction. Not stored
	// in the checkpoint; Load leaves it empty.
	Incremental string
	// Deletes is what the commit that completes a full run does to the
	// dataset's records the run did not see, in the same transaction. Not
	// stored; Load leaves it empty.
	Deletes   DeleteMode
	UpdatedAt time.Time // set by the sink when the checkpoint is written (UTC)
}

// Sink is a destination database.
type Sink interface {
	// Commit upserts records into dataset cp.DatasetID and writes cp, in one
	// transaction: both or neither. An empty cp.State means task.Running.
	// A checkpoint never moves backwards: when the stored checkpoint has the
	// same Generation and more Pages, Commit writes nothing and returns an
	// error wrapping ErrStaleCheckpoint; when it is of another generation
	// that started after cp's (both starts known), Commit writes nothing
	// and returns an error wrapping ErrSuperseded. The commit of the page
	// that ends the task (cp.Done, cp.GenerationStarted known) stores as the
	// checkpoint's Records the number of distinct record keys the generation
	// wrote, so pages that overlapped (an offset shifted by inserts) are not
	// counted twice; Load reads it back. Only when no other task of the
	// dataset committed since the generation started (less CountMargin):
	// otherwise the summed count is kept.
	Commit(ctx context.Context, cp Checkpoint, records []source.Record) error
	// Load returns the checkpoint of a task; ok is false when there is none.
	Load(ctx context.Context, taskID string) (cp Checkpoint, ok bool, err error)
	// SetState records a task's state (and the message of a failure) in its
	// checkpoint, creating it if needed; cursor and counters are kept. It is
	// said by a run of generation start generationStarted (zero: unknown):
	// when the stored checkpoint is of a generation that started later,
	// SetState writes nothing and returns an error wrapping ErrSuperseded,
	// so an older run's cleanup cannot relabel a newer run's checkpoint.
	SetState(ctx context.Context, taskID, datasetID string, generationStarted time.Time, state task.State, message string) error
	// Count returns the number of records stored for a dataset (marked
	// deleted ones included).
	Count(ctx context.Context, datasetID string) (int64, error)
	// Incremental returns the incremental state of a dataset: the mark of
	// its last completed incremental run; ok is false when there is none.
	Incremental(ctx context.Context, datasetID string) (st IncrementalState, ok bool, err error)
	// Reset clears the dataset's checkpoints and incremental state, in one
	// transaction, so that its next run is a full one; with records it
	// deletes the dataset's records too.
	Reset(ctx context.Context, datasetID string, records bool) error
	// Close releases the connection.
	Close() error
}

// CheckCommit validates the checkpoint given to Commit and returns the state
// to store (task.Running when cp.State is empty). Every driver calls it first
// so that all refuse the same checkpoints.
func CheckCommit(cp Checkpoint) (task.State, error) {
	if cp.TaskID == "" || cp.DatasetID == "" {
		return "", fmt.Errorf("checkpoint needs a task ID and a dataset ID (task %q, dataset %q)", cp.TaskID, cp.DatasetID)
	}
	if cp.Pages < 0 || cp.Records < 0 {
		return "", fmt.Errorf("task %q: negative counters (pages %d, records %d)", cp.TaskID, cp.Pages, cp.Records)
	}
	state := cp.State
	if state == "" {
		state = task.Running
	}
	if !validState(state) {
		return "", fmt.Errorf("task %q: unknown state %q", cp.TaskID, state)
	}
	return state, nil
}

// CheckSetState validates the arguments of SetState, for every driver alike.
func CheckSetState(taskID, datasetID string, state task.State) error {
	if taskID == "" || datasetID == "" {
		return fmt.Errorf("need a task ID and a dataset ID (task %q, dataset %q)", taskID, datasetID)
	}
	if !validState(state) {
		return fmt.Errorf("task %q: unknown state %q", taskID, state)
	}
	return nil
}
