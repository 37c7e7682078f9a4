package source

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
)

// FieldError is one problem of a Config: the field's path relative to the
// source (as in the configuration file, e.g. "pagination.next") and what is
// wrong with it.
type FieldError struct {
	Field   string
	Message string
}

// Error returns "field: message".
func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationError lists every problem of a Config, so that a configuration
// file can be fixed in one go. Callers may prefix each Field with where the
// source came from (file, dataset).
type ValidationError struct {
	Problems []FieldError
}

// Error joins the problems with "; ".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return strings.Join(parts, "; ")
}

var paginationTypes = []string{PaginationCursor, PaginationNextURL, PaginationLinkHeader, PaginationPage, PaginationOffset}

// Validate checks c without making requests or reading the environment. It
// returns nil or a *ValidationError listing every problem.
func (c Config) Validate() error {
	var v ValidationError
	v.checkURL(c.URL)
	v.checkHeaders(c.Headers)
	v.checkRecordPaths(c.Records, c.Key)
	v.checkPaginationType(c.Pagination)
	v.checkPaginationFields(c.Pagination)
	v.checkQuotaHeaders(c.QuotaHeaders)
	v.checkTimeouts(c)
	v.checkAuth(c.Auth, c.URL)
	if c.Auth != nil && c.Auth.Type != AuthAPIKeyQuery {
		for name := range c.Headers {
			if strings.EqualFold(name, "Authorization") {
				v.add("headers."+name, "set by auth (type %s): remove one of them", c.Auth.Type)
			}
		}
	}
	v.checkConcurrency(c)
	if c.MaxBytes < 0 {
		v.add("max_body_bytes", "negative size cap %d", c.MaxBytes)
	}
	if len(v.Problems) == 0 {
		return nil
	}
	return &v
}

// add records a problem of field.
func (v *ValidationError) add(field, format string, args ...any) {
	v.Problems = append(v.Problems, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// checkURL wants an absolute http or https URL with a host.
func (v *ValidationError) checkURL(rawURL string) {
	if rawURL == "" {
		v.add("url", "missing source URL")
	} else if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("url", "invalid URL %q (want an absolute http or https URL with a host)", sferrors.Redact(rawURL))
	}
}

// checkHeaders checks header names and values, in name order so that the
// problems come out the same every time.
func (v *ValidationError) checkHeaders(headers map[string]string) {
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field := "headers." + name
		if !validHeaderName(name) {
			v.add(field, "invalid header name %q", name)
		}
		if err := checkHeaderValue(headers[name]); err != nil {
			v.add(field, "%v", err)
		}
	}
}

// checkRecordPaths checks the records path (optional) and the key path
// (required).
func (v *ValidationError) checkRecordPaths(records, key string) {
	if err := checkPath(records); err != nil {
		v.add("records", "%v", err)
	}
	if key == "" {
		v.add("key", "missing record key path")
	} else if err := checkPath(key); err != nil {
		v.add("key", "%v", err)
	}
}

// checkPaginationType checks the pagination type and whether it needs a
// next path.
func (v *ValidationError) checkPaginationType(p Pagination) {
	switch p.Type {
	case "":
		v.add("pagination.type", "missing pagination type (want one of %s)", strings.Join(paginationTypes, ", "))
	case PaginationCursor, PaginationNextURL:
		if p.Next == "" {
			v.add("pagination.next", "required for %s pagination", p.Type)
		}
	case PaginationLinkHeader, PaginationPage, PaginationOffset:
		if p.Next != "" {
			v.add("pagination.next", "not used by %s pagination", p.Type)
		}
	default:
		v.add("pagination.type", "unknown pagination type %q (want one of %s)", p.Type, strings.Join(paginationTypes, ", "))
	}
}

// checkPaginationFields checks the other pagination fields against each
// other and against the type.
func (v *ValidationError) checkPaginationFields(p Pagination) {
	if p.Next != "" {
		if err := checkPath(p.Next); err != nil {
			v.add("pagination.next", "%v", err)
		}
	}
	if p.Total != "" {
		if p.Type != PaginationPage && p.Type != PaginationOffset && slices.Contains(paginationTypes, p.Type) {
			v.add("pagination.total", "not used by %s pagination", p.Type)
		} else if err := checkPath(p.Total); err != nil {
			v.add("pagination.total", "%v", err)
		}
	}
	if p.Param != "" && (p.Type == PaginationNextURL || p.Type == PaginationLinkHeader) {
		v.add("pagination.param", "not used by %s pagination", p.Type)
	}
	if p.PageSize < 0 {
		v.add("pagination.page_size", "negative page size %d", p.PageSize)
	}
	if p.SizeParam != "" && p.PageSize == 0 {
		v.add("pagination.size_param", "set but pagination.page_size is 0")
	}
	if param, size := p.param(), p.sizeParam(); param != "" && param == size && p.PageSize > 0 {
		v.add("pagination.size_param", "same query parameter %q as pagination.param", size)
	}
}

// param returns the query parameter of the cursor, page number or offset.
func (p Pagination) param() string {
	if p.Param != "" {
		return p.Param
	}
	switch p.Type {
	case PaginationCursor:
		return "cursor"
	case PaginationPage:
		return "page"
	case PaginationOffset:
		return "offset"
	}
	return ""
}

// sizeParam returns the query parameter of the page size.
func (p Pagination) sizeParam() string {
	if p.SizeParam == "" && p.Type == PaginationOffset {
		return "limit"
	}
	return p.SizeParam
}

// checkPath rejects dotted paths with empty segments ("a..b", ".a", "a.").
func checkPath(path string) error {
	if path == "" {
		return nil
	}
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" {
			return fmt.Errorf("invalid path %q (empty segment)", path)
		}
	}
	return nil
}

// validHeaderName reports whether name is an RFC 9110 field name (a token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

// checkHeaderValue checks a configured header value: well-formed ${NAME}
// references and no control characters. It never quotes the value.
func checkHeaderValue(value string) error {
	_, err := expandEnv(value, func(string) (string, bool) { return "", true })
	return err
}

// checkTimeouts wants non-negative timeouts, and timeout (the older name of
// timeouts.total) and timeouts.total not both set.
func (v *ValidationError) checkTimeouts(c Config) {
	for _, f := range []struct {
		field string
		d     Duration
	}{{"timeout", c.Timeout}, {"timeouts.header", c.Timeouts.Header}, {"timeouts.idle", c.Timeouts.Idle}, {"timeouts.total", c.Timeouts.Total}} {
		if f.d < 0 {
			v.add(f.field, "negative timeout %s", time.Duration(f.d))
		}
	}
	if c.Timeout > 0 && c.Timeouts.Total > 0 {
		v.add("timeouts.total", "timeout is the older name of timeouts.total: set one of them")
	}
}

// checkConcurrency wants 0 (the default) to MaxConcurrency, and no more
// than 1 for a pagination whose pages come one after the other.
func (v *ValidationError) checkConcurrency(c Config) {
	switch {
	case c.Concurrency < 0 || c.Concurrency > MaxConcurrency:
		v.add("concurrency", "%d pages in flight: want 1 to %d (0: the default, %d)", c.Concurrency, MaxConcurrency, DefaultConcurrency)
	case c.Concurrency > 1 && !c.Pagination.Predictable():
		v.add("concurrency", "%d pages in flight: %s pagination fetches one page at a time (only page and offset pages can be fetched ahead)", c.Concurrency, c.Pagination.Type)
	}
}
