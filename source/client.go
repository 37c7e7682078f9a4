package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit/hints"
	"github.com/syncflow/syncflow/secrets"
)

// Client defaults.
const (
	DefaultMaxBytes  int64 = 32 << 20            // response body cap when Config.MaxBytes is 0
	DefaultTimeout         = DefaultTotalTimeout // total per-request timeout when Config sets none
	DefaultUserAgent       = "syncflow"          // User-Agent unless a configured header sets one
	MaxRedirects           = 10                  // redirects followed per request
)

// opFetch is the Op of every error Fetch returns.
const opFetch = sferrors.OpFetch

// errorBodyLimit bounds how much of an error response is read for its excerpt.
const errorBodyLimit = 64 << 10

var errTooManyRedirects = fmt.Errorf("more than %d redirects", MaxRedirects)

// Client fetches pages from HTTP JSON APIs. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	secrets   *secrets.Resolver
	now       func() time.Time
	maxBytes  int64
	timeouts  resolvedTimeouts
	userAgent string
	tokens    tokenCache
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send requests through a copy of hc. The
// copy's CheckRedirect is replaced by one that caps redirects and strips
// credentials on the way to another origin, then calls hc.CheckRedirect.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		cp := *hc
		c.hc = &cp
	}
}

// WithTransport sets the transport of the Client's HTTP client. Give it
// after WithHTTPClient, which replaces the whole client.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *Client) { c.hc.Transport = rt }
}

// WithSecrets sets the operator's secret bindings through which header
// values' ${NAME} references are resolved, at request time, for the
// request's host (ARCHITECTURE.md §Data flow, "Secret binding"). Without it
// (or with nil) no reference resolves: a request whose headers use one is
// not sent and fails as invalid request.
func WithSecrets(r *secrets.Resolver) Option {
	return func(c *Client) { c.secrets = r }
}

// WithNow sets the clock used to interpret rate-limit hints (default time.Now).
func WithNow(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// WithMaxBytes sets the response body cap for configs that set none
// (default DefaultMaxBytes).
func WithMaxBytes(n int64) Option {
	return func(c *Client) { c.maxBytes = n }
}

// WithTimeout sets the total per-request timeout for configs that set none
// (default DefaultTotalTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeouts.total = d }
}

