package postgres

import (
	"context"
	"fmt"

	"github.com/syncflow/syncflow/sink"
)

// Reset deletes the checkpoints of every task of dataset and, with
// records, the dataset's records, in one transaction. See sink.Sink.
func (p *Sink) Reset(ctx context.Context, dataset string, records bool) (err error) {
	defer func() { err = classified(err) }()
	if err := sink.CheckReset(dataset); err != nil {
		return fmt.Errorf("postgres reset: %w", err)
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres reset dataset %q: begin: %w", dataset, err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // no-op after Commit
	if _, err := tx.Exec(ctx, `DELETE FROM syncflow_checkpoints WHERE dataset = $1`, dataset); err != nil {
		return fmt.Errorf("postgres reset dataset %q: checkpoints: %w", dataset, err)
	}
	if records {
		if _, err := tx.Exec(ctx, `DELETE FROM syncflow_records WHERE dataset = $1`, dataset); err != nil {
			return fmt.Errorf("postgres reset dataset %q: records: %w", dataset, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres reset dataset %q: %w", dataset, err)
	}
	return nil
}
