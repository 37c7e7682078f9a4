package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

func TestClassOfCode(t *testing.T) {
	tests := []struct {
		name string
		code int
		want sferrors.Class
	}{
		{"SQLITE_BUSY", sqlite3.SQLITE_BUSY, sferrors.Transient},
		{"SQLITE_BUSY_RECOVERY", sqlite3.SQLITE_BUSY_RECOVERY, sferrors.Transient},
		{"SQLITE_BUSY_SNAPSHOT", sqlite3.SQLITE_BUSY_SNAPSHOT, sferrors.Transient},
		{"SQLITE_BUSY_TIMEOUT", sqlite3.SQLITE_BUSY_TIMEOUT, sferrors.Transient},
		{"SQLITE_LOCKED", sqlite3.SQLITE_LOCKED, sferrors.Transient},
		{"SQLITE_LOCKED_SHAREDCACHE", sqlite3.SQLITE_LOCKED_SHAREDCACHE, sferrors.Transient},
		{"SQLITE_LOCKED_VTAB", sqlite3.SQLITE_LOCKED_VTAB, sferrors.Transient},
		{"SQLITE_FULL", sqlite3.SQLITE_FULL, sferrors.Unrecoverable},
		{"SQLITE_CANTOPEN", sqlite3.SQLITE_CANTOPEN, sferrors.Unrecoverable},
		{"SQLITE_CANTOPEN_ISDIR", sqlite3.SQLITE_CANTOPEN_ISDIR, sferrors.Unrecoverable},
		{"SQLITE_CORRUPT", sqlite3.SQLITE_CORRUPT, sferrors.Unrecoverable},
		{"SQLITE_NOTADB", sqlite3.SQLITE_NOTADB, sferrors.Unrecoverable},
		{"SQLITE_READONLY", sqlite3.SQLITE_READONLY, sferrors.Unrecoverable},
		{"SQLITE_READONLY_DBMOVED", sqlite3.SQLITE_READONLY_DBMOVED, sferrors.Unrecoverable},
		{"SQLITE_IOERR_WRITE", sqlite3.SQLITE_IOERR_WRITE, sferrors.Unrecoverable},
		{"SQLITE_CONSTRAINT_CHECK", sqlite3.SQLITE_CONSTRAINT_CHECK, sferrors.Unrecoverable},
		{"SQLITE_ERROR", sqlite3.SQLITE_ERROR, sferrors.Unrecoverable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classOfCode(tt.code))
		})
	}
}

func TestClassifyOtherErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want sferrors.Class
	}{
		{"deadline", fmt.Errorf("sqlite commit: %w", context.DeadlineExceeded), sferrors.Transient},
		{"closed database", fmt.Errorf("sqlite load: %w", sql.ErrConnDone), sferrors.Unrecoverable},
		{"message text is not read", errors.New("database is locked (5) (SQLITE_BUSY)"), sferrors.Unrecoverable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classify(tt.err))
		})
	}
}

// classOf returns the class a sink error carries.
func classOf(t *testing.T, err error) sferrors.Class {
	t.Helper()
	var se *sferrors.Error
	require.ErrorAs(t, err, &se, "sink error carries no class: %v", err)
	return se.Class
}

// A real lock conflict (another writer, no busy timeout) is SQLITE_BUSY:
// transient.
func TestClassifyBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })

	other, err := sql.Open(sqliteDriver, path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	tx, err := other.BeginTx(t.Context(), nil) // holds the write lock
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })

	writer, err := sql.Open(sqliteDriver, path+"?_pragma=busy_timeout(0)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { _ = writer.Close() })
	_, err = writer.BeginTx(t.Context(), nil)
	var se *msqlite.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, sqlite3.SQLITE_BUSY, se.Code()&0xff, "%v", err)
	assert.Equal(t, sferrors.Transient, classOf(t, classified(err)), "%v", err)
}

// Errors of the sink's own methods carry their class, with their message
// unchanged.
func TestSinkErrorsCarryClass(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "d.db"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })

	bad := []source.Record{{Key: "k", Data: json.RawMessage(`{"not json`)}}
	err = s.Commit(t.Context(), sink.Checkpoint{TaskID: "t", DatasetID: "d", Position: task.Position{Pages: 1}}, bad)
	require.Error(t, err)
	assert.Equal(t, sferrors.Unrecoverable, classOf(t, err), "CHECK (json_valid) failed: %v", err)
	assert.Contains(t, err.Error(), `sqlite commit task "t": record 1 of 1: `)

	err = s.SetState(t.Context(), "", "d", time.Time{}, task.Failed, "")
	require.Error(t, err)
	assert.Equal(t, sferrors.Unrecoverable, classOf(t, err))

	// A write through the read-only pool: SQLITE_READONLY.
	_, err = s.r.ExecContext(t.Context(), `DELETE FROM syncflow_records`)
	var se *msqlite.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, sqlite3.SQLITE_READONLY, se.Code()&0xff, "%v", err)
	assert.Equal(t, sferrors.Unrecoverable, classOf(t, classified(err)))
}
