package integration_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/source"
)

// incBase is time zero of a changingSource's logical clock.
var incBase = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// incPageSize is the page size of a changingSource.
const incPageSize = 7

// incRecord is one record of a changingSource.
type incRecord struct {
	ID        int
	UpdatedAt int // tick of its last change
	V         int // changes with every update
}

// changingSource is an API whose records change between and during runs:
// records in id order, filtered by updated_since (updated_at >= it, an RFC
// 3339 time), paginated by page number (?page=N) or by a keyset cursor
// (?after=ID, next in the body). Each change moves a logical clock one
// second on and stamps the changed record with it.
type changingSource struct {
	t    *testing.T
	mode string // source.PaginationPage or source.PaginationCursor
	srv  *httptest.Server

	mu       sync.Mutex
	recs     map[int]incRecord
	tick     int
	nextID   int
	requests []url.Values
	// hook, if set, is called (outside the lock) before request n (1-based,
	// counted over the source's life) is answered; a status other than 0
	// is answered instead of the page.
	hook func(n int, q url.Values) int
}

func newChangingSource(t *testing.T, mode string, n int) *changingSource {
	s := &changingSource{t: t, mode: mode, recs: map[int]incRecord{}, nextID: 1}
	s.insert(n)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *changingSource) stamp() int { s.tick++; return s.tick }

// insert adds n records.
func (s *changingSource) insert(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.recs[s.nextID] = incRecord{ID: s.nextID, UpdatedAt: s.stamp()}
		s.nextID++
	}
}

// update changes records (an absent one is inserted again with its id).
func (s *changingSource) update(ids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		r := s.recs[id]
		s.recs[id] = incRecord{ID: id, UpdatedAt: s.stamp(), V: r.V + 1}
	}
}

// remove deletes records.
func (s *changingSource) remove(ids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.recs, id)
	}
}

// at is the time of a tick.
func at(tick int) time.Time { return incBase.Add(time.Duration(tick) * time.Second) }

// highest is the time of the source's latest change, RFC 3339.
func (s *changingSource) highest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := 0
	for _, r := range s.recs {
		m = max(m, r.UpdatedAt)
	}
	return at(m).Format(time.RFC3339Nano)
}

// snapshot is the source's records: key → v.
func (s *changingSource) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for id, r := range s.recs {
		m[strconv.Itoa(id)] = r.V
	}
	return m
}

// requestsSince returns the queries of the requests after the first n.
func (s *changingSource) requestsSince(n int) []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests[n:])
}

func (s *changingSource) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *changingSource) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.requests = append(s.requests, q)
	n, hook := len(s.requests), s.hook
	s.mu.Unlock()
	if hook != nil {
		if status := hook(n, q); status != 0 {
			http.Error(w, "scripted failure", status)
			return
		}
	}
	body, err := s.page(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// page answers one query.
func (s *changingSource) page(q url.Values) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	since := time.Time{}
	if v := q.Get("updated_since"); v != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("updated_since: %w", err)
		}
	}
	var ids []int
	for id, r := range s.recs {
		if !at(r.UpdatedAt).Before(since) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	start := 0
	if s.mode == source.PaginationPage {
		p, _ := strconv.Atoi(q.Get("page"))
		start = min(max(p-1, 0)*incPageSize, len(ids))
	} else if after := q.Get("after"); after != "" {
		a, _ := strconv.Atoi(after)
		start, _ = slices.BinarySearch(ids, a+1)
	}
	ids = ids[start:min(start+incPageSize, len(ids))]
	data := make([]map[string]any, len(ids))
	for i, id := range ids {
		r := s.recs[id]
		data[i] = map[string]any{"id": id, "updated_at": at(r.UpdatedAt).Format(time.RFC3339), "v": r.V}
	}
	body := map[string]any{"data": data}
	if s.mode == source.PaginationCursor && len(ids) == incPageSize {
		body["next"] = strconv.Itoa(ids[len(ids)-1])
	}
	return body, nil
}

// dataset is the source as a dataset: incremental on updated_at with a
// lookback of one second unless inc says otherwise (nil: a full dataset).
func (s *changingSource) dataset(id string, inc *config.Incremental, deletes string) config.Dataset {
	p := source.Pagination{Type: source.PaginationPage, Param: "page"}
	if s.mode == source.PaginationCursor {
		p = source.Pagination{Type: source.PaginationCursor, Param: "after", Next: "next"}
	}
	return config.Dataset{ID: id, Incremental: inc, Deletes: deletes, Source: source.Config{
		URL: s.srv.URL + "/items", Records: "data", Key: "id", Pagination: p}}
}

