package demoapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/syncflow/syncflow/source"
)

// maxTrackedPages bounds the per-dataset attempt map; past it the map starts
// afresh (a demo server must not grow without bound).
const maxTrackedPages = 100_000

// position is the window of records a request asks for.
type position struct {
	offset, size int
}

// page returns the 1-based page number of p.
func (p position) page() int { return p.offset/p.size + 1 }

func (s *Server) handleRecords(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := s.datasets[id]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown dataset %q", id))
		return
	}
	now := s.now()
	d.mu.Lock()
	d.stats.Requests++
	if d.stats.FirstRequest.IsZero() {
		d.stats.FirstRequest = now
	}
	d.stats.LastRequest = now
	d.mu.Unlock()

	if !s.authorized(r) {
		d.count(func(st *Stats) { st.Unauthorized++ })
		writeUnauthorized(w)
		return
	}
	if !d.admit(w, now) {
		d.count(func(st *Stats) { st.RateLimited++ })
		return
	}
	pos, err := d.position(r.URL.Query())
	if err != nil {
		d.count(func(st *Stats) { st.BadRequests++ })
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if lat := s.opts.Faults.Latency; lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if ps, ok := s.opts.Faults.PoisonPage[id]; ok && ps.Page == pos.page() {
		d.count(func(st *Stats) { st.Faults[FaultPoison]++ })
		writeError(w, ps.Status, fmt.Sprintf("page %d of dataset %q is poisoned", ps.Page, id))
		return
	}
	body, header := d.render(s.opts.Seed, r, pos)
	fault := s.drawFault(d, pos)
	if fault != "" {
		d.count(func(st *Stats) { st.Faults[fault]++ })
	}
	switch fault {
	case Fault500:
		writeError(w, http.StatusInternalServerError, "injected fault: internal server error")
	case Fault503:
		writeError(w, http.StatusServiceUnavailable, "injected fault: service unavailable")
	case FaultReset:
		resetConnection(w)
	case FaultTruncate:
		truncate(w, header, body)
	default:
		d.count(func(st *Stats) { st.OK++ })
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// count updates d's stats under its lock.
func (d *dataset) count(f func(*Stats)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.stats)
}

// admit takes a token from d's bucket, setting the RateLimit headers, or
// answers 429 and returns false.
func (d *dataset) admit(w http.ResponseWriter, now time.Time) bool {
	if d.limiter == nil {
		return true
	}
	rps := d.spec.RPS
	q, window := policy(rps)
	w.Header().Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, q, window))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.limiter.AllowN(now, 1) {
		left := d.limiter.TokensAt(now)
		refill := wholeSeconds((float64(d.spec.Burst) - left) / rps)
		w.Header().Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, int(math.Floor(left)), refill))
		return true
	}
	wait := max(wholeSeconds((1-d.limiter.TokensAt(now))/rps), 1)
	w.Header().Set("Retry-After", strconv.Itoa(wait))
	w.Header().Set("RateLimit", fmt.Sprintf(`"default";r=0;t=%d`, wait))
	writeError(w, http.StatusTooManyRequests, fmt.Sprintf("rate limit of %g requests per second exceeded; retry after %d s", rps, wait))
	return false
}

// policy expresses rps as q requests per window seconds, both whole numbers.
func policy(rps float64) (q, window int) {
	if rps >= 1 {
		return int(math.Round(rps)), 1
	}
	window = int(math.Ceil(1 / rps))
	return max(int(math.Round(rps*float64(window))), 1), window
}

// wholeSeconds rounds a non-negative number of seconds up.
func wholeSeconds(sec float64) int {
	if sec <= 0 {
		return 0
	}
	return int(math.Ceil(sec - 1e-9))
}

// drawFault decides whether this page request fails, reproducibly: the
// generator is seeded with the server seed, the dataset, the page request and
// its attempt number, so concurrent clients do not change each other's luck.
func (s *Server) drawFault(d *dataset, pos position) FaultKind {
	f := s.opts.Faults
	if f.P500+f.P503+f.PReset+f.PTruncate == 0 {
		return ""
	}
	key := fmt.Sprintf("%d/%d", pos.offset, pos.size)
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.pages[key]
	if !ok {
		if len(d.pages) >= maxTrackedPages {
			clear(d.pages)
		}
		st = &pageState{}
		d.pages[key] = st
	}
	rng := rand.New(rand.NewPCG(s.opts.Seed, d.hash^mix(hashString(key)+st.attempts)))
	st.attempts++
	if st.consecutive >= s.maxFails {
		st.consecutive = 0
		return ""
	}
	u := rng.Float64()
	var kind FaultKind
	switch {
	case u < f.P500:
		kind = Fault500
	case u < f.P500+f.P503:
		kind = Fault503
	case u < f.P500+f.P503+f.PReset:
		kind = FaultReset
	case u < f.P500+f.P503+f.PReset+f.PTruncate:
		kind = FaultTruncate
	}
	if kind == "" {
		st.consecutive = 0
	} else {
		st.consecutive++
	}
	return kind
}

