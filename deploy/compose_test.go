package deploy

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.yaml.in/yaml/v3"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/source"
)

// Paths from this package's directory (go test runs in it).
const (
	composePath    = "../docker-compose.yml"
	dockerfilePath = "../Dockerfile"
	ignorePath     = "../.dockerignore"
	readmePath     = "../README.md"
)

// Service names the README, the tests and the operators rely on.
const (
	svcTemporalDB     = "postgresql"
	svcTemporalSchema = "temporal-schema"
	svcTemporal       = "temporal"
	svcTemporalSetup  = "temporal-setup"
	svcTemporalUI     = "temporal-ui"
	svcDemoAPI        = "demo-api"
	svcDestination    = "destination"
	svcWorker         = "worker"
	svcStarter        = "starter"
)

// toolsProfile gates on-demand services (docker compose run).
const toolsProfile = "tools"

// workerStopTimeout is the worker's WorkerStopTimeout: Docker must wait longer
// than this before it kills a stopping worker.
const workerStopTimeout = 30 * time.Second

// loadProject loads docker-compose.yml the way `docker compose` does: schema
// validation, interpolation (with only the file's own defaults, so the result
// does not depend on the caller's environment), consistency checks, relative
// paths resolved against the project directory.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	dir, err := filepath.Abs("..")
	require.NoError(t, err)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles([]string{toolsProfile}),
	)
	require.NoError(t, err)
	project, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "docker-compose.yml does not load")
	return project
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	require.NoError(t, err)
	return s
}

func env(s types.ServiceConfig, key string) string {
	if v, ok := s.Environment[key]; ok && v != nil {
		return *v
	}
	return ""
}

// oneShots are the services others wait for to complete successfully.
func oneShots(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				out[dep] = true
			}
		}
	}
	return out
}

func TestComposeServicesExist(t *testing.T) {
	p := loadProject(t)
	for _, name := range []string{
		svcTemporalDB, svcTemporalSchema, svcTemporal, svcTemporalSetup, svcTemporalUI,
		svcDemoAPI, svcDestination, svcWorker, svcStarter,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.GetService(name)
			assert.NoError(t, err)
		})
	}
	starter := service(t, p, svcStarter)
	assert.Equal(t, []string{toolsProfile}, starter.Profiles, "the starter runs on demand only")
}

func TestPinnedImage(t *testing.T) {
	tests := []struct {
		image string
		want  bool
	}{
		{"postgres:16.10", true},
		{"temporalio/server:1.32.0", true},
		{"temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0", true},
		{"registry.example.com:5000/team/app:v2.3.1", true},
		{"postgres@sha256:" + strings.Repeat("a", 64), true},
		{"postgres", false},
		{"postgres:latest", false},
		{"postgres:16", false},
		{"postgres:16-alpine", false},
		{"registry.example.com:5000/team/app", false},
		{"gcr.io/distroless/static-debian12:nonroot", false},
		{"postgres@sha256:abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			assert.Equal(t, tt.want, pinned(tt.image))
		})
	}
}

// pinned reports whether image names an exact version: a sha256 digest, or a tag
// that starts with at least major.minor.
func pinned(image string) bool {
	if _, digest, ok := strings.Cut(image, "@"); ok {
		return regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(digest)
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && regexp.MustCompile(`^v?\d+\.\d+`).MatchString(tag)
}

func TestComposeImagesPinned(t *testing.T) {
	p := loadProject(t)
	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			if s.Build != nil {
				assert.Empty(t, s.Image, "built services take their name from the project")
				return
			}
			assert.Truef(t, pinned(s.Image), "image %q is not pinned to an exact version", s.Image)
		})
	}
}

func TestComposeHealthchecks(t *testing.T) {
	p := loadProject(t)
	once := oneShots(p)
	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			if once[name] || slices.Contains(s.Profiles, toolsProfile) {
				assert.NotContains(t, []string{"always", "unless-stopped"}, s.Restart,
					"a one-shot restarted forever never completes")
				return
			}
			require.NotNil(t, s.HealthCheck, "long-running service without a healthcheck")
			assert.False(t, s.HealthCheck.Disable)
			assert.NotEmpty(t, s.HealthCheck.Test)
		})
	}
}

