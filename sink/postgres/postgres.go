// Package postgres is the PostgreSQL driver of package sink, on a pgx
// connection pool. See package sink for the protocol and the tables, and
// ARCHITECTURE.md §Sink protocol.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// DSN prefixes of a PostgreSQL destination (any libpq URL).
const (
	Scheme           = "postgres://"
	SchemePostgreSQL = "postgresql://"
)

// IsDSN reports whether dsn names a PostgreSQL destination.
func IsDSN(dsn string) bool {
	return strings.HasPrefix(dsn, Scheme) || strings.HasPrefix(dsn, SchemePostgreSQL)
}

// pgSchemaLock is the pg_advisory_xact_lock key that serialises schema
// creation and migration across workers ("syncflow" in ASCII).
const pgSchemaLock int64 = 0x73796e63666c6f77

// pgSchemaVersion is the schema this code writes (table syncflow_schema).
// pgMigrations[i] takes a database from version i to i+1.
const pgSchemaVersion = 3

var pgMigrations = [][]string{
	{
		`CREATE TABLE IF NOT EXISTS syncflow_records (
			dataset   TEXT NOT NULL,
			key       TEXT NOT NULL,
			data      JSONB NOT NULL,
			synced_at TIMESTAMPTZ NOT NULL,
			PRIMARY KEY (dataset, key)
		)`,
		`CREATE TABLE IF NOT EXISTS syncflow_checkpoints (
			task_id    TEXT NOT NULL PRIMARY KEY,
			dataset    TEXT NOT NULL,
			generation TEXT NOT NULL DEFAULT '',
			cursor     TEXT NOT NULL DEFAULT '',
			done       BOOLEAN NOT NULL DEFAULT FALSE,
			pages      BIGINT NOT NULL DEFAULT 0,
			records    BIGINT NOT NULL DEFAULT 0,
			state      TEXT NOT NULL,
			message    TEXT NOT NULL DEFAULT '',
			updated_at TIMESTAMPTZ NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS syncflow_checkpoints_dataset ON syncflow_checkpoints (dataset)`,
	},
	{ // 2: generation starts (Unix ns, 0 = unknown) order generations
		`ALTER TABLE syncflow_checkpoints ADD COLUMN IF NOT EXISTS generation_started BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE syncflow_records ADD COLUMN IF NOT EXISTS generation_started BIGINT NOT NULL DEFAULT 0`,
	},
	pgMigration3, // incremental windows and marks, deletion marks (incremental.go)
}

const (
	// One statement per page. Sorted by key so that concurrent transactions
	// lock overlapping rows in the same order (no deadlock); DISTINCT ON
	// keeps the last record of a key (ON CONFLICT cannot touch a row twice).
	pgUpsertRecords = `INSERT INTO syncflow_records (dataset, key, data, synced_at, generation_started)
		SELECT DISTINCT ON (r.key) $1::text, r.key, r.data::jsonb, $4::timestamptz, $5::bigint
		FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS r(key, data, ord)
		ORDER BY r.key, r.ord DESC
		ON CONFLICT (dataset, key) DO UPDATE SET data = excluded.data, synced_at = excluded.synced_at,
			generation_started = excluded.generation_started, deleted_at = NULL`
	// The page that ends a generation: the checkpoint's count becomes the
	// number of distinct keys the generation wrote (ARCHITECTURE.md §Sink
	// protocol).
	// Only when no other task of the dataset wrote since the generation
	// started (less sink.CountMargin), as in SQLite.
	pgCountWritten = `UPDATE syncflow_checkpoints SET records =
			(SELECT count(*) FROM syncflow_records WHERE dataset = $1 AND generation_started = $2)
		WHERE task_id = $3 AND NOT EXISTS (SELECT 1 FROM syncflow_checkpoints o
			WHERE o.dataset = $1 AND o.task_id <> $3 AND o.updated_at >= $4)`
	// The WHERE clause is the ordering rule, as in SQLite; the conflicting
	// row is locked either way, so concurrent attempts of a task serialise
	// (and a waiting one re-checks the rule against the committed row).
	pgUpsertCheckpoint = `INSERT INTO syncflow_checkpoints
			(task_id, dataset, generation, generation_started, cursor, done, pages, records, state, message, updated_at,
			window_from, window_to)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, $11, $12)
		ON CONFLICT (task_id) DO UPDATE SET
			dataset = excluded.dataset, generation = excluded.generation,
			generation_started = excluded.generation_started, cursor = excluded.cursor,
			done = excluded.done, pages = excluded.pages, records = excluded.records,
			state = excluded.state, message = '', updated_at = excluded.updated_at,
			window_from = excluded.window_from, window_to = excluded.window_to
		WHERE CASE WHEN syncflow_checkpoints.generation = excluded.generation
			THEN syncflow_checkpoints.pages <= excluded.pages
			ELSE excluded.generation_started = 0 OR syncflow_checkpoints.generation_started = 0
				OR syncflow_checkpoints.generation_started <= excluded.generation_started END`
	// The WHERE clause: a run of an older generation (both starts known)
	// does not relabel a newer one's checkpoint.
	pgSetState = `INSERT INTO syncflow_checkpoints (task_id, dataset, state, message, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (task_id) DO UPDATE SET
			state = excluded.state, message = excluded.message, updated_at = excluded.updated_at
		WHERE $6::bigint = 0 OR syncflow_checkpoints.generation_started <= $6::bigint`
	pgLoad = `SELECT dataset, generation, generation_started, cursor, done, pages, records, state, message, updated_at,
			window_from, window_to
		FROM syncflow_checkpoints WHERE task_id = $1`
	pgCount = `SELECT count(*) FROM syncflow_records WHERE dataset = $1`
)

