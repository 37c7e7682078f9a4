package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/sink/sinktest"
	"github.com/syncflow/syncflow/task"
)

// postgresEnv names the environment variable with the DSN of a PostgreSQL
// database the tests may create schemas in (.ci/postgres.sh prints one).
const postgresEnv = "SYNCFLOW_TEST_POSTGRES"

// storedData is the contract's sinktest.Reader.
func storedData(ctx context.Context, s sink.Sink, datasetID, key string) (string, bool, error) {
	p := s.(*Sink)
	var data string
	err := p.pool.QueryRow(ctx, `SELECT data::text FROM syncflow_records WHERE dataset = $1 AND key = $2`, datasetID, key).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return data, err == nil, err
}

// postgresDSN returns the test database DSN, skipping the test when there
// is none, or failing it on CI, which must provide one.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	if dsn != "" {
		return dsn
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must provide PostgreSQL (run .ci/postgres.sh and export the DSN it prints)", postgresEnv)
	}
	t.Skipf("PostgreSQL tests skipped: set %s, e.g. eval \"$(.ci/postgres.sh | grep '^export ')\"", postgresEnv)
	return ""
}

// testSchemas gives each test its own schema, however often it opens a sink.
var testSchemas sync.Map // *testing.T -> DSN with search_path set

// postgresDSNFor returns a DSN whose tables live in a fresh schema of test
// t, dropped when the test ends.
func postgresDSNFor(t *testing.T) string {
	t.Helper()
	if dsn, ok := testSchemas.Load(t); ok {
		return dsn.(string)
	}
	base := postgresDSN(t)
	u, err := url.Parse(base)
	require.NoError(t, err, "%s must be a postgres:// URL", postgresEnv)

	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "syncflow_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(t.Context(), base)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	require.NoError(t, conn.Close(t.Context()))
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if !assert.NoError(t, err) {
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		_, err = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		assert.NoError(t, err)
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()
	testSchemas.Store(t, dsn)
	return dsn
}

func openPostgresForTest(t *testing.T) sink.Sink {
	t.Helper()
	s, err := Open(t.Context(), postgresDSNFor(t))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestPostgresContract(t *testing.T) {
	postgresDSN(t)
	sinktest.Run(t, openPostgresForTest, storedData)
}

// Workers starting together all create the schema at once: none may fail.
func TestPostgresConcurrentSchemaCreation(t *testing.T) {
	dsn := postgresDSNFor(t)
	const workers = 8
	sinks := make([]*Sink, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { sinks[i], errs[i] = Open(context.Background(), dsn) })
	}
	wg.Wait()
	for i := range workers {
		require.NoError(t, errs[i], "worker %d", i)
		t.Cleanup(func() { assert.NoError(t, sinks[i].Close()) })
	}
	require.NoError(t, sinks[0].Commit(t.Context(), sink.Checkpoint{TaskID: "t", DatasetID: "d", Position: task.Position{Pages: 1}}, sinktest.MakePage("k", 3, "v")))
	assert.Equal(t, int64(3), sinktest.MustCount(t, sinks[workers-1], "d"))
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	s := openPostgresForTest(t).(*Sink)
	_, err := s.pool.Exec(t.Context(), `UPDATE syncflow_schema SET version = 99`)
	require.NoError(t, err)

	_, err = Open(t.Context(), postgresDSNFor(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "schema version 99 is newer")
}

// pgV1 is the schema of version 1 (before generation starts), as the
// previous syncflow wrote it, with one task's checkpoint and record.
var pgV1 = []string{
	`CREATE TABLE syncflow_schema (version INTEGER NOT NULL)`,
	`INSERT INTO syncflow_schema VALUES (1)`,
	`CREATE TABLE syncflow_records (dataset TEXT NOT NULL, key TEXT NOT NULL, data JSONB NOT NULL,
		synced_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (dataset, key))`,
	`CREATE TABLE syncflow_checkpoints (task_id TEXT NOT NULL PRIMARY KEY, dataset TEXT NOT NULL,
		generation TEXT NOT NULL DEFAULT '', cursor TEXT NOT NULL DEFAULT '', done BOOLEAN NOT NULL DEFAULT FALSE,
		pages BIGINT NOT NULL DEFAULT 0, records BIGINT NOT NULL DEFAULT 0, state TEXT NOT NULL,
		message TEXT NOT NULL DEFAULT '', updated_at TIMESTAMPTZ NOT NULL)`,
	`CREATE INDEX syncflow_checkpoints_dataset ON syncflow_checkpoints (dataset)`,
	`INSERT INTO syncflow_records VALUES ('orders', 'k-0', '{"id":"k-0","tag":"v1"}', now())`,
	`INSERT INTO syncflow_checkpoints VALUES ('task-1', 'orders', 'g1', 'c4', false, 4, 4, 'running', '', now())`,
}

// A database of schema version 1 is migrated in place: its checkpoints and
// records stay, with an unknown (zero) generation start, so the generation
// that wrote them is not ordered against a new one.
func TestPostgresMigratesVersion1(t *testing.T) {
	dsn := postgresDSNFor(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	for _, stmt := range pgV1 {
		_, err = conn.Exec(t.Context(), stmt)
		require.NoError(t, err)
	}
	require.NoError(t, conn.Close(t.Context()))

	s, err := Open(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	startOf := func(key string) (n int64) {
		require.NoError(t, s.pool.QueryRow(t.Context(),
			`SELECT generation_started FROM syncflow_records WHERE dataset = 'orders' AND key = $1`, key).Scan(&n))
		return n
	}
	var version int
	require.NoError(t, s.pool.QueryRow(t.Context(), `SELECT version FROM syncflow_schema`).Scan(&version))
	assert.Equal(t, pgSchemaVersion, version)
	assert.Equal(t, int64(0), startOf("k-0"))
	sinktest.CheckMigratedVersion1(t, s, storedData)
	assert.Equal(t, sinktest.MigratedStart.UnixNano(), startOf("k-1"), "a record names the generation start that wrote it")
}

// markedRecord is the contract's sinktest.MarkReader.
func markedRecord(ctx context.Context, s sink.Sink, datasetID, key string) (bool, bool, error) {
	p := s.(*Sink)
	var marked bool
	err := p.pool.QueryRow(ctx, `SELECT deleted_at IS NOT NULL FROM syncflow_records WHERE dataset = $1 AND key = $2`, datasetID, key).Scan(&marked)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	return marked, err == nil, err
}

func TestPostgresIncrementalContract(t *testing.T) {
	sinktest.RunIncremental(t, openPostgresForTest, storedData, markedRecord)
}

// A database of schema version 2 is migrated in place to 3 (see
// sinktest.CheckMigratedVersion2).
func TestPostgresMigratesVersion2(t *testing.T) {
	dsn := postgresDSNFor(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	stmts := append(append(slices.Clone(pgV1), pgMigrations[1]...), `UPDATE syncflow_schema SET version = 2`)
	for _, stmt := range stmts {
		_, err = conn.Exec(t.Context(), stmt)
		require.NoError(t, err)
	}
	require.NoError(t, conn.Close(t.Context()))
	s, err := Open(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	sinktest.CheckMigratedVersion2(t, s, markedRecord)
}
