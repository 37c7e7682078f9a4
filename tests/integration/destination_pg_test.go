package integration_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// postgresDSN is SYNCFLOW_TEST_POSTGRES (CI sets it); without it the test
// is skipped when required, else "" is returned.
func postgresDSN(t *testing.T, required bool) string {
	t.Helper()
	dsn := os.Getenv("SYNCFLOW_TEST_POSTGRES")
	if dsn == "" && required {
		t.Skip("SYNCFLOW_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/syncflow_test?sslmode=disable)")
	}
	return dsn
}

// withDatabase is dsn with another database.
func withDatabase(t *testing.T, dsn, db string) string {
	t.Helper()
	const ref, placeholder = "${PG_PASSWORD}", "PGPASSWORDREF"
	u, err := url.Parse(strings.ReplaceAll(dsn, ref, placeholder))
	require.NoError(t, err)
	u.Path = "/" + db
	return strings.ReplaceAll(u.String(), placeholder, ref)
}

// withUser is dsn with user and password written as given (password may
// be a ${NAME} reference, which url.URL would escape).
func withUser(t *testing.T, dsn, user, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://" + user + ":" + password + "@" + rest
}

// canaryRole creates a PostgreSQL role with a random password and a schema
// of its own; it returns the role, the password and the schema, dropped at
// the end of the test.
func canaryRole(t *testing.T, admin string) (role, password, schema string) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	// The password has the characters a DSN must escape.
	role, password, schema = "syncflow_canary_"+suffix, "pw/c@n:ary-"+suffix, "canary_"+suffix
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN PASSWORD '` + password + `'`,
		`CREATE SCHEMA ` + schema + ` AUTHORIZATION ` + role,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Skipf("cannot create a PostgreSQL role for the test (needs CREATEROLE): %v", err)
		}
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
		_, _ = conn.Exec(ctx, `DROP ROLE `+role)
	})
	return role, password, schema
}

// A sync into a PostgreSQL destination whose DSN refers to its password as
// ${PG_PASSWORD} (set in the worker's environment), started the way
// starter starts one, on a file-backed Temporal server: the records land in
// PostgreSQL (none in the worker's default), and neither Temporal's
// database file nor the logs hold the password, also for a task whose
// destination fails to open.
func TestPostgresDestinationPasswordNeverReachesTemporal(t *testing.T) {
	admin := postgresDSN(t, true)
	role, password, schema := canaryRole(t, admin)
	t.Setenv("PG_PASSWORD", password)
	dsn := withUser(t, admin, role, "${PG_PASSWORD}")
	dsn += map[bool]string{true: "&", false: "?"}[strings.Contains(dsn, "?")] + "search_path=" + schema

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dbPath := filepath.Join(t.TempDir(), "temporal.db")
	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath: dbPath, FreePorts: true, UIPort: devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(), Logger: logger,
	})
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Stop()
		}
	})
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: log.NewStructuredLogger(logger)})
	require.NoError(t, err)
	defaultPath := filepath.Join(t.TempDir(), "default.db")
	def, err := engine.OpenSink(ctx, "sqlite://"+defaultPath)
	require.NoError(t, err)
	defer def.Close()
	// The operator binds PG_PASSWORD to the destination's host only.
	bound := secrets.New(secrets.Bindings{"PG_PASSWORD": {sink.DSNHost(admin)}}, nil)
	w, _, err := engine.New(c, engine.Options{Sink: def, Secrets: bound, HeartbeatEvery: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w.Start())

	src := newScriptedSource(t, 60, 10)
	ds := src.dataset("orders", source.PaginationCursor)
	sc := syncclient.New(c)
	run, err := sc.StartSync(ctx, "pg-orders", ds, workflows.SyncOptions{PagesPerActivity: 3}, dsn)
	require.NoError(t, err)
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, task.Completed, res.State)
	_, err = sc.Progress(ctx, "pg-orders")
	require.NoError(t, err)

	// The records are in PostgreSQL, in the role's schema; none in the
	// worker's default.
	resolved, err := engine.ExpandWith(bound)(dsn)
	require.NoError(t, err)
	pg, err := engine.OpenSink(ctx, resolved)
	require.NoError(t, err)
	n, err := pg.Count(ctx, "orders")
	require.NoError(t, err)
	require.EqualValues(t, src.total, n)
	require.NoError(t, pg.Close())
	assert.Empty(t, sqliteKeys(t, defaultPath, "orders"))

	// A task whose destination fails to open, with the password in it.
	bad, err := sc.StartSync(ctx, "pg-missing-db", ds, workflows.SyncOptions{}, withDatabase(t, dsn, "syncflow_no_such_database"))
	require.NoError(t, err)
	err = bad.Get(ctx, nil)
	class, _, _ := sferrors.ClassOf(err)
	msg := sferrors.Message(err)
	require.Equal(t, sferrors.Unrecoverable, class, "%v", err)
	require.Contains(t, msg, role+":${PG_PASSWORD}@", "the message names the destination")

	w.Stop()
	c.Close()
	require.NoError(t, srv.Stop())
	stopped = true

	var stored []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(dbPath + suffix)
		if err == nil {
			stored = append(stored, b...)
		}
	}
	require.True(t, bytes.Contains(stored, []byte("${PG_PASSWORD}")), "control: Temporal's database holds the inputs, searchable")
	// The password as written, and its distinctive part (also found
	// percent-encoded, as the worker puts it into the URL).
	for _, leak := range []string{password, strings.TrimPrefix(password, "pw/c@n:")} {
		require.False(t, bytes.Contains(stored, []byte(leak)), "the password is in Temporal's database file")
		require.Contains(t, logs.String(), "pg-missing-db", "control: the logs were captured")
		require.NotContains(t, logs.String(), leak, "the password is in the logs")
	}
}
