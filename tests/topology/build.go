package topology

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// Tool binaries built from the go.temporal.io/server module, by the names
// the temporalio images give them.
var serverTools = map[string]string{
	"temporal-server":   "go.temporal.io/server/cmd/server",
	"temporal-sql-tool": "go.temporal.io/server/cmd/tools/sql",
}

// Build builds into bin everything the topology runs: the packages the
// Dockerfile's `go build` names (worker, starter, demoapi, healthcheck) and
// temporal-server and temporal-sql-tool from the go.temporal.io/server
// module go.mod pins, after checking that the compose file's Temporal
// images are that version (CheckVersions). It returns how long each build
// took.
func Build(ctx context.Context, root, bin string) (map[string]time.Duration, error) {
	p, err := LoadProject(ctx, root)
	if err != nil {
		return nil, err
	}
	if err := CheckVersions(p, filepath.Join(root, "go.mod")); err != nil {
		return nil, err
	}
	pkgs, err := dockerfilePackages(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return nil, err
	}
	took := map[string]time.Duration{}
	run := func(name string, args ...string) error {
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		took[name] = time.Since(start)
		return nil
	}
	if err := run("syncflow", append([]string{"-o", bin + string(filepath.Separator)}, pkgs...)...); err != nil {
		return nil, err
	}
	for name, pkg := range serverTools {
		if err := run(name, "-o", filepath.Join(bin, name), pkg); err != nil {
			return nil, err
		}
	}
	return took, nil
}

// dockerfilePackages returns the ./packages the Dockerfile's go build
// builds.
func dockerfilePackages(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	var pkgs []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		_, cmd, ok := strings.Cut(sc.Text(), "go build ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(cmd) {
			if strings.HasPrefix(f, "./") {
				pkgs = append(pkgs, f)
			}
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s: no `go build ./...` of packages found", path)
	}
	return pkgs, nil
}

// CheckVersions checks the compose file's Temporal images against the
// modules go.mod pins: temporalio/server and temporalio/admin-tools must be
// the go.temporal.io/server version (the topology runs that module's server
// and schema tool in their place), temporalio/ui the
// github.com/temporalio/ui-server/v2 version.
func CheckVersions(p *types.Project, gomod string) error {
	raw, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	modVersion := func(mod string) string {
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(mod) + `\s+v(\S+)`).FindSubmatch(raw)
		if m == nil {
			return ""
		}
		return string(m[1])
	}
	want := map[string]string{
		imageServer:     modVersion("go.temporal.io/server"),
		imageAdminTools: modVersion("go.temporal.io/server"),
		imageUI:         modVersion("github.com/temporalio/ui-server/v2"),
	}
	seen := map[string]bool{}
	for name, s := range p.Services {
		repo, tag := imageRepo(s.Image)
		w, ok := want[repo]
		if !ok {
			continue
		}
		seen[repo] = true
		if w == "" || tag != w {
			return fmt.Errorf("service %s: image %s, but go.mod pins version %q: bump them together", name, s.Image, w)
		}
	}
	for repo := range want {
		if !seen[repo] {
			return fmt.Errorf("docker-compose.yml has no %s service", repo)
		}
	}
	return nil
}
