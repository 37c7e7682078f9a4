package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

func TestClassOfSQLState(t *testing.T) {
	tests := []struct {
		code string
		want sferrors.Class
	}{
		{"08000", sferrors.Transient},     // connection_exception
		{"08006", sferrors.Transient},     // connection_failure
		{"08P01", sferrors.Transient},     // protocol_violation
		{"53000", sferrors.Transient},     // insufficient_resources
		{"53100", sferrors.Transient},     // disk_full
		{"53300", sferrors.Transient},     // too_many_connections
		{"57P01", sferrors.Transient},     // admin_shutdown
		{"57P02", sferrors.Transient},     // crash_shutdown
		{"57P03", sferrors.Transient},     // cannot_connect_now
		{"40001", sferrors.Transient},     // serialization_failure
		{"40P01", sferrors.Transient},     // deadlock_detected
		{"25006", sferrors.Transient},     // read_only_sql_transaction
		{"57014", sferrors.Transient},     // query_canceled
		{"55P03", sferrors.Transient},     // lock_not_available
		{"42P01", sferrors.Unrecoverable}, // undefined_table
		{"42601", sferrors.Unrecoverable}, // syntax_error
		{"22P02", sferrors.Unrecoverable}, // invalid_text_representation (bad JSON)
		{"23505", sferrors.Unrecoverable}, // unique_violation
		{"28P01", sferrors.Unrecoverable}, // invalid_password
		{"3D000", sferrors.Unrecoverable}, // invalid_catalog_name
		{"42501", sferrors.Unrecoverable}, // insufficient_privilege
		{"57P04", sferrors.Unrecoverable}, // database_dropped
		{"XX000", sferrors.Unrecoverable}, // internal_error
		{"", sferrors.Unrecoverable},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			assert.Equal(t, tt.want, classOfSQLState(tt.code))
		})
	}
}

// retryable is an error pgconn reports as safe to retry (as its
// connection-lock errors are).
type retryable struct{}

func (retryable) Error() string     { return "conn busy" }
func (retryable) SafeToRetry() bool { return true }

func TestClassify(t *testing.T) {
	pgErr := func(code string) error {
		return fmt.Errorf("postgres commit task %q: %w", "t", &pgconn.PgError{Severity: "ERROR", Code: code, Message: "m"})
	}
	tests := []struct {
		name string
		err  error
		want sferrors.Class
	}{
		{"server: deadlock", pgErr("40P01"), sferrors.Transient},
		{"server: undefined table", pgErr("42P01"), sferrors.Unrecoverable},
		{"conn closed", fmt.Errorf("postgres load: %w", pgconn.ErrConnClosed), sferrors.Transient},
		{"safe to retry", fmt.Errorf("postgres load: %w", retryable{}), sferrors.Transient},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, sferrors.Transient},
		{"truncated read", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), sferrors.Transient},
		{"deadline", fmt.Errorf("postgres count: %w", context.DeadlineExceeded), sferrors.Transient},
		{"other", errors.New("closed pool"), sferrors.Unrecoverable},
		{"message text is not read", errors.New("FATAL: terminating connection due to administrator command"), sferrors.Unrecoverable},
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

// No server listening: a connect error, transient (the database may be
// restarting).
func TestOpenUnreachableIsTransient(t *testing.T) {
	_, err := Open(t.Context(), "postgres://app@127.0.0.1:1/sync?connect_timeout=5&sslmode=disable")
	require.Error(t, err)
	var connectErr *pgconn.ConnectError
	require.ErrorAs(t, err, &connectErr)
	assert.Equal(t, sferrors.Transient, classOf(t, err), "%v", err)
}

// A connect error from the server (the database does not exist) is judged
// by its SQLSTATE: unrecoverable.
func TestOpenMissingDatabaseIsUnrecoverable(t *testing.T) {
	u, err := url.Parse(postgresDSN(t))
	require.NoError(t, err)
	u.Path = "/syncflow_no_such_database"
	_, err = Open(t.Context(), u.String())
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "3D000", pgErr.Code)
	assert.Equal(t, sferrors.Unrecoverable, classOf(t, err))
}

// Errors of the sink's methods carry their class: invalid JSON is refused
// by the server (22P02), unrecoverable.
func TestSinkErrorsCarryClass(t *testing.T) {
	s := openPostgresForTest(t)
	bad := []source.Record{{Key: "k", Data: json.RawMessage(`{"not json`)}}
	err := s.Commit(t.Context(), sink.Checkpoint{TaskID: "t", DatasetID: "d", Position: task.Position{Pages: 1}}, bad)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, sferrors.Unrecoverable, classOf(t, err), "%v", err)
	assert.Contains(t, err.Error(), `postgres commit task "t": 1 records: `)
}
