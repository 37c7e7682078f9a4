package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
)

const datasetSize = 23

// dataset returns records i in [lo, hi) of the test dataset.
func dataset(lo, hi int) []map[string]any {
	out := []map[string]any{}
	for i := max(lo, 0); i < min(hi, datasetSize); i++ {
		out = append(out, map[string]any{"id": i, "name": fmt.Sprintf("rec-%d", i)})
	}
	return out
}

func writeJSON(t testing.TB, w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Errorf("encode response: %v", err)
	}
}

// recorder keeps the requests a test server saw.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) add(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
}

func (r *recorder) all() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// paginatedServer serves the dataset with every pagination type, five
// records a page. Every request must carry fixed=1 and X-Api-Key.
func paginatedServer(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	const size = 5
	mux := http.NewServeMux()
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	mux.HandleFunc("/cursor", func(w http.ResponseWriter, r *http.Request) {
		from := 0
		if c := r.URL.Query().Get("after"); c != "" {
			from = atoi(c)
		}
		body := map[string]any{"data": dataset(from, from+size), "meta": map[string]any{"next": nil}}
		if from+size < datasetSize {
			body["meta"] = map[string]any{"next": from + size} // a number cursor
		}
		writeJSON(t, w, body)
	})
	mux.HandleFunc("/nexturl", func(w http.ResponseWriter, r *http.Request) {
		p := max(atoi(r.URL.Query().Get("p")), 1)
		body := map[string]any{"items": dataset((p-1)*size, p*size), "links": map[string]any{}}
		if p*size < datasetSize {
			body["links"] = map[string]any{"next": fmt.Sprintf("nexturl?fixed=1&p=%d", p+1)} // relative
		}
		writeJSON(t, w, body)
	})
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		p := max(atoi(r.URL.Query().Get("p")), 1)
		w.Header().Add("Link", `</link?fixed=1&p=1>; rel="first"`)
		if p*size < datasetSize {
			base := "" // relative and absolute links, in turn
			if p%2 == 0 {
				base = "http://" + r.Host
			}
			w.Header().Add("Link", fmt.Sprintf(`</link?fixed=1&p=%d>; rel="prev", <%s/link?fixed=1&p=%d>; rel="next last"`, p-1, base, p+1))
		}
		writeJSON(t, w, dataset((p-1)*size, p*size))
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		p, n := atoi(r.URL.Query().Get("page")), atoi(r.URL.Query().Get("per_page"))
		body := map[string]any{"results": dataset((p-1)*n, p*n)}
		if r.URL.Query().Get("total") == "1" {
			body["total"] = datasetSize
		}
		writeJSON(t, w, body)
	})
	mux.HandleFunc("/offset", func(w http.ResponseWriter, r *http.Request) {
		off, n := atoi(r.URL.Query().Get("offset")), atoi(r.URL.Query().Get("limit"))
		writeJSON(t, w, map[string]any{"rows": dataset(off, off+n), "meta": map[string]any{"total": strconv.Itoa(datasetSize)}})
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.URL.Query().Get("fixed") != "1" || r.Header.Get("X-Api-Key") != "k3y" {
			http.Error(w, "missing fixed parameter or api key", http.StatusBadRequest)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// staticEnv resolves the names of env, each bound to the test servers'
// host, from env.
func staticEnv(env map[string]string) Option {
	return WithSecrets(localSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, keys(env)...))
}

// localSecrets is a resolver binding names to 127.0.0.1 (httptest's host)
// and looking values up through lookup.
func localSecrets(lookup func(string) (string, bool), names ...string) *secrets.Resolver {
	b := secrets.Bindings{}
	for _, n := range names {
		b.Add(n, "127.0.0.1")
	}
	return secrets.New(b, lookup)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFetchPagination(t *testing.T) {
	srv, rec := paginatedServer(t)
	headers := map[string]string{"X-Api-Key": "${API_KEY}"}
	tests := []struct {
		name      string
		cfg       Config
		wantPages int
		sizeParam string // query parameter that must be on every request
	}{
		{"cursor", Config{URL: srv.URL + "/cursor?fixed=1", Records: "data", Key: "id",
			Pagination: Pagination{Type: PaginationCursor, Param: "after", Next: "meta.next", SizeParam: "n", PageSize: 5}}, 5, "n"},
		{"next_url", Config{URL: srv.URL + "/nexturl?fixed=1", Records: "items", Key: "id",
			Pagination: Pagination{Type: PaginationNextURL, Next: "links.next", SizeParam: "per_page", PageSize: 5}}, 5, "per_page"},
		{"link_header", Config{URL: srv.URL + "/link?fixed=1", Records: "", Key: "id",
			Pagination: Pagination{Type: PaginationLinkHeader}}, 5, ""},
		{"page with total", Config{URL: srv.URL + "/page?fixed=1&total=1", Records: "results", Key: "id",
			Pagination: Pagination{Type: PaginationPage, Total: "total", SizeParam: "per_page", PageSize: 5}}, 6, "per_page"},
		{"page with total, exact fit", Config{URL: srv.URL + "/page?fixed=1&total=1", Records: "results", Key: "id",
			Pagination: Pagination{Type: PaginationPage, Total: "total", SizeParam: "per_page", PageSize: 23}}, 1, "per_page"},
		{"page until empty", Config{URL: srv.URL + "/page?fixed=1", Records: "results", Key: "id",
			Pagination: Pagination{Type: PaginationPage, SizeParam: "per_page", PageSize: 5}}, 6, "per_page"},
		{"offset", Config{URL: srv.URL + "/offset?fixed=1", Records: "rows", Key: "id",
			Pagination: Pagination{Type: PaginationOffset, Total: "meta.total", PageSize: 5}}, 5, "limit"},
	}
	c := NewClient(staticEnv(map[string]string{"API_KEY": "k3y"}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Headers = headers
			before := len(rec.all())
			seen := map[string]int{}
			cursor, pages := "", 0
			for {
				page, err := c.Fetch(t.Context(), tt.cfg, cursor)
				if err != nil {
					t.Fatalf("Fetch(%q): %v", cursor, err)
				}
				pages++
				for _, r := range page.Records {
					seen[r.Key]++
				}
				if page.Header.Get("Content-Type") != "application/json" || page.Bytes == 0 {
					t.Errorf("page %d: Header/Bytes not filled in: %v, %d", pages, page.Header, page.Bytes)
				}
				if page.Done {
					if page.Next != "" {
						t.Errorf("Done page has Next %q", page.Next)
					}
					break
				}
				if page.Next == "" || page.Next == cursor {
					t.Fatalf("page %d: Next = %q after cursor %q", pages, page.Next, cursor)
				}
				if pages > 2*datasetSize {
					t.Fatal("pagination does not end")
				}
				cursor = page.Next
			}
			if pages != tt.wantPages {
				t.Errorf("fetched %d pages, want %d", pages, tt.wantPages)
			}
			for i := range datasetSize {
				if n := seen[strconv.Itoa(i)]; n != 1 {
					t.Errorf("record %d seen %d times", i, n)
				}
			}
			if len(seen) != datasetSize {
				t.Errorf("got %d distinct keys, want %d", len(seen), datasetSize)
			}
			for _, r := range rec.all()[before:] {
				if tt.sizeParam != "" && r.URL.Query()[tt.sizeParam] == nil {
					t.Errorf("request %s lacks %s", r.URL, tt.sizeParam)
				}
				if n := len(r.URL.Query()[tt.sizeParam]); n > 1 {
					t.Errorf("request %s has %s %d times", r.URL, tt.sizeParam, n)
				}
			}
		})
	}
}

func TestFetchFirstRequest(t *testing.T) {
	srv, rec := paginatedServer(t)
	tests := []struct {
		name string
		cfg  Config
		want url.Values
	}{
		{"cursor omits the cursor", Config{URL: srv.URL + "/cursor?fixed=1", Records: "data", Key: "id",
			Pagination: Pagination{Type: PaginationCursor, Param: "after", Next: "meta.next"}},
			url.Values{"fixed": {"1"}}},
		{"page defaults", Config{URL: srv.URL + "/page?fixed=1", Records: "results", Key: "id",
			Pagination: Pagination{Type: PaginationPage, SizeParam: "per_page", PageSize: 7}},
			url.Values{"fixed": {"1"}, "page": {"1"}, "per_page": {"7"}}},
		{"offset defaults", Config{URL: srv.URL + "/offset?fixed=1", Records: "rows", Key: "id",
			Pagination: Pagination{Type: PaginationOffset, PageSize: 7}},
			url.Values{"fixed": {"1"}, "offset": {"0"}, "limit": {"7"}}},
		{"next_url keeps an existing size", Config{URL: srv.URL + "/nexturl?fixed=1&per_page=3", Records: "items", Key: "id",
			Pagination: Pagination{Type: PaginationNextURL, Next: "links.next", SizeParam: "per_page", PageSize: 5}},
			url.Values{"fixed": {"1"}, "per_page": {"3"}}},
	}
	c := NewClient(staticEnv(map[string]string{"API_KEY": "k3y"}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Headers = map[string]string{"X-Api-Key": "${API_KEY}"}
			before := len(rec.all())
			if _, err := c.Fetch(t.Context(), tt.cfg, ""); err != nil {
				t.Fatal(err)
			}
			reqs := rec.all()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if got := reqs[0].URL.Query(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("query = %v, want %v", got, tt.want)
			}
			if ua := reqs[0].Header.Get("User-Agent"); ua != "syncflow" {
				t.Errorf("User-Agent = %q", ua)
			}
		})
	}
}

// headerServer records the headers of every request and answers with an
// empty page (or with next, when set, as the next_url).
func headerServer(t *testing.T, next func(r *http.Request) string) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		body := map[string]any{"data": dataset(0, 1)}
		if next != nil {
			body["next"] = next(r)
		}
		writeJSON(t, w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

var secretHeaders = map[string]string{
	"Authorization": "Bearer ${TOKEN}",
	"X-Api-Key":     "${API_KEY}",
	"Cookie":        "session=${SESSION}",
}

var secretEnv = map[string]string{"TOKEN": "t0ken", "API_KEY": "k3y", "SESSION": "s3ss"}

func assertNoSecrets(t *testing.T, r *http.Request) {
	t.Helper()
	for name := range secretHeaders {
		if v := r.Header.Get(name); v != "" {
			t.Errorf("request to %s carried %s", r.URL, name)
		}
	}
}

func assertSecrets(t *testing.T, r *http.Request) {
	t.Helper()
	if r.Header.Get("Authorization") != "Bearer t0ken" || r.Header.Get("X-Api-Key") != "k3y" || r.Header.Get("Cookie") != "session=s3ss" {
		t.Errorf("request to %s lacks the configured headers: %v", r.URL, r.Header)
	}
}

func TestFetchRedirectToOtherHostDropsHeaders(t *testing.T) {
	other, otherRec := headerServer(t, nil)
	var mu sync.Mutex
	var seenA []*http.Request
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenA = append(seenA, r.Clone(context.Background()))
		mu.Unlock()
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		case "/same":
			http.Redirect(w, r, "/final", http.StatusMovedPermanently)
		case "/final":
			writeJSON(t, w, map[string]any{"data": dataset(0, 1)})
		}
	}))
	t.Cleanup(home.Close)
	c := NewClient(staticEnv(secretEnv))
	cfg := Config{Headers: secretHeaders, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}

	cfg.URL = home.URL + "/away"
	if _, err := c.Fetch(t.Context(), cfg, ""); err != nil {
		t.Fatal(err)
	}
	got := otherRec.all()
	if len(got) != 1 {
		t.Fatalf("other host saw %d requests, want 1", len(got))
	}
	assertNoSecrets(t, got[0])

	cfg.URL = home.URL + "/same"
	if _, err := c.Fetch(t.Context(), cfg, ""); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seenA) != 3 {
		t.Fatalf("home saw %d requests, want 3", len(seenA))
	}
	for _, r := range seenA {
		assertSecrets(t, r) // the same origin gets them, redirect or not
	}
}

