package topology

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// startPostgres stands a PostgreSQL cluster in for a postgres image.
func (t *Topology) startPostgres(ctx context.Context, s types.ServiceConfig) error {
	own, err := t.ownPorts(s)
	if err != nil {
		return err
	}
	c, err := newPGCluster(ctx, filepath.Join(t.opts.Dir, s.Name), own["5432"], env(s))
	if err != nil {
		return err
	}
	p, err := startProc(s.Name, t.logFile(s.Name), c.server(), syscall.SIGINT)
	if err != nil {
		return err
	}
	t.track(s.Name, p)
	t.opts.Logf("topology: %s: PostgreSQL (%s) on %s, user %s", s.Name, c.bin, t.Addr(s.Name, "5432"), c.user)
	// The image's health check, pg_isready, finds the server by PGHOST/PGPORT.
	if err := t.healthy(ctx, s, p, own, "PGHOST="+c.sock, "PGPORT="+c.port, "PATH="+c.bin+":/usr/bin:/bin"); err != nil {
		return err
	}
	return c.createDB(ctx)
}

// serverPorts are the Temporal server's own ports besides the frontend's
// gRPC port, as its embedded configuration template names them.
var serverPorts = []string{
	"FRONTEND_HTTP_PORT", "FRONTEND_MEMBERSHIP_PORT",
	"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT",
	"MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT",
	"WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT",
}

// startServer runs temporal-server as the temporalio/server image's
// entrypoint does: `temporal-server start` on the embedded configuration
// template, filled from the service's environment. BIND_ON_IP is 127.0.0.1
// (the image binds 0.0.0.0 and broadcasts its container address), and all
// its ports are free ports.
func (t *Topology) startServer(ctx context.Context, s types.ServiceConfig) error {
	own, err := t.ownPorts(s)
	if err != nil {
		return err
	}
	extra := map[string]string{"BIND_ON_IP": loopback, "FRONTEND_GRPC_PORT": own["7233"]}
	for _, k := range serverPorts {
		pick := freePort
		if strings.HasSuffix(k, "_MEMBERSHIP_PORT") {
			pick = freeLowPort
		}
		if extra[k], err = pick(); err != nil {
			return err
		}
	}
	envv, env, err := t.environ(s, extra)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(t.opts.Bin, "temporal-server"), "start")
	cmd.Env = envv
	t.opts.Logf("topology: %s: temporal-server start on %s (DB %s at %s:%s, dynamic config %s)", s.Name,
		t.Addr(s.Name, "7233"), env["DB"], env["POSTGRES_SEEDS"], env["DB_PORT"], env["DYNAMIC_CONFIG_FILE_PATH"])
	p, err := startProc(s.Name, t.logFile(s.Name), cmd, syscall.SIGTERM)
	if err != nil {
		return err
	}
	t.track(s.Name, p)
	return t.healthy(ctx, s, p, own)
}

// startBuilt runs replica i of a service built from the Dockerfile: the
// binary its command names.
func (t *Topology) startBuilt(ctx context.Context, s types.ServiceConfig, i int) error {
	own, err := t.ownPorts(s)
	if err != nil {
		return err
	}
	name := s.Name
	if i > 1 {
		name = fmt.Sprintf("%s-%d", s.Name, i)
	}
	p, err := t.startBinary(s, name, append(slices.Clone(s.Entrypoint), s.Command...), own)
	if err != nil {
		return err
	}
	t.track(s.Name, p)
	return t.healthy(ctx, s, p, own)
}

// startBinary starts one of the Dockerfile's binaries with a service's
// environment; args[0] names the binary.
func (t *Topology) startBinary(s types.ServiceConfig, name string, args []string, own map[string]string) (*Proc, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("service %s: no command", s.Name)
	}
	envv, _, err := t.environ(s, nil)
	if err != nil {
		return nil, err
	}
	mapped, err := t.args(s, args[1:], own)
	if err != nil {
		return nil, err
	}
	mapped = append(mapped, t.opts.Extra[s.Name]...)
	cmd := exec.Command(filepath.Join(t.opts.Bin, filepath.Base(args[0])), mapped...)
	cmd.Env = envv
	cmd.Dir = t.opts.Dir
	t.opts.Logf("topology: %s: %s %s", name, args[0], strings.Join(mapped, " "))
	return startProc(name, t.logFile(name), cmd, syscall.SIGTERM)
}

// Run starts an on-demand service (docker compose run SERVICE ARGS...): its
// entrypoint with args in place of its command, its environment, container
// paths in args mapped to the host. The caller waits for the Proc; Close
// stops it if it still runs.
func (t *Topology) Run(service string, args ...string) (*Proc, error) {
	return t.RunEnv(service, nil, args...)
}

// RunEnv is Run with environment variables set or replaced, as
// `docker compose run -e KEY=VALUE` does; their service addresses are
// rewritten like the compose file's.
func (t *Topology) RunEnv(service string, env map[string]string, args ...string) (*Proc, error) {
	s, ok := t.Project.Services[service]
	if !ok {
		return nil, fmt.Errorf("no service %q", service)
	}
	merged := types.MappingWithEquals{}
	for k, v := range s.Environment {
		merged[k] = v
	}
	for k, v := range env {
		merged[k] = &v
	}
	s.Environment = merged
	name := fmt.Sprintf("%s-run-%d", service, len(t.procs[service])+1)
	p, err := t.startBinary(s, name, append(slices.Clone(s.Entrypoint), args...), nil)
	if err != nil {
		return nil, err
	}
	t.track(service, p)
	return p, nil
}

// healthy runs the service's compose health check until it passes: its
// test command, with the image's /usr/local/bin as the built binaries and
// the process's own ports rewritten, every 200ms (not the compose interval:
// nothing else is waiting). It fails at once if the process exits.
func (t *Topology) healthy(ctx context.Context, s types.ServiceConfig, p *Proc, own map[string]string, env ...string) error {
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 2 {
		return nil
	}
	var argv []string
	switch hc.Test[0] {
	case "CMD":
		argv = slices.Clone(hc.Test[1:])
	case "CMD-SHELL":
		argv = []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	default:
		return fmt.Errorf("health check %q: unknown form", hc.Test)
	}
	for i, a := range argv {
		if rest, ok := strings.CutPrefix(a, "/usr/local/bin/"); ok {
			argv[i] = filepath.Join(t.opts.Bin, rest)
		}
	}
	argv = rewriteOwn(argv, own)
	envv, _, err := t.environ(s, nil)
	if err != nil {
		return err
	}
	envv = append(envv, env...)
	timeout := 5 * time.Second
	if hc.Timeout != nil {
		timeout = time.Duration(*hc.Timeout)
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
		cmd.Env = envv
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			t.opts.Logf("topology: %s healthy (%s)", p.Name, strings.Join(argv, " "))
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited before it was healthy: %v\n%s", p.Name, p.Err(), p.Tail(40))
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy (%s: %v: %s): %w\n%s", p.Name, strings.Join(argv, " "), err, out, ctx.Err(), p.Tail(40))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
