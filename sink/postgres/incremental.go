package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncflow/syncflow/sink"
)

// pgMigration3 takes a database from schema version 2 to 3: each
// checkpoint keeps its run's incremental window, each dataset the mark of
// its last completed incremental run, and records a deletion mark.
var pgMigration3 = []string{
	`ALTER TABLE syncflow_checkpoints ADD COLUMN IF NOT EXISTS window_from TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE syncflow_checkpoints ADD COLUMN IF NOT EXISTS window_to TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE syncflow_records ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ`,
	`ALTER TABLE syncflow_records ADD COLUMN IF NOT EXISTS deleted_by BIGINT NOT NULL DEFAULT 0`,
	`CREATE TABLE IF NOT EXISTS syncflow_incremental (
		dataset    TEXT NOT NULL PRIMARY KEY,
		field      TEXT NOT NULL,
		mark       TEXT NOT NULL,
		updated_at TIMESTAMPTZ NOT NULL
	)`,
}

const (
	// FOR UPDATE: two completing runs of one dataset promote one after the
	// other, each reading the other's mark.
	pgLoadMarkForUpdate = `SELECT field, mark, updated_at FROM syncflow_incremental WHERE dataset = $1 FOR UPDATE`
	pgLoadMark          = `SELECT field, mark, updated_at FROM syncflow_incremental WHERE dataset = $1`
	pgPromote           = `INSERT INTO syncflow_incremental (dataset, field, mark, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (dataset) DO UPDATE SET field = excluded.field, mark = excluded.mark, updated_at = excluded.updated_at`
	pgMarkUnseen = `UPDATE syncflow_records SET deleted_at = $3, deleted_by = $2
		WHERE dataset = $1 AND generation_started <> $2 AND deleted_at IS NULL`
	pgDeleteUnseen = `DELETE FROM syncflow_records WHERE dataset = $1 AND generation_started <> $2`
	// Missed by the previous completed run too: it marked them (another
	// run: deleted_by, so that committing the completing page again does not
	// confirm this run's own marks), and a run that saw them since would
	// have cleared the mark.
	pgDeleteConfirmed = `DELETE FROM syncflow_records
		WHERE dataset = $1 AND generation_started <> $2 AND deleted_at IS NOT NULL AND deleted_by <> $2`
)

// completeRun does, in the transaction of a commit that completes its run,
// what only a completed run does: promote the incremental mark and apply
// the dataset's delete mode (sink.Checkpoint.Incremental, Deletes).
func completeRun(ctx context.Context, tx pgx.Tx, cp sink.Checkpoint, started int64, now time.Time) error {
	if !cp.Completes() {
		return nil
	}
	if cp.Incremental != "" {
		st, ok, err := loadMark(ctx, tx, pgLoadMarkForUpdate, cp.DatasetID)
		if err != nil {
			return fmt.Errorf("postgres commit task %q: read incremental mark: %w", cp.TaskID, err)
		}
		if mark, write := sink.PromotedMark(cp, st, ok); write {
			if _, err := tx.Exec(ctx, pgPromote, cp.DatasetID, cp.Incremental, mark, now); err != nil {
				return fmt.Errorf("postgres commit task %q: promote incremental mark: %w", cp.TaskID, err)
			}
		}
	}
	if !cp.AppliesDeletes() {
		return nil
	}
	var stmts []string
	switch cp.Deletes {
	case sink.DeletesMark:
		stmts = []string{pgMarkUnseen}
	case sink.DeletesDelete:
		stmts = []string{pgDeleteUnseen}
	case sink.DeletesDeleteConfirmed:
		stmts = []string{pgDeleteConfirmed, pgMarkUnseen}
	default:
		return fmt.Errorf("postgres commit task %q: unknown delete mode %q", cp.TaskID, cp.Deletes)
	}
	for _, stmt := range stmts {
		args := []any{cp.DatasetID, started}
		if stmt == pgMarkUnseen {
			args = append(args, now)
		}
		if _, err := tx.Exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("postgres commit task %q: apply deletes (%s): %w", cp.TaskID, cp.Deletes, err)
		}
	}
	return nil
}

// rowQuerier is a transaction or the pool.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadMark reads a dataset's incremental state with query.
func loadMark(ctx context.Context, q rowQuerier, query, datasetID string) (sink.IncrementalState, bool, error) {
	st := sink.IncrementalState{DatasetID: datasetID}
	err := q.QueryRow(ctx, query, datasetID).Scan(&st.Field, &st.Mark, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sink.IncrementalState{}, false, nil
	}
	if err != nil {
		return sink.IncrementalState{}, false, err
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	return st, true, nil
}

// Incremental returns the incremental state of a dataset. See sink.Sink.
func (p *Sink) Incremental(ctx context.Context, datasetID string) (_ sink.IncrementalState, _ bool, err error) {
	defer func() { err = classified(err) }()
	st, ok, err := loadMark(ctx, p.pool, pgLoadMark, datasetID)
	if err != nil {
		return sink.IncrementalState{}, false, fmt.Errorf("postgres incremental state of dataset %q: %w", datasetID, err)
	}
	return st, ok, nil
}

// Reset clears a dataset's checkpoints and incremental state, and with
// records its records, in one transaction. See sink.Sink.
func (p *Sink) Reset(ctx context.Context, datasetID string, records bool) (err error) {
	defer func() { err = classified(err) }()
	if datasetID == "" {
		return errors.New("postgres reset: need a dataset ID")
	}
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		stmts := []string{`DELETE FROM syncflow_checkpoints WHERE dataset = $1`, `DELETE FROM syncflow_incremental WHERE dataset = $1`}
		if records {
			stmts = append(stmts, `DELETE FROM syncflow_records WHERE dataset = $1`)
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt, datasetID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres reset dataset %q: %w", datasetID, err)
	}
	return nil
}
