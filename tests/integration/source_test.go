package integration_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/source"
)

// fault is what the scripted source does to one request instead of (or
// before) answering it normally.
type fault struct {
	status     int           // answer this status with a small JSON body
	retryAfter string        // Retry-After header with status
	reset      bool          // hijack the connection and close it
	truncate   bool          // declare a longer body than sent, then close
	stall      bool          // block until the client gives up
	delay      time.Duration // answer normally after this delay
	header     http.Header   // extra response headers, on any answer (alone: a normal answer with them)
	body       string        // the body of a status answer instead of the scripted one
}

// request is one request the scripted source saw.
type request struct {
	at     time.Time
	page   int // 0-based page index
	status int // what it answered (0 for a reset/truncation/stall)
}

// scriptedSource is an httptest JSON API serving total records with a fixed
// page size, in any of the five pagination styles, whose answers to each
// page request can be scripted: faults[page][n] is what the n-th request for
// that page gets (later requests are answered normally).
type scriptedSource struct {
	t        *testing.T
	total    int
	pageSize int
	srv      *httptest.Server

	mu       sync.Mutex
	faults   map[int][]fault
	requests []request
	seen     map[int]int
	// onRequest, if set, is called (outside the lock) before a request for
	// page is answered, with how many requests the page had before.
	onRequest func(page, n int)
	// intercept, if set, is called before a request is answered: it may
	// set response headers and return 0 (the request is answered as
	// scripted), or answer it and return the status it wrote.
	intercept func(w http.ResponseWriter, page int) int
}

func newScriptedSource(t *testing.T, total, pageSize int) *scriptedSource {
	s := &scriptedSource{t: t, total: total, pageSize: pageSize, faults: map[int][]fault{}, seen: map[int]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// script sets the answers of the first requests for page.
func (s *scriptedSource) script(page int, f ...fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[page] = append(s.faults[page], f...)
}

// holdFirst holds the first request for page inside the source until the
// end of the test; the returned channel is closed when it arrives.
func (s *scriptedSource) holdFirst(page int) <-chan struct{} {
	reached, _ := s.hold(page)
	return reached
}

// hold holds the first request for page inside the source until release
// is called (at the latest at the end of the test); reached is closed when
// the request arrives.
func (s *scriptedSource) hold(page int) (reached <-chan struct{}, release func()) {
	r, rel := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	s.t.Cleanup(release)
	s.onRequest = func(p, n int) {
		if p == page && n == 0 {
			close(r)
			<-rel
		}
	}
	return r, release
}

// arrivals is how many requests for page have arrived so far, answered or
// not (the log holds a request only once its handler returned).
func (s *scriptedSource) arrivals(page int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[page]
}

func (s *scriptedSource) log() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

func (s *scriptedSource) requestsFor(page int) int {
	n := 0
	for _, r := range s.log() {
		if r.page == page {
			n++
		}
	}
	return n
}

func (s *scriptedSource) key(i int) string { return fmt.Sprintf("rec-%06d", i) }

// keys is every record key the source serves.
func (s *scriptedSource) keys() map[string]bool {
	m := make(map[string]bool, s.total)
	for i := range s.total {
		m[s.key(i)] = true
	}
	return m
}

// dataset returns a dataset configuration for this source with the given
// pagination type.
func (s *scriptedSource) dataset(id, pagination string) config.Dataset {
	cfg := source.Config{
		URL:     s.srv.URL + "/" + pagination,
		Records: "data",
		Key:     "id",
		Timeout: source.Duration(2 * time.Second),
	}
	switch pagination {
	case source.PaginationCursor:
		cfg.Pagination = source.Pagination{Type: pagination, Param: "cursor", Next: "meta.next_cursor"}
	case source.PaginationNextURL:
		cfg.Pagination = source.Pagination{Type: pagination, Next: "links.next"}
	case source.PaginationLinkHeader:
		cfg.Pagination = source.Pagination{Type: pagination}
	case source.PaginationPage:
		cfg.Pagination = source.Pagination{Type: pagination, Param: "page", Total: "total", SizeParam: "per_page", PageSize: s.pageSize}
	case source.PaginationOffset:
		cfg.Pagination = source.Pagination{Type: pagination, Param: "offset", SizeParam: "limit", PageSize: s.pageSize}
	default:
		s.t.Fatalf("unknown pagination %q", pagination)
	}
	return config.Dataset{ID: id, Source: cfg}
}

// pageOf works out which 0-based page a request asks for.
func (s *scriptedSource) pageOf(r *http.Request) (int, error) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/cursor", "/next_url", "/link_header":
		c := q.Get("cursor")
		if c == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(c)
		if err != nil {
			return 0, fmt.Errorf("bad cursor %q", c)
		}
		return n, nil
	case "/page":
		p := q.Get("page")
		if p == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("bad page %q", p)
		}
		return n - 1, nil
	case "/offset":
		o := q.Get("offset")
		if o == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(o)
		switch {
		case err != nil || n < 0:
			return 0, fmt.Errorf("bad offset %q", o)
		case n >= s.total:
			return s.total/s.pageSize + 1, nil // past the end: an empty page
		case n%s.pageSize != 0:
			return 0, fmt.Errorf("bad offset %q", o)
		}
		return n / s.pageSize, nil
	}
	return 0, fmt.Errorf("unknown path %q", r.URL.Path)
}