func TestFetchNextURLToOtherHostDropsHeaders(t *testing.T) {
	other, otherRec := headerServer(t, nil)
	home, homeRec := headerServer(t, func(*http.Request) string { return other.URL + "/p2" })
	c := NewClient(staticEnv(secretEnv))
	cfg := Config{URL: home.URL + "/p1", Headers: secretHeaders, Records: "data", Key: "id",
		Pagination: Pagination{Type: PaginationNextURL, Next: "next"}}
	page, err := c.Fetch(t.Context(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if page.Next != other.URL+"/p2" {
		t.Fatalf("Next = %q", page.Next)
	}
	if _, err := c.Fetch(t.Context(), cfg, page.Next); err != nil {
		t.Fatal(err)
	}
	assertSecrets(t, homeRec.all()[0])
	got := otherRec.all()
	if len(got) != 1 {
		t.Fatalf("other host saw %d requests", len(got))
	}
	assertNoSecrets(t, got[0])
}

func TestFetchTooManyRedirects(t *testing.T) {
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	_, err := NewClient().Fetch(t.Context(), Config{URL: srv.URL, Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}, "")
	e := classified(t, err, sferrors.InvalidRequest)
	if !strings.Contains(e.Error(), "more than 10 redirects") {
		t.Errorf("error %q does not say why", e)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1+MaxRedirects {
		t.Errorf("server saw %d requests, want %d", hits, 1+MaxRedirects)
	}
}

func TestFetchResolvesEnvAtRequestTime(t *testing.T) {
	srv, rec := headerServer(t, nil)
	var mu sync.Mutex
	env := map[string]string{"TOKEN": "first", "OTHER": "s3cr3t-other"}
	c := NewClient(WithSecrets(localSecrets(func(k string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		v, ok := env[k]
		return v, ok
	}, "TOKEN", "OTHER", "MISSING_TOKEN")))
	cfg := Config{URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer ${TOKEN}"}, Records: "data", Key: "id",
		Pagination: Pagination{Type: PaginationLinkHeader}}
	for _, token := range []string{"first", "second"} {
		mu.Lock()
		env["TOKEN"] = token
		mu.Unlock()
		if _, err := c.Fetch(t.Context(), cfg, ""); err != nil {
			t.Fatal(err)
		}
	}
	reqs := rec.all()
	if got := []string{reqs[0].Header.Get("Authorization"), reqs[1].Header.Get("Authorization")}; got[0] != "Bearer first" || got[1] != "Bearer second" {
		t.Errorf("Authorization values = %q", got)
	}

	cfg.Headers = map[string]string{"Authorization": "Bearer ${MISSING_TOKEN}", "X-Other": "${OTHER}"}
	_, err := c.Fetch(t.Context(), cfg, "")
	e := classified(t, err, sferrors.InvalidRequest)
	if msg := e.Error(); !strings.Contains(msg, "MISSING_TOKEN") || strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "second") {
		t.Errorf("error %q: want the variable's name and no values", msg)
	}
	if n := len(rec.all()); n != 2 {
		t.Errorf("a request was sent without its header: %d requests", n)
	}
}

// classified asserts err is an *sferrors.Error of class want with the
// request's method and URL.
func classified(t *testing.T, err error, want sferrors.Class) *sferrors.Error {
	t.Helper()
	var e *sferrors.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *sferrors.Error", err, err)
	}
	if e.Class != want {
		t.Fatalf("class = %s, want %s (error: %v)", e.Class, want, e)
	}
	if e.Method != http.MethodGet || e.URL == "" {
		t.Errorf("error lacks method or URL: %+v", e)
	}
	return e
}

// hijack answers with raw bytes and then closes the connection.
func hijack(t *testing.T, raw string, reset bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		if reset {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
			return
		}
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
	}
}