// Sink is a sink.Sink on a PostgreSQL database, through a pgx connection
// pool. It is safe for concurrent use.
type Sink struct {
	pool *pgxpool.Pool
}

var _ sink.Sink = (*Sink)(nil)

// Open connects to the PostgreSQL database of dsn (a postgres:// or
// postgresql:// URL; pool_max_conns and runtime parameters such as
// search_path are honoured) and brings its schema up to date.
func Open(ctx context.Context, dsn string) (*Sink, error) {
	p, err := open(ctx, dsn)
	return p, classified(err)
}

// open is Open without the classification of its error.
func open(ctx context.Context, dsn string) (*Sink, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parser's message may quote the DSN: do not pass it on. A DSN
		// that does not parse fails the same way every time: the task's
		// input is wrong (ARCHITECTURE.md §Failure table).
		return nil, sferrors.Newf(sferrors.InvalidRequest, "", "open postgres %q: invalid DSN", sink.RedactDSN(dsn))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %q: %w", sink.RedactDSN(dsn), err)
	}
	p := &Sink{pool: pool}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %q: %w", sink.RedactDSN(dsn), err)
	}
	return p, nil
}

// migrate creates or upgrades the schema under a transaction-scoped
// advisory lock: workers starting together take turns, and the later ones
// find the tables there.
func (p *Sink) migrate(ctx context.Context) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin schema: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgSchemaLock); err != nil {
		return fmt.Errorf("lock schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS syncflow_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema version table: %w", err)
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM syncflow_schema`).Scan(&version)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > pgSchemaVersion {
		return fmt.Errorf("schema version %d is newer than this syncflow supports (%d)", version, pgSchemaVersion)
	}
	if version == pgSchemaVersion {
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit schema check: %w", err)
		}
		return nil
	}
	for v := version; v < pgSchemaVersion; v++ {
		for _, stmt := range pgMigrations[v] {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("schema version %d: %w", v+1, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM syncflow_schema`); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO syncflow_schema (version) VALUES ($1)`, pgSchemaVersion); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit schema: %w", err)
	}
	return nil
}

// Commit upserts records into dataset cp.DatasetID and writes cp in one
// transaction. See Sink.
func (p *Sink) Commit(ctx context.Context, cp sink.Checkpoint, records []source.Record) (err error) {
	defer func() { err = classified(err) }()
	state, err := sink.CheckCommit(cp)
	if err != nil {
		return fmt.Errorf("postgres commit: %w", err)
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres commit task %q: begin: %w", cp.TaskID, err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // no-op after Commit
	now := time.Now().UTC()
	started := sink.StartNanos(cp.GenerationStarted)
	if err := writeCheckpoint(ctx, tx, cp, state, started, now); err != nil {
		return err
	}
	records = sink.StoredRecords(records) // NUL characters as text (sink/nul.go)
	if len(records) > 0 {
		keys := make([]string, len(records))
		data := make([]string, len(records))
		for i, r := range records {
			keys[i], data[i] = r.Key, string(r.Data)
		}
		if _, err := tx.Exec(ctx, pgUpsertRecords, cp.DatasetID, keys, data, now, started); err != nil {
			return fmt.Errorf("postgres commit task %q: %d records: %w", cp.TaskID, len(records), err)
		}
	}
	if cp.Done && started != 0 {
		if _, err := tx.Exec(ctx, pgCountWritten, cp.DatasetID, started, cp.TaskID, cp.GenerationStarted.Add(-sink.CountMargin)); err != nil {
			return fmt.Errorf("postgres commit task %q: count the generation's records: %w", cp.TaskID, err)
		}
	}
	if err := completeRun(ctx, tx, cp, started, now); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres commit task %q: %w", cp.TaskID, err)
	}
	return nil
}

// writeCheckpoint writes cp in tx, or says why the stored one refused it
// (sink.Refused: stale or superseded).
func writeCheckpoint(ctx context.Context, tx pgx.Tx, cp sink.Checkpoint, state task.State, started int64, now time.Time) error {
	tag, err := tx.Exec(ctx, pgUpsertCheckpoint, cp.TaskID, cp.DatasetID, cp.Generation, started,
		cp.Cursor, cp.Done, cp.Pages, cp.Records, string(state), now, cp.Window.From, cp.Window.To)
	if err != nil {
		return fmt.Errorf("postgres commit task %q: write checkpoint: %w", cp.TaskID, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var gen string
	var storedStart, pages int64
	err = tx.QueryRow(ctx, `SELECT generation, generation_started, pages FROM syncflow_checkpoints WHERE task_id = $1`,
		cp.TaskID).Scan(&gen, &storedStart, &pages)
	if err != nil {
		return fmt.Errorf("postgres commit task %q: page %d: %w", cp.TaskID, cp.Pages, sink.ErrStaleCheckpoint)
	}
	return sink.Refused("postgres commit", cp, gen, storedStart, pages)
}

// Load returns the checkpoint of a task; ok is false when there is none.
func (p *Sink) Load(ctx context.Context, taskID string) (_ sink.Checkpoint, _ bool, err error) {
	defer func() { err = classified(err) }()
	cp := sink.Checkpoint{TaskID: taskID}
	var state string
	var started int64
	err = p.pool.QueryRow(ctx, pgLoad, taskID).Scan(&cp.DatasetID, &cp.Generation, &started, &cp.Cursor,
		&cp.Done, &cp.Pages, &cp.Records, &state, &cp.Message, &cp.UpdatedAt, &cp.Window.From, &cp.Window.To)
	if errors.Is(err, pgx.ErrNoRows) {
		return sink.Checkpoint{}, false, nil
	}
	if err != nil {
		return sink.Checkpoint{}, false, fmt.Errorf("postgres load task %q: %w", taskID, err)
	}
	cp.State = task.State(state)
	cp.GenerationStarted = sink.StartFromNanos(started)
	cp.UpdatedAt = cp.UpdatedAt.UTC()
	return cp, true, nil
}

// SetState records a task's state and message, creating its checkpoint if
// needed and keeping its cursor and counters.
func (p *Sink) SetState(ctx context.Context, taskID, datasetID string, generationStarted time.Time, state task.State, message string) (err error) {
	defer func() { err = classified(err) }()
	if err := sink.CheckSetState(taskID, datasetID, state); err != nil {
		return fmt.Errorf("postgres set state: %w", err)
	}
	tag, err := p.pool.Exec(ctx, pgSetState, taskID, datasetID, string(state), message, time.Now().UTC(),
		sink.StartNanos(generationStarted))
	if err != nil {
		return fmt.Errorf("postgres set state of task %q: %w", taskID, err)
	}
	if tag.RowsAffected() == 0 {
		return sink.StateRefused("postgres set state", taskID, generationStarted)
	}
	return nil
}

// Count returns the number of records stored for a dataset.
func (p *Sink) Count(ctx context.Context, datasetID string) (_ int64, err error) {
	defer func() { err = classified(err) }()
	var n int64
	if err := p.pool.QueryRow(ctx, pgCount, datasetID).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres count dataset %q: %w", datasetID, err)
	}
	return n, nil
}

// Close closes the connection pool, waiting for connections in use.
func (p *Sink) Close() error {
	p.pool.Close()
	return nil
}