// WithTimeouts sets the header, idle and total timeouts for configs that
// set none; zero fields keep the defaults.
func WithTimeouts(t Timeouts) Option {
	return func(c *Client) {
		if t.Header > 0 {
			c.timeouts.header = time.Duration(t.Header)
		}
		if t.Idle > 0 {
			c.timeouts.idle = time.Duration(t.Idle)
		}
		if t.Total > 0 {
			c.timeouts.total = time.Duration(t.Total)
		}
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// NewClient returns a Client with the given options applied over the defaults.
func NewClient(opts ...Option) *Client {
	c := &Client{
		hc:        &http.Client{Transport: newTransport()},
		now:       time.Now,
		maxBytes:  DefaultMaxBytes,
		timeouts:  resolvedTimeouts{header: DefaultHeaderTimeout, idle: DefaultIdleTimeout, total: DefaultTotalTimeout},
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	next := c.hc.CheckRedirect
	c.hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		return checkRedirect(req, via, next)
	}
	return c
}

// newTransport returns the transport of a new Client: http.DefaultTransport's
// settings (proxy from the environment, timeouts, HTTP/2), keeping as many
// idle connections per host as a dataset may have pages in flight
// (MaxConcurrency). The default keeps 2: a window of 8 pages closed 6
// connections after every round and dialled them again, a TCP and TLS
// handshake each against a real API.
func newTransport() http.RoundTripper {
	def, ok := http.DefaultTransport.(*http.Transport)
	if !ok { // replaced by the program: take it as it is
		return http.DefaultTransport
	}
	t := def.Clone()
	t.MaxIdleConnsPerHost = MaxConcurrency
	if t.MaxIdleConns != 0 { // 0: no limit at all
		t.MaxIdleConns = max(t.MaxIdleConns, MaxConcurrency)
	}
	return t
}

// reqInfoKey keys the request context value that tells checkRedirect which
// headers carry configured values and where they may go.
type reqInfoKey struct{}

type reqInfo struct {
	origin string   // scheme://host:port of Config.URL
	names  []string // configured header names set on the request
}

// checkRedirect follows at most MaxRedirects redirects and removes configured headers, Authorization
// and Cookie from a redirect that leaves (or has left) the configured origin.
func checkRedirect(req *http.Request, via []*http.Request, next func(*http.Request, []*http.Request) error) error {
	if len(via) > MaxRedirects { // via holds the original request too
		return errTooManyRedirects
	}
	if info, ok := req.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		same := origin(req.URL) == info.origin
		for _, r := range via {
			same = same && origin(r.URL) == info.origin
		}
		if !same {
			for _, name := range info.names {
				req.Header.Del(name)
			}
			req.Header.Del("Authorization")
			req.Header.Del("Cookie")
		}
	}
	if next != nil {
		return next(req, via)
	}
	return nil
}

// origin returns scheme://host:port of u, with the scheme's default port
// made explicit.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// position is where a request stands in the dataset.
type position struct {
	url    *url.URL
	page   int64 // page pagination: this page's number
	offset int64 // offset pagination: this page's offset
}

// Fetch gets the page at cursor ("" = the first page) and returns its records
// and the cursor of the next page. Every error is an *sferrors.Error carrying
// the method and the redacted URL of the request. An OAuth2 access token the
// API refuses (401) is replaced once and the request sent again; a second
// 401 right after the refresh is unrecoverable.
func (c *Client) Fetch(ctx context.Context, cfg Config, cursor string) (Page, error) {
	if err := cfg.Validate(); err != nil {
		return Page{}, fetchFailure(sferrors.InvalidRequest, cfg.URL, fmt.Errorf("invalid source configuration: %w", err))
	}
	pos, err := requestPosition(cfg, cursor)
	if err != nil {
		return Page{}, fetchFailure(sferrors.InvalidRequest, cfg.URL, err)
	}
	page, used, ferr := c.fetchOnce(ctx, cfg, pos, cursor, "")
	if ferr == nil {
		return page, nil
	}
	if ferr.Status != http.StatusUnauthorized || used == "" {
		return Page{}, ferr
	}
	page, _, ferr = c.fetchOnce(ctx, cfg, pos, cursor, used)
	if ferr == nil {
		return page, nil
	}
	if ferr.Status == http.StatusUnauthorized {
		ferr.Err = fmt.Errorf("the API refused a freshly fetched access token too (401 right after a token refresh): %w", errOrStatus(ferr.Err))
	}
	return Page{}, ferr
}

// errOrStatus is err, or a placeholder when the error had no cause.
func errOrStatus(err error) error {
	if err == nil {
		return errors.New("unauthorized")
	}
	return err
}

// fetchOnce sends one request for pos. stale is an OAuth2 access token the
// API refused, to be replaced; used is the access token sent ("" when the
// source has no OAuth2 authentication).
func (c *Client) fetchOnce(ctx context.Context, cfg Config, pos position, cursor, stale string) (page Page, used string, e *sferrors.Error) {
	reqURL := pos.url.String()
	t, maxBytes := c.timeoutsFor(cfg), c.maxBytes
	if cfg.MaxBytes > 0 {
		maxBytes = cfg.MaxBytes
	}
	used, ferr := c.accessToken(ctx, cfg, pos, t, stale)
	if ferr != nil {
		return Page{}, "", ferr
	}
	g := newGuard(ctx, t)
	defer g.close()
	req, ferr := c.newRequest(g.ctx, cfg, pos, used)
	if ferr != nil {
		return Page{}, used, ferr
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Page{}, used, c.transportError(ctx, g, err, reqURL)
	}
	defer resp.Body.Close()
	g.headers()
	finalURL := publicURL(cfg, resp.Request.URL)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Page{}, used, c.statusError(resp, finalURL, cfg.QuotaHeaders)
	}
	if resp.ContentLength > maxBytes {
		return Page{}, used, fetchFailure(sferrors.Unrecoverable, reqURL, fmt.Errorf("response body of %d bytes exceeds the cap of %d bytes (max_body_bytes)", resp.ContentLength, maxBytes))
	}
	body, err := readBody(g.body(resp.Body), resp.ContentLength, maxBytes)
	if err != nil {
		return Page{}, used, c.transportError(ctx, g, err, reqURL)
	}
	if int64(len(body)) > maxBytes {
		return Page{}, used, fetchFailure(sferrors.Unrecoverable, reqURL, fmt.Errorf("response body exceeds the cap of %d bytes (max_body_bytes)", maxBytes))
	}
	page, perr := parsePage(cfg, pos, cursor, finalURL, resp.Header, body)
	if perr != nil {
		perr.Op, perr.Method, perr.URL = opFetch, http.MethodGet, sferrors.Redact(reqURL)
		return Page{}, used, perr
	}
	page.Next = publicCursor(cfg, page.Next)
	return page, used, nil
}