func TestFetchErrors(t *testing.T) {
	big := `{"data":[` + strings.Repeat(`{"id":1},`, 200) + `{"id":2}]}`
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		cfg       func(*Config)
		class     sferrors.Class
		contains  []string
		forbidden []string
		check     func(t *testing.T, e *sferrors.Error)
	}{
		{name: "body over the cap with Content-Length", class: sferrors.Unrecoverable,
			handler:  func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big) },
			cfg:      func(c *Config) { c.MaxBytes = 1000 },
			contains: []string{"cap of 1000 bytes", "max_body_bytes"}},
		{name: "body over the cap, chunked", class: sferrors.Unrecoverable,
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, big[:500])
				http.NewResponseController(w).Flush()
				fmt.Fprint(w, big[500:])
			},
			cfg:      func(c *Config) { c.MaxBytes = 1000 },
			contains: []string{"cap of 1000 bytes"}},
		{name: "body shorter than Content-Length", class: sferrors.Transient,
			handler: hijack(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"+`{"data":[{"id":1},{"id"`, false)},
		{name: "close-delimited body cut short", class: sferrors.Transient,
			handler:  hijack(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"+`{"data":[{"id":1},{"id"`, false),
			contains: []string{"truncated JSON"}},
		{name: "connection reset", class: sferrors.Transient, handler: hijack(t, "", true)},
		{name: "malformed JSON", class: sferrors.Unrecoverable,
			handler:   func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"data":[{"id":"s3cret"}x]}`) },
			contains:  []string{"malformed JSON in response body at byte"},
			forbidden: []string{"s3cret", "'x'"}},
		{name: "429", class: sferrors.RateLimited,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			check: func(t *testing.T, e *sferrors.Error) {
				if e.RetryAfter != 7*time.Second || e.Status != 429 {
					t.Errorf("RetryAfter, Status = %v, %d; want 7s, 429", e.RetryAfter, e.Status)
				}
			}},
		{name: "400 with body excerpt", class: sferrors.InvalidRequest,
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `{"error":"bad filter: status"}`, http.StatusBadRequest)
			},
			cfg:       func(c *Config) { c.URL += "?api_key=hunter2" },
			contains:  []string{"status 400", "api_key=REDACTED"},
			forbidden: []string{"hunter2"},
			check: func(t *testing.T, e *sferrors.Error) {
				if !strings.Contains(e.Body, "bad filter: status") || e.Status != 400 {
					t.Errorf("Body, Status = %q, %d", e.Body, e.Status)
				}
			}},
		{name: "503", class: sferrors.Transient,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }},
		{name: "401", class: sferrors.Unrecoverable,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }},
		{name: "304 is not a page", class: sferrors.Unrecoverable,
			handler:  func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) },
			contains: []string{"unexpected response status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			cfg := Config{URL: srv.URL, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			_, err := NewClient().Fetch(t.Context(), cfg, "")
			e := classified(t, err, tt.class)
			for _, s := range tt.contains {
				if !strings.Contains(e.Error(), s) {
					t.Errorf("error %q does not contain %q", e, s)
				}
			}
			for _, s := range tt.forbidden {
				if strings.Contains(e.Error(), s) {
					t.Errorf("error %q contains %q", e, s)
				}
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	cfg := Config{URL: srv.URL, Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}, Timeout: Duration(20 * time.Millisecond)}
	_, err := NewClient().Fetch(t.Context(), cfg, "")
	e := classified(t, err, sferrors.Transient)
	if !strings.Contains(e.Error(), "timed out after 20ms") {
		t.Errorf("error %q does not say it timed out", e)
	}
}

func TestFetchCancelled(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-started; cancel() }()
	cfg := Config{URL: srv.URL, Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}
	_, err := NewClient().Fetch(ctx, cfg, "")
	classified(t, err, sferrors.Cancelled)
}

func TestFetchBadInput(t *testing.T) {
	c := NewClient()
	var e *sferrors.Error
	_, err := c.Fetch(t.Context(), Config{URL: "http://x", Key: "id", Pagination: Pagination{Type: "foo"}}, "")
	if !errors.As(err, &e) || e.Class != sferrors.InvalidRequest || !strings.Contains(e.Error(), `pagination.type: unknown pagination type "foo"`) {
		t.Errorf("invalid config: %v", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("invalid config error does not wrap a *ValidationError: %v", err)
	}
	for _, tt := range []struct{ typ, cursor string }{
		{PaginationPage, "0"}, {PaginationPage, "x"}, {PaginationOffset, "-1"}, {PaginationNextURL, "/relative"}, {PaginationLinkHeader, "ftp://x/y"},
	} {
		cfg := Config{URL: "http://127.0.0.1:1/", Key: "id", Pagination: Pagination{Type: tt.typ}}
		if tt.typ == PaginationNextURL {
			cfg.Pagination.Next = "next"
		}
		_, err := c.Fetch(t.Context(), cfg, tt.cursor)
		if !errors.As(err, &e) || e.Class != sferrors.InvalidRequest {
			t.Errorf("%s cursor %q: %v, want an invalid request", tt.typ, tt.cursor, err)
		}
	}
}

func TestFetchShape(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		cfg       func(*Config)
		want      string // error text; "" = success
		wantKeys  []string
		wantNext  string
		forbidden string
	}{
		{name: "numeric and string keys", body: `{"data":[{"id":42},{"id":-1.5e3},{"id":"abc"},{"id":12345678901234567890},{"id":"\u00e9"}]}`,
			wantKeys: []string{"42", "-1.5e3", "abc", "12345678901234567890", "é"}},
		{name: "nested key path", body: `{"data":[{"ref":{"ids":[7,8]}},{"ref":{"ids":["x"]}}]}`, cfg: func(c *Config) { c.Key = "ref.ids.0" },
			wantKeys: []string{"7", "x"}},
		{name: "body is the array", body: `[{"id":1}]`, cfg: func(c *Config) { c.Records = "" }, wantKeys: []string{"1"}},
		{name: "empty records", body: `{"data":[]}`, wantKeys: []string{}},
		{name: "missing records path", body: `{"items":[]}`, want: `no records at path "data"`},
		{name: "records not an array", body: `{"data":{"id":1}}`, want: `records at path "data" are not an array`},
		{name: "records null", body: `{"data":null}`, want: `records at path "data" are not an array`},
		{name: "record without key", body: `{"data":[{"id":1},{"name":"s3cret"}]}`, want: `record 1 has no key at path "id"`, forbidden: "s3cret"},
		{name: "record not an object", body: `{"data":[{"id":1},"s3cret"]}`, want: `record 1 has no key at path "id"`, forbidden: "s3cret"},
		{name: "object key", body: `{"data":[{"id":{"s3cret":1}}]}`, want: `record 0: key at path "id" is not a string or number`, forbidden: "s3cret"},
		{name: "null key", body: `{"data":[{"id":1},{"id":2},{"id":null}]}`, want: `record 2: key at path "id" is not a string or number`},
		{name: "bool key", body: `{"data":[{"id":true}]}`, want: `record 0: key at path "id" is not a string or number`},
		{name: "empty key", body: `{"data":[{"id":""}]}`, want: `record 0: key at path "id" is empty`},
		{name: "cursor string", body: `{"data":[],"meta":{"next":"abc"}}`, cfg: cursorCfg, wantKeys: []string{}, wantNext: "abc"},
		{name: "cursor number", body: `{"data":[],"meta":{"next":100}}`, cfg: cursorCfg, wantKeys: []string{}, wantNext: "100"},
		{name: "cursor null", body: `{"data":[],"meta":{"next":null}}`, cfg: cursorCfg, wantKeys: []string{}},
		{name: "cursor empty", body: `{"data":[],"meta":{"next":""}}`, cfg: cursorCfg, wantKeys: []string{}},
		{name: "cursor missing", body: `{"data":[]}`, cfg: cursorCfg, wantKeys: []string{}},
		{name: "cursor object", body: `{"data":[],"meta":{"next":{}}}`, cfg: cursorCfg, want: `next cursor at path "meta.next" is not a string or number`},
		{name: "next_url not a string", body: `{"data":[],"next":5}`, cfg: nextURLCfg, want: `next page URL at path "next" is not a string`},
		{name: "next_url bad scheme", body: `{"data":[],"next":"javascript:alert(1)"}`, cfg: nextURLCfg, want: `next page link is not a valid http or https URL`},
		{name: "next_url to itself", body: `{"data":[],"next":"?#top"}`, cfg: nextURLCfg, want: `next page link points to the current page`},
		{name: "total not a number", body: `{"data":[{"id":1}],"total":"many"}`, cfg: func(c *Config) { c.Pagination = Pagination{Type: PaginationPage, Total: "total"} },
			want: `total at path "total" is not a non-negative integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tt.body) }))
			t.Cleanup(srv.Close)
			cfg := Config{URL: srv.URL + "/", Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			page, err := NewClient().Fetch(t.Context(), cfg, "")
			if tt.want != "" {
				e := classified(t, err, sferrors.Unrecoverable)
				if !strings.Contains(e.Error(), tt.want) || !strings.Contains(e.Error(), "not the configured shape") {
					t.Errorf("error %q, want %q", e, tt.want)
				}
				if tt.forbidden != "" && strings.Contains(e.Error(), tt.forbidden) {
					t.Errorf("error %q leaks record content", e)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{}
			for _, r := range page.Records {
				keys = append(keys, r.Key)
			}
			if !slices.Equal(keys, tt.wantKeys) || page.Next != tt.wantNext || page.Done != (tt.wantNext == "") {
				t.Errorf("keys, Next, Done = %q, %q, %v; want %q, %q", keys, page.Next, page.Done, tt.wantKeys, tt.wantNext)
			}
		})
	}
}

