package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// The secrets in the worker's environment in these tests.
const (
	canaryValue = "canary-v4lue-5d0a2e"
	sinkValue   = "sqlite://" // + a temporary directory: the worker's real sink
)

// secretWorld is a Temporal test server and a one-page API that records the
// headers it receives; each case runs the real worker (run) against them.
type secretWorld struct {
	t    *testing.T
	ts   *temporaltest.TestServer
	c    client.Client
	dir  string
	sink string // the worker's SYNCFLOW_SINK, a secret too
	api  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newSecretWorld(t *testing.T) *secretWorld {
	w := &secretWorld{t: t, dir: t.TempDir()}
	w.sink = sinkValue + filepath.Join(w.dir, "secret-sink.db")
	t.Setenv("SECRET_CANARY", canaryValue)
	t.Setenv(envSink, w.sink)
	w.ts = temporaltest.NewServer(temporaltest.WithT(t))
	w.c = w.ts.GetDefaultClient()
	w.api = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.seen = append(w.seen, r.Header.Clone())
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"data":[{"id":1}]}`))
	}))
	t.Cleanup(w.api.Close)
	return w
}

// host is the API's host:port.
func (w *secretWorld) host() string {
	u, _ := url.Parse(w.api.URL)
	return u.Host
}

// received returns the X-Canary and X-Sink values the API received, and
// forgets them.
func (w *secretWorld) received() (canary, sink []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range w.seen {
		canary = append(canary, h.Values("X-Canary")...)
		sink = append(sink, h.Values("X-Sink")...)
	}
	w.seen = nil
	return canary, sink
}

// runWorker runs the worker with args (and the process environment plus
// extra) until stop, which returns everything it logged.
func (w *secretWorld) runWorker(args []string, extra map[string]string) (stop func() string) {
	env := func(k string) string {
		switch k {
		case "TEMPORAL_ADDRESS":
			return w.ts.GetFrontendHostPort()
		case "TEMPORAL_NAMESPACE":
			return w.ts.GetDefaultNamespace()
		case "TEMPORAL_CONFIG_FILE":
			return os.DevNull
		}
		if v, ok := extra[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"--metrics", ""}, args...), env, &bytes.Buffer{}, &logs) }()
	return func() string {
		cancel()
		require.NoError(w.t, <-done, "worker: %s", logs.String())
		return logs.String()
	}
}

// sync runs one sync of a dataset of the API with headers through the
// worker and returns its error.
func (w *secretWorld) sync(id string, headers map[string]string) error {
	ds := config.Dataset{ID: id, Source: source.Config{
		URL: w.api.URL + "/records", Records: "data", Key: "id", Headers: headers,
		Pagination: source.Pagination{Type: source.PaginationLinkHeader},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := w.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.SyncWorkflowName, workflows.SyncInput{TaskID: id, Dataset: ds})
	require.NoError(w.t, err)
	return run.Get(ctx, nil)
}

// requireInvalidRequest asserts err is the failure of a task refused a
// secret: invalid request, naming the variable and the API's host.
func (w *secretWorld) requireInvalidRequest(err error, variable string) {
	w.t.Helper()
	var app *temporal.ApplicationError
	require.True(w.t, errors.As(err, &app), "not an application error: %v", err)
	assert.Equal(w.t, sferrors.TypeInvalidRequest, app.Type(), "failure: %v", err)
	if variable == "" { // either of the task's two headers
		assert.Regexp(w.t, `\$\{(SECRET_CANARY|SYNCFLOW_SINK)\}`, err.Error())
	} else {
		assert.Contains(w.t, err.Error(), "${"+variable+"}")
	}
	assert.Contains(w.t, err.Error(), w.host())
	assert.Contains(w.t, err.Error(), "--secret ", "says how to bind")
}

// requireNoValue asserts that s (an error, or log lines) holds neither
// secret value. The one line that may show the sink is the worker's own
// "worker running", which names its sink (password redacted): this sink,
// a SQLite path, has none.
func (w *secretWorld) requireNoValue(s string) {
	w.t.Helper()
	for line := range strings.Lines(s) {
		assert.NotContains(w.t, line, canaryValue)
		if !strings.Contains(line, `msg="worker running"`) {
			assert.NotContains(w.t, line, w.sink)
		}
	}
}

var bothHeaders = map[string]string{"X-Canary": "${SECRET_CANARY}", "X-Sink": "${SYNCFLOW_SINK}"}

// TestWorkerSendsSecretsOnlyWhereBound runs the real worker with
// SECRET_CANARY and SYNCFLOW_SINK in its environment against tasks whose
// headers name them (ISSUE 11 §2): without a binding nothing is sent; a
// binding by --secret, by SYNCFLOW_SECRETS or by the worker's --config file
// lets the value reach the bound host, and only it.
func TestWorkerSendsSecretsOnlyWhereBound(t *testing.T) {
	w := newSecretWorld(t)

	stop := w.runWorker(nil, nil)
	err := w.sync("unbound", bothHeaders)
	logs := stop()
	w.requireInvalidRequest(err, "")
	canary, sink := w.received()
	assert.Empty(t, canary, "the API received SECRET_CANARY")
	assert.Empty(t, sink, "the API received SYNCFLOW_SINK")
	assert.Regexp(t, `SECRET_CANARY|SYNCFLOW_SINK`, logs)
	w.requireNoValue(logs)
	w.requireNoValue(err.Error())

	stop = w.runWorker([]string{"--secret", "SECRET_CANARY=127.0.0.1", "--secret", "SYNCFLOW_SINK=db.example.com"}, nil)
	require.NoError(t, w.sync("flag", map[string]string{"X-Canary": "${SECRET_CANARY}"}))
	err = w.sync("flag-other-host", map[string]string{"X-Sink": "${SYNCFLOW_SINK}"})
	logs = stop()
	w.requireInvalidRequest(err, "SYNCFLOW_SINK")
	assert.Contains(t, err.Error(), "bound to db.example.com")
	canary, sink = w.received()
	assert.Equal(t, []string{canaryValue}, canary, "--secret binds SECRET_CANARY to the API's host")
	assert.Empty(t, sink, "SYNCFLOW_SINK is bound to another host")
	assert.Contains(t, logs, "SECRET_CANARY=127.0.0.1", "the bindings are logged, names and hosts only")
	w.requireNoValue(logs)

	stop = w.runWorker(nil, map[string]string{envSecrets: "SECRET_CANARY=" + w.host()})
	require.NoError(t, w.sync("env", map[string]string{"X-Canary": "${SECRET_CANARY}"}))
	w.requireNoValue(stop())
	canary, _ = w.received()
	assert.Equal(t, []string{canaryValue}, canary, "SYNCFLOW_SECRETS binds SECRET_CANARY")
}

// TestWorkerConfigBindsItsDatasetsSecrets: the worker's own --config file
// binds each name a dataset's headers use to that dataset's URL host, and
// nothing else.
func TestWorkerConfigBindsItsDatasetsSecrets(t *testing.T) {
	w := newSecretWorld(t)
	cfg := filepath.Join(w.dir, "syncflow.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`datasets:
  - id: canary
    source:
      url: `+w.api.URL+`/records
      records: data
      headers:
        X-Canary: ${SECRET_CANARY}
      key: id
      pagination:
        type: link_header
  - id: elsewhere
    source:
      url: https://api.example.com/records
      records: data
      headers:
        X-Sink: ${SYNCFLOW_SINK}
      key: id
      pagination:
        type: link_header
`), 0o600))
	stop := w.runWorker([]string{"--config", cfg}, nil)
	require.NoError(t, w.sync("config-canary", map[string]string{"X-Canary": "${SECRET_CANARY}"}))
	err := w.sync("config-sink", bothHeaders)
	logs := stop()
	w.requireInvalidRequest(err, "SYNCFLOW_SINK")
	assert.Contains(t, err.Error(), "bound to api.example.com")
	canary, sink := w.received()
	assert.Equal(t, []string{canaryValue}, canary, "the config binds SECRET_CANARY to its dataset's host")
	assert.Empty(t, sink)
	w.requireNoValue(logs)
	assert.False(t, strings.Contains(err.Error(), canaryValue))
}

// TestSecretFlags: --secret is repeatable and merges with SYNCFLOW_SECRETS;
// a bad binding is a usage error naming the entry.
func TestSecretFlags(t *testing.T) {
	o, err := parseFlags([]string{"--secret", "A=h1", "--secret", "B=h2,h3:8443", "--secret", "A=h4"},
		envOf(map[string]string{envSecrets: "C=h5;A=h6"}), nil)
	require.NoError(t, err)
	assert.Equal(t, "A=h1,h4,h6;B=h2,h3:8443;C=h5", o.secrets.String())

	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--secret", "A"}, "", `"A": want NAME=HOST`},
		{[]string{"--secret", "A=https://h"}, "", "not a URL"},
		{[]string{"--secret", "A=h;B=h"}, "", "once per name"},
		{nil, "A=h;9=h", envSecrets + `: secret binding "9=h"`},
	} {
		_, err := parseFlags(c.args, envOf(map[string]string{envSecrets: c.env}), nil)
		var ue usageError
		require.ErrorAs(t, err, &ue, "%v %q", c.args, c.env)
		assert.Contains(t, err.Error(), c.want)
	}
}
