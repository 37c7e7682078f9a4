package source

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
)

const testSecret = "s3cr3t-client-value"

// tokenAPI is a token endpoint and an API accepting each token it issued
// for at most uses requests (the API's notion of expiry); uses 0 rejects
// every token.
type tokenAPI struct {
	token, api *httptest.Server
	mu         sync.Mutex
	issued     int
	used       map[string]int
	uses       int
	expiresIn  int
	apiSaw     []string // Authorization headers the API received
}

func newTokenAPI(t *testing.T, uses, expiresIn int) *tokenAPI {
	a := &tokenAPI{used: map[string]int{}, uses: uses, expiresIn: expiresIn}
	a.token = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "app" || secret != testSecret || r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		a.mu.Lock()
		a.issued++
		tok := fmt.Sprintf("tok-%d", a.issued)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":%d}`, tok, a.expiresIn)
	}))
	t.Cleanup(a.token.Close)
	a.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		a.mu.Lock()
		a.apiSaw = append(a.apiSaw, h+" "+r.URL.RawQuery)
		tok := strings.TrimPrefix(h, "Bearer ")
		a.used[tok]++
		ok := strings.HasPrefix(h, "Bearer tok-") && a.used[tok] <= a.uses
		a.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(t, w, map[string]any{"data": []map[string]any{{"id": 1}}})
	}))
	t.Cleanup(a.api.Close)
	return a
}

func (a *tokenAPI) cfg() Config {
	return Config{URL: a.api.URL + "/items", Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader},
		Auth: &Auth{Type: AuthOAuth2ClientCredentials, TokenURL: a.token.URL + "/oauth/token", ClientID: "app", ClientSecret: "${CLIENT_SECRET}", Scopes: []string{"read"}}}
}

func (a *tokenAPI) issuedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issued
}

func clientSecretEnv(k string) (string, bool) {
	if k == "CLIENT_SECRET" {
		return testSecret, true
	}
	return "", false
}

// An API that stops accepting a token gets a new one, once per 401: five
// fetches with tokens good for two requests ask the endpoint three times.
func TestFetchOAuth2RefreshAfterUnauthorized(t *testing.T) {
	a := newTokenAPI(t, 2, 3600)
	c := NewClient(WithSecrets(localSecrets(clientSecretEnv, "CLIENT_SECRET")))
	for i := range 5 {
		if _, err := c.Fetch(t.Context(), a.cfg(), ""); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
	}
	if n := a.issuedCount(); n != 3 {
		t.Errorf("token endpoint asked %d times, want 3", n)
	}
	for _, h := range a.apiSaw {
		if strings.Contains(h, testSecret) {
			t.Errorf("the API received the client secret: %q", h)
		}
	}
}

// A 401 right after a refresh is unrecoverable, and says so.
func TestFetchOAuth2SecondUnauthorized(t *testing.T) {
	a := newTokenAPI(t, 0, 3600)
	c := NewClient(WithSecrets(localSecrets(clientSecretEnv, "CLIENT_SECRET")))
	_, err := c.Fetch(t.Context(), a.cfg(), "")
	e := classified(t, err, sferrors.Unrecoverable)
	if !strings.Contains(e.Error(), "401 right after a token refresh") || strings.Contains(e.Error(), testSecret) {
		t.Errorf("error %q", e)
	}
	if n := a.issuedCount(); n != 2 {
		t.Errorf("token endpoint asked %d times, want 2", n)
	}
}

// A client secret not bound to the token URL's host is not sent: invalid
// request naming the variable and the host.
func TestFetchOAuth2UnboundTokenHost(t *testing.T) {
	a := newTokenAPI(t, 5, 3600)
	cfg := a.cfg()
	u, _ := url.Parse(a.token.URL)
	cfg.Auth.TokenURL = "http://localhost:" + u.Port() + "/oauth/token"
	c := NewClient(WithSecrets(localSecrets(clientSecretEnv, "CLIENT_SECRET")))
	_, err := c.Fetch(t.Context(), cfg, "")
	e := classified(t, err, sferrors.InvalidRequest)
	if msg := e.Error(); !strings.Contains(msg, "${CLIENT_SECRET}") || !strings.Contains(msg, "localhost:"+u.Port()) {
		t.Errorf("error %q does not name the variable and the host", msg)
	}
	if n := a.issuedCount(); n != 0 {
		t.Errorf("token endpoint asked %d times, want 0", n)
	}
}

