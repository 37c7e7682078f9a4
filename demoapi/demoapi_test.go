package demoapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/source"
)

// start serves a Server for opts on a real listener.
func start(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

// fakeClock is a settable clock for the server's rate limiter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// get fetches rawURL and returns the response with its body read.
func get(t *testing.T, client *http.Client, rawURL string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// field returns the top-level JSON field name of body ("" = the body).
func field(t *testing.T, body []byte, name string) json.RawMessage {
	t.Helper()
	if name == "" {
		return body
	}
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	return m[name]
}

var nextLinkRE = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// walk syncs a whole dataset the way a generic client configured by cfg
// would, with plain net/http, and returns the record keys in order.
func walk(t *testing.T, cfg source.Config, pageSize int) []string {
	t.Helper()
	p := cfg.Pagination
	first, err := url.Parse(cfg.URL)
	require.NoError(t, err)
	q := first.Query()
	q.Set(p.SizeParam, strconv.Itoa(pageSize))
	first.RawQuery = q.Encode()

	var keys []string
	next := first.String()
	for page, offset := 1, 0; next != ""; {
		require.Less(t, len(keys), 1_000_000, "walk does not end")
		resp, body := get(t, http.DefaultClient, next, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var records []struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(field(t, body, cfg.Records), &records))
		for _, r := range records {
			keys = append(keys, r.ID)
		}
		next = ""
		switch p.Type {
		case source.PaginationCursor:
			var c *string
			require.NoError(t, json.Unmarshal(field(t, body, p.Next), &c))
			if c != nil {
				u := *first
				q := u.Query()
				q.Set(p.Param, *c)
				u.RawQuery = q.Encode()
				next = u.String()
			}
		case source.PaginationNextURL:
			var n *string
			require.NoError(t, json.Unmarshal(field(t, body, p.Next), &n))
			if n != nil {
				next = *n
			}
		case source.PaginationLinkHeader:
			if m := nextLinkRE.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
				next = m[1]
			}
		case source.PaginationPage, source.PaginationOffset:
			var total int
			require.NoError(t, json.Unmarshal(field(t, body, p.Total), &total))
			page++
			offset += len(records)
			if len(records) > 0 && offset < total {
				u := *first
				q := u.Query()
				if p.Type == source.PaginationPage {
					q.Set(p.Param, strconv.Itoa(page))
				} else {
					q.Set(p.Param, strconv.Itoa(offset))
				}
				u.RawQuery = q.Encode()
				next = u.String()
			}
		}
	}
	return keys
}

func TestPaginationWalksToTheEnd(t *testing.T) {
	tests := []struct {
		pagination string
		total      int
		pageSize   int
	}{
		{source.PaginationCursor, 253, 37},
		{source.PaginationCursor, 0, 10},
		{source.PaginationNextURL, 253, 37},
		{source.PaginationLinkHeader, 253, 50},
		{source.PaginationPage, 253, 37},
		{source.PaginationPage, 200, 100},
		{source.PaginationOffset, 253, 37},
		{source.PaginationOffset, 1500, 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d/%d", tt.pagination, tt.total, tt.pageSize), func(t *testing.T) {
			s, hs := start(t, Options{Seed: 1, Datasets: []DatasetSpec{{ID: "ds", Pagination: tt.pagination, Total: tt.total}}})
			cfg := s.SourceConfig(hs.URL, "ds")
			require.NoError(t, cfg.Validate())
			keys := walk(t, cfg, tt.pageSize)
			distinct := map[string]bool{}
			for _, k := range keys {
				distinct[k] = true
			}
			assert.Len(t, keys, tt.total, "records served")
			assert.Len(t, distinct, tt.total, "distinct keys")
			if tt.total > 0 {
				assert.Equal(t, "ds-000001", keys[0])
				assert.Equal(t, fmt.Sprintf("ds-%06d", tt.total), keys[len(keys)-1])
			}
			st := s.Stats("ds")
			assert.Equal(t, st.Requests, st.OK)
			assert.Positive(t, st.OK)
		})
	}
}

