package topology

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// Options configure Up.
type Options struct {
	Root string // the module root: docker-compose.yml, Dockerfile, deploy/
	Bin  string // the binaries Build made
	// Dir holds the run: databases, logs, rewritten files. As root it must
	// be reachable by the "postgres" user (Up makes it mode 0755).
	Dir string
	// Extra arguments appended to a service's command, by service name:
	// what a test changes on purpose (a bigger demo dataset), never hidden.
	Extra map[string][]string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// Topology is the running stack.
type Topology struct {
	Project *types.Project
	// Skipped lists the services not run, with the reason.
	Skipped []string

	opts    Options
	addrs   addrMap
	procs   map[string][]*Proc
	started []*Proc
	copied  map[string]bool // rewritten copies of mounted files
}

// Up starts every default service of the compose file in depends_on order
// and returns when the last one is healthy. On error it stops what it
// started.
func Up(ctx context.Context, opts Options) (*Topology, error) {
	p, err := LoadProject(ctx, opts.Root)
	if err != nil {
		return nil, err
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	for _, d := range []string{opts.Dir, filepath.Join(opts.Dir, "logs"), filepath.Join(opts.Dir, "files")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	t := &Topology{Project: p, opts: opts, addrs: addrMap{}, procs: map[string][]*Proc{}, copied: map[string]bool{}}
	for name, s := range p.Services {
		if replicas(s) > 1 {
			continue // each replica gets ports of its own
		}
		for _, port := range containerPorts(s) {
			hp, err := freePort()
			if err != nil {
				return nil, err
			}
			t.addrs[name+":"+port] = loopback + ":" + hp
		}
	}
	order, err := startOrder(p)
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		if err := t.startService(ctx, name); err != nil {
			t.Close()
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
	}
	return t, nil
}

func replicas(s types.ServiceConfig) int {
	if s.Deploy != nil && s.Deploy.Replicas != nil && *s.Deploy.Replicas > 1 {
		return *s.Deploy.Replicas
	}
	return 1
}

// Addr is the host address of a service's container port ("temporal",
// "7233"), "" if the service has none there.
func (t *Topology) Addr(service, port string) string { return t.addrs[service+":"+port] }

// Procs are the running processes of a service (its replicas).
func (t *Topology) Procs(service string) []*Proc { return t.procs[service] }

// Close stops every process in the reverse order of their start.
func (t *Topology) Close() {
	for i := len(t.started) - 1; i >= 0; i-- {
		t.started[i].Stop(20 * time.Second)
	}
	t.started = nil
}

func (t *Topology) startService(ctx context.Context, name string) error {
	s := t.Project.Services[name]
	repo, _ := imageRepo(s.Image)
	switch {
	case repo == imageUI:
		t.Skipped = append(t.Skipped, name+" ("+s.Image+"): the Web UI is not part of the topology run")
		t.opts.Logf("topology: %s skipped: the Web UI is not run", name)
		return nil
	case repo == imagePostgres:
		return t.startPostgres(ctx, s)
	case repo == imageAdminTools:
		return t.runOneShot(ctx, s)
	case repo == imageServer:
		return t.startServer(ctx, s)
	case s.Build != nil:
		for i := 1; i <= replicas(s); i++ {
			if err := t.startBuilt(ctx, s, i); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("image %q: the topology does not know how to run it without Docker", s.Image)
}

// baseEnv is what every process inherits from the caller: nothing of
// Temporal's or syncflow's environment, so that only the compose file
// configures them.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains([]string{"PATH", "HOME", "TMPDIR", "LANG", "GOCOVERDIR"}, k) {
			out = append(out, kv)
		}
	}
	return out
}

// serviceNames lists the compose services, for rewriteEnv.
func (t *Topology) serviceNames() []string {
	names := make([]string, 0, len(t.Project.Services))
	for n := range t.Project.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ownPorts returns a process's container ports → host ports: the service's,
// or fresh ones for a replica.
func (t *Topology) ownPorts(s types.ServiceConfig) (map[string]string, error) {
	own := map[string]string{}
	for _, port := range containerPorts(s) {
		if hp := t.addrs.hostPort(s.Name, port); hp != "" && replicas(s) == 1 {
			own[port] = hp
			continue
		}
		hp, err := freePort()
		if err != nil {
			return nil, err
		}
		own[port] = hp
	}
	return own, nil
}

// hostFile maps a container path to the host: the bind-mounted file, or a
// rewritten copy of it when it names services' addresses.
func (t *Topology) hostFile(s types.ServiceConfig, target string) (string, error) {
	host, ok := hostPath(s, target)
	if !ok {
		return target, nil
	}
	fi, err := os.Stat(host)
	if err != nil || fi.IsDir() {
		return host, err
	}
	raw, err := os.ReadFile(host)
	if err != nil {
		return "", err
	}
	if re := t.addrs.rewrite(string(raw)); re != string(raw) {
		cp := filepath.Join(t.opts.Dir, "files", s.Name+"-"+filepath.Base(host))
		// Written aside and renamed: two runs of a service started at once
		// (two starters) must never read the file half written.
		if err := writeAtomically(cp, []byte(re)); err != nil {
			return "", err
		}
		if !t.copied[cp] {
			t.opts.Logf("topology: %s: %s is %s with the services' addresses rewritten", s.Name, target, cp)
		}
		t.copied[cp] = true
		return cp, nil
	}
	return host, nil
}

// environ is a process's environment: the caller's basics, then the
// service's compose environment with addresses rewritten and mounted paths
// mapped, then extra.
func (t *Topology) environ(s types.ServiceConfig, extra map[string]string) ([]string, map[string]string, error) {
	env := t.addrs.rewriteEnv(env(s), t.serviceNames())
	for k, v := range env {
		hv, err := t.hostFile(s, v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s=%s: %w", k, v, err)
		}
		env[k] = hv
	}
	for k, v := range extra {
		env[k] = v
	}
	out := baseEnv()
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, env, nil
}

// args maps a service's arguments: mounted paths to host files, its own
// ports to host ports, other services' addresses rewritten.
func (t *Topology) args(s types.ServiceConfig, args []string, own map[string]string) ([]string, error) {
	out := rewriteOwn(args, own)
	for i, a := range out {
		a = t.addrs.rewrite(a)
		hv, err := t.hostFile(s, a)
		if err != nil {
			return nil, err
		}
		out[i] = hv
	}
	return out, nil
}

func (t *Topology) logFile(name string) string {
	return filepath.Join(t.opts.Dir, "logs", name+".log")
}

func (t *Topology) track(svc string, p *Proc) {
	t.procs[svc] = append(t.procs[svc], p)
	t.started = append(t.started, p)
}

// withPath puts dir first on PATH in env.
func withPath(env []string, dir string) []string {
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			env[i] = "PATH=" + dir + string(os.PathListSeparator) + v
			return env
		}
	}
	return append(env, "PATH="+dir)
}

// runOneShot runs an admin-tools service's entrypoint (a mounted script)
// and waits for it to exit 0, as depends_on: service_completed_successfully
// does.
func (t *Topology) runOneShot(ctx context.Context, s types.ServiceConfig) error {
	envv, _, err := t.environ(s, nil)
	if err != nil {
		return err
	}
	args, err := t.args(s, append(slices.Clone(s.Entrypoint), s.Command...), nil)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("no entrypoint or command")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = withPath(envv, t.opts.Bin)
	t.opts.Logf("topology: %s: %s", s.Name, strings.Join(args, " "))
	p, err := startProc(s.Name, t.logFile(s.Name), cmd, syscall.SIGTERM)
	if err != nil {
		return err
	}
	t.track(s.Name, p)
	return p.Wait(ctx)
}

// writeAtomically writes data to a temporary file of its own beside path,
// then renames it over path.
func writeAtomically(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