// fetchFailure is an error of Fetch for a request to rawURL, which it redacts.
func fetchFailure(class sferrors.Class, rawURL string, err error) *sferrors.Error {
	return &sferrors.Error{
		Class: class, Op: opFetch, Method: http.MethodGet, URL: sferrors.Redact(rawURL), Err: err,
	}
}

// newRequest builds the GET for pos. Configured headers and authentication
// go only to the configured origin, their ${NAME} references resolved for
// the request's host through the operator's bindings (a refused one fails
// the request before anything is sent); the reqInfo in the request's
// context lets checkRedirect strip them if a redirect leaves it.
func (c *Client) newRequest(ctx context.Context, cfg Config, pos position, accessToken string) (*http.Request, *sferrors.Error) {
	reqURL := pos.url.String()
	base, _ := url.Parse(cfg.URL) // valid: checked by Validate
	info := &reqInfo{origin: origin(base)}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, reqInfoKey{}, info), http.MethodGet, reqURL, nil)
	if err != nil {
		return nil, fetchFailure(sferrors.InvalidRequest, reqURL, fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if origin(pos.url) != info.origin {
		return req, nil
	}
	host := secrets.URLHost(pos.url)
	for name, value := range cfg.Headers {
		v, ferr := c.credential("header "+name, value, host, reqURL)
		if ferr != nil {
			return nil, ferr
		}
		req.Header.Set(name, v)
		info.names = append(info.names, name)
	}
	return req, c.authenticate(req, cfg.Auth, host, accessToken)
}

// credential resolves a configured value's references for host; what
// refers to refs, a header or an auth field.
func (c *Client) credential(what, value, host, reqURL string) (string, *sferrors.Error) {
	v, err := c.secrets.Expand(value, host)
	var se *secrets.Error
	switch {
	case errors.As(err, &se):
		// Not the operator's to send there: nothing is sent.
		return "", fetchFailure(sferrors.InvalidRequest, reqURL, fmt.Errorf("%s: %w", what, err))
	case err != nil:
		return "", fetchFailure(sferrors.Unrecoverable, reqURL, fmt.Errorf("%s: %w", what, err))
	case hasControl(v):
		return "", fetchFailure(sferrors.Unrecoverable, reqURL, fmt.Errorf("%s: its value, references resolved, holds a control character, not allowed in a header", what))
	}
	return v, nil
}

// authenticate adds a's credential to req, sent to the configured origin:
// a bearer token, the OAuth2 access token (fetched before the request), or
// the API key query parameter, added to this request's URL only.
func (c *Client) authenticate(req *http.Request, a *Auth, host, accessToken string) *sferrors.Error {
	if a == nil {
		return nil
	}
	reqURL := req.URL.String()
	switch a.Type {
	case AuthBearer:
		v, ferr := c.credential("auth.token", a.Token, host, reqURL)
		if ferr != nil {
			return ferr
		}
		req.Header.Set("Authorization", "Bearer "+v)
	case AuthOAuth2ClientCredentials:
		if hasControl(accessToken) {
			return fetchFailure(sferrors.Unrecoverable, a.TokenURL, errors.New("token endpoint: the access token holds a control character"))
		}
		req.Header.Set("Authorization", "Bearer "+accessToken)
	case AuthAPIKeyQuery:
		v, ferr := c.credential("auth.value", a.Value, host, reqURL)
		if ferr != nil {
			return ferr
		}
		req.URL.RawQuery = setQuery(req.URL.RawQuery, a.Param, v)
	}
	return nil
}

// accessToken returns the OAuth2 access token for a request to pos ("" when
// the source has no OAuth2 authentication or pos is on another origin,
// which gets no credential), replacing stale, the one the API refused.
func (c *Client) accessToken(ctx context.Context, cfg Config, pos position, t resolvedTimeouts, stale string) (string, *sferrors.Error) {
	if cfg.Auth == nil || cfg.Auth.Type != AuthOAuth2ClientCredentials {
		return "", nil
	}
	base, _ := url.Parse(cfg.URL) // valid: checked by Validate
	if origin(pos.url) != origin(base) {
		return "", nil
	}
	return c.oauthToken(ctx, cfg.Auth, t, stale)
}

// publicURL is u without the API key query parameter a worker added: what
// error messages, next-page resolution and cursors may see.
func publicURL(cfg Config, u *url.URL) *url.URL {
	if cfg.Auth == nil || cfg.Auth.Type != AuthAPIKeyQuery || !strings.Contains(u.RawQuery, cfg.Auth.Param) {
		return u
	}
	cp := *u
	cp.RawQuery = dropQuery(cp.RawQuery, cfg.Auth.Param)
	return &cp
}

// publicCursor drops the API key query parameter from a next-page URL
// (an API may echo it in its links): cursors enter workflow history, and
// the worker adds the key again at request time.
func publicCursor(cfg Config, next string) string {
	if next == "" || cfg.Auth == nil || cfg.Auth.Type != AuthAPIKeyQuery {
		return next
	}
	if p := cfg.Pagination.Type; p != PaginationNextURL && p != PaginationLinkHeader {
		return next
	}
	u, err := url.Parse(next)
	if err != nil {
		return next
	}
	return publicURL(cfg, u).String()
}

// dropQuery removes every value of key from a raw query, keeping the rest
// as written.
func dropQuery(rawQuery, key string) string {
	var parts []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); part == "" || (err == nil && dk == key) {
			continue
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "&")
}

