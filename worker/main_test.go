package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/engine"
)

// envOf is a run/parseFlags environment over a map.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--help"}, envOf(nil), &stdout, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Equal(t, 0, exitCode(err, &stderr))
	help := stdout.String()
	for _, want := range []string{
		"-dev", "-dev-port", "-ui-port", "-dev-db", "-config", "-sink", "-metrics",
		"-log-format", "-log-level", "-max-activities", "-stop-timeout",
		"SYNCFLOW_CONFIG", "SYNCFLOW_SINK", "TEMPORAL_ADDRESS", "worker healthcheck",
		"sqlite://.syncflow/data.db", "127.0.0.1:9090", "(default 30s)",
	} {
		assert.Contains(t, help, want)
	}
	assert.Empty(t, stderr.String())

	stdout.Reset()
	err = run(context.Background(), []string{"healthcheck", "-h"}, envOf(nil), &stdout, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, stdout.String(), "-addr")
}

func TestParseFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		o, err := parseFlags(nil, envOf(nil), nil)
		require.NoError(t, err)
		assert.False(t, o.dev)
		assert.Equal(t, 7233, o.devPort)
		assert.Equal(t, 8233, o.uiPort)
		assert.Equal(t, ".syncflow/temporal.db", o.devDB)
		assert.Equal(t, "", o.configPath)
		assert.Equal(t, defaultSink, o.sink)
		assert.False(t, o.sinkSet)
		assert.Equal(t, "127.0.0.1:9090", o.metrics)
		assert.Equal(t, "text", o.logFormat)
		assert.Equal(t, "INFO", o.logLevel.String())
		assert.Equal(t, 0, o.maxActivities)
		assert.Equal(t, engine.DefaultStopTimeout, o.stopTimeout)
	})
	t.Run("everything set", func(t *testing.T) {
		o, err := parseFlags([]string{
			"--dev", "--dev-port", "17233", "--ui-port", "-1", "--dev-db", "/tmp/x.db",
			"--config", "c.yaml", "--sink", "postgres://h/db", "--metrics", "",
			"--log-format", "json", "--log-level", "debug", "--max-activities", "4", "--stop-timeout", "5s",
		}, envOf(map[string]string{envConfig: "env.yaml", envMetrics: ":1"}), nil)
		require.NoError(t, err)
		assert.True(t, o.dev)
		assert.Equal(t, 17233, o.devPort)
		assert.Equal(t, -1, o.uiPort)
		assert.Equal(t, "/tmp/x.db", o.devDB)
		assert.Equal(t, "c.yaml", o.configPath, "flag beats SYNCFLOW_CONFIG")
		assert.Equal(t, "postgres://h/db", o.sink)
		assert.True(t, o.sinkSet)
		assert.Equal(t, "", o.metrics, `--metrics "" disables, even over SYNCFLOW_METRICS`)
		assert.Equal(t, "json", o.logFormat)
		assert.Equal(t, "DEBUG", o.logLevel.String())
		assert.Equal(t, 4, o.maxActivities)
		assert.Equal(t, 5*time.Second, o.stopTimeout)
	})
	t.Run("environment fills what flags leave", func(t *testing.T) {
		o, err := parseFlags(nil, envOf(map[string]string{envConfig: "env.yaml", envMetrics: "0.0.0.0:9191"}), nil)
		require.NoError(t, err)
		assert.Equal(t, "env.yaml", o.configPath)
		assert.Equal(t, "0.0.0.0:9191", o.metrics)
	})
	for _, bad := range [][]string{
		{"--log-format", "xml"},
		{"--log-level", "loud"},
		{"--max-activities", "-1"},
		{"--stop-timeout", "-1s"},
		{"--nope"},
		{"extra"},
		{"--dev", "--dev-db", ""},
	} {
		t.Run("rejects "+strings.Join(bad, " "), func(t *testing.T) {
			_, err := parseFlags(bad, envOf(nil), nil)
			var ue usageError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, 2, exitCode(err, &bytes.Buffer{}))
		})
	}
}

func TestResolveSink(t *testing.T) {
	const flagDSN, envDSN, fileDSN = "sqlite://flag.db", "sqlite://env.db", "sqlite://file.db"
	tests := []struct {
		name                 string
		flagDSN              string
		flagSet              bool
		env, file, want, src string
	}{
		{"flag beats all", flagDSN, true, envDSN, fileDSN, flagDSN, fromFlag},
		{"env beats file", defaultSink, false, envDSN, fileDSN, envDSN, fromEnv},
		{"file beats default", defaultSink, false, "", fileDSN, fileDSN, fromFile},
		{"default", defaultSink, false, "", "", defaultSink, fromDefault},
		{"flag equal to the default still wins", defaultSink, true, envDSN, fileDSN, defaultSink, fromFlag},
		{"empty flag falls through", "", true, "", fileDSN, fileDSN, fromFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, src := resolveSink(tt.flagDSN, tt.flagSet, tt.env, tt.file)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.src, src)
		})
	}
}

// TestConfigErrorsStopStartup checks that a bad config file fails before
// anything connects, and that the file's sink is validated when it is used.
func TestConfigErrorsStopStartup(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("sink: mysql://u@h/db\ndatasets: []\n"), 0o600))
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--config", bad, "--metrics", ""}, envOf(nil), &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.yaml")

	err = run(context.Background(), []string{"--metrics", ""}, envOf(map[string]string{envConfig: filepath.Join(dir, "missing.yaml")}), &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.yaml")
}

func TestHealthcheck(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if !healthy.Load() {
			http.Error(w, "not running", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"healthcheck", "--addr", addr}, envOf(nil), &stdout, &stderr)
	require.NoError(t, err)
	assert.Equal(t, 0, exitCode(err, &stderr))

	err = run(context.Background(), []string{"healthcheck", "--addr", srv.URL + "/"}, envOf(nil), &stdout, &stderr)
	require.NoError(t, err, "a URL works too")

	healthy.Store(false)
	err = run(context.Background(), []string{"healthcheck", "--addr", addr}, envOf(nil), &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	assert.Equal(t, 1, exitCode(err, &stderr))

	srv.Close()
	err = run(context.Background(), []string{"healthcheck", "--addr", addr}, envOf(nil), &stdout, &stderr)
	require.Error(t, err)
	assert.False(t, errors.Is(err, flag.ErrHelp))
	assert.Equal(t, 1, exitCode(err, &stderr))
}

// TestConfigEnvVarsWarnedThenUnreachable runs the worker against a config
// whose headers use an unset variable and a Temporal address where nothing
// listens: it warns once per missing variable, then fails naming the address.
func TestConfigEnvVarsWarnedThenUnreachable(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "syncflow.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`sink: sqlite://`+filepath.Join(dir, "data.db")+`
datasets:
  - id: orders
    source:
      url: https://api.example.com/orders
      headers:
        Authorization: Bearer ${ORDERS_TOKEN}
        X-Tenant: ${TENANT_ID}
      key: id
      pagination:
        type: cursor
        param: cursor
        next: next
`), 0o600))
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	env := envOf(map[string]string{
		envConfig:            cfg,
		"TENANT_ID":          "acme",
		"TEMPORAL_ADDRESS":   addr,
		"TEMPORAL_NAMESPACE": "default",
	})
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"--metrics", ""}, env, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot reach Temporal at "+addr)
	logs := stderr.String()
	assert.Contains(t, logs, "variable=ORDERS_TOKEN")
	assert.NotContains(t, logs, "variable=TENANT_ID")
	assert.Equal(t, 1, strings.Count(logs, "level=WARN"), logs)
}
