package chaos_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/syncclient"
)

// Environment of the PostgreSQL test. SYNCFLOW_TEST_POSTGRES is the DSN of a
// database the test may create a schema in (.ci/postgres.sh prints one). The
// test restarts that server with pg_ctl: SYNCFLOW_PG_CTL names the pg_ctl
// binary (default: the newest /usr/lib/postgresql/*/bin/pg_ctl, else pg_ctl
// on PATH) and SYNCFLOW_PG_DIR its data directory (default /tmp/syncflow-pg,
// as in .ci/postgres.sh, whose server log DIR.log is reused). As root, pg_ctl
// runs as the "postgres" user, as .ci/postgres.sh does.
//
// Because the test restarts the server, CI gives it a server of its own so
// that the sink tests running beside it are not disturbed:
// SYNCFLOW_CHAOS_POSTGRES and SYNCFLOW_CHAOS_PG_DIR, when set, take
// precedence over SYNCFLOW_TEST_POSTGRES and SYNCFLOW_PG_DIR.
const (
	postgresEnv      = "SYNCFLOW_TEST_POSTGRES"
	chaosPostgresEnv = "SYNCFLOW_CHAOS_POSTGRES"
	pgCtlEnv         = "SYNCFLOW_PG_CTL"
	pgDirEnv         = "SYNCFLOW_PG_DIR"
	chaosPGDirEnv    = "SYNCFLOW_CHAOS_PG_DIR"
	defaultPGDir     = "/tmp/syncflow-pg"
)

// needPostgres returns the test database DSN. Without one the test is
// skipped, or fails on CI, which must provide one (same rule as sink/).
func needPostgres(t *testing.T) string {
	t.Helper()
	if dsn := os.Getenv(chaosPostgresEnv); dsn != "" {
		return dsn
	}
	if dsn := os.Getenv(postgresEnv); dsn != "" {
		return dsn
	}
	skipOrFatal(t, postgresEnv+" is not set: PostgreSQL chaos test skipped; set it with: eval \"$(bash .ci/postgres.sh | grep '^export ')\"")
	return ""
}

// skipOrFatal fails t on CI and skips it elsewhere.
func skipOrFatal(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// pgControl finds pg_ctl and the data directory of the test server.
func pgControl(t *testing.T) (pgCtl, dataDir string) {
	t.Helper()
	pgCtl = os.Getenv(pgCtlEnv)
	if pgCtl == "" {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
		slices.SortFunc(matches, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
		if len(matches) > 0 {
			pgCtl = matches[len(matches)-1]
		} else if p, err := exec.LookPath("pg_ctl"); err == nil {
			pgCtl = p
		}
	}
	if pgCtl == "" {
		skipOrFatal(t, "pg_ctl not found: set "+pgCtlEnv+" to the pg_ctl of the server in "+postgresEnv)
	}
	dataDir = os.Getenv(chaosPGDirEnv)
	if dataDir == "" {
		dataDir = os.Getenv(pgDirEnv)
	}
	if dataDir == "" {
		dataDir = defaultPGDir
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		skipOrFatal(t, "no PostgreSQL data directory at "+dataDir+": set "+pgDirEnv+" to the data directory of the server in "+postgresEnv)
	}
	return pgCtl, dataDir
}

// pgMajor is the major version in /usr/lib/postgresql/N/bin/pg_ctl.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// restartPostgres runs `pg_ctl restart -m fast` (as the postgres user when
// root): open connections are terminated, then the server comes back with
// the options it was started with.
func restartPostgres(ctx context.Context, t *testing.T, pgCtl, dataDir string) {
	t.Helper()
	runAsPostgres(ctx, t, pgCtl, "-D", dataDir, "-l", dataDir+".log", "-w", "-t", "60", "restart", "-m", "fast")
}

// runAsPostgres runs a PostgreSQL program, as the postgres user when root
// (PostgreSQL refuses to run as root).
func runAsPostgres(ctx context.Context, t *testing.T, prog string, args ...string) {
	t.Helper()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, prog, args...)
	}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(cmd.Args, " "), out)
}

// postmasterStart is when the server last started.
func postmasterStart(ctx context.Context, t *testing.T, dsn string) time.Time {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var start time.Time
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_postmaster_start_time()`).Scan(&start))
	return start
}

// freshSchema creates a schema of this test (dropped when it ends) and
// returns base with search_path set to it.
func freshSchema(ctx context.Context, t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err, "%s must be a postgres:// URL", postgresEnv)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "syncflow_chaos_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	t.Cleanup(func() {
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
	return u.String()
}

// postgresKeys reads the dataset's record keys straight from the database.
func postgresKeys(ctx context.Context, t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, `SELECT key FROM syncflow_records WHERE dataset = $1`, datasetID)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return keys
}

// The destination database restarts mid-sync (`pg_ctl restart -m fast`:
// connections terminated, then refused while it is down): the lost
// connections are transient failures, and the sync completes exactly.
func TestDestinationRestartMidSync(t *testing.T) {
	needWorker(t)
	base := needPostgres(t)
	pgCtl, pgDir := pgControl(t)
	ctx := testContext(t)
	dir := t.TempDir()
	src := newDemoSource(t)
	dsn := freshSchema(ctx, t, base)
	startedBefore := postmasterStart(ctx, t, dsn)

	dev := newDevWorker(t, dir, dsn)
	dev.start(ctx, t, "worker --dev --sink postgres")
	snk := openSink(ctx, t, dsn)

	const taskID = "chaos-postgres-restart"
	sc := syncclient.New(dial(ctx, t, dev.frontend))
	run, err := sc.StartSync(ctx, taskID, src.dataset(), syncOptions(), dsn)
	require.NoError(t, err)

	cp := waitForPages(ctx, t, snk, taskID, 2, nil)
	require.False(t, cp.Done, "the sync must be mid-way when the database restarts")
	restartPostgres(ctx, t, pgCtl, pgDir)
	startedAfter := postmasterStart(ctx, t, dsn)
	require.True(t, startedAfter.After(startedBefore), "PostgreSQL at %s did not restart (started %s, still %s): do %s and %s name the server of %s?",
		pgDir, startedBefore, startedAfter, pgCtlEnv, pgDirEnv, postgresEnv)
	t.Logf("restarted PostgreSQL after %d of %d pages were committed", cp.Pages, totalPages)

	res, err := sc.Wait(ctx, run)
	if err != nil {
		st, derr := sc.Describe(ctx, taskID)
		t.Fatalf("the sync did not survive the destination restart: %v\nstatus: %+v (describe error: %v)", err, st, derr)
	}
	t.Logf("completed with %d retries", res.Retries)
	// The test's own pool lost its connections too: check with a fresh one.
	requireExact(ctx, t, src, res, openSink(ctx, t, dsn), taskID, postgresKeys(ctx, t, dsn))
}
