// Package demoapi is a deterministic demo source API: an http.Handler serving
// synthetic datasets over every pagination type syncflow supports, with a
// per-dataset server-side rate limit and reproducible fault injection. The
// demo, the tests and docker-compose sync from it.
//
// Every dataset is served at GET /datasets/{id}/records; GET /datasets lists
// them and GET /healthz answers "ok". Records derive from their number and
// Options.Seed only, so two servers with the same seed serve the same bytes.
package demoapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/syncflow/syncflow/source"
)

// Page sizes: the limit or page_size query parameter, capped at MaxPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// DefaultTokenEnv is the environment variable that SourceConfig's
// Authorization header refers to when the server requires a token.
const DefaultTokenEnv = "DEMOAPI_TOKEN"

// DefaultMaxConsecutive is how many times in a row a page request may fail by
// injected fault before it is let through.
const DefaultMaxConsecutive = 3

// DatasetSpec describes one dataset the server serves.
type DatasetSpec struct {
	ID         string  // safe identifier: letters, digits, '_', '.', '-'
	Pagination string  // one of the source.Pagination* types
	Total      int     // number of records
	RPS        float64 // server-side rate limit in requests per second; 0 = unlimited
	Burst      int     // token bucket size; 0 = 1 when RPS > 0
}

// PoisonSpec makes one page of a dataset always fail with Status.
type PoisonSpec struct {
	Page   int // 1-based page number (offset / page size + 1 for non-page types)
	Status int // 400 or 422
}

// Faults are the failures the server injects. Probabilities are per record
// request, drawn from a PCG generator seeded with Options.Seed, the dataset,
// the page and the attempt, so that a run is reproducible. A page request
// fails by P500/P503/PReset/PTruncate at most MaxConsecutive times in a row,
// so that a client that retries always finishes.
type Faults struct {
	P500      float64 // answer 500 Internal Server Error
	P503      float64 // answer 503 Service Unavailable (without Retry-After)
	PReset    float64 // hijack the connection and reset it without answering
	PTruncate float64 // declare the full Content-Length, send half the body, close
	// Latency delays every record request.
	Latency time.Duration
	// PoisonPage maps a dataset ID to a page that always fails: a permanent
	// invalid-request answer, never retried into success.
	PoisonPage map[string]PoisonSpec
	// Token, when set, is the bearer token every request but /healthz needs
	// (401 without it).
	Token string
	// MaxConsecutive bounds the injected faults in a row for one page
	// request; 0 means DefaultMaxConsecutive.
	MaxConsecutive int
}

// Options configure a Server.
type Options struct {
	// Seed makes records and faults reproducible.
	Seed uint64
	// Datasets to serve; nil means DefaultDatasets().
	Datasets []DatasetSpec
	// Faults to inject; the zero value injects none.
	Faults Faults
	// TokenEnv is the environment variable SourceConfig refers to for the
	// token; "" means DefaultTokenEnv.
	TokenEnv string
	// Clock is the server's clock for rate limiting and Stats; nil means
	// time.Now. Tests freeze it to make the limiter exact.
	Clock func() time.Time
}

// FaultKind names a kind of injected fault in Stats.
type FaultKind string

// Fault kinds.
const (
	Fault500      FaultKind = "500"
	Fault503      FaultKind = "503"
	FaultReset    FaultKind = "reset"
	FaultTruncate FaultKind = "truncate"
	FaultPoison   FaultKind = "poison"
)

// DatasetInfo describes a served dataset (GET /datasets).
type DatasetInfo struct {
	ID         string  `json:"id"`
	Total      int     `json:"total"`
	Pagination string  `json:"pagination"`
	Path       string  `json:"path"` // e.g. /datasets/orders/records
	RPS        float64 `json:"rps,omitempty"`
	Burst      int     `json:"burst,omitempty"`
}

