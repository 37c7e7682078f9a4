package chaos_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/tests/faultproxy"
)

// The random schedules' source (random_test.go): the demo API (one dataset
// per planned sync, some with a poisoned page) and an incremental API of the
// test's own, served by one HTTP server without keep-alives behind a
// faultproxy, so that every request has a connection of its own and a fault
// set on the proxy hits the next requests. A gate in front of both answers
// scheduled bursts of 429 and 5xx. Every request must carry the bearer
// token, a secret that must never reach the server's database or a log.

// chaosPageSize is the page size of every dataset of a schedule.
const chaosPageSize = 10

// incPath is the records endpoint of the incremental API.
const incPath = "/inc/records"

// chaosSource is the source of one schedule.
type chaosSource struct {
	api   *demoapi.Server
	inc   *incSource
	token string
	proxy *faultproxy.Proxy
	url   string // the proxy's base URL, which the datasets name

	// slow delays every request while the faults are being injected, so
	// that the syncs are still running when they land (heal sets it to 0).
	slow atomic.Int64

	mu       sync.Mutex
	left429  int // requests still to answer 429
	left5xx  int // requests still to answer 5xx
	answered map[int]int
}

// newChaosSource serves datasets (and the incremental API) for the test.
func newChaosSource(t *testing.T, token string, datasets []demoapi.DatasetSpec, poison map[string]demoapi.PoisonSpec, incRecords int) *chaosSource {
	t.Helper()
	s := &chaosSource{
		api: demoapi.New(demoapi.Options{
			Seed:     11,
			Datasets: datasets,
			Faults:   demoapi.Faults{Latency: 40 * time.Millisecond, PoisonPage: poison, Token: token},
		}),
		inc:      newIncSource(incRecords),
		token:    token,
		answered: map[int]int{},
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	t.Cleanup(srv.Close)
	p, err := faultproxy.New(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	s.proxy = p
	s.url = "http://" + p.Addr()
	return s
}

func (s *chaosSource) serve(w http.ResponseWriter, r *http.Request) {
	if d := time.Duration(s.slow.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if status, ok := s.gate(); ok {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		http.Error(w, "scheduled fault", status)
		return
	}
	if r.URL.Path == incPath {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		s.inc.serve(w, r)
		return
	}
	s.api.ServeHTTP(w, r)
}

// gate takes the next scheduled 429 or 5xx answer, if any.
func (s *chaosSource) gate() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.left429 > 0:
		s.left429--
		s.answered[http.StatusTooManyRequests]++
		return http.StatusTooManyRequests, true
	case s.left5xx > 0:
		status := http.StatusInternalServerError
		if s.left5xx%2 == 0 {
			status = http.StatusServiceUnavailable
		}
		s.left5xx--
		s.answered[status]++
		return status, true
	}
	return 0, false
}

// burst makes the next n requests answer status 429 (Retry-After: 1), or
// 500 and 503 alternately for any other status.
func (s *chaosSource) burst(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == http.StatusTooManyRequests {
		s.left429 += n
	} else {
		s.left5xx += n
	}
}

// pending reports whether a burst is still to be answered.
func (s *chaosSource) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.left429 > 0 || s.left5xx > 0
}

// calm ends every burst still pending and the slow mode.
func (s *chaosSource) calm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left429, s.left5xx = 0, 0
	s.slow.Store(0)
}

// scheduledAnswers counts the 429 and 5xx answers the gate gave.
func (s *chaosSource) scheduledAnswers() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.answered)
}

// dataset is the configuration of a demo dataset, through the proxy.
func (s *chaosSource) dataset(id string) config.Dataset {
	cfg := s.api.SourceConfig(s.url, id)
	cfg.Pagination.PageSize = chaosPageSize
	return config.Dataset{ID: id, Source: cfg}
}