func TestComposeDependsOn(t *testing.T) {
	p := loadProject(t)
	tests := []struct {
		service, dependency, condition string
	}{
		{svcTemporalSchema, svcTemporalDB, types.ServiceConditionHealthy},
		{svcTemporal, svcTemporalSchema, types.ServiceConditionCompletedSuccessfully},
		{svcTemporalSetup, svcTemporal, types.ServiceConditionHealthy},
		{svcTemporalUI, svcTemporal, types.ServiceConditionHealthy},
		{svcWorker, svcTemporal, types.ServiceConditionHealthy},
		{svcWorker, svcTemporalSetup, types.ServiceConditionCompletedSuccessfully},
		{svcWorker, svcDestination, types.ServiceConditionHealthy},
		{svcStarter, svcTemporalSetup, types.ServiceConditionCompletedSuccessfully},
	}
	for _, tt := range tests {
		t.Run(tt.service+" on "+tt.dependency, func(t *testing.T) {
			d, ok := service(t, p, tt.service).DependsOn[tt.dependency]
			require.True(t, ok, "missing depends_on")
			assert.Equal(t, tt.condition, d.Condition)
		})
	}
	// Whatever else depends on what: wait for one-shots to finish and for
	// services with a healthcheck to be healthy, not merely started.
	once := oneShots(p)
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			want := types.ServiceConditionStarted
			switch {
			case once[dep]:
				want = types.ServiceConditionCompletedSuccessfully
			case service(t, p, dep).HealthCheck != nil:
				want = types.ServiceConditionHealthy
			}
			assert.Equalf(t, want, d.Condition, "%s depends on %s", name, dep)
		}
	}
}

func TestComposeWorker(t *testing.T) {
	p := loadProject(t)
	w := service(t, p, svcWorker)

	t.Run("stop grace period outlasts WorkerStopTimeout", func(t *testing.T) {
		require.NotNil(t, w.StopGracePeriod)
		assert.Greater(t, time.Duration(*w.StopGracePeriod), workerStopTimeout)
	})

	t.Run("TEMPORAL_ADDRESS is the temporal service's frontend", func(t *testing.T) {
		host, port, err := net.SplitHostPort(env(w, "TEMPORAL_ADDRESS"))
		require.NoError(t, err)
		assert.Equal(t, svcTemporal, host)
		assert.Equal(t, "7233", port)
		temporal := service(t, p, svcTemporal)
		assert.True(t, slices.ContainsFunc(temporal.Ports, func(pc types.ServicePortConfig) bool {
			return pc.Target == 7233
		}), "temporal does not declare its frontend port 7233")
	})

	t.Run("TEMPORAL_NAMESPACE is the one temporal-setup registers", func(t *testing.T) {
		ns := env(w, "TEMPORAL_NAMESPACE")
		assert.NotEmpty(t, ns)
		assert.Equal(t, env(service(t, p, svcTemporalSetup), "TEMPORAL_NAMESPACE"), ns)
	})

	t.Run("SYNCFLOW_SINK is the destination database", func(t *testing.T) {
		// The password is a reference the worker resolves from its
		// environment (the sink travels with each task).
		const ref = "${DESTINATION_PASSWORD}"
		sinkDSN := env(w, "SYNCFLOW_SINK")
		require.Contains(t, sinkDSN, ":"+ref+"@")
		u, err := url.Parse(strings.Replace(sinkDSN, ref, url.PathEscape(env(w, "DESTINATION_PASSWORD")), 1))
		require.NoError(t, err)
		dest := service(t, p, svcDestination)
		assert.Contains(t, []string{"postgres", "postgresql"}, u.Scheme)
		assert.Equal(t, svcDestination, u.Hostname())
		assert.Equal(t, "5432", u.Port())
		assert.Equal(t, env(dest, "POSTGRES_USER"), u.User.Username())
		pw, _ := u.User.Password()
		assert.Equal(t, env(dest, "POSTGRES_PASSWORD"), pw)
		assert.Equal(t, "/"+env(dest, "POSTGRES_DB"), u.Path)
	})

	t.Run("SYNCFLOW_CONFIG is a mounted file", func(t *testing.T) {
		host := mountedFile(t, w, env(w, "SYNCFLOW_CONFIG"))
		assert.Equal(t, "config.yaml", filepath.Base(host))
	})

	t.Run("scales out", func(t *testing.T) {
		require.NotNil(t, w.Deploy)
		require.NotNil(t, w.Deploy.Replicas)
		assert.GreaterOrEqual(t, *w.Deploy.Replicas, 2)
		assert.Empty(t, w.ContainerName, "a fixed container name allows one replica only")
		for _, pc := range w.Ports {
			assert.Empty(t, pc.Published, "replicas would collide on published port %d", pc.Target)
		}
	})

	t.Run("health and metrics on 9090", func(t *testing.T) {
		assert.Contains(t, w.Expose, "9090")
		require.NotNil(t, w.HealthCheck)
		assert.Contains(t, strings.Join(w.HealthCheck.Test, " "), "127.0.0.1:9090/healthz")
	})
}