// statusError classifies a response with a non-2xx status from its status,
// headers and the start of its body.
func (c *Client) statusError(resp *http.Response, finalURL *url.URL, quota *hints.Headers) *sferrors.Error {
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	e := sferrors.FromResponseWith(http.MethodGet, finalURL.String(), resp.StatusCode, resp.Header, excerpt, c.now(), quota)
	if e == nil {
		e = &sferrors.Error{Class: sferrors.Unrecoverable, Status: resp.StatusCode, Err: errors.New("unexpected response status")}
	}
	if e.Op == "" {
		e.Op = opFetch
	}
	if e.Method == "" {
		e.Method, e.URL = http.MethodGet, sferrors.Redact(finalURL.String())
	}
	return e
}

// transportError classifies a failure to send the request or read the
// response, naming the timeout that cut it if one did. The *url.Error
// wrapper is dropped: its message holds the full URL, query secrets
// included.
func (c *Client) transportError(ctx context.Context, g *guard, err error, reqURL string) *sferrors.Error {
	var e *sferrors.Error
	switch te := g.cut(); {
	case ctx.Err() != nil:
		e = sferrors.Classify(ctx.Err())
	case te != nil:
		e = &sferrors.Error{Class: sferrors.Transient, Err: te}
	case errors.Is(err, errTooManyRedirects):
		e = &sferrors.Error{Class: sferrors.InvalidRequest, Err: errTooManyRedirects}
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e = sferrors.Classify(err)
	}
	// Classify may hand back an *Error found in err's chain: work on a copy.
	cp := *e
	cp.Op, cp.Method, cp.URL = opFetch, http.MethodGet, sferrors.Redact(reqURL)
	return &cp
}

