package topology

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const root = "../.."

func TestComposeVersionsMatchGoMod(t *testing.T) {
	p, err := LoadProject(context.Background(), mustAbs(t, root))
	require.NoError(t, err)
	require.NoError(t, CheckVersions(p, filepath.Join(root, "go.mod")))

	// A bumped image without the module is refused, naming both.
	s := p.Services["temporal"]
	s.Image = "temporalio/server:1.33.0"
	p.Services["temporal"] = s
	err = CheckVersions(p, filepath.Join(root, "go.mod"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "temporalio/server:1.33.0")
	assert.Contains(t, err.Error(), "1.32.0")
}

func TestStartOrderFollowsDependsOn(t *testing.T) {
	p, err := LoadProject(context.Background(), mustAbs(t, root))
	require.NoError(t, err)
	order, err := startOrder(p)
	require.NoError(t, err)
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	assert.NotContains(t, order, "starter", "on-demand services do not start")
	for _, n := range order {
		for dep := range p.Services[n].DependsOn {
			assert.Less(t, pos[dep], pos[n], "%s starts after %s", n, dep)
		}
	}
}

func TestDockerfilePackages(t *testing.T) {
	pkgs, err := dockerfilePackages(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	assert.Equal(t, []string{"./worker", "./starter", "./demoapi/cmd/demoapi", "./deploy/healthcheck"}, pkgs)
}

func TestRewrite(t *testing.T) {
	m := addrMap{"postgresql:5432": "127.0.0.1:4001", "destination:5432": "127.0.0.1:4002", "temporal:7233": "127.0.0.1:4003"}
	services := []string{"postgresql", "destination", "temporal", "temporal-ui"}
	got := m.rewriteEnv(map[string]string{
		"DB_HOST":          "postgresql",
		"DB_PORT":          "5432",
		"SQL_USER":         "temporal", // a user named like a service stays
		"TEMPORAL_ADDRESS": "temporal:7233",
		"SYNCFLOW_SINK":    "postgres://u:${P}@destination:5432/db",
	}, services)
	assert.Equal(t, map[string]string{
		"DB_HOST":          "127.0.0.1",
		"DB_PORT":          "4001",
		"SQL_USER":         "temporal",
		"TEMPORAL_ADDRESS": "127.0.0.1:4003",
		"SYNCFLOW_SINK":    "postgres://u:${P}@127.0.0.1:4002/db",
	}, got)

	own := map[string]string{"9090": "5001", "7233": "5002"}
	assert.Equal(t,
		[]string{"--metrics", "127.0.0.1:5001", "http://127.0.0.1:5001/healthz", "nc", "-z", "127.0.0.1", "5002", "7233"},
		rewriteOwn([]string{"--metrics", ":9090", "http://127.0.0.1:9090/healthz", "nc", "-z", "127.0.0.1", "7233", "7233"}, own))
}

func TestFreeLowPort(t *testing.T) {
	p, err := freeLowPort()
	require.NoError(t, err)
	assert.Less(t, p, "32768") // same length: 5 digits
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(a, "docker-compose.yml"))
	require.NoError(t, err)
	return a
}
