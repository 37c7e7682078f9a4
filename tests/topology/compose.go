package topology

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Image repositories the topology knows how to run without Docker.
const (
	imagePostgres   = "postgres"
	imageServer     = "temporalio/server"
	imageAdminTools = "temporalio/admin-tools"
	imageUI         = "temporalio/ui"
)

// LoadProject loads root/docker-compose.yml as `docker compose` does, with
// only the file's own defaults (the result does not depend on the caller's
// environment) and the on-demand profile, so that the starter is known too.
func LoadProject(ctx context.Context, root string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles([]string{"tools"}),
	)
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("load docker-compose.yml: %w", err)
	}
	return p, nil
}

// imageRepo splits an image reference into repository and tag.
func imageRepo(image string) (repo, tag string) {
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return image[:len(image)-len(name)+i], name[i+1:]
	}
	return image, ""
}

// startOrder returns the services that run by default (no profile) in an
// order where every service comes after the services it depends on; ties
// are broken by name, so the order is stable.
func startOrder(p *types.Project) ([]string, error) {
	var names []string
	for name, s := range p.Services {
		if len(s.Profiles) == 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(name string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("depends_on cycle through %q", name)
		case 2:
			return nil
		}
		state[name] = 1
		deps := make([]string, 0, len(p.Services[name].DependsOn))
		for dep := range p.Services[name].DependsOn {
			deps = append(deps, dep)
		}
		sort.Strings(deps)
		for _, dep := range deps {
			if err := visit(dep); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, name)
		return nil
	}
	for _, name := range names {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// containerPorts returns the ports a service listens on inside its
// container: its published and exposed ports, PostgreSQL's 5432, and the
// port of a --listen or --metrics argument.
func containerPorts(s types.ServiceConfig) []string {
	var out []string
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, pc := range s.Ports {
		add(fmt.Sprint(pc.Target))
	}
	for _, e := range s.Expose {
		add(e)
	}
	if repo, _ := imageRepo(s.Image); repo == imagePostgres {
		add("5432")
	}
	args := append(slices.Clone(s.Entrypoint), s.Command...)
	for i, a := range args {
		if (a == "--listen" || a == "--metrics") && i+1 < len(args) {
			if _, port, ok := strings.Cut(args[i+1], ":"); ok {
				add(port)
			}
		}
	}
	return out
}

// env returns a service's environment as a plain map.
func env(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// hostPath maps a path inside a service's container to the host path of the
// bind mount that holds it; ok is false when no bind mount does.
func hostPath(s types.ServiceConfig, target string) (string, bool) {
	if !strings.HasPrefix(target, "/") {
		return "", false
	}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		rel, err := filepath.Rel(v.Target, target)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		return filepath.Join(v.Source, rel), true
	}
	return "", false
}