func TestSourceConfigIsValidForDefaults(t *testing.T) {
	s := New(Options{Faults: Faults{Token: "t0k"}})
	infos := s.Datasets()
	require.Len(t, infos, 5)
	types := map[string]bool{}
	limited := 0
	for _, info := range infos {
		types[info.Pagination] = true
		if info.RPS > 0 {
			limited++
		}
		cfg := s.SourceConfig("http://demo:8080/", info.ID)
		assert.NoError(t, cfg.Validate(), info.ID)
		assert.Equal(t, "http://demo:8080"+info.Path, cfg.URL)
		assert.Equal(t, "Bearer ${DEMOAPI_TOKEN}", cfg.Headers["Authorization"])
	}
	assert.Len(t, types, 5, "one dataset per pagination type")
	assert.Equal(t, 1, limited)
	assert.Zero(t, s.SourceConfig("http://demo", "nope").URL)
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, hs := start(t, Options{
		Datasets: []DatasetSpec{{ID: "ds", Pagination: source.PaginationOffset, Total: 10, RPS: 2, Burst: 3}},
		Clock:    clock.Now,
	})
	u := hs.URL + "/datasets/ds/records"
	steps := []struct {
		status     int
		rateLimit  string
		retryAfter string
	}{
		{http.StatusOK, `"default";r=2;t=1`, ""},
		{http.StatusOK, `"default";r=1;t=1`, ""},
		{http.StatusOK, `"default";r=0;t=2`, ""},
		{http.StatusTooManyRequests, `"default";r=0;t=1`, "1"},
		{http.StatusTooManyRequests, `"default";r=0;t=1`, "1"},
	}
	for i, step := range steps {
		resp, body := get(t, http.DefaultClient, u, nil)
		assert.Equal(t, step.status, resp.StatusCode, "request %d: %s", i, body)
		assert.Equal(t, step.rateLimit, resp.Header.Get("RateLimit"), "request %d", i)
		assert.Equal(t, step.retryAfter, resp.Header.Get("Retry-After"), "request %d", i)
		assert.Equal(t, `"default";q=2;w=1`, resp.Header.Get("RateLimit-Policy"), "request %d", i)
	}
	clock.Advance(time.Second) // two tokens back
	resp, _ := get(t, http.DefaultClient, u, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	st := s.Stats("ds")
	assert.Equal(t, int64(6), st.Requests)
	assert.Equal(t, int64(4), st.OK)
	assert.Equal(t, int64(2), st.RateLimited)
	assert.Equal(t, clock.Now(), st.LastRequest)
}

func TestPolicyForSlowRates(t *testing.T) {
	tests := []struct {
		rps       float64
		q, window int
	}{{10, 10, 1}, {2.4, 2, 1}, {0.5, 1, 2}, {0.1, 1, 10}}
	for _, tt := range tests {
		q, w := policy(tt.rps)
		assert.Equal(t, []int{tt.q, tt.window}, []int{q, w}, "rps %g", tt.rps)
	}
}

// noReuse is a client that never retries a request on a reused connection,
// so that each injected fault is seen exactly once.
func noReuse() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		kind   FaultKind
		faults Faults
		check  func(t *testing.T, resp *http.Response, err error)
	}{
		{Fault500, Faults{P500: 1}, func(t *testing.T, resp *http.Response, err error) {
			require.NoError(t, err)
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		}},
		{Fault503, Faults{P503: 1}, func(t *testing.T, resp *http.Response, err error) {
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.Empty(t, resp.Header.Get("Retry-After"))
		}},
		{FaultReset, Faults{PReset: 1}, func(t *testing.T, resp *http.Response, err error) {
			assert.Error(t, err, "the connection must be dropped without an answer")
		}},
		{FaultTruncate, Faults{PTruncate: 1}, func(t *testing.T, resp *http.Response, err error) {
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			body, err := io.ReadAll(resp.Body)
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.Less(t, int64(len(body)), resp.ContentLength)
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/always", func(t *testing.T) {
			s, hs := start(t, Options{
				Datasets: []DatasetSpec{{ID: "ds", Pagination: source.PaginationCursor, Total: 50}},
				Faults:   tt.faults,
			})
			resp, err := noReuse().Get(hs.URL + "/datasets/ds/records?limit=20")
			tt.check(t, resp, err)
			if resp != nil {
				resp.Body.Close()
			}
			assert.Equal(t, map[FaultKind]int64{tt.kind: 1}, s.Stats("ds").Faults)
		})
	}
	t.Run("never", func(t *testing.T) {
		s, hs := start(t, Options{Datasets: []DatasetSpec{{ID: "ds", Pagination: source.PaginationCursor, Total: 50}}})
		client := noReuse()
		for i := range 20 {
			resp, body := get(t, client, hs.URL+"/datasets/ds/records?limit="+strconv.Itoa(i+1), nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			var page struct{ Data []Record }
			require.NoError(t, json.Unmarshal(body, &page))
			assert.Len(t, page.Data, i+1)
		}
		st := s.Stats("ds")
		assert.Empty(t, st.Faults)
		assert.Equal(t, int64(20), st.OK)
	})
}

