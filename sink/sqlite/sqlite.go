// Package sqlite is the SQLite driver of package sink: a pure-Go (no cgo)
// Sink on one database file. See package sink for the protocol and the
// tables, and ARCHITECTURE.md §Sink protocol.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// SQLite tuning; see the package documentation for why.
const (
	sqliteDriver      = "sqlite"
	sqliteBusyTimeout = 10 * time.Second
	sqliteReaders     = 4 // read connections per process (WAL: readers do not block the writer)
	timeLayout        = "2006-01-02T15:04:05.000000Z07:00"
)

// sqliteSchemaVersion is the schema this code writes (PRAGMA user_version).
// sqliteMigrations[i] takes a database from version i to i+1.
const sqliteSchemaVersion = 3

var sqliteMigrations = [][]string{
	{
		`CREATE TABLE IF NOT EXISTS syncflow_records (
			dataset   TEXT NOT NULL,
			key       TEXT NOT NULL,
			data      TEXT NOT NULL CHECK (json_valid(data)),
			synced_at TEXT NOT NULL,
			PRIMARY KEY (dataset, key)
		)`,
		`CREATE TABLE IF NOT EXISTS syncflow_checkpoints (
			task_id    TEXT NOT NULL PRIMARY KEY,
			dataset    TEXT NOT NULL,
			generation TEXT NOT NULL DEFAULT '',
			cursor     TEXT NOT NULL DEFAULT '',
			done       INTEGER NOT NULL DEFAULT 0,
			pages      INTEGER NOT NULL DEFAULT 0,
			records    INTEGER NOT NULL DEFAULT 0,
			state      TEXT NOT NULL,
			message    TEXT NOT NULL DEFAULT '',
			updated_at TEXT NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS syncflow_checkpoints_dataset ON syncflow_checkpoints (dataset)`,
	},
	{ // 2: generation starts (Unix ns, 0 = unknown) order generations
		`ALTER TABLE syncflow_checkpoints ADD COLUMN generation_started INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE syncflow_records ADD COLUMN generation_started INTEGER NOT NULL DEFAULT 0`,
	},
	sqliteMigration3, // incremental windows and marks, deletion marks (incremental.go)
}