// resetConnection drops the connection without an answer; the client sees a
// connection reset (or EOF).
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // send RST instead of FIN
	}
	_ = conn.Close()
}

// truncate declares the full Content-Length, sends half the body and closes
// the connection.
func truncate(w http.ResponseWriter, header http.Header, body []byte) {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:len(body)/2])
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// Token formats: cursors and next links carry an opaque token encoding the
// dataset and the offset.
func encodeToken(dataset string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(dataset + ":" + strconv.Itoa(offset)))
}

func decodeToken(dataset, tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	ds, off, ok := strings.Cut(string(b), ":")
	if !ok || ds != dataset {
		return 0, false
	}
	n, err := strconv.Atoi(off)
	return n, err == nil && n >= 0
}

// tokenParam is the query parameter of each token-based pagination type.
var tokenParam = map[string]string{
	source.PaginationCursor:     "cursor",
	source.PaginationNextURL:    "after",
	source.PaginationLinkHeader: "since",
}

// position reads the requested window from the query.
func (d *dataset) position(q url.Values) (position, error) {
	pos := position{size: DefaultPageSize}
	for _, name := range []string{"limit", "page_size"} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return pos, fmt.Errorf("invalid %s %q: want a whole number >= 1", name, v)
			}
			pos.size = min(n, MaxPageSize)
		}
	}
	switch t := d.spec.Pagination; t {
	case source.PaginationCursor, source.PaginationNextURL, source.PaginationLinkHeader:
		if v := q.Get(tokenParam[t]); v != "" {
			off, ok := decodeToken(d.spec.ID, v)
			if !ok {
				return pos, fmt.Errorf("invalid %s: not a token of this dataset", tokenParam[t])
			}
			pos.offset = off
		}
	case source.PaginationPage:
		if v := q.Get("page"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > math.MaxInt32 {
				return pos, fmt.Errorf("invalid page %q: want a whole number >= 1", v)
			}
			pos.offset = (n - 1) * pos.size
		}
	case source.PaginationOffset:
		if v := q.Get("offset"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > math.MaxInt32 {
				return pos, fmt.Errorf("invalid offset %q: want a whole number >= 0", v)
			}
			pos.offset = n
		}
	}
	return pos, nil
}

// render builds the response body and headers of a page.
func (d *dataset) render(seed uint64, r *http.Request, pos position) ([]byte, http.Header) {
	total := d.spec.Total
	start := min(pos.offset, total)
	end := min(start+pos.size, total)
	records := make([]Record, 0, end-start)
	for i := start; i < end; i++ {
		records = append(records, makeRecord(seed, d.spec.ID, d.hash, i+1))
	}
	more := end < total
	header := http.Header{}
	nextLink := func() *string {
		if !more {
			return nil
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		q := url.Values{}
		q.Set(tokenParam[d.spec.Pagination], encodeToken(d.spec.ID, end))
		q.Set("limit", strconv.Itoa(pos.size))
		u := (&url.URL{Scheme: scheme, Host: r.Host, Path: recordsPath(d.spec.ID), RawQuery: q.Encode()}).String()
		return &u
	}
	var v any
	switch d.spec.Pagination {
	case source.PaginationCursor:
		var next *string
		if more {
			c := encodeToken(d.spec.ID, end)
			next = &c
		}
		v = struct {
			Data       []Record `json:"data"`
			NextCursor *string  `json:"next_cursor"`
			HasMore    bool     `json:"has_more"`
		}{records, next, more}
	case source.PaginationNextURL:
		v = struct {
			Data []Record `json:"data"`
			Next *string  `json:"next"`
		}{records, nextLink()}
	case source.PaginationLinkHeader:
		if next := nextLink(); next != nil {
			header.Set("Link", "<"+*next+`>; rel="next"`)
		}
		v = records
	case source.PaginationPage:
		v = struct {
			Items      []Record `json:"items"`
			Page       int      `json:"page"`
			PageSize   int      `json:"page_size"`
			Total      int      `json:"total"`
			TotalPages int      `json:"total_pages"`
		}{records, pos.page(), pos.size, total, (total + pos.size - 1) / pos.size}
	case source.PaginationOffset:
		v = struct {
			Results []Record `json:"results"`
			Offset  int      `json:"offset"`
			Limit   int      `json:"limit"`
			Total   int      `json:"total"`
		}{records, pos.offset, pos.size, total}
	}
	body, err := json.Marshal(v)
	if err != nil {
		panic("demoapi: encode page: " + err.Error()) // plain structs always encode
	}
	return append(body, '\n'), header
}
