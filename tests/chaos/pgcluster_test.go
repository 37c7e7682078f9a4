package chaos_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pgCluster is a PostgreSQL server the random schedules start for
// themselves in a temporary directory (initdb, pg_ctl), so that they may
// restart it at will without disturbing the servers other tests use. It
// asks for a password (scram-sha-256 on TCP), which the tasks refer to as
// ${PG_PASSWORD}: a secret the checks look for in the server's database and
// the logs.
type pgCluster struct {
	pgCtl    string
	dataDir  string // its log is dataDir + ".log", as restartPostgres expects
	port     int
	password string
}

// pgBinDir is the newest /usr/lib/postgresql/N/bin holding initdb and
// pg_ctl, or "" when there is none.
func pgBinDir() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(matches, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
	if len(matches) == 0 {
		return ""
	}
	return filepath.Dir(matches[len(matches)-1])
}

// startPGCluster initialises and starts a server on a free port; it is
// stopped and removed when t ends.
func startPGCluster(ctx context.Context, t *testing.T, bin string) *pgCluster {
	t.Helper()
	root, err := os.MkdirTemp("", "syncflow-chaos-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	var b [12]byte
	_, _ = rand.Read(b[:])
	c := &pgCluster{
		pgCtl:    filepath.Join(bin, "pg_ctl"),
		dataDir:  filepath.Join(root, "data"),
		port:     freePort(t),
		password: "pw-" + hex.EncodeToString(b[:]),
	}
	pwFile := filepath.Join(root, "pw")
	require.NoError(t, os.WriteFile(pwFile, []byte(c.password+"\n"), 0o600))
	sock := filepath.Join(root, "run")
	require.NoError(t, os.Mkdir(sock, 0o700))
	if os.Geteuid() == 0 { // initdb refuses root: the server runs as "postgres", as in .ci/postgres.sh
		out, err := exec.CommandContext(ctx, "chown", "-R", "postgres", root).CombinedOutput()
		require.NoError(t, err, "chown %s to postgres: %s", root, out)
	}
	c.run(ctx, t, filepath.Join(bin, "initdb"), "-D", c.dataDir, "-U", "postgres", "-E", "UTF8", "--locale=C", "-N",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwFile)
	c.run(ctx, t, c.pgCtl, "-D", c.dataDir, "-l", c.dataDir+".log", "-w", "-t", "60", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", c.port, sock), "start")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.run(ctx, t, c.pgCtl, "-D", c.dataDir, "-w", "-t", "60", "stop", "-m", "immediate")
	})
	return c
}

// run runs a PostgreSQL program of the cluster (runAsPostgres).
func (c *pgCluster) run(ctx context.Context, t *testing.T, prog string, args ...string) {
	t.Helper()
	runAsPostgres(ctx, t, prog, args...)
}

// dsn is the test's own DSN of the cluster, literal password included.
func (c *pgCluster) dsn() string {
	return "postgres://postgres:" + c.password + "@127.0.0.1:" + strconv.Itoa(c.port) + "/postgres?sslmode=disable"
}

// taskDSN is what a task carries: the schema's DSN with the password as a
// reference the worker resolves.
func (c *pgCluster) taskDSN(schemaDSN string) string {
	return strings.Replace(schemaDSN, ":"+c.password+"@", ":${PG_PASSWORD}@", 1)
}