// A token is replaced before it expires, without a 401.
func TestFetchOAuth2RefreshBeforeExpiry(t *testing.T) {
	a := newTokenAPI(t, 100, 100)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := NewClient(WithSecrets(localSecrets(clientSecretEnv, "CLIENT_SECRET")), WithNow(clock))
	fetch := func() {
		t.Helper()
		if _, err := c.Fetch(t.Context(), a.cfg(), ""); err != nil {
			t.Fatal(err)
		}
	}
	fetch()
	fetch()
	if n := a.issuedCount(); n != 1 {
		t.Fatalf("token endpoint asked %d times for two fetches, want 1 (cached)", n)
	}
	mu.Lock()
	now = now.Add(95 * time.Second) // within 10% of the 100 s lifetime
	mu.Unlock()
	fetch()
	if n := a.issuedCount(); n != 2 {
		t.Fatalf("token endpoint asked %d times, want 2 (refreshed before expiry)", n)
	}
	for _, h := range a.apiSaw {
		if !strings.HasPrefix(h, "Bearer tok-") {
			t.Errorf("request without a token: %q", h)
		}
	}
}

// The token endpoint refusing the client is unrecoverable, naming no secret.
func TestFetchOAuth2BadCredentials(t *testing.T) {
	a := newTokenAPI(t, 5, 3600)
	c := NewClient(WithSecrets(localSecrets(func(string) (string, bool) { return "wrong", true }, "CLIENT_SECRET")))
	_, err := c.Fetch(t.Context(), a.cfg(), "")
	var e *sferrors.Error
	if !asError(err, &e) || e.Class != sferrors.Unrecoverable || !strings.Contains(e.Error(), "refused the client credentials") {
		t.Fatalf("error %v", err)
	}
}

func asError(err error, e **sferrors.Error) bool {
	v, ok := err.(*sferrors.Error)
	*e = v
	return ok
}

// A bearer token resolves for the request's host.
func TestFetchBearer(t *testing.T) {
	srv, rec := headerServer(t, func(*http.Request) string { return "" })
	cfg := Config{URL: srv.URL, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader},
		Auth: &Auth{Type: AuthBearer, Token: "${API_TOKEN}"}}
	c := NewClient(staticEnv(map[string]string{"API_TOKEN": "abc"}))
	if _, err := c.Fetch(t.Context(), cfg, ""); err != nil {
		t.Fatal(err)
	}
	if got := rec.all()[0].Header.Get("Authorization"); got != "Bearer abc" {
		t.Errorf("Authorization = %q", got)
	}
	_, err := NewClient().Fetch(t.Context(), cfg, "")
	classified(t, err, sferrors.InvalidRequest)
}

// An API key in a query parameter is added at request time and kept out of
// the next cursor (which enters workflow history) and of error messages.
func TestFetchAPIKeyQuery(t *testing.T) {
	var srv *httptest.Server
	var mu sync.Mutex
	var seen []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery)
		mu.Unlock()
		if r.URL.Query().Get("page") == "2" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		// The API echoes the key in its next link, as some do.
		w.Header().Set("Link", fmt.Sprintf(`<%s/items?page=2&appid=%s>; rel="next"`, srv.URL, r.URL.Query().Get("appid")))
		writeJSON(t, w, map[string]any{"data": []map[string]any{{"id": 1}}})
	}))
	t.Cleanup(srv.Close)
	cfg := Config{URL: srv.URL + "/items", Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader},
		Auth: &Auth{Type: AuthAPIKeyQuery, Param: "appid", Value: "${APP_KEY}"}}
	c := NewClient(staticEnv(map[string]string{"APP_KEY": "k3y"}))
	page, err := c.Fetch(t.Context(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.Next, "k3y") || !strings.Contains(page.Next, "page=2") {
		t.Errorf("next cursor %q", page.Next)
	}
	_, err = c.Fetch(t.Context(), cfg, page.Next)
	e := classified(t, err, sferrors.InvalidRequest)
	if strings.Contains(e.Error(), "k3y") {
		t.Errorf("error %q holds the key", e)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, q := range seen {
		if !strings.Contains(q, "appid=k3y") {
			t.Errorf("request query %q lacks the key", q)
		}
	}
}

// A body that stops mid-way is cut by the idle timeout (transient), long
// before the total.
func TestFetchIdleTimeoutCutsStall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[{"id":1},`))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cfg := Config{URL: srv.URL, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader},
		Timeouts: Timeouts{Idle: Duration(100 * time.Millisecond), Total: Duration(time.Hour)}}
	_, err := NewClient().Fetch(t.Context(), cfg, "")
	e := classified(t, err, sferrors.Transient)
	if !strings.Contains(e.Error(), "no byte for 100ms (timeouts.idle)") {
		t.Errorf("error %q does not name the idle timeout", e)
	}
}

// A body that arrives slowly but steadily, for longer than the idle
// timeout in all, is not cut.
func TestFetchIdleTimeoutSparesSteadyBody(t *testing.T) {
	const chunks = 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[`))
		for i := range chunks {
			if i > 0 {
				_, _ = w.Write([]byte(","))
			}
			_, _ = fmt.Fprintf(w, `{"id":%d}`, i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond) // the source's pace, not synchronisation
		}
		_, _ = w.Write([]byte(`]}`))
	}))
	t.Cleanup(srv.Close)
	cfg := Config{URL: srv.URL, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader},
		Timeouts: Timeouts{Idle: Duration(500 * time.Millisecond)}}
	page, err := NewClient().Fetch(t.Context(), cfg, "")
	if err != nil {
		t.Fatalf("steady body cut: %v", err)
	}
	if len(page.Records) != chunks {
		t.Errorf("%d records, want %d", len(page.Records), chunks)
	}
}