func TestFaultsAreBoundedPerPage(t *testing.T) {
	s, hs := start(t, Options{
		Datasets: []DatasetSpec{{ID: "ds", Pagination: source.PaginationPage, Total: 50}},
		Faults:   Faults{P500: 1, MaxConsecutive: 2},
	})
	var got []int
	for range 6 {
		resp, _ := get(t, http.DefaultClient, hs.URL+"/datasets/ds/records?page=1", nil)
		got = append(got, resp.StatusCode)
	}
	assert.Equal(t, []int{500, 500, 200, 500, 500, 200}, got)
	assert.Equal(t, int64(4), s.Stats("ds").Faults[Fault500])
}

func TestFaultsAreReproducible(t *testing.T) {
	run := func(seed uint64) []int {
		_, hs := start(t, Options{
			Seed:     seed,
			Datasets: []DatasetSpec{{ID: "ds", Pagination: source.PaginationOffset, Total: 1000}},
			Faults:   Faults{P500: 0.3, P503: 0.2},
		})
		var statuses []int
		for i := range 40 {
			resp, _ := get(t, http.DefaultClient, fmt.Sprintf("%s/datasets/ds/records?offset=%d&limit=10", hs.URL, (i%20)*10), nil)
			statuses = append(statuses, resp.StatusCode)
		}
		return statuses
	}
	a := run(42)
	assert.Equal(t, a, run(42), "same seed, same faults")
	assert.Contains(t, a, http.StatusOK)
	assert.Contains(t, a, http.StatusInternalServerError)
}

func TestPoisonPage(t *testing.T) {
	s, hs := start(t, Options{
		Datasets: []DatasetSpec{{ID: "ds", Pagination: source.PaginationOffset, Total: 100}},
		Faults:   Faults{PoisonPage: map[string]PoisonSpec{"ds": {Page: 2, Status: http.StatusUnprocessableEntity}}},
	})
	tests := []struct {
		offset int
		status int
	}{{0, 200}, {10, 422}, {10, 422}, {20, 200}}
	for _, tt := range tests {
		resp, body := get(t, http.DefaultClient, fmt.Sprintf("%s/datasets/ds/records?offset=%d&limit=10", hs.URL, tt.offset), nil)
		assert.Equal(t, tt.status, resp.StatusCode, "offset %d", tt.offset)
		if tt.status != http.StatusOK {
			assert.Contains(t, string(body), `"error":"page 2 of dataset \"ds\" is poisoned"`)
		}
	}
	assert.Equal(t, int64(2), s.Stats("ds").Faults[FaultPoison])
}

func TestToken(t *testing.T) {
	s, hs := start(t, Options{
		Datasets: []DatasetSpec{{ID: "ds", Pagination: source.PaginationCursor, Total: 5}},
		Faults:   Faults{Token: "s3cret"},
	})
	tests := []struct {
		name   string
		path   string
		auth   string
		status int
	}{
		{"records without token", "/datasets/ds/records", "", http.StatusUnauthorized},
		{"records with wrong token", "/datasets/ds/records", "Bearer nope", http.StatusUnauthorized},
		{"records with token not bearer", "/datasets/ds/records", "s3cret", http.StatusUnauthorized},
		{"records with token", "/datasets/ds/records", "Bearer s3cret", http.StatusOK},
		{"list without token", "/datasets", "", http.StatusUnauthorized},
		{"list with token", "/datasets", "Bearer s3cret", http.StatusOK},
		{"healthz needs none", "/healthz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			resp, body := get(t, http.DefaultClient, hs.URL+tt.path, h)
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.status == http.StatusUnauthorized {
				assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
				assert.NotContains(t, string(body), "s3cret")
			}
		})
	}
	assert.Equal(t, int64(3), s.Stats("ds").Unauthorized)
}

