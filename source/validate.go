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
	add := func(field, format string, args ...any) {
		v.Problems = append(v.Problems, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	if c.URL == "" {
		add("url", "missing source URL")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url", "invalid URL %q (want an absolute http or https URL with a host)", sferrors.Redact(c.URL))
	}

	names := make([]string, 0, len(c.Headers))
	for name := range c.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field := "headers." + name
		if !validHeaderName(name) {
			add(field, "invalid header name %q", name)
		}
		if err := checkHeaderValue(c.Headers[name]); err != nil {
			add(field, "%v", err)
		}
	}

	if err := checkPath(c.Records); err != nil {
		add("records", "%v", err)
	}
	if c.Key == "" {
		add("key", "missing record key path")
	} else if err := checkPath(c.Key); err != nil {
		add("key", "%v", err)
	}

	p := c.Pagination
	switch p.Type {
	case "":
		add("pagination.type", "missing pagination type (want one of %s)", strings.Join(paginationTypes, ", "))
	case PaginationCursor, PaginationNextURL:
		if p.Next == "" {
			add("pagination.next", "required for %s pagination", p.Type)
		}
	case PaginationLinkHeader, PaginationPage, PaginationOffset:
		if p.Next != "" {
			add("pagination.next", "not used by %s pagination", p.Type)
		}
	default:
		add("pagination.type", "unknown pagination type %q (want one of %s)", p.Type, strings.Join(paginationTypes, ", "))
	}
	if p.Next != "" {
		if err := checkPath(p.Next); err != nil {
			add("pagination.next", "%v", err)
		}
	}
	if p.Total != "" {
		if p.Type != PaginationPage && p.Type != PaginationOffset && slices.Contains(paginationTypes, p.Type) {
			add("pagination.total", "not used by %s pagination", p.Type)
		} else if err := checkPath(p.Total); err != nil {
			add("pagination.total", "%v", err)
		}
	}
	if p.Param != "" && (p.Type == PaginationNextURL || p.Type == PaginationLinkHeader) {
		add("pagination.param", "not used by %s pagination", p.Type)
	}
	if p.PageSize < 0 {
		add("pagination.page_size", "negative page size %d", p.PageSize)
	}
	if p.SizeParam != "" && p.PageSize == 0 {
		add("pagination.size_param", "set but pagination.page_size is 0")
	}
	if param, size := p.param(), p.sizeParam(); param != "" && param == size && p.PageSize > 0 {
		add("pagination.size_param", "same query parameter %q as pagination.param", size)
	}
	if c.Timeout < 0 {
		add("timeout", "negative timeout %s", time.Duration(c.Timeout))
	}
	if c.MaxBytes < 0 {
		add("max_body_bytes", "negative size cap %d", c.MaxBytes)
	}

	if len(v.Problems) == 0 {
		return nil
	}
	return &v
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