// byUpdatedAt is the usual incremental block of the tests.
func byUpdatedAt() *config.Incremental {
	return &config.Incremental{Field: "updated_at", Param: "updated_since", Lookback: "1s"}
}

// destRow is a stored record as the tests read it back.
type destRow struct {
	V      int
	Marked bool
}

// destination is where a test's worker writes: its default sink.
type destination struct {
	name string
	dsn  string // sqlite://PATH or postgres://...search_path=SCHEMA
	rows func(t *testing.T, dataset string) map[string]destRow
}

// destinations are the drivers the acceptance tests run against:
// SQLite, and PostgreSQL when SYNCFLOW_TEST_POSTGRES is set.
func destinations(t *testing.T) []string {
	if postgresDSN(t, false) == "" {
		return []string{"sqlite"}
	}
	return []string{"sqlite", "postgres"}
}

// newDestEnv is newEnv whose worker sink is the named driver's (a
// PostgreSQL destination in a schema of its own, dropped after the test).
func newDestEnv(t *testing.T, driver string) (*env, destination) {
	e := newEnv(t)
	d := destination{name: driver, dsn: "sqlite://" + e.sinkPath}
	if driver == "postgres" {
		d.dsn = pgSchema(t)
		s, err := engine.OpenSink(context.Background(), d.dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		e.sink = s
	}
	d.rows = func(t *testing.T, dataset string) map[string]destRow {
		return readRows(t, driver, d.dsn, e.sinkPath, dataset)
	}
	return e, d
}

// pgSchema creates a schema for the test and returns the DSN that uses it.
func pgSchema(t *testing.T) string {
	admin := postgresDSN(t, true)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "inc_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(context.Background(), admin)
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), `CREATE SCHEMA `+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		_ = conn.Close(context.Background())
	})
	sep := "?"
	if u, _ := url.Parse(admin); u != nil && u.RawQuery != "" {
		sep = "&"
	}
	return admin + sep + "search_path=" + schema
}

// readRows reads a dataset's records straight from the destination.
func readRows(t *testing.T, driver, dsn, sqlitePath, dataset string) map[string]destRow {
	t.Helper()
	const q = `SELECT key, CAST(data AS TEXT), deleted_at IS NOT NULL FROM syncflow_records WHERE dataset = `
	out := map[string]destRow{}
	add := func(key, data string, marked bool) {
		var rec struct{ V int }
		require.NoError(t, json.Unmarshal([]byte(data), &rec))
		_, dup := out[key]
		require.False(t, dup, "key %s stored twice", key)
		out[key] = destRow{V: rec.V, Marked: marked}
	}
	if driver == "postgres" {
		conn, err := pgx.Connect(context.Background(), dsn)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		rows, err := conn.Query(context.Background(), q+`$1`, dataset)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var k, data string
			var m bool
			require.NoError(t, rows.Scan(&k, &data, &m))
			add(k, data, m)
		}
		require.NoError(t, rows.Err())
		return out
	}
	db, err := sql.Open("sqlite", sqlitePath)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(q+`?`, dataset)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var k, data string
		var m bool
		require.NoError(t, rows.Scan(&k, &data, &m))
		add(k, data, m)
	}
	require.NoError(t, rows.Err())
	return out
}

// requireMirror asserts that the destination holds the source's records
// exactly (same keys, same data), plus the records of marked, each
// marked deleted, and no other.
func requireMirror(t *testing.T, d destination, dataset string, src *changingSource, marked ...int) {
	t.Helper()
	rows := d.rows(t, dataset)
	want := map[string]destRow{}
	for k, v := range src.snapshot() {
		want[k] = destRow{V: v}
	}
	for _, id := range marked {
		k := strconv.Itoa(id)
		require.NotContains(t, want, k, "record %s is at the source: it cannot be marked", k)
		got, ok := rows[k]
		require.True(t, ok, "marked record %s is gone", k)
		want[k] = destRow{V: got.V, Marked: true}
	}
	require.Equal(t, want, rows, "destination (%s) is not the source plus marked records %v", d.name, marked)
}
