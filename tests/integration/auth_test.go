package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// The client secret and the access tokens of these tests: distinctive, so
// that a search of logs and of Temporal's database finds nothing else.
const (
	oauthSecret = "cl13nt-s3cret-4e7a9"
	tokenPrefix = "acc3ss-t0ken-"
)

// oauthSource is a token endpoint and an API in front of a scripted
// source. The API accepts each access token for `uses` requests, then
// answers 401 (the token has expired, as far as it is concerned); uses 0
// refuses every token.
type oauthSource struct {
	src        *scriptedSource
	token, api *httptest.Server
	uses       int

	mu      sync.Mutex
	issued  int
	used    map[string]int
	refused int
}

func newOAuthSource(t *testing.T, src *scriptedSource, uses int) *oauthSource {
	o := &oauthSource{src: src, uses: uses, used: map[string]int{}}
	o.token = httptest.NewServer(http.HandlerFunc(o.serveToken))
	t.Cleanup(o.token.Close)
	o.api = httptest.NewServer(http.HandlerFunc(o.serveAPI))
	t.Cleanup(o.api.Close)
	return o
}

func (o *oauthSource) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != "syncflow-app" || secret != oauthSecret {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	o.mu.Lock()
	o.issued++
	tok := fmt.Sprintf("%s%d", tokenPrefix, o.issued)
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	// Short-lived: an hour on paper, a couple of requests for the API.
	_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":3600}`, tok)
}

func (o *oauthSource) serveAPI(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	o.mu.Lock()
	o.used[tok]++
	ok := strings.HasPrefix(tok, tokenPrefix) && o.used[tok] <= o.uses
	if !ok {
		o.refused++
	}
	o.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"token expired"}`))
		return
	}
	o.src.serve(w, r)
}

func (o *oauthSource) counts() (issued, refused int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.issued, o.refused
}

// dataset is the source's cursor dataset behind the API, authenticated
// with the client credentials grant against tokenURL.
func (o *oauthSource) dataset(id, tokenURL string) config.Dataset {
	ds := o.src.dataset(id, source.PaginationCursor)
	ds.Source.URL = o.api.URL + "/cursor"
	ds.Source.Auth = &source.Auth{Type: source.AuthOAuth2ClientCredentials, TokenURL: tokenURL,
		ClientID: "syncflow-app", ClientSecret: "${OAUTH_SECRET}", Scopes: []string{"records:read"}}
	return ds
}

// oauthSecrets binds OAUTH_SECRET to host, its value from the test.
func oauthSecrets(host string) *secrets.Resolver {
	return secrets.New(secrets.Bindings{"OAUTH_SECRET": {host}}, func(k string) (string, bool) {
		return oauthSecret, k == "OAUTH_SECRET"
	})
}

// Short-lived tokens the API rejects: each 401 fetches a new token once and
// the page goes on. The sync is exact, the token endpoint was asked again,
// and neither the client secret nor a token is in the worker's log or in
// Temporal's database file (a file-backed embedded server).
func TestOAuth2ShortLivedTokens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dbDir := t.TempDir()
	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath: filepath.Join(dbDir, "temporal.db"), FreePorts: true, UIPort: devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(),
	})
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Stop()
		}
	})
	logs := &lockedBuffer{}
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: log.NewStructuredLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	s, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(t.TempDir(), "dest.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	src := newScriptedSource(t, 60, 10) // 6 pages and an empty answer
	o := newOAuthSource(t, src, 2)
	w, _, err := engine.New(c, engine.Options{Sink: s, TaskQueue: "oauth", Secrets: oauthSecrets("127.0.0.1"), HeartbeatEvery: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w.Start())

	ds := o.dataset("oauth-orders", o.token.URL+"/oauth/token")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "task-oauth", TaskQueue: "oauth"},
		workflows.SyncWorkflowName, workflows.SyncInput{TaskID: "task-oauth", Dataset: ds})
	require.NoError(t, err)
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.EqualValues(t, 60, res.Records)
	n, err := s.Count(ctx, "oauth-orders")
	require.NoError(t, err)
	require.EqualValues(t, 60, n, "every record once")

	issued, refused := o.counts()
	require.GreaterOrEqual(t, issued, 3, "the token endpoint is asked again after each refusal")
	require.Equal(t, issued-1, refused, "one 401 per replaced token, none after a refresh")
	require.Zero(t, res.Retries, "a refused token costs no try")

	w.Stop()
	require.NoError(t, srv.Stop())
	stopped = true
	requireAbsent(t, "worker log", []byte(logs.String()))
	files, err := filepath.Glob(filepath.Join(dbDir, "temporal.db*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		requireAbsent(t, f, b)
		all = append(all, b...)
	}
	// The search reads the history: the task's input is there, by name.
	require.True(t, bytes.Contains(all, []byte("${OAUTH_SECRET}")), "the database holds the task's input")
}

// requireAbsent asserts b holds neither the client secret nor a token.
func requireAbsent(t *testing.T, what string, b []byte) {
	t.Helper()
	require.False(t, bytes.Contains(b, []byte(oauthSecret)), "%s holds the client secret", what)
	require.False(t, bytes.Contains(b, []byte(tokenPrefix)), "%s holds an access token", what)
}

// A 401 right after a token refresh fails the task as unrecoverable.
func TestOAuth2SecondUnauthorizedFails(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{secrets: oauthSecrets("127.0.0.1")})
	o := newOAuthSource(t, newScriptedSource(t, 30, 10), 0)
	run := e.start("task-oauth-refused", o.dataset("oauth-refused", o.token.URL+"/oauth/token"), workflows.SyncOptions{})
	_, err := e.result(run)
	require.Error(t, err)
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.Unrecoverable, class, "%v", err)
	require.Contains(t, err.Error(), "401 right after a token refresh")
	issued, refused := o.counts()
	require.Equal(t, 2, issued, "one token, one refresh, no more")
	require.Equal(t, 2, refused)
	require.NotContains(t, e.logs.String(), oauthSecret)
}

// A token URL whose host the client secret is not bound to: nothing is
// sent, the task fails as invalid request naming the variable and the host.
func TestOAuth2UnboundTokenHost(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{secrets: oauthSecrets("127.0.0.1")})
	o := newOAuthSource(t, newScriptedSource(t, 30, 10), 5)
	u, err := url.Parse(o.token.URL)
	require.NoError(t, err)
	tokenHost := "localhost:" + u.Port()
	run := e.start("task-oauth-unbound", o.dataset("oauth-unbound", "http://"+tokenHost+"/oauth/token"), workflows.SyncOptions{})
	_, err = e.result(run)
	require.Error(t, err)
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.InvalidRequest, class, "%v", err)
	require.Contains(t, err.Error(), "${OAUTH_SECRET}")
	require.Contains(t, err.Error(), "host "+tokenHost)
	issued, _ := o.counts()
	require.Zero(t, issued, "the token endpoint was never asked")
}