// mountedFile returns the host file that s mounts at target, failing the test if
// there is none or it does not exist.
func mountedFile(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	require.NotEmpty(t, target)
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		rel, err := filepath.Rel(v.Target, target)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		host := filepath.Join(v.Source, rel)
		fi, err := os.Stat(host)
		require.NoErrorf(t, err, "%s mounts %s at %s", s.Name, v.Source, v.Target)
		require.Falsef(t, fi.IsDir(), "%s is a directory", host)
		return host
	}
	t.Fatalf("%s mounts nothing at %s", s.Name, target)
	return ""
}

// TestComposeMountedScripts checks that every script a service runs from a bind
// mount exists on the host.
func TestComposeMountedScripts(t *testing.T) {
	p := loadProject(t)
	checked := 0
	for name, s := range p.Services {
		for _, arg := range append(slices.Clone(s.Entrypoint), s.Command...) {
			if !strings.HasSuffix(arg, ".sh") {
				continue
			}
			t.Run(name+" "+arg, func(t *testing.T) {
				mountedFile(t, s, arg)
			})
			checked++
		}
	}
	assert.GreaterOrEqual(t, checked, 2, "temporal-schema and temporal-setup run mounted scripts")
}

func TestComposeTemporalSetup(t *testing.T) {
	p := loadProject(t)
	setup := service(t, p, svcTemporalSetup)
	assert.Equal(t, env(service(t, p, svcWorker), "TEMPORAL_ADDRESS"), env(setup, "TEMPORAL_ADDRESS"))

	got := map[string]string{}
	for _, pair := range strings.Fields(env(setup, "SYNCFLOW_SEARCH_ATTRIBUTES")) {
		name, typ, ok := strings.Cut(pair, ":")
		require.Truef(t, ok, "%q is not NAME:TYPE", pair)
		got[name] = typ
	}
	// TODO: take the names from the workflows package once it exports them.
	assert.Equal(t, map[string]string{
		"SyncDataset": "Keyword",
		"SyncState":   "Keyword",
		"SyncBatch":   "Keyword",
	}, got)

	script, err := os.ReadFile(mountedFile(t, setup, setup.Entrypoint[len(setup.Entrypoint)-1]))
	require.NoError(t, err)
	for _, want := range []string{
		"temporal operator cluster health",
		"temporal operator namespace create",
		"temporal operator search-attribute create",
		"$SYNCFLOW_SEARCH_ATTRIBUTES",
	} {
		assert.Contains(t, string(script), want)
	}
}

