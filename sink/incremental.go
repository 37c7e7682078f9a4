package sink

import (
	"time"

	"github.com/syncflow/syncflow/task"
)

// DeleteMode is what the commit that completes a full run does to the
// dataset's records that the run did not see (ARCHITECTURE.md §Sink
// protocol, "Incremental runs and deletes").
type DeleteMode string

// Delete modes. DeletesDeleteConfirmed is for paginations that cannot vouch
// for a complete read (page numbers, offsets, links): a record is removed
// only when two consecutive completed full runs missed it; the first marks
// it, as DeletesMark does.
const (
	DeletesKeep            DeleteMode = ""
	DeletesMark            DeleteMode = "mark"
	DeletesDelete          DeleteMode = "delete"
	DeletesDeleteConfirmed DeleteMode = "delete_confirmed"
)

// IncrementalState is a dataset's incremental state in the destination:
// the high-water mark of its last completed incremental run, which the next
// run starts from (less the lookback). It outlives generations and task
// IDs; only a completing commit moves it, and Reset clears it.
type IncrementalState struct {
	DatasetID string
	// Field is the record path the mark was read from; a run with another
	// field ignores the mark.
	Field string
	// Mark is the highest cursor value committed by completed runs (a
	// value task.ParseMark reads).
	Mark      string
	UpdatedAt time.Time
}

// Completes reports whether committing cp ends its run: the source
// reported the end. Only such a commit promotes the incremental mark and
// applies deletes.
func (cp Checkpoint) Completes() bool {
	return cp.Done && (cp.State == "" || cp.State == task.Completed)
}

// PromotedMark is the mark a completing commit of cp stores, given the
// stored state (ok false: none): the greater of the stored mark (when of
// the same field) and the run's highest value; write is false when nothing
// changes.
func PromotedMark(cp Checkpoint, stored IncrementalState, ok bool) (mark string, write bool) {
	if cp.Incremental == "" || !cp.Completes() {
		return "", false
	}
	if !ok || stored.Field != cp.Incremental {
		return cp.Window.To, cp.Window.To != "" || ok
	}
	mark = task.MaxMark(stored.Mark, cp.Window.To)
	return mark, mark != stored.Mark
}

// AppliesDeletes reports whether committing cp applies its delete mode: a
// completing commit of a full run (no incremental filter) whose generation
// start is known (records carry it: those of another start were not seen).
func (cp Checkpoint) AppliesDeletes() bool {
	return cp.Deletes != DeletesKeep && cp.Completes() && cp.Incremental == "" && cp.Window.From == "" &&
		!cp.GenerationStarted.IsZero()
}