// Stats count what a dataset's record endpoint answered.
type Stats struct {
	Requests     int64               // record requests received
	OK           int64               // answered 200 with a page
	RateLimited  int64               // answered 429
	Unauthorized int64               // answered 401
	BadRequests  int64               // answered 400 for invalid parameters
	Faults       map[FaultKind]int64 // injected faults by kind
	FirstRequest time.Time           // zero when none
	LastRequest  time.Time           // zero when none
}

// DefaultDatasets is the demo set: one dataset per pagination type, 300 to
// 2,000 records, "events" rate-limited at 10 requests per second.
func DefaultDatasets() []DatasetSpec {
	return []DatasetSpec{
		{ID: "orders", Pagination: source.PaginationCursor, Total: 2000},
		{ID: "customers", Pagination: source.PaginationNextURL, Total: 500},
		{ID: "products", Pagination: source.PaginationLinkHeader, Total: 300},
		{ID: "invoices", Pagination: source.PaginationPage, Total: 1200},
		{ID: "events", Pagination: source.PaginationOffset, Total: 1500, RPS: 10, Burst: 5},
	}
}

// Validate reports what is wrong with o, all at once.
func (o Options) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range o.Datasets {
		switch {
		case d.ID == "" || len(d.ID) > 64 || strings.Trim(d.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != "":
			errs = append(errs, fmt.Errorf("dataset %d: id %q must be 1-64 letters, digits, '_', '.' or '-'", i, d.ID))
		case seen[d.ID]:
			errs = append(errs, fmt.Errorf("dataset %d: duplicate id %q", i, d.ID))
		}
		seen[d.ID] = true
		if !slices.Contains(paginationTypes, d.Pagination) {
			errs = append(errs, fmt.Errorf("dataset %q: unknown pagination %q (want one of %s)", d.ID, d.Pagination, strings.Join(paginationTypes, ", ")))
		}
		if d.Total < 0 || d.RPS < 0 || math.IsNaN(d.RPS) || math.IsInf(d.RPS, 0) || d.Burst < 0 {
			errs = append(errs, fmt.Errorf("dataset %q: total, rps and burst must be >= 0", d.ID))
		}
	}
	f := o.Faults
	for name, p := range map[string]float64{"P500": f.P500, "P503": f.P503, "PReset": f.PReset, "PTruncate": f.PTruncate} {
		if p < 0 || p > 1 || math.IsNaN(p) {
			errs = append(errs, fmt.Errorf("fault probability %s must be within [0, 1]", name))
		}
	}
	if f.Latency < 0 || f.MaxConsecutive < 0 {
		errs = append(errs, errors.New("fault latency and max consecutive must be >= 0"))
	}
	for id, ps := range f.PoisonPage {
		if o.Datasets != nil && !seen[id] {
			errs = append(errs, fmt.Errorf("poison page: unknown dataset %q", id))
		}
		if ps.Page < 1 || (ps.Status != http.StatusBadRequest && ps.Status != http.StatusUnprocessableEntity) {
			errs = append(errs, fmt.Errorf("poison page of %q: want page >= 1 and status 400 or 422", id))
		}
	}
	return errors.Join(errs...)
}

var paginationTypes = []string{
	source.PaginationCursor, source.PaginationNextURL, source.PaginationLinkHeader,
	source.PaginationPage, source.PaginationOffset,
}

// Server is the demo API. It implements http.Handler.
type Server struct {
	opts     Options
	now      func() time.Time
	maxFails int
	mux      *http.ServeMux
	datasets map[string]*dataset
	order    []string
}

// dataset is one served dataset and its mutable state.
type dataset struct {
	spec    DatasetSpec
	hash    uint64
	limiter *rate.Limiter // nil when unlimited

	mu    sync.Mutex
	stats Stats
	pages map[string]*pageState // by page request, for reproducible faults
}

// pageState counts the attempts at one page request.
type pageState struct {
	attempts    uint64
	consecutive int
}