// readBody reads at most maxBytes+1 bytes of r into a buffer of its own.
// With a Content-Length the buffer is sized once; without one the body is
// read through a pooled buffer and copied out at its exact size, which is
// cheaper than growing a fresh buffer page after page.
func readBody(r io.Reader, contentLength, maxBytes int64) ([]byte, error) {
	lr := io.LimitReader(r, maxBytes+1)
	if contentLength >= 0 && contentLength <= maxBytes {
		var buf bytes.Buffer
		buf.Grow(int(contentLength) + bytes.MinRead)
		_, err := buf.ReadFrom(lr)
		return buf.Bytes(), err
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	_, err := buf.ReadFrom(lr)
	return bytes.Clone(buf.Bytes()), err
}

// maxPooledBuffer keeps the odd huge page from pinning its buffer.
const maxPooledBuffer = 4 << 20

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// requestPosition works out the URL to request for cursor.
func requestPosition(cfg Config, cursor string) (position, error) {
	p := cfg.Pagination
	u, _ := url.Parse(cfg.URL) // valid: checked by Validate
	pos := position{url: u}
	switch p.Type {
	case PaginationCursor:
		if cursor != "" {
			u.RawQuery = setQuery(u.RawQuery, p.param(), cursor)
		}
	case PaginationNextURL, PaginationLinkHeader:
		if cursor != "" {
			nu, err := url.Parse(cursor)
			if err != nil || (nu.Scheme != "http" && nu.Scheme != "https") || nu.Host == "" {
				return pos, errors.New("invalid cursor: not an absolute http or https URL")
			}
			pos.url, u = nu, nu
		}
	case PaginationPage:
		pos.page = 1
		if cursor != "" {
			n, err := strconv.ParseInt(cursor, 10, 64)
			if err != nil || n < 1 {
				return pos, fmt.Errorf("invalid cursor %q: want a page number of at least 1", cursor)
			}
			pos.page = n
		}
		u.RawQuery = setQuery(u.RawQuery, p.param(), strconv.FormatInt(pos.page, 10))
	case PaginationOffset:
		if cursor != "" {
			n, err := strconv.ParseInt(cursor, 10, 64)
			if err != nil || n < 0 {
				return pos, fmt.Errorf("invalid cursor %q: want a non-negative offset", cursor)
			}
			pos.offset = n
		}
		u.RawQuery = setQuery(u.RawQuery, p.param(), strconv.FormatInt(pos.offset, 10))
	}
	if size := p.sizeParam(); size != "" && p.PageSize > 0 {
		linked := p.Type == PaginationNextURL || p.Type == PaginationLinkHeader
		if !linked || !u.Query().Has(size) {
			u.RawQuery = setQuery(u.RawQuery, size, strconv.Itoa(p.PageSize))
		}
	}
	return pos, nil
}

// setQuery sets key=value in a raw query, dropping earlier values of key and
// keeping every other parameter exactly as written (signed URLs stay valid).
func setQuery(rawQuery, key, value string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil && dk == key {
			continue
		}
		b.WriteString(part)
		b.WriteByte('&')
	}
	b.WriteString(url.QueryEscape(key))
	b.WriteByte('=')
	b.WriteString(url.QueryEscape(value))
	return b.String()
}

// shapeError reports a response that is not the configured shape. Messages
// name paths and record indexes, never record content.
func shapeError(format string, args ...any) *sferrors.Error {
	return &sferrors.Error{Class: sferrors.Unrecoverable, Err: fmt.Errorf("response that is not the configured shape: "+format, args...)}
}

// parsePage decodes a page body: its records, and where the next page is.
func parsePage(cfg Config, pos position, cursor string, finalURL *url.URL, h http.Header, body []byte) (Page, *sferrors.Error) {
	if !json.Valid(body) {
		return Page{}, syntaxError(body)
	}
	records, perr := parseRecords(body, cfg.Records, cfg.Key)
	if perr != nil {
		return Page{}, perr
	}
	f := fetched{pos: pos, cursor: cursor, finalURL: finalURL, header: h, body: body, records: len(records)}
	next, done, perr := nextCursor(cfg.Pagination, f)
	if perr != nil {
		return Page{}, perr
	}
	page := Page{Records: records, Next: next, Done: done, Header: h, Bytes: len(body)}
	if cfg.Pagination.Predictable() {
		page.Total, page.HasTotal, _ = reportedTotal(body, cfg.Pagination.Total) // read without error by nextCursor
	}
	return page, nil
}

