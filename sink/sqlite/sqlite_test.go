package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/sink/sinktest"
	"github.com/syncflow/syncflow/task"
)

// storedData is the contract's sinktest.Reader.
func storedData(ctx context.Context, snk sink.Sink, datasetID, key string) (string, bool, error) {
	s := snk.(*Sink)
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM syncflow_records WHERE dataset = ? AND key = ?`, datasetID, key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return data, err == nil, err
}

// testDirs gives each test one directory, however often it opens a sink.
var testDirs sync.Map // *testing.T -> string

// sqlitePathFor returns the database file of test t, in a directory that
// does not exist yet (Open creates it).
func sqlitePathFor(t *testing.T) string {
	dir, _ := testDirs.LoadOrStore(t, t.TempDir())
	return filepath.Join(dir.(string), "nested", "dir", "sink.db")
}

func openSQLiteForTest(t *testing.T) sink.Sink {
	t.Helper()
	s, err := OpenDSN(t.Context(), "sqlite://"+sqlitePathFor(t))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestSQLiteContract(t *testing.T) {
	sinktest.Run(t, openSQLiteForTest, storedData)
}

func TestSQLiteSettings(t *testing.T) {
	s := openSQLiteForTest(t).(*Sink)
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "10000"},
		{"user_version", fmt.Sprint(sqliteSchemaVersion)},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			require.NoError(t, s.w.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got))
			assert.Equal(t, tt.want, got)
		})
	}
	var readOnly int
	require.NoError(t, s.r.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&readOnly))
	assert.Equal(t, 1, readOnly, "read pool must be read-only")
}

// Several sinks on one file (as several worker processes would have) opened
// at once and committing at once: schema creation and writes wait for the
// lock instead of failing with SQLITE_BUSY.
func TestSQLiteSharedFile(t *testing.T) {
	path := sqlitePathFor(t)
	const sinks, tasks, pages = 4, 3, 5
	opened := make([]*Sink, sinks)
	errs := make([]error, sinks)
	var wg sync.WaitGroup
	for i := range sinks {
		wg.Go(func() { opened[i], errs[i] = Open(context.Background(), path) })
	}
	wg.Wait()
	for i := range sinks {
		require.NoError(t, errs[i])
		t.Cleanup(func() { assert.NoError(t, opened[i].Close()) })
	}

	commitErrs := make(chan error, sinks*tasks)
	for i, s := range opened {
		for j := range tasks {
			wg.Go(func() {
				id := fmt.Sprintf("sink%d-task%d", i, j)
				for p := 1; p <= pages; p++ {
					cp := sink.Checkpoint{TaskID: id, DatasetID: "d", Position: task.Position{Pages: int64(p), Cursor: fmt.Sprint(p)}}
					if err := s.Commit(context.Background(), cp, sinktest.MakePage(fmt.Sprintf("%s-p%d", id, p), 10, "v")); err != nil {
						commitErrs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(commitErrs)
	for err := range commitErrs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(sinks*tasks*pages*10), sinktest.MustCount(t, opened[0], "d"))
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.db")
	db, err := sql.Open(sqliteDriver, path)
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), "PRAGMA user_version = 99")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	_, err = Open(t.Context(), path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "schema version 99 is newer")
}

// sqliteV1 is the schema of version 1 (before generation starts), as the
// previous syncflow wrote it, with one task's checkpoint and record.
var sqliteV1 = []string{
	`CREATE TABLE syncflow_records (dataset TEXT NOT NULL, key TEXT NOT NULL,
		data TEXT NOT NULL CHECK (json_valid(data)), synced_at TEXT NOT NULL, PRIMARY KEY (dataset, key))`,
	`CREATE TABLE syncflow_checkpoints (task_id TEXT NOT NULL PRIMARY KEY, dataset TEXT NOT NULL,
		generation TEXT NOT NULL DEFAULT '', cursor TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0,
		pages INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
		message TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL)`,
	`CREATE INDEX syncflow_checkpoints_dataset ON syncflow_checkpoints (dataset)`,
	`INSERT INTO syncflow_records VALUES ('orders', 'k-0', '{"id":"k-0","tag":"v1"}', '2026-12-01T09:00:00.000000Z')`,
	`INSERT INTO syncflow_checkpoints VALUES ('task-1', 'orders', 'g1', 'c4', 0, 4, 4, 'running', '', '2026-12-01T09:00:00.000000Z')`,
	`PRAGMA user_version = 1`,
}

// A database of schema version 1 is migrated in place: its checkpoints and
// records stay, with an unknown (zero) generation start, so the generation
// that wrote them is not ordered against a new one.
func TestSQLiteMigratesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open(sqliteDriver, path)
	require.NoError(t, err)
	for _, stmt := range sqliteV1 {
		_, err = db.ExecContext(t.Context(), stmt)
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())

	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	startOf := func(key string) (n int64) {
		require.NoError(t, s.r.QueryRowContext(t.Context(),
			`SELECT generation_started FROM syncflow_records WHERE dataset = 'orders' AND key = ?`, key).Scan(&n))
		return n
	}
	var version int
	require.NoError(t, s.r.QueryRowContext(t.Context(), `PRAGMA user_version`).Scan(&version))
	assert.Equal(t, sqliteSchemaVersion, version)
	assert.Equal(t, int64(0), startOf("k-0"))
	sinktest.CheckMigratedVersion1(t, s, storedData)
	assert.Equal(t, sinktest.MigratedStart.UnixNano(), startOf("k-1"), "a record names the generation start that wrote it")
}

// markedRecord is the contract's sinktest.MarkReader.
func markedRecord(ctx context.Context, snk sink.Sink, datasetID, key string) (bool, bool, error) {
	s := snk.(*Sink)
	var marked bool
	err := s.r.QueryRowContext(ctx, `SELECT deleted_at IS NOT NULL FROM syncflow_records WHERE dataset = ? AND key = ?`, datasetID, key).Scan(&marked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	return marked, err == nil, err
}

func TestSQLiteIncrementalContract(t *testing.T) {
	sinktest.RunIncremental(t, openSQLiteForTest, storedData, markedRecord)
}

// A database of schema version 2 (generation starts, no incremental state)
// is migrated in place to 3: its checkpoint and record stay, with an empty
// window and no deletion mark, and a completed full run with deletes: mark
// marks the old record it did not see.
func TestSQLiteMigratesVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := sql.Open(sqliteDriver, path)
	require.NoError(t, err)
	stmts := append(slices.Clone(sqliteV1[:len(sqliteV1)-1]), sqliteMigrations[1]...)
	for _, stmt := range append(stmts, `PRAGMA user_version = 2`) {
		_, err = db.ExecContext(t.Context(), stmt)
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())

	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	sinktest.CheckMigratedVersion2(t, s, markedRecord)
}