const (
	sqliteUpsertRecord = `INSERT INTO syncflow_records (dataset, key, data, synced_at, generation_started)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (dataset, key) DO UPDATE SET data = excluded.data, synced_at = excluded.synced_at,
			generation_started = excluded.generation_started, deleted_at = NULL`
	// The records of the page that ends a generation: the checkpoint's
	// count becomes the number of distinct keys the generation wrote
	// (ARCHITECTURE.md §Sink protocol).
	// Only when no other task of the dataset wrote since the generation
	// started (less sink.CountMargin): another task's upserts take over
	// the keys' generation start.
	sqliteCountWritten = `UPDATE syncflow_checkpoints SET records =
			(SELECT count(*) FROM syncflow_records WHERE dataset = ? AND generation_started = ?)
		WHERE task_id = ? AND NOT EXISTS (SELECT 1 FROM syncflow_checkpoints o
			WHERE o.dataset = ? AND o.task_id <> ? AND o.updated_at >= ?)`
	// The WHERE clause is the ordering rule: no change (0 rows) when the
	// stored checkpoint is of the same generation and further on, or of a
	// generation that started later (both starts known, non-zero).
	sqliteUpsertCheckpoint = `INSERT INTO syncflow_checkpoints
			(task_id, dataset, generation, generation_started, cursor, done, pages, records, state, message, updated_at,
			window_from, window_to)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)
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
	sqliteSetState = `INSERT INTO syncflow_checkpoints (task_id, dataset, state, message, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5)
		ON CONFLICT (task_id) DO UPDATE SET
			state = excluded.state, message = excluded.message, updated_at = excluded.updated_at
		WHERE ?6 = 0 OR syncflow_checkpoints.generation_started <= ?6`
	sqliteLoad = `SELECT dataset, generation, generation_started, cursor, done, pages, records, state, message, updated_at,
			window_from, window_to
		FROM syncflow_checkpoints WHERE task_id = ?`
	sqliteCount = `SELECT count(*) FROM syncflow_records WHERE dataset = ?`
)

// Sink is a sink.Sink on a SQLite file. It is safe for concurrent use:
// writes are serialised through one connection, reads use a small pool of
// read-only connections.
type Sink struct {
	path string
	w    *sql.DB // one connection, transactions BEGIN IMMEDIATE
	r    *sql.DB // read-only connections

	upsertRecord *sql.Stmt

	closeOnce sync.Once
	closeErr  error
}

var _ sink.Sink = (*Sink)(nil)

// Open opens (creating it and its parent directories if needed) the SQLite
// file at path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Sink, error) {
	s, err := open(ctx, path)
	return s, classified(err)
}

// open is Open without the classification of its error.
func open(ctx context.Context, path string) (*Sink, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty file path")
	}
	if strings.ContainsRune(path, '?') {
		// The driver would read what follows as connection options.
		return nil, fmt.Errorf("open sqlite %q: file path must not contain '?'", path)
	}
	if strings.HasPrefix(path, "file:") {
		path = "." + string(filepath.Separator) + path // a file name, not a URI
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite %q: %w", path, err)
		}
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds())
	w, err := sql.Open(sqliteDriver, path+"?"+busy+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	// One writer connection: concurrent commits of this process queue in
	// database/sql (honouring their contexts) instead of contending for the
	// file lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	s := &Sink{path: path, w: w}
	if err := s.migrateWhenFree(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}
	// Opened after migrate, so the file is already in WAL mode.
	r, err := sql.Open(sqliteDriver, path+"?"+busy+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	s.r = r
	if s.upsertRecord, err = w.PrepareContext(ctx, sqliteUpsertRecord); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite %q: prepare: %w", path, err)
	}
	return s, nil
}

// migrateWhenFree runs migrate, trying again while another connection
// holds the file's lock: SQLite does not call the busy handler for a
// connection that opens a file still switching to WAL mode, so several
// processes (or pools) opening a new file at once can see SQLITE_BUSY at
// once. It gives up after sqliteBusyTimeout, like a busy write would.
func (s *Sink) migrateWhenFree(ctx context.Context) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		err := s.migrate(ctx)
		if err == nil || classify(err) != sferrors.Transient || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

// migrate creates or upgrades the schema, in one IMMEDIATE transaction so
// that processes opening the same file at once do it one after the other.
func (s *Sink) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open sqlite %q: begin schema: %w", s.path, err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("open sqlite %q: read schema version: %w", s.path, err)
	}
	if version > sqliteSchemaVersion {
		return fmt.Errorf("open sqlite %q: schema version %d is newer than this syncflow supports (%d)", s.path, version, sqliteSchemaVersion)
	}
	if version == sqliteSchemaVersion {
		return nil
	}
	for v := version; v < sqliteSchemaVersion; v++ {
		for _, stmt := range sqliteMigrations[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("open sqlite %q: schema version %d: %w", s.path, v+1, err)
			}
		}
	}
	// PRAGMA takes no bound parameters; the value is our own constant.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, sqliteSchemaVersion)); err != nil {
		return fmt.Errorf("open sqlite %q: write schema version: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("open sqlite %q: commit schema: %w", s.path, err)
	}
	return nil
}

// Commit upserts records into dataset cp.DatasetID and writes cp in one
// transaction. See Sink.
func (s *Sink) Commit(ctx context.Context, cp sink.Checkpoint, records []source.Record) (err error) {
	defer func() { err = classified(err) }()
	state, err := sink.CheckCommit(cp)
	if err != nil {
		return fmt.Errorf("sqlite commit: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite commit task %q: begin: %w", cp.TaskID, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	now := time.Now().UTC().Format(timeLayout)
	started := sink.StartNanos(cp.GenerationStarted)
	if err := writeCheckpoint(ctx, tx, cp, state, started, now); err != nil {
		return err
	}
	records = sink.StoredRecords(records) // NUL characters as text (sink/nul.go)
	stmt := tx.StmtContext(ctx, s.upsertRecord)
	for i, r := range records {
		// Data goes in as TEXT: a BLOB would be read as SQLite JSONB.
		if _, err := stmt.ExecContext(ctx, cp.DatasetID, r.Key, string(r.Data), now, started); err != nil {
			return fmt.Errorf("sqlite commit task %q: record %d of %d: %w", cp.TaskID, i+1, len(records), err)
		}
	}
	if cp.Done && started != 0 {
		if _, err := tx.ExecContext(ctx, sqliteCountWritten, cp.DatasetID, started, cp.TaskID,
			cp.DatasetID, cp.TaskID, cp.GenerationStarted.Add(-sink.CountMargin).UTC().Format(timeLayout)); err != nil {
			return fmt.Errorf("sqlite commit task %q: count the generation's records: %w", cp.TaskID, err)
		}
	}
	if err := completeRun(ctx, tx, cp, started, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite commit task %q: %w", cp.TaskID, err)
	}
	return nil
}

// writeCheckpoint writes cp in tx, or says why the stored one refused it
// (sink.Refused: stale or superseded).
func writeCheckpoint(ctx context.Context, tx *sql.Tx, cp sink.Checkpoint, state task.State, started int64, now string) error {
	res, err := tx.ExecContext(ctx, sqliteUpsertCheckpoint, cp.TaskID, cp.DatasetID, cp.Generation, started,
		cp.Cursor, cp.Done, cp.Pages, cp.Records, string(state), now, cp.Window.From, cp.Window.To)
	if err != nil {
		return fmt.Errorf("sqlite commit task %q: write checkpoint: %w", cp.TaskID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite commit task %q: write checkpoint: %w", cp.TaskID, err)
	}
	if n > 0 {
		return nil
	}
	var gen string
	var storedStart, pages int64
	err = tx.QueryRowContext(ctx, `SELECT generation, generation_started, pages FROM syncflow_checkpoints WHERE task_id = ?`,
		cp.TaskID).Scan(&gen, &storedStart, &pages)
	if err != nil {
		return fmt.Errorf("sqlite commit task %q: page %d: %w", cp.TaskID, cp.Pages, sink.ErrStaleCheckpoint)
	}
	return sink.Refused("sqlite commit", cp, gen, storedStart, pages)
}

// Load returns the checkpoint of a task; ok is false when there is none.
func (s *Sink) Load(ctx context.Context, taskID string) (_ sink.Checkpoint, _ bool, err error) {
	defer func() { err = classified(err) }()
	cp := sink.Checkpoint{TaskID: taskID}
	var state, updated string
	var started int64
	err = s.r.QueryRowContext(ctx, sqliteLoad, taskID).Scan(&cp.DatasetID, &cp.Generation, &started, &cp.Cursor,
		&cp.Done, &cp.Pages, &cp.Records, &state, &cp.Message, &updated, &cp.Window.From, &cp.Window.To)
	if errors.Is(err, sql.ErrNoRows) {
		return sink.Checkpoint{}, false, nil
	}
	if err != nil {
		return sink.Checkpoint{}, false, fmt.Errorf("sqlite load task %q: %w", taskID, err)
	}
	cp.State = task.State(state)
	cp.GenerationStarted = sink.StartFromNanos(started)
	if cp.UpdatedAt, err = time.Parse(timeLayout, updated); err != nil {
		return sink.Checkpoint{}, false, fmt.Errorf("sqlite load task %q: updated_at: %w", taskID, err)
	}
	return cp, true, nil
}

// SetState records a task's state and message, creating its checkpoint if
// needed and keeping its cursor and counters.
func (s *Sink) SetState(ctx context.Context, taskID, datasetID string, generationStarted time.Time, state task.State, message string) (err error) {
	defer func() { err = classified(err) }()
	if err := sink.CheckSetState(taskID, datasetID, state); err != nil {
		return fmt.Errorf("sqlite set state: %w", err)
	}
	now := time.Now().UTC().Format(timeLayout)
	res, err := s.w.ExecContext(ctx, sqliteSetState, taskID, datasetID, string(state), message, now,
		sink.StartNanos(generationStarted))
	if err != nil {
		return fmt.Errorf("sqlite set state of task %q: %w", taskID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite set state of task %q: %w", taskID, err)
	} else if n == 0 {
		return sink.StateRefused("sqlite set state", taskID, generationStarted)
	}
	return nil
}

// Count returns the number of records stored for a dataset.
func (s *Sink) Count(ctx context.Context, datasetID string) (_ int64, err error) {
	defer func() { err = classified(err) }()
	var n int64
	if err := s.r.QueryRowContext(ctx, sqliteCount, datasetID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite count dataset %q: %w", datasetID, err)
	}
	return n, nil
}

// Close closes the database; the data is in the file. Closing twice is
// harmless.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.upsertRecord != nil {
			errs = append(errs, s.upsertRecord.Close())
		}
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = classified(fmt.Errorf("sqlite close %q: %w", s.path, err))
		}
	})
	return s.closeErr
}
