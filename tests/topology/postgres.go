package topology

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// pgBinDir finds the machine's PostgreSQL server binaries: the newest
// /usr/lib/postgresql/*/bin (Debian's layout), else initdb on PATH.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb): install Debian's postgresql package (.ci/postgres.sh does)")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// pgCredential is who runs PostgreSQL: initdb refuses root, so as root the
// server runs as the "postgres" user (.ci/postgres.sh creates it), else as
// the caller (nil).
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs a \"postgres\" user (useradd --system postgres): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// pgCluster is a PostgreSQL cluster standing in for a postgres image.
type pgCluster struct {
	bin, data, sock string
	port            string
	cred            *syscall.Credential
	user, db        string
}

// newPGCluster initialises a cluster in dir as the postgres image's
// entrypoint does from env: superuser POSTGRES_USER (default postgres) with
// password POSTGRES_PASSWORD, password (scram-sha-256) authentication over
// TCP, trust on the cluster's own socket.
func newPGCluster(ctx context.Context, dir, port string, env map[string]string) (*pgCluster, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bin: bin, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "run"), port: port, cred: cred,
		user: env["POSTGRES_USER"], db: env["POSTGRES_DB"]}
	if c.user == "" {
		c.user = "postgres"
	}
	if c.db == "" {
		c.db = c.user
	}
	pwfile := filepath.Join(dir, "pwfile")
	for _, d := range []string{dir, c.sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(pwfile, []byte(env["POSTGRES_PASSWORD"]+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := c.chown(dir, c.sock, pwfile); err != nil {
		return nil, err
	}
	out, err := c.command(ctx, "initdb", "-D", c.data, "-U", c.user, "--pwfile", pwfile,
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "-E", "UTF8", "--locale", "C").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return c, nil
}

func (c *pgCluster) chown(paths ...string) error {
	if c.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// command is a PostgreSQL program of the cluster, run as its owner.
func (c *pgCluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Env = append(baseEnv(), "PGHOST="+c.sock, "PGPORT="+c.port, "PGUSER="+c.user)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// server is the postmaster, on 127.0.0.1 only; fsync off (test data).
func (c *pgCluster) server() *exec.Cmd {
	return c.command(context.Background(), "postgres", "-D", c.data, "-p", c.port, "-k", c.sock,
		"-c", "listen_addresses="+loopback, "-c", "fsync=off", "-c", "max_connections=200")
}

// createDB creates POSTGRES_DB unless it is "postgres", as the image does.
func (c *pgCluster) createDB(ctx context.Context) error {
	if c.db == "postgres" {
		return nil
	}
	out, err := c.command(ctx, "createdb", "-O", c.user, c.db).CombinedOutput()
	if err != nil {
		return fmt.Errorf("createdb %s: %w\n%s", c.db, err, out)
	}
	return nil
}