// parseRecords returns the records of the array at recordsPath in body, each
// keyed by the string or number at keyPath inside it.
func parseRecords(body []byte, recordsPath, keyPath string) ([]Record, *sferrors.Error) {
	arr, found, err := lookup(body, recordsPath)
	if err != nil {
		return nil, shapeError("malformed JSON")
	}
	if !found {
		return nil, shapeError("no records at path %q", recordsPath)
	}
	if arr[0] != '[' {
		return nil, shapeError("records at path %q are not an array", recordsPath)
	}
	var records []Record
	var perr *sferrors.Error
	err = eachElement(arr, func(elem []byte) error {
		var rec Record
		if rec, perr = parseRecord(elem, len(records), keyPath); perr != nil {
			return errStop
		}
		records = append(records, rec)
		return nil
	})
	if perr != nil {
		return nil, perr
	}
	if err != nil {
		return nil, shapeError("malformed records array")
	}
	return records, nil
}

// parseRecord keys record i, elem, by the value at keyPath.
func parseRecord(elem []byte, i int, keyPath string) (Record, *sferrors.Error) {
	kv, found, err := lookup(elem, keyPath)
	if err != nil {
		return Record{}, shapeError("record %d is malformed", i)
	}
	if !found {
		return Record{}, shapeError("record %d has no key at path %q", i, keyPath)
	}
	k, ok := scalarString(kv)
	if !ok {
		return Record{}, shapeError("record %d: key at path %q is not a string or number", i, keyPath)
	}
	if k == "" {
		return Record{}, shapeError("record %d: key at path %q is empty", i, keyPath)
	}
	// The body buffer belongs to this page alone; the capacity limit keeps
	// an append to one record off its neighbour.
	return Record{Key: k, Data: elem[:len(elem):len(elem)]}, nil
}

// fetched is what the pagination rules read of a fetched page.
type fetched struct {
	pos      position    // where the request stood
	cursor   string      // the cursor it was made for
	finalURL *url.URL    // the URL the page came from, after redirects
	header   http.Header // response headers
	body     []byte      // response body, valid JSON
	records  int         // number of records on the page
}

// nextCursor applies p to a fetched page: the next page's cursor, or done
// when the source reports the end.
func nextCursor(p Pagination, f fetched) (next string, done bool, e *sferrors.Error) {
	switch p.Type {
	case PaginationCursor:
		return nextFromBodyCursor(p.Next, f)
	case PaginationNextURL:
		return nextFromBodyURL(p.Next, f)
	case PaginationLinkHeader:
		return nextFromLinkHeader(f)
	case PaginationPage:
		return nextPageNumber(p.Total, f)
	case PaginationOffset:
		return nextOffset(p.Total, f)
	}
	return "", false, nil
}

// nextFromBodyCursor reads the next cursor at path; a missing, null or
// empty one ends the dataset.
func nextFromBodyCursor(path string, f fetched) (string, bool, *sferrors.Error) {
	v, ok, perr := optionalValue(f.body, path)
	if perr != nil || !ok {
		return "", true, perr
	}
	next, isScalar := scalarString(v)
	if !isScalar {
		return "", false, shapeError("next cursor at path %q is not a string or number", path)
	}
	if next == "" {
		return "", true, nil
	}
	if next == f.cursor {
		return "", false, shapeError("next cursor at path %q repeats the current cursor", path)
	}
	return next, false, nil
}

// nextFromBodyURL reads the next page URL at path; a missing, null or empty
// one ends the dataset.
func nextFromBodyURL(path string, f fetched) (string, bool, *sferrors.Error) {
	v, ok, perr := optionalValue(f.body, path)
	if perr != nil || !ok {
		return "", true, perr
	}
	if v[0] != '"' {
		return "", false, shapeError("next page URL at path %q is not a string", path)
	}
	s, _ := decodeString(v)
	if s == "" {
		return "", true, nil
	}
	next, perr := resolveNext(f.finalURL, s, f.pos, f.cursor)
	return next, false, perr
}

// nextFromLinkHeader follows the Link header's rel="next"; without one the
// dataset ends.
func nextFromLinkHeader(f fetched) (string, bool, *sferrors.Error) {
	target, ok := nextLink(f.header.Values("Link"))
	if !ok {
		return "", true, nil
	}
	next, perr := resolveNext(f.finalURL, target, f.pos, f.cursor)
	return next, false, perr
}