// A server that sends no headers is cut by the header timeout.
func TestFetchHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cfg := Config{URL: srv.URL, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader},
		Timeouts: Timeouts{Header: Duration(50 * time.Millisecond)}}
	_, err := NewClient().Fetch(t.Context(), cfg, "")
	e := classified(t, err, sferrors.Transient)
	if !strings.Contains(e.Error(), "no response headers within 50ms (timeouts.header)") {
		t.Errorf("error %q", e)
	}
}

func TestValidateAuth(t *testing.T) {
	base := Config{URL: "https://api.example.com/x", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}
	for _, tt := range []struct {
		auth  Auth
		field string
	}{
		{Auth{Type: AuthBearer}, "auth.token"},
		{Auth{Type: AuthBearer, Token: "Bearer ${X}"}, "auth.token"},
		{Auth{Type: AuthOAuth2ClientCredentials, TokenURL: "ftp://x", ClientID: "a", ClientSecret: "${S}"}, "auth.token_url"},
		{Auth{Type: AuthOAuth2ClientCredentials, TokenURL: "https://u:p@x/t", ClientID: "a", ClientSecret: "${S}"}, "auth.token_url"},
		{Auth{Type: AuthOAuth2ClientCredentials, TokenURL: "https://x/t", ClientSecret: "${S}"}, "auth.client_id"},
		{Auth{Type: AuthOAuth2ClientCredentials, TokenURL: "https://x/t", ClientID: "a", ClientSecret: "${S}", Scopes: []string{"a b"}}, "auth.scopes[0]"},
		{Auth{Type: AuthAPIKeyQuery, Param: "k", Value: "lit"}, "auth.value"},
		{Auth{Type: AuthAPIKeyQuery, Param: "a&b", Value: "${K}"}, "auth.param"},
	} {
		c := base
		a := tt.auth
		c.Auth = &a
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.field+":") {
			t.Errorf("%+v: error %v, want one for %s", tt.auth, err, tt.field)
		}
	}
	c := base
	c.Headers = map[string]string{"Authorization": "Bearer ${X}"}
	c.Auth = &Auth{Type: AuthBearer, Token: "${X}"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "headers.Authorization: set by auth") {
		t.Errorf("error %v", err)
	}
}

// A token endpoint that does not answer is cut by the header timeout:
// transient, not a cancellation.
func TestFetchOAuth2TokenEndpointTimeout(t *testing.T) {
	a := newTokenAPI(t, 5, 3600)
	release := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(stall.Close)
	t.Cleanup(func() { close(release) })
	cfg := a.cfg()
	cfg.Auth.TokenURL = stall.URL + "/token"
	cfg.Timeouts.Header = Duration(50 * time.Millisecond)
	c := NewClient(WithSecrets(localSecrets(clientSecretEnv, "CLIENT_SECRET")))
	_, err := c.Fetch(t.Context(), cfg, "")
	var e *sferrors.Error
	if !asError(err, &e) || e.Class != sferrors.Transient || !strings.Contains(e.Error(), "token endpoint: no answer within timeouts.header") {
		t.Fatalf("error %v", err)
	}
}