func TestDeterminism(t *testing.T) {
	fetch := func(seed uint64) []byte {
		_, hs := start(t, Options{Seed: seed})
		_, body := get(t, http.DefaultClient, hs.URL+"/datasets/invoices/records?page=3&page_size=20", nil)
		return body
	}
	a := fetch(7)
	assert.Equal(t, string(a), string(fetch(7)), "same seed, same records")
	assert.NotEqual(t, string(a), string(fetch(8)), "another seed, other records")
	var page struct {
		Items []Record
		Total int
	}
	require.NoError(t, json.Unmarshal(a, &page))
	require.Len(t, page.Items, 20)
	assert.Equal(t, "invoices-000041", page.Items[0].ID)
	assert.Equal(t, 41, page.Items[0].N)
	assert.Equal(t, 1200, page.Total)
	assert.Equal(t, makeRecord(7, "invoices", hashString("invoices"), 41), page.Items[0])
}

func TestErrorsAndListing(t *testing.T) {
	s, hs := start(t, Options{})
	tests := []struct {
		name   string
		path   string
		status int
		body   string
	}{
		{"unknown dataset", "/datasets/nope/records", 404, `"error":"unknown dataset \"nope\""`},
		{"unknown endpoint", "/nope", 404, `"error":"no such endpoint`},
		{"bad limit", "/datasets/orders/records?limit=abc", 400, `invalid limit \"abc\"`},
		{"zero page size", "/datasets/invoices/records?page_size=0", 400, `invalid page_size`},
		{"bad cursor", "/datasets/orders/records?cursor=zzz", 400, `invalid cursor`},
		{"cursor of another dataset", "/datasets/orders/records?cursor=" + encodeToken("events", 10), 400, `invalid cursor`},
		{"bad page", "/datasets/invoices/records?page=0", 400, `invalid page`},
		{"bad offset", "/datasets/events/records?offset=-1", 400, `invalid offset`},
		{"healthz", "/healthz", 200, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, http.DefaultClient, hs.URL+tt.path, nil)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, string(body), tt.body)
		})
	}

	t.Run("page size is capped", func(t *testing.T) {
		_, body := get(t, http.DefaultClient, hs.URL+"/datasets/events/records?limit=5000", nil)
		var page struct{ Results []Record }
		require.NoError(t, json.Unmarshal(body, &page))
		assert.Len(t, page.Results, MaxPageSize)
	})

	t.Run("list", func(t *testing.T) {
		_, body := get(t, http.DefaultClient, hs.URL+"/datasets", nil)
		var list struct{ Datasets []DatasetInfo }
		require.NoError(t, json.Unmarshal(body, &list))
		assert.Equal(t, s.Datasets(), list.Datasets)
	})
}

func TestOptionsValidate(t *testing.T) {
	ok := []DatasetSpec{{ID: "a", Pagination: source.PaginationPage, Total: 1}}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"unknown pagination", Options{Datasets: []DatasetSpec{{ID: "a", Pagination: "pages"}}}, `unknown pagination "pages"`},
		{"duplicate id", Options{Datasets: append(ok, ok...)}, `duplicate id "a"`},
		{"unsafe id", Options{Datasets: []DatasetSpec{{ID: "a/b", Pagination: "page"}}}, `id "a/b"`},
		{"probability", Options{Datasets: ok, Faults: Faults{P503: 1.5}}, "P503"},
		{"poison status", Options{Datasets: ok, Faults: Faults{PoisonPage: map[string]PoisonSpec{"a": {Page: 1, Status: 500}}}}, "status 400 or 422"},
		{"poison dataset", Options{Datasets: ok, Faults: Faults{PoisonPage: map[string]PoisonSpec{"b": {Page: 1, Status: 400}}}}, `unknown dataset "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorContains(t, tt.opts.Validate(), tt.want)
			assert.Panics(t, func() { New(tt.opts) })
		})
	}
	assert.NoError(t, Options{Datasets: DefaultDatasets()}.Validate())
}