// New returns a Server for opts. It panics if opts.Validate fails: options
// are the program's, and a main validates flags with Options.Validate first.
func New(opts Options) *Server {
	if opts.Datasets == nil {
		opts.Datasets = DefaultDatasets()
	}
	if err := opts.Validate(); err != nil {
		panic("demoapi: invalid options: " + err.Error())
	}
	s := &Server{
		opts:     opts,
		now:      opts.Clock,
		maxFails: opts.Faults.MaxConsecutive,
		mux:      http.NewServeMux(),
		datasets: map[string]*dataset{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxFails == 0 {
		s.maxFails = DefaultMaxConsecutive
	}
	if s.opts.TokenEnv == "" {
		s.opts.TokenEnv = DefaultTokenEnv
	}
	for _, spec := range opts.Datasets {
		d := &dataset{spec: spec, hash: hashString(spec.ID), pages: map[string]*pageState{}}
		d.stats.Faults = map[FaultKind]int64{}
		if spec.RPS > 0 {
			burst := spec.Burst
			if burst == 0 {
				burst = 1
			}
			d.spec.Burst = burst
			d.limiter = rate.NewLimiter(rate.Limit(spec.RPS), burst)
		}
		s.datasets[spec.ID] = d
		s.order = append(s.order, spec.ID)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /datasets", s.handleList)
	s.mux.HandleFunc("GET /datasets/{id}/records", s.handleRecords)
	s.mux.HandleFunc("GET /datasets/{id}/stats", s.handleStats)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: want GET /datasets/{id}/records, GET /datasets or GET /healthz")
	})
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Datasets describes the served datasets in their configured order.
func (s *Server) Datasets() []DatasetInfo {
	infos := make([]DatasetInfo, 0, len(s.order))
	for _, id := range s.order {
		d := s.datasets[id]
		infos = append(infos, DatasetInfo{
			ID: id, Total: d.spec.Total, Pagination: d.spec.Pagination,
			Path: recordsPath(id), RPS: d.spec.RPS, Burst: d.spec.Burst,
		})
	}
	return infos
}

func recordsPath(id string) string { return "/datasets/" + id + "/records" }

// Stats returns a snapshot of a dataset's counters; the zero Stats for an
// unknown dataset.
func (s *Server) Stats(dataset string) Stats {
	d, ok := s.datasets[dataset]
	if !ok {
		return Stats{Faults: map[FaultKind]int64{}}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stats
	st.Faults = make(map[FaultKind]int64, len(d.stats.Faults))
	for k, v := range d.stats.Faults {
		st.Faults[k] = v
	}
	return st
}

// SourceConfig returns the source configuration that syncs dataset from a
// server reachable at baseURL (e.g. "http://127.0.0.1:8080"): URL, records
// and key paths, pagination, and an Authorization header referring to the
// token's environment variable when a token is required. It returns the zero
// Config for an unknown dataset.
func (s *Server) SourceConfig(baseURL, dataset string) source.Config {
	d, ok := s.datasets[dataset]
	if !ok {
		return source.Config{}
	}
	c := source.Config{
		URL: strings.TrimRight(baseURL, "/") + recordsPath(dataset),
		Key: "id",
	}
	if s.opts.Faults.Token != "" {
		c.Headers = map[string]string{"Authorization": "Bearer ${" + s.opts.TokenEnv + "}"}
	}
	p := source.Pagination{Type: d.spec.Pagination, SizeParam: "limit", PageSize: DefaultPageSize}
	switch d.spec.Pagination {
	case source.PaginationCursor:
		c.Records, p.Param, p.Next = "data", "cursor", "next_cursor"
	case source.PaginationNextURL:
		c.Records, p.Next = "data", "next"
	case source.PaginationLinkHeader:
		c.Records = "" // the body is the array
	case source.PaginationPage:
		c.Records, p.Param, p.SizeParam, p.Total = "items", "page", "page_size", "total"
	case source.PaginationOffset:
		c.Records, p.Param, p.Total = "results", "offset", "total"
	}
	c.Pagination = p
	return c
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Faults.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Faults.Token)) == 1
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		writeUnauthorized(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"datasets": s.Datasets()})
}

// writeJSON writes v with an exact Content-Length.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "status": status})
}

func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="demoapi"`)
	writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
}
