package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syncflow/syncflow/sink"
)

// sqliteMigration3 takes a database from schema version 2 to 3: each
// checkpoint keeps its run's incremental window, each dataset the mark of
// its last completed incremental run, and records a deletion mark.
var sqliteMigration3 = []string{
	`ALTER TABLE syncflow_checkpoints ADD COLUMN window_from TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE syncflow_checkpoints ADD COLUMN window_to TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE syncflow_records ADD COLUMN deleted_at TEXT`,
	`ALTER TABLE syncflow_records ADD COLUMN deleted_by INTEGER NOT NULL DEFAULT 0`,
	`CREATE TABLE IF NOT EXISTS syncflow_incremental (
		dataset    TEXT NOT NULL PRIMARY KEY,
		field      TEXT NOT NULL,
		mark       TEXT NOT NULL,
		updated_at TEXT NOT NULL
	)`,
}

const (
	sqliteLoadMark = `SELECT field, mark, updated_at FROM syncflow_incremental WHERE dataset = ?`
	sqlitePromote  = `INSERT INTO syncflow_incremental (dataset, field, mark, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (dataset) DO UPDATE SET field = excluded.field, mark = excluded.mark, updated_at = excluded.updated_at`
	sqliteMarkUnseen = `UPDATE syncflow_records SET deleted_at = ?1, deleted_by = ?3
		WHERE dataset = ?2 AND generation_started <> ?3 AND deleted_at IS NULL`
	sqliteDeleteUnseen = `DELETE FROM syncflow_records WHERE dataset = ? AND generation_started <> ?`
	// Missed by the previous completed run too: it marked them (another
	// run: deleted_by, so that committing the completing page again does not
	// confirm this run's own marks), and a run that saw them since would
	// have cleared the mark.
	sqliteDeleteConfirmed = `DELETE FROM syncflow_records
		WHERE dataset = ?1 AND generation_started <> ?2 AND deleted_at IS NOT NULL AND deleted_by <> ?2`
)

// completeRun does, in the transaction of a commit that completes its run,
// what only a completed run does: promote the incremental mark and apply
// the dataset's delete mode (sink.Checkpoint.Incremental, Deletes).
func completeRun(ctx context.Context, q querier, cp sink.Checkpoint, started int64, now string) error {
	if !cp.Completes() {
		return nil
	}
	if cp.Incremental != "" {
		st, ok, err := loadMark(ctx, q, cp.DatasetID)
		if err != nil {
			return fmt.Errorf("sqlite commit task %q: read incremental mark: %w", cp.TaskID, err)
		}
		if mark, write := sink.PromotedMark(cp, st, ok); write {
			if _, err := q.ExecContext(ctx, sqlitePromote, cp.DatasetID, cp.Incremental, mark, now); err != nil {
				return fmt.Errorf("sqlite commit task %q: promote incremental mark: %w", cp.TaskID, err)
			}
		}
	}
	if !cp.AppliesDeletes() {
		return nil
	}
	var stmts []string
	switch cp.Deletes {
	case sink.DeletesMark:
		stmts = []string{sqliteMarkUnseen}
	case sink.DeletesDelete:
		stmts = []string{sqliteDeleteUnseen}
	case sink.DeletesDeleteConfirmed:
		stmts = []string{sqliteDeleteConfirmed, sqliteMarkUnseen}
	default:
		return fmt.Errorf("sqlite commit task %q: unknown delete mode %q", cp.TaskID, cp.Deletes)
	}
	for _, stmt := range stmts {
		args := []any{cp.DatasetID, started}
		if stmt == sqliteMarkUnseen {
			args = append([]any{now}, args...)
		}
		if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("sqlite commit task %q: apply deletes (%s): %w", cp.TaskID, cp.Deletes, err)
		}
	}
	return nil
}

// querier is what completeRun and loadMark need of a transaction or a pool.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// loadMark reads a dataset's incremental state.
func loadMark(ctx context.Context, q querier, datasetID string) (sink.IncrementalState, bool, error) {
	st := sink.IncrementalState{DatasetID: datasetID}
	var updated string
	err := q.QueryRowContext(ctx, sqliteLoadMark, datasetID).Scan(&st.Field, &st.Mark, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return sink.IncrementalState{}, false, nil
	}
	if err != nil {
		return sink.IncrementalState{}, false, err
	}
	if st.UpdatedAt, err = time.Parse(timeLayout, updated); err != nil {
		return sink.IncrementalState{}, false, fmt.Errorf("updated_at: %w", err)
	}
	return st, true, nil
}

// Incremental returns the incremental state of a dataset. See sink.Sink.
func (s *Sink) Incremental(ctx context.Context, datasetID string) (_ sink.IncrementalState, _ bool, err error) {
	defer func() { err = classified(err) }()
	st, ok, err := loadMark(ctx, s.r, datasetID)
	if err != nil {
		return sink.IncrementalState{}, false, fmt.Errorf("sqlite incremental state of dataset %q: %w", datasetID, err)
	}
	return st, ok, nil
}

// Reset clears a dataset's checkpoints and incremental state, and with
// records its records, in one transaction. See sink.Sink.
func (s *Sink) Reset(ctx context.Context, datasetID string, records bool) (err error) {
	defer func() { err = classified(err) }()
	if datasetID == "" {
		return errors.New("sqlite reset: need a dataset ID")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite reset dataset %q: begin: %w", datasetID, err)
	}
	defer func() { _ = tx.Rollback() }()
	stmts := []string{`DELETE FROM syncflow_checkpoints WHERE dataset = ?`, `DELETE FROM syncflow_incremental WHERE dataset = ?`}
	if records {
		stmts = append(stmts, `DELETE FROM syncflow_records WHERE dataset = ?`)
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt, datasetID); err != nil {
			return fmt.Errorf("sqlite reset dataset %q: %w", datasetID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite reset dataset %q: %w", datasetID, err)
	}
	return nil
}
