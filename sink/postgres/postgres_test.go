package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
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