func TestTemporalDynamicConfig(t *testing.T) {
	p := loadProject(t)
	temporal := service(t, p, svcTemporal)
	file := mountedFile(t, temporal, env(temporal, "DYNAMIC_CONFIG_FILE_PATH"))
	contents, err := os.ReadFile(file)
	require.NoError(t, err)

	// The server's own loader: unknown keys and invalid values are warnings
	// there, failures here.
	lr := dynamicconfig.LoadYamlFile(contents)
	require.NoError(t, lr.Err())
	require.Empty(t, lr.Warnings)

	sc := dynamicconfig.StaticClient{}
	for k, v := range lr.Map {
		sc[k] = v
	}
	c := dynamicconfig.NewCollection(sc, log.NewNoopLogger())
	fairness := dynamicconfig.MatchingEnableFairness.Get(c)("default", "syncflow", enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	assert.True(t, fairness.Value([]byte("syncflow"), time.Now()), "matching.enableFairness")
	assert.False(t, dynamicconfig.EnableServerVersionCheck.Get(c)(), "frontend.enableServerVersionCheck")
}

func TestDeployConfig(t *testing.T) {
	p := loadProject(t)
	w := service(t, p, svcWorker)
	file := mountedFile(t, w, env(w, "SYNCFLOW_CONFIG"))
	assert.Equal(t, file, mountedFile(t, service(t, p, svcStarter), env(service(t, p, svcStarter), "SYNCFLOW_CONFIG")),
		"worker and starter must read the same configuration")

	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var cfg config.File
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a misspelt field is an error, not a silent default
	require.NoError(t, dec.Decode(&cfg))

	_, err = config.Load(file)
	require.NoError(t, err, "the file passes syncflow's own validation (no literal sink password)")
	sink, err := url.Parse(strings.Replace(cfg.Sink, "${DESTINATION_PASSWORD}", "x", 1))
	require.NoError(t, err)
	assert.Equal(t, svcDestination, sink.Hostname(), "sink")

	// The demo API's address inside the network: service name and listen port.
	demo := service(t, p, svcDemoAPI)
	i := slices.Index(demo.Command, "--listen")
	require.GreaterOrEqual(t, i, 0, "demo-api command has no --listen")
	require.Less(t, i+1, len(demo.Command))
	_, port, err := net.SplitHostPort(demo.Command[i+1])
	require.NoError(t, err)

	want := map[string]string{
		"orders":    source.PaginationCursor,
		"customers": source.PaginationNextURL,
		"events":    source.PaginationOffset,
		"products":  source.PaginationLinkHeader,
		"invoices":  source.PaginationPage,
	}
	got := map[string]string{}
	for _, d := range cfg.Datasets {
		got[d.ID] = d.Source.Pagination.Type
		t.Run(d.ID, func(t *testing.T) {
			u, err := url.Parse(d.Source.URL)
			require.NoError(t, err)
			assert.Equal(t, net.JoinHostPort(svcDemoAPI, port), u.Host)
			assert.Equal(t, "/datasets/"+d.ID+"/records", u.Path)
			assert.NotEmpty(t, d.Source.Key)
			assert.NoError(t, d.Source.Validate())
			switch pg := d.Source.Pagination; pg.Type {
			case source.PaginationCursor:
				assert.NotEmpty(t, pg.Next)
				assert.NotEmpty(t, pg.Param)
			case source.PaginationNextURL:
				assert.NotEmpty(t, pg.Next)
			case source.PaginationPage:
				assert.NotEmpty(t, pg.Param)
			case source.PaginationOffset:
				assert.NotEmpty(t, pg.Param)
				assert.NotEmpty(t, pg.SizeParam)
				assert.Positive(t, pg.PageSize)
			}
		})
	}
	assert.Equal(t, want, got)
	orders := cfg.Datasets[slices.IndexFunc(cfg.Datasets, func(d config.Dataset) bool { return d.ID == "orders" })]
	assert.Equal(t, source.Pagination{
		Type: source.PaginationCursor, Next: "next_cursor", Param: "cursor", SizeParam: "limit", PageSize: 200,
	}, orders.Source.Pagination)
	assert.Equal(t, "data", orders.Source.Records)
	assert.Equal(t, "id", orders.Source.Key)
}

// stage is one FROM of a Dockerfile.
type stage struct {
	base, name string
	lines      []string // instructions after FROM, continuation lines joined
}

// parseDockerfile splits a Dockerfile into stages.
func parseDockerfile(text string) []stage {
	var stages []stage
	var joined strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && joined.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			joined.WriteString(cont + " ")
			continue
		}
		joined.WriteString(line)
		instr := strings.Join(strings.Fields(joined.String()), " ")
		joined.Reset()
		fields := strings.Fields(instr)
		if len(fields) == 0 {
			continue
		}
		if strings.EqualFold(fields[0], "FROM") {
			st := stage{}
			args := slices.DeleteFunc(fields[1:], func(f string) bool { return strings.HasPrefix(f, "--") })
			if len(args) > 0 {
				st.base = args[0]
			}
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				st.name = args[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, instr)
		}
	}
	return stages
}

