// Package sink writes synced records to the destination database.
//
// The protocol that makes syncs exactly-once: a page's records are upserted
// by (dataset, record key) and the task's checkpoint is written in ONE
// transaction (Commit). Re-committing a page after any crash is harmless.
package sink

import (
	"context"
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
	UpdatedAt  time.Time
}

// Sink is a destination database.
type Sink interface {
	// Commit upserts records into dataset cp.DatasetID and writes cp, in one
	// transaction: both or neither.
	Commit(ctx context.Context, cp Checkpoint, records []source.Record) error
	// Load returns the checkpoint of a task; ok is false when there is none.
	Load(ctx context.Context, taskID string) (cp Checkpoint, ok bool, err error)
	// SetState records a task's state (and the message of a failure) in its
	// checkpoint, creating it if needed.
	SetState(ctx context.Context, taskID, datasetID string, state State, message string) error
	// Count returns the number of records stored for a dataset.
	Count(ctx context.Context, datasetID string) (int64, error)
	// Close releases the connection.
	Close() error
}
