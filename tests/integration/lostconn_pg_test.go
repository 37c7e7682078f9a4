package integration_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// freshPostgresSchema creates a schema of its own in the test database and
// returns the admin DSN writing there, under an application name of its
// own so that the test can find its sessions in pg_stat_activity.
func freshPostgresSchema(t *testing.T, admin string) (dsn, app string) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "lostconn_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	_, err = conn.Exec(ctx, `CREATE SCHEMA `+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`) })
	sep := map[bool]string{true: "&", false: "?"}[strings.Contains(admin, "?")]
	return admin + sep + "search_path=" + schema + "&application_name=" + schema, schema
}

// The connection of a commit is lost in the middle of its transaction
// (the checkpoint row written, the records' insert waiting on a lock, the
// backend terminated by the server): nothing of the page is kept, the
// failure is transient, another try commits the page, and the sync
// completes with every record exactly once.
func TestPostgresConnectionLostDuringCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn, app := freshPostgresSchema(t, postgresDSN(t, true))
	pg, err := engine.OpenSink(ctx, dsn) // creates the tables
	require.NoError(t, err)
	defer pg.Close()

	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	watch, err := pgx.Connect(ctx, dsn) // pg_stat_activity is a snapshot per transaction
	require.NoError(t, err)
	defer watch.Close(ctx)
	lock, err := admin.Begin(ctx)
	require.NoError(t, err)
	_, err = lock.Exec(ctx, `LOCK TABLE syncflow_records IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 50, 10)
	ds := src.dataset("lostconn", source.PaginationCursor)
	run := e.startTo("task-lostconn", ds, dsn)

	// The first commit is inside its transaction, waiting for the lock.
	var pid int32
	require.Eventually(t, func() bool {
		err := watch.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO syncflow_records%'`,
			app).Scan(&pid)
		return err == nil
	}, time.Minute, 20*time.Millisecond, "no commit waited on the records' lock")
	var killed bool
	require.NoError(t, watch.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&killed))
	require.True(t, killed)
	require.NoError(t, lock.Rollback(ctx))

	res, err := e.result(run)
	require.NoError(t, err)
	require.Equal(t, task.Completed, res.State)
	require.EqualValues(t, 50, res.Records)
	require.GreaterOrEqual(t, res.Retries, int64(1), "the lost commit was retried")
	n, err := pg.Count(ctx, "lostconn")
	require.NoError(t, err)
	require.EqualValues(t, 50, n)
	var dups int
	require.NoError(t, watch.QueryRow(ctx, `SELECT count(*) - count(DISTINCT key) FROM syncflow_records WHERE dataset = 'lostconn'`).Scan(&dups))
	require.Zero(t, dups)
}
