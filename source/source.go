// Package source fetches pages of records from generic HTTP JSON APIs.
//
// A dataset's source is described by Config (JSON- and YAML-serialisable, no
// secrets: header values may reference environment variables such as
// ${ORDERS_TOKEN}, resolved by the worker at request time, only for hosts
// its operator bound the name to: WithSecrets). Client.Fetch gets
// one page given an opaque cursor ("" = first page) and returns the page's
// records and the cursor of the next page.
package source

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// Pagination types.
const (
	PaginationCursor     = "cursor"      // cursor read from body path Next, sent as query parameter Param
	PaginationNextURL    = "next_url"    // next page URL read from body path Next
	PaginationLinkHeader = "link_header" // RFC 8288 Link: <...>; rel="next"
	PaginationPage       = "page"        // page number in query parameter Param (1-based)
	PaginationOffset     = "offset"      // offset in query parameter Param, limit in SizeParam
)

// Pagination says how to get from one page to the next.
type Pagination struct {
	Type      string `json:"type" yaml:"type"`
	Param     string `json:"param,omitempty" yaml:"param,omitempty"`           // query parameter for cursor, page number or offset
	Next      string `json:"next,omitempty" yaml:"next,omitempty"`             // body path of the next cursor or next URL
	Total     string `json:"total,omitempty" yaml:"total,omitempty"`           // body path of a reported total (page, offset)
	SizeParam string `json:"size_param,omitempty" yaml:"size_param,omitempty"` // query parameter for the page size (limit for offset)
	PageSize  int    `json:"page_size,omitempty" yaml:"page_size,omitempty"`
}

// Config describes one dataset's source API.
type Config struct {
	URL        string            `json:"url" yaml:"url"`                             // first page URL
	Headers    map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"` // values may reference ${ENV_VARS}
	Records    string            `json:"records" yaml:"records"`                     // body path of the records array; "" = the body is the array
	Key        string            `json:"key" yaml:"key"`                             // path of the record key inside a record
	Pagination Pagination        `json:"pagination" yaml:"pagination"`
	Timeout    Duration          `json:"timeout,omitempty" yaml:"timeout,omitempty"`               // total per request (older name of Timeouts.Total)
	Timeouts   Timeouts          `json:"timeouts,omitzero" yaml:"timeouts,omitempty"`              // header, idle and total timeouts; defaults 30s, 30s, 2m
	Auth       *Auth             `json:"auth,omitempty" yaml:"auth,omitempty"`                     // how requests authenticate; nil: headers only
	MaxBytes   int64             `json:"max_body_bytes,omitempty" yaml:"max_body_bytes,omitempty"` // response size cap; default 32 MiB
	// QuotaHeaders names the API's own remaining/reset quota headers, for an
	// API whose convention hints.Providers does not know (quota.go).
	QuotaHeaders *hints.Headers `json:"quota_headers,omitempty" yaml:"quota_headers,omitempty"`
	// Concurrency bounds the pages of a page or offset source in flight at
	// once (predict.go, ARCHITECTURE.md §Data flow); 0 means
	// DefaultConcurrency, 1 fetches one page at a time. Other paginations
	// are sequential: only 0 and 1 are valid for them.
	Concurrency int `json:"concurrency,omitempty" yaml:"concurrency,omitempty"`
}

// Record is one record of a page: its key and its raw JSON. Key is the
// string at the key path, or a number's JSON text as written ("42"). Data is
// the record exactly as the source sent it, never re-encoded; it shares no
// memory with other pages or with the Client, so it is safe to keep.
type Record struct {
	Key  string
	Data json.RawMessage
}

// Page is one fetched page.
type Page struct {
	Records []Record
	Next    string      // cursor of the next page; "" when Done
	Done    bool        // the source reported the end
	Header  http.Header // response headers (rate-limit quota hints)
	Bytes   int         // body size
	// Total is the record count the page reported (pagination.total of a
	// page or offset source) when HasTotal.
	Total    int64
	HasTotal bool
}

// Duration is a time.Duration that reads and writes as a Go duration string
// ("30s", "1m30s") in JSON and YAML.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	return d.parse(s)
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return d.parse(s)
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *Duration) parse(s string) error {
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"30s\")", s)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	*d = Duration(v)
	return nil
}
