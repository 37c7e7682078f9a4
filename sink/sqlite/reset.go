package sqlite

import (
	"context"
	"fmt"

	"github.com/syncflow/syncflow/sink"
)

// Reset deletes the checkpoints of every task of dataset and, with
// records, the dataset's records, in one transaction. See sink.Sink.
func (s *Sink) Reset(ctx context.Context, dataset string, records bool) (err error) {
	defer func() { err = classified(err) }()
	if err := sink.CheckReset(dataset); err != nil {
		return fmt.Errorf("sqlite reset: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite reset dataset %q: begin: %w", dataset, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `DELETE FROM syncflow_checkpoints WHERE dataset = ?`, dataset); err != nil {
		return fmt.Errorf("sqlite reset dataset %q: checkpoints: %w", dataset, err)
	}
	if records {
		if _, err := tx.ExecContext(ctx, `DELETE FROM syncflow_records WHERE dataset = ?`, dataset); err != nil {
			return fmt.Errorf("sqlite reset dataset %q: records: %w", dataset, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite reset dataset %q: %w", dataset, err)
	}
	return nil
}