// builtBinaries returns the names of the binaries `go build -o DIR/ PKG...` makes.
func builtBinaries(stages []stage) []string {
	var out []string
	for _, st := range stages {
		for _, l := range st.lines {
			_, cmd, ok := strings.Cut(l, "go build ")
			if !ok {
				continue
			}
			for _, f := range strings.Fields(cmd) {
				if strings.HasPrefix(f, "./") {
					out = append(out, path.Base(f))
				}
			}
		}
	}
	return out
}

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		wantStages []stage
		wantBins   []string
	}{
		{
			name: "two stages, continuation lines, comments",
			text: "# c\nFROM --platform=$BUILDPLATFORM golang:1.26.8 AS build\nRUN go build -o /out/ \\\n  ./a \\\n  ./cmd/b\nFROM scratch\nUSER 1:1\n",
			wantStages: []stage{
				{base: "golang:1.26.8", name: "build", lines: []string{"RUN go build -o /out/ ./a ./cmd/b"}},
				{base: "scratch", lines: []string{"USER 1:1"}},
			},
			wantBins: []string{"a", "b"},
		},
		{
			name:       "single stage",
			text:       "FROM alpine:3.22.1\nUSER root\n",
			wantStages: []stage{{base: "alpine:3.22.1", lines: []string{"USER root"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := parseDockerfile(tt.text)
			assert.Equal(t, tt.wantStages, st)
			assert.Equal(t, tt.wantBins, builtBinaries(st))
		})
	}
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(dockerfilePath)
	require.NoError(t, err)
	stages := parseDockerfile(string(raw))
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage build")

	names := map[string]bool{}
	for _, st := range stages {
		assert.Truef(t, st.base == "scratch" || names[st.base] || pinned(st.base), "FROM %s is not pinned", st.base)
		if st.name != "" {
			names[st.name] = true
		}
	}

	final := stages[len(stages)-1]
	var user string
	for _, l := range final.lines {
		if u, ok := strings.CutPrefix(l, "USER "); ok {
			user = u
		}
	}
	require.NotEmpty(t, user, "the final stage sets no USER: it would run as root")
	name, _, _ := strings.Cut(user, ":")
	assert.NotContains(t, []string{"root", "0"}, name)

	assert.Contains(t, strings.Join(stages[0].lines, "\n"), "CGO_ENABLED=0")
	bins := builtBinaries(stages)
	for _, b := range []string{"worker", "starter", "demoapi", "healthcheck"} {
		assert.Contains(t, bins, b)
	}

	// Every built service runs a stage that exists and a binary the image has.
	p := loadProject(t)
	for svcName, s := range p.Services {
		if s.Build == nil {
			continue
		}
		t.Run(svcName, func(t *testing.T) {
			assert.Truef(t, names[s.Build.Target], "build target %q is not a stage", s.Build.Target)
			argv := append(slices.Clone(s.Entrypoint), s.Command...)
			require.NotEmpty(t, argv)
			assert.Contains(t, bins, path.Base(argv[0]))
			if s.HealthCheck != nil && len(s.HealthCheck.Test) > 1 && s.HealthCheck.Test[0] == "CMD" {
				assert.Contains(t, bins, path.Base(s.HealthCheck.Test[1]), "healthcheck binary")
			}
		})
	}
}

// TestDockerfilePackagesExist checks the packages the image builds, once their
// authors have written them.
func TestDockerfilePackagesExist(t *testing.T) {
	for _, dir := range []string{"../worker", "../starter", "../demoapi/cmd/demoapi", "healthcheck"} {
		t.Run(dir, func(t *testing.T) {
			goFiles, _ := filepath.Glob(filepath.Join(dir, "*.go"))
			if len(goFiles) == 0 {
				t.Skipf("%s has no Go files yet: the image cannot be built until it has", dir)
			}
			src, err := os.ReadFile(goFiles[0])
			require.NoError(t, err)
			assert.Regexp(t, `(?m)^package main$`, string(src))
		})
	}
}

func TestDockerignore(t *testing.T) {
	raw, err := os.ReadFile(ignorePath)
	require.NoError(t, err)
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	assert.Contains(t, patterns, ".git")
	for _, needed := range []string{"go.mod", "go.sum", "worker/main.go", "deploy/healthcheck/main.go"} {
		for _, pat := range patterns {
			ok, err := filepath.Match(pat, needed)
			require.NoError(t, err)
			assert.Falsef(t, ok || pat == "*" || pat == "**", ".dockerignore pattern %q drops %s", pat, needed)
		}
	}
}

// composeServicesIn returns the services named by the `docker compose` commands
// in text: --scale NAME=N, the positional arguments of commands that take
// services, and the one service of run and exec.
func composeServicesIn(text string) []string {
	globalWithValue := map[string]bool{"-f": true, "--file": true, "-p": true, "--project-name": true, "--profile": true, "--env-file": true, "--project-directory": true}
	withValue := map[string]bool{
		"-e": true, "--env": true, "-v": true, "--volume": true, "--name": true, "-w": true, "--workdir": true,
		"--entrypoint": true, "-u": true, "--user": true, "-t": true, "--timeout": true, "--tail": true,
		"--index": true, "-l": true, "--label": true, "--pull": true, "--wait-timeout": true, "-p": true, "--publish": true,
	}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		_, cmd, ok := strings.Cut(line, "docker compose ")
		if !ok {
			if _, cmd, ok = strings.Cut(line, "docker-compose "); !ok {
				continue
			}
		}
		cmd, _, _ = strings.Cut(cmd, "#")
		for _, sep := range []string{"&&", "||", "|", ";", "`"} {
			cmd, _, _ = strings.Cut(cmd, sep)
		}
		args := strings.Fields(strings.ReplaceAll(cmd, "\\", " "))
		for len(args) > 0 && strings.HasPrefix(args[0], "-") { // global flags
			if globalWithValue[args[0]] && len(args) > 1 {
				args = args[1:]
			}
			args = args[1:]
		}
		if len(args) == 0 {
			continue
		}
		sub, args := args[0], args[1:]
		single := sub == "run" || sub == "exec"
		if !single && !slices.Contains([]string{"up", "down", "logs", "start", "stop", "restart", "ps", "build", "pull", "rm", "kill", "top", "pause", "unpause", "create", "attach", "wait", "watch"}, sub) {
			continue
		}
		for i := 0; i < len(args); i++ {
			a := args[i]
			if a == "--scale" && i+1 < len(args) {
				name, _, _ := strings.Cut(args[i+1], "=")
				out = append(out, name)
				i++
				continue
			}
			if strings.HasPrefix(a, "--scale=") {
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "--scale="), "=")
				out = append(out, name)
				continue
			}
			if strings.HasPrefix(a, "-") {
				if withValue[a] {
					i++
				}
				continue
			}
			out = append(out, a)
			if single {
				break
			}
		}
	}
	return out
}