func cursorCfg(c *Config) { c.Pagination = Pagination{Type: PaginationCursor, Next: "meta.next"} }

func nextURLCfg(c *Config) { c.Pagination = Pagination{Type: PaginationNextURL, Next: "next"} }

func TestFetchRecordData(t *testing.T) {
	body := `{"data": [ {"id": 1, "tags": ["a", "b"]} ,{"id":2,"x":{"y":null}}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(srv.Close)
	page, err := NewClient().Fetch(t.Context(), Config{URL: srv.URL, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"id": 1, "tags": ["a", "b"]}`, `{"id":2,"x":{"y":null}}`}
	if len(page.Records) != 2 || string(page.Records[0].Data) != want[0] || string(page.Records[1].Data) != want[1] {
		t.Fatalf("records = %q", page.Records)
	}
	_ = append(page.Records[0].Data, "garbage"...)
	if string(page.Records[1].Data) != want[1] {
		t.Errorf("appending to one record changed the next: %q", page.Records[1].Data)
	}
	if page.Bytes != len(body) {
		t.Errorf("Bytes = %d, want %d", page.Bytes, len(body))
	}
}

func TestWithHTTPClientKeepsCallerClient(t *testing.T) {
	srv, _ := headerServer(t, nil)
	hc := &http.Client{}
	c := NewClient(WithHTTPClient(hc), WithUserAgent("test-agent"))
	if hc.CheckRedirect != nil {
		t.Error("NewClient changed the caller's http.Client")
	}
	if _, err := c.Fetch(t.Context(), Config{URL: srv.URL, Records: "data", Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}, ""); err != nil {
		t.Fatal(err)
	}
}

