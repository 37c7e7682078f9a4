package integration_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// The values a worker's environment holds in these tests: neither may
// reach a host its operator did not bind it to (ISSUE 11 §2).
const (
	canaryValue = "canary-v4lue-9f3e1b"
	sinkValue   = "sqlite:///tmp/canary-sink-7c21.db"
)

// headerSource is an httptest API of one page that records the headers of
// every request it receives.
type headerSource struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newHeaderSource(t *testing.T) *headerSource {
	s := &headerSource{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Header.Clone())
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[{"id":1},{"id":2}]}`))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// host is the source's host:port, as error messages name it.
func (s *headerSource) host() string {
	u, _ := url.Parse(s.srv.URL)
	return u.Host
}

// requests returns the headers of the requests received so far.
func (s *headerSource) requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.seen...)
}

// requireNoValues asserts that no request carried a secret value.
func (s *headerSource) requireNoValues(t *testing.T) {
	t.Helper()
	for _, h := range s.requests() {
		for name, vs := range h {
			for _, v := range vs {
				require.NotContains(t, v, canaryValue, "header %s", name)
				require.NotContains(t, v, sinkValue, "header %s", name)
			}
		}
	}
}

// dataset is a one-page dataset of s with the given headers.
func (s *headerSource) dataset(id string, headers map[string]string) config.Dataset {
	return config.Dataset{ID: id, Source: source.Config{
		URL: s.srv.URL + "/records", Records: "data", Key: "id", Headers: headers,
		Pagination: source.Pagination{Type: source.PaginationLinkHeader},
	}}
}

// setSecretEnv puts the canary and the sink DSN in the worker's environment.
func setSecretEnv(t *testing.T) {
	t.Setenv("SECRET_CANARY", canaryValue)
	t.Setenv("SYNCFLOW_SINK", sinkValue)
}

// A task naming worker environment variables the operator bound to no host
// receives neither value: no request is sent, the task fails as invalid
// request naming the variable and the host, and no log line holds a value.
func TestSecretsUnboundAreNotSent(t *testing.T) {
	setSecretEnv(t)
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newHeaderSource(t)
	for _, c := range []struct{ id, header, variable string }{
		{"canary", "X-Canary", "SECRET_CANARY"},
		{"sink", "X-Sink", "SYNCFLOW_SINK"},
	} {
		ds := src.dataset("steal-"+c.id, map[string]string{c.header: "${" + c.variable + "}"})
		_, err := e.result(e.start("task-steal-"+c.id, ds, workflows.SyncOptions{}))
		requireFailureType(t, err, sferrors.TypeInvalidRequest)
		msg := err.Error()
		require.Contains(t, msg, "${"+c.variable+"}")
		require.Contains(t, msg, src.host())
		require.Contains(t, msg, "--secret "+c.variable+"=127.0.0.1", "says how to bind it")
	}
	both := src.dataset("steal-both", map[string]string{"X-Canary": "${SECRET_CANARY}", "X-Sink": "${SYNCFLOW_SINK}"})
	_, err := e.result(e.start("task-steal-both", both, workflows.SyncOptions{}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)

	src.requireNoValues(t)
	require.Empty(t, src.requests(), "nothing is sent")
	logs := e.logs.String()
	require.Contains(t, logs, "SECRET_CANARY")
	require.Contains(t, logs, src.host())
	require.NotContains(t, logs, canaryValue)
	require.NotContains(t, logs, sinkValue)
	require.NotContains(t, err.Error(), canaryValue)
}

// A name bound to the source's host reaches it; a name bound to another
// host does not, and the task fails saying where the name is bound.
func TestSecretsGoOnlyToBoundHosts(t *testing.T) {
	setSecretEnv(t)
	e := newEnv(t)
	b, err := secrets.Parse("SECRET_CANARY=127.0.0.1;SYNCFLOW_SINK=db.example.com")
	require.NoError(t, err)
	e.startWorker(workerOptions{secrets: secrets.New(b, nil)})
	src := newHeaderSource(t)

	ds := src.dataset("bound", map[string]string{"X-Canary": "${SECRET_CANARY}"})
	_, err = e.result(e.start("task-bound", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	reqs := src.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, canaryValue, reqs[0].Get("X-Canary"), "the bound host receives the value")
	require.Len(t, e.storedKeys("bound"), 2)

	other := src.dataset("other", map[string]string{"X-Sink": "${SYNCFLOW_SINK}"})
	_, err = e.result(e.start("task-other", other, workflows.SyncOptions{}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Contains(t, err.Error(), "${SYNCFLOW_SINK} is bound to db.example.com, not to host "+src.host())
	require.Len(t, src.requests(), 1, "nothing more was sent")
	require.NotContains(t, e.logs.String(), sinkValue)
	require.False(t, strings.Contains(err.Error(), sinkValue))
}
