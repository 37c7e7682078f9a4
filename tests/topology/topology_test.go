package topology_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/tests/topology"
)

// The big sync: the compose config's "orders" dataset, made 20,000 records
// by the one argument the test adds to the demo API's compose command.
const (
	bigDataset     = "orders"
	bigRecords     = 20000
	bigPageSize    = 200 // deploy/config.yaml
	bigPages       = bigRecords / bigPageSize
	killAfterPages = 30
	testTimeout    = 15 * time.Minute
)

// requireTools skips the test when what it runs is missing, saying what,
// except in CI (CI=true), where a missing tool fails it.
func requireTools(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	var missing []string
	for _, tool := range []string{"nc", "temporal", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil {
		if _, err := exec.LookPath("initdb"); err != nil {
			missing = append(missing, "PostgreSQL server binaries (initdb)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("the topology test needs %s: run `bash .ci/postgres.sh` (PostgreSQL), "+
		"`apt-get install netcat-openbsd` (nc), `go install github.com/temporalio/cli/cmd/temporal@v1.5.1`", strings.Join(missing, ", "))
	if ci {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// up builds the binaries and starts the compose stack.
func up(ctx context.Context, t *testing.T) (*topology.Topology, string) {
	t.Helper()
	root := moduleRoot(t)
	dir, err := os.MkdirTemp("", "syncflow-topology-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // the postgres user reaches its clusters
	bin := filepath.Join(dir, "bin")
	start := time.Now()
	took, err := topology.Build(ctx, root, bin)
	require.NoError(t, err)
	t.Logf("built in %v: %v", time.Since(start).Round(time.Millisecond), took)
	start = time.Now()
	top, err := topology.Up(ctx, topology.Options{
		Root: root, Bin: bin, Dir: filepath.Join(dir, "run"), Logf: t.Logf,
		Extra: map[string][]string{"demo-api": {"--records", bigDataset + "=" + strconv.Itoa(bigRecords)}},
	})
	require.NoError(t, err)
	t.Logf("stack up in %v; not run: %v", time.Since(start).Round(time.Millisecond), top.Skipped)
	t.Cleanup(func() {
		if t.Failed() {
			for _, svc := range []string{"temporal", "worker", "demo-api", "starter"} {
				for _, p := range top.Procs(svc) {
					t.Log(p.Tail(30))
				}
			}
		}
		top.Close()
	})
	return top, root
}

// composeEnv is a variable of a service's compose environment.
func composeEnv(t *testing.T, top *topology.Topology, service, key string) string {
	t.Helper()
	s, err := top.Project.GetService(service)
	require.NoError(t, err)
	v := s.Environment[key]
	require.NotNil(t, v, "%s has no %s", service, key)
	return *v
}

// destination connects to the destination service as the compose file's
// user, with its password (the cluster checks it).
func destination(ctx context.Context, t *testing.T, top *topology.Topology) *pgx.Conn {
	t.Helper()
	return destinationDB(ctx, t, top, composeEnv(t, top, "destination", "POSTGRES_DB"))
}

// destinationDB connects to database db of the destination service.
func destinationDB(ctx context.Context, t *testing.T, top *topology.Topology, db string) *pgx.Conn {
	t.Helper()
	dsn := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable",
		composeEnv(t, top, "destination", "POSTGRES_USER"), composeEnv(t, top, "destination", "POSTGRES_PASSWORD"),
		top.Addr("destination", "5432"), db)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// poll calls cond every 100ms until it is true; it fails t when ctx ends.
func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// committedPages is the destination checkpoint's page count of task.
func committedPages(ctx context.Context, conn *pgx.Conn, task string) int64 {
	var pages int64
	if err := conn.QueryRow(ctx, `SELECT pages FROM syncflow_checkpoints WHERE task_id = $1`, task).Scan(&pages); err != nil {
		return 0 // no checkpoint (or table) yet
	}
	return pages
}