// TestFetchSendsSecretsOnlyToBoundHosts: a reference the operator did not
// bind, or bound to another host, sends nothing and fails as invalid
// request naming the variable and the host, never the value.
func TestFetchSendsSecretsOnlyToBoundHosts(t *testing.T) {
	srv, rec := headerServer(t, nil)
	u, _ := url.Parse(srv.URL)
	lookup := func(string) (string, bool) { return "v4lue-canary", true }
	cfg := Config{URL: srv.URL, Headers: map[string]string{"X-Canary": "${CANARY}"}, Records: "data", Key: "id",
		Pagination: Pagination{Type: PaginationLinkHeader}}
	for name, r := range map[string]*secrets.Resolver{
		"no resolver": nil,
		"unbound":     secrets.New(secrets.Bindings{"OTHER": {"127.0.0.1"}}, lookup),
		"other host":  secrets.New(secrets.Bindings{"CANARY": {"api.example.com"}}, lookup),
		"other port":  secrets.New(secrets.Bindings{"CANARY": {"127.0.0.1:1"}}, lookup),
	} {
		_, err := NewClient(WithSecrets(r)).Fetch(t.Context(), cfg, "")
		e := classified(t, err, sferrors.InvalidRequest)
		msg := e.Error()
		if !strings.Contains(msg, "${CANARY}") || !strings.Contains(msg, u.Host) || strings.Contains(msg, "v4lue") {
			t.Errorf("%s: error %q: want the variable and host %s, no value", name, msg, u.Host)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d requests were sent", n)
	}
	r := secrets.New(secrets.Bindings{"CANARY": {"127.0.0.1:" + u.Port()}}, lookup)
	if _, err := NewClient(WithSecrets(r)).Fetch(t.Context(), cfg, ""); err != nil {
		t.Fatal(err)
	}
	if got := rec.all()[0].Header.Get("X-Canary"); got != "v4lue-canary" {
		t.Errorf("bound host got X-Canary %q", got)
	}
}

// TestClientKeepsAWindowOfConnections fetches rounds of concurrency pages at
// once (the handler answers none of a round before all of it has arrived,
// so each round needs that many connections): the Client keeps them all
// between rounds. http.DefaultTransport keeps 2 idle connections per host,
// so a window of 8 pages opened 6 new ones (a TLS handshake each, against a
// real API) every round.
func TestClientKeepsAWindowOfConnections(t *testing.T) {
	const concurrency, rounds = 8, 10
	var conns atomic.Int64
	arrived := make(chan struct{}, concurrency)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		writeJSON(t, w, dataset(0, 1))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := NewClient()
	cfg := Config{URL: srv.URL, Key: "id", Pagination: Pagination{Type: PaginationLinkHeader}}
	for range rounds {
		errs := make(chan error, concurrency)
		for range concurrency {
			go func() {
				_, err := c.Fetch(t.Context(), cfg, "")
				errs <- err
			}()
		}
		for range concurrency {
			<-arrived
		}
		for range concurrency {
			release <- struct{}{}
		}
		for range concurrency {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	// A request may dial while an idle connection is on its way back to
	// the pool; far fewer than the 8 + 6 × 9 of the default transport.
	if n := conns.Load(); n > 2*concurrency {
		t.Errorf("%d connections for %d rounds of %d pages at once, want at most %d", n, rounds, concurrency, 2*concurrency)
	}
	t.Logf("%d connections for %d rounds of %d pages at once", conns.Load(), rounds, concurrency)
}