func TestComposeServicesIn(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"up", "docker compose up --build -d", nil},
		{"scale", "$ docker compose up -d --scale worker=3", []string{"worker"}},
		{"scale equals", "docker compose up --scale=worker=3 temporal", []string{"worker", "temporal"}},
		{"run takes one service", "docker compose run --rm -e X=1 starter sync --dataset orders", []string{"starter"}},
		{"global flags", "docker compose --profile tools -f a.yml run starter status", []string{"starter"}},
		{"logs and comment", "docker compose logs -f --tail 50 worker temporal # follow", []string{"worker", "temporal"}},
		{"exec", "docker compose exec destination psql -U syncflow", []string{"destination"}},
		{"pipe", "docker compose ps worker | grep healthy", []string{"worker"}},
		{"inline code", "Run `docker compose restart temporal-ui` after an upgrade.", []string{"temporal-ui"}},
		{"legacy binary", "docker-compose stop worker", []string{"worker"}},
		{"other subcommand", "docker compose config --services", nil},
		{"not compose", "docker run --rm postgres:16.10", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, composeServicesIn(tt.text))
		})
	}
}

func TestReadmeNamesComposeServices(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if os.IsNotExist(err) {
		t.Skip("README.md does not exist yet")
	}
	require.NoError(t, err)
	named := composeServicesIn(string(raw))
	if len(named) == 0 {
		t.Skip("README.md names no services in docker compose commands yet")
	}
	p := loadProject(t)
	for _, name := range named {
		_, err := p.GetService(name)
		assert.NoErrorf(t, err, "README.md names service %q", name)
	}
}

// TestDeployConfigMatchesDemoAPI checks each dataset of deploy/config.yaml
// against what the demo API serves for it: the records path, the key and the
// pagination parameters must be the API's, or the compose stack's syncs fail.
func TestDeployConfigMatchesDemoAPI(t *testing.T) {
	cfg, err := config.Load("config.yaml")
	require.NoError(t, err)
	api := demoapi.New(demoapi.Options{})
	for _, d := range cfg.Datasets {
		t.Run(d.ID, func(t *testing.T) {
			want := api.SourceConfig("http://"+svcDemoAPI+":8080", d.ID)
			require.NotEmpty(t, want.URL, "the demo API serves no dataset %q", d.ID)
			got := d.Source
			assert.Equal(t, want.URL, got.URL, "url")
			assert.Equal(t, want.Records, got.Records, "records")
			assert.Equal(t, want.Key, got.Key, "key")
			wp, gp := want.Pagination, got.Pagination
			assert.Equal(t, wp.Type, gp.Type, "pagination.type")
			assert.Equal(t, wp.Param, gp.Param, "pagination.param")
			assert.Equal(t, wp.Next, gp.Next, "pagination.next")
			assert.Equal(t, wp.Total, gp.Total, "pagination.total")
			if gp.PageSize > 0 {
				assert.Equal(t, wp.SizeParam, gp.SizeParam, "pagination.size_param")
			}
		})
	}
}