// records is every record of a demo dataset as the API serves it: key →
// decoded JSON object, asked of the API itself (not through the proxy).
func (s *chaosSource) records(t *testing.T, id string) map[string]map[string]any {
	t.Helper()
	cfg := s.api.SourceConfig("http://api", id)
	req := httptest.NewRequest(http.MethodGet, "/datasets/"+id+"/records?limit=1000&page_size=1000", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var items []map[string]any
	if cfg.Records == "" {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &items))
	} else {
		var body map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		require.NoError(t, json.Unmarshal(body[cfg.Records], &items))
	}
	out := make(map[string]map[string]any, len(items))
	for _, it := range items {
		out[it["id"].(string)] = it
	}
	return out
}

// --- the incremental API ---

// incBase is time zero of the incremental API's logical clock.
var incBase = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// incSource is an API whose records change between runs: in id order,
// filtered by updated_since (updated_at >= it), paginated by page number
// with a reported total. Each change moves a logical clock one second on
// and stamps the changed record with it.
type incSource struct {
	mu   sync.Mutex
	recs map[int]incRecord
	tick int
	next int
}

// incRecord is one record of the incremental API.
type incRecord struct {
	ID        string `json:"id"`
	UpdatedAt string `json:"updated_at"`
	V         int    `json:"v"`
}

func newIncSource(n int) *incSource {
	s := &incSource{recs: map[int]incRecord{}, next: 1}
	s.insert(n)
	return s
}

func (s *incSource) stamp() string {
	s.tick++
	return incBase.Add(time.Duration(s.tick) * time.Second).Format(time.RFC3339)
}

// insert adds n records.
func (s *incSource) insert(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.recs[s.next] = incRecord{ID: fmt.Sprintf("inc-%04d", s.next), UpdatedAt: s.stamp()}
		s.next++
	}
}

// update changes the records with the given numbers.
func (s *incSource) update(ns ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range ns {
		if r, ok := s.recs[n]; ok {
			r.V++
			r.UpdatedAt = s.stamp()
			s.recs[n] = r
		}
	}
}

// size is the number of records.
func (s *incSource) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// highest is the time of the latest change.
func (s *incSource) highest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return incBase.Add(time.Duration(s.tick) * time.Second)
}

// records is every record: key → decoded JSON object.
func (s *incSource) records() map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]any, len(s.recs))
	for _, r := range s.recs {
		out[r.ID] = map[string]any{"id": r.ID, "updated_at": r.UpdatedAt, "v": float64(r.V)}
	}
	return out
}

func (s *incSource) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, size := 1, chaosPageSize
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("page_size"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			http.Error(w, "bad updated_since", http.StatusBadRequest)
			return
		}
	}
	if page < 1 || size < 1 {
		http.Error(w, "bad page or page_size", http.StatusBadRequest)
		return
	}
	items := s.filtered(since)
	from, to := min((page-1)*size, len(items)), min(page*size, len(items))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"items": items[from:to], "total": len(items)})
}

// filtered is the records changed at or after since, in id order.
func (s *incSource) filtered(since time.Time) []incRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []incRecord
	for _, r := range s.recs {
		at, _ := time.Parse(time.RFC3339, r.UpdatedAt)
		if !at.Before(since) {
			items = append(items, r)
		}
	}
	slices.SortFunc(items, func(a, b incRecord) int { return strings.Compare(a.ID, b.ID) })
	return items
}

// incDataset is the configuration of the incremental dataset id.
func (s *chaosSource) incDataset(id string) config.Dataset {
	return config.Dataset{
		ID: id,
		Source: source.Config{
			URL:     s.url + incPath,
			Key:     "id",
			Records: "items",
			Headers: map[string]string{"Authorization": "Bearer ${" + demoapi.DefaultTokenEnv + "}"},
			Pagination: source.Pagination{
				Type: source.PaginationPage, Param: "page", SizeParam: "page_size",
				PageSize: chaosPageSize, Total: "total",
			},
		},
		Incremental: &config.Incremental{Field: "updated_at", Param: "updated_since"},
	}
}