// nextPageNumber moves to the following page until an empty page or the
// reported total.
func nextPageNumber(totalPath string, f fetched) (string, bool, *sferrors.Error) {
	total, known, perr := reportedTotal(f.body, totalPath)
	if perr != nil {
		return "", false, perr
	}
	// The page size is taken from the records received, not from PageSize:
	// a server that caps page sizes below PageSize would otherwise make us
	// stop early and lose records. A short last page costs one extra
	// (empty) request instead.
	if pageEnds(f.pos.page, int64(f.records), total, known) {
		return "", true, nil
	}
	return strconv.FormatInt(f.pos.page+1, 10), false, nil
}

// pageEnds is the end rule of page numbers, for the pages fetched
// (nextPageNumber) and the ones predicted (Predict): page, of size
// records, is the last when it is empty or, with a reported total, when
// the pages up to it hold the total.
func pageEnds(page, size, total int64, known bool) bool {
	return size == 0 || (known && page*size >= total)
}

// offsetEnds is the end rule of offsets, for the pages fetched
// (nextOffset) and the ones predicted (Predict): the page ending at end,
// of size records, is the last when it is empty or end reaches a reported
// total.
func offsetEnds(end, size, total int64, known bool) bool {
	return size == 0 || (known && end >= total)
}

// nextOffset moves past the records received until an empty page or the
// reported total.
func nextOffset(totalPath string, f fetched) (string, bool, *sferrors.Error) {
	total, known, perr := reportedTotal(f.body, totalPath)
	if perr != nil {
		return "", false, perr
	}
	end := f.pos.offset + int64(f.records)
	if offsetEnds(end, int64(f.records), total, known) {
		return "", true, nil
	}
	return strconv.FormatInt(end, 10), false, nil
}

// optionalValue returns the value at path; ok is false when it is missing or
// null.
func optionalValue(body []byte, path string) (v []byte, ok bool, e *sferrors.Error) {
	v, found, err := lookup(body, path)
	if err != nil {
		return nil, false, shapeError("malformed JSON at path %q", path)
	}
	if !found || isNull(v) {
		return nil, false, nil
	}
	return v, true, nil
}

// reportedTotal reads the total at path; known is false when path is "" or
// the value is missing or null.
func reportedTotal(body []byte, path string) (total int64, known bool, e *sferrors.Error) {
	if path == "" {
		return 0, false, nil
	}
	v, ok, e := optionalValue(body, path)
	if e != nil || !ok {
		return 0, false, e
	}
	total, ok = intValue(v)
	if !ok {
		return 0, false, shapeError("total at path %q is not a non-negative integer", path)
	}
	return total, true, nil
}

// resolveNext resolves a next-page reference against the URL the page came
// from and checks that it leads somewhere new.
func resolveNext(finalURL *url.URL, ref string, pos position, cursor string) (string, *sferrors.Error) {
	u, err := finalURL.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", shapeError("next page link is not a valid http or https URL")
	}
	// A fragment is never sent and an empty query is no query: neither
	// makes a new page.
	u.Fragment, u.RawFragment, u.ForceQuery = "", "", false
	next := u.String()
	if next == cursor || next == pos.url.String() || next == finalURL.String() {
		return "", shapeError("next page link points to the current page")
	}
	return next, nil
}

// syntaxError classifies a body that is not valid JSON: one that ends early
// was cut off in transit (transient); anything else is unrecoverable. The
// message gives an offset, never the offending bytes.
func syntaxError(body []byte) *sferrors.Error {
	var raw json.RawMessage
	err := json.Unmarshal(body, &raw)
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &se) && se.Error() == "unexpected end of JSON input"):
		return &sferrors.Error{Class: sferrors.Transient, Err: fmt.Errorf("response body ends early after %d bytes (truncated JSON): %w", len(body), io.ErrUnexpectedEOF)}
	case errors.As(err, &se):
		return &sferrors.Error{Class: sferrors.Unrecoverable, Err: fmt.Errorf("malformed JSON in response body at byte %d", se.Offset)}
	}
	return &sferrors.Error{Class: sferrors.Unrecoverable, Err: errors.New("malformed JSON in response body")}
}