func (s *scriptedSource) serve(w http.ResponseWriter, r *http.Request) {
	page, err := s.pageOf(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	n := s.seen[page]
	s.seen[page]++
	var f *fault
	if fs := s.faults[page]; n < len(fs) {
		f = &fs[n]
	}
	hook := s.onRequest
	s.mu.Unlock()
	if hook != nil {
		hook(page, n)
	}
	status := 0
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, request{at: time.Now(), page: page, status: status})
		s.mu.Unlock()
	}()

	if s.intercept != nil {
		if status = s.intercept(w, page); status != 0 {
			return
		}
	}
	body := s.body(r, page)
	if f != nil {
		for k, vs := range f.header {
			w.Header()[k] = vs
		}
		switch {
		case f.reset:
			hijackClose(w, nil)
			return
		case f.truncate:
			hdr := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
			hijackClose(w, append([]byte(hdr), body[:len(body)/2]...))
			return
		case f.stall:
			<-r.Context().Done()
			return
		case f.delay > 0:
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		case f.status != 0:
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.status)
			if f.body != "" {
				_, _ = fmt.Fprint(w, f.body)
			} else {
				_, _ = fmt.Fprintf(w, `{"error":"scripted status %d for page %d"}`, f.status, page)
			}
			status = f.status
			return
		}
	}
	if r.URL.Path == "/link_header" {
		if next := s.next(page); next >= 0 {
			w.Header().Set("Link", fmt.Sprintf(`<%s/link_header?cursor=%d>; rel="next"`, s.srv.URL, next))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	status = http.StatusOK
}

// next returns the page after page, or -1 at the end.
func (s *scriptedSource) next(page int) int {
	if (page+1)*s.pageSize >= s.total {
		return -1
	}
	return page + 1
}

func (s *scriptedSource) body(r *http.Request, page int) []byte {
	type rec struct {
		ID    string `json:"id"`
		Value int    `json:"value"`
	}
	recs := []rec{}
	for i := page * s.pageSize; i < min((page+1)*s.pageSize, s.total); i++ {
		recs = append(recs, rec{ID: s.key(i), Value: i})
	}
	out := map[string]any{"data": recs}
	next := s.next(page)
	switch r.URL.Path {
	case "/cursor":
		meta := map[string]any{}
		if next >= 0 {
			meta["next_cursor"] = strconv.Itoa(next)
		}
		out["meta"] = meta
	case "/next_url":
		links := map[string]any{}
		if next >= 0 {
			u := url.URL{Path: "/next_url", RawQuery: "cursor=" + strconv.Itoa(next)}
			links["next"] = u.String() // relative: resolved against the request
		}
		out["links"] = links
	case "/page":
		out["total"] = s.total
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.t.Errorf("marshal page: %v", err)
	}
	return b
}

// hijackClose writes raw bytes (if any) on the connection and closes it.
func hijackClose(w http.ResponseWriter, raw []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("response writer cannot hijack")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(err)
	}
	if len(raw) > 0 {
		_, _ = buf.Write(raw)
		_ = buf.Flush()
	}
	if tc, ok := conn.(*net.TCPConn); ok && len(raw) == 0 {
		_ = tc.SetLinger(0) // RST instead of FIN: a connection reset
	}
	_ = conn.Close()
}
