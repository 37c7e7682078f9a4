package source

import (
	"net/url"
	"strings"
)

// Field returns the JSON value at the dotted path inside a record's data
// (as Config.Key paths are written); found is false when it is absent.
func Field(data []byte, path string) (val []byte, found bool, err error) {
	return lookup(data, path)
}

// CheckFieldPath says what is wrong with a record field path ("" or nil
// when nothing): the rules of Config.Key.
func CheckFieldPath(path string) error { return checkPath(path) }

// WithQueryParam returns c with the query parameter key set to value in its
// first page URL (replacing the URL's own value of key, other parameters
// kept as written). Pages built from the URL (cursor, page and offset
// pagination) send it too; linked pagination follows the source's links.
func (c Config) WithQueryParam(key, value string) Config {
	u, err := url.Parse(c.URL)
	if err != nil {
		return c
	}
	u.RawQuery = setQuery(u.RawQuery, key, value)
	c.URL = u.String()
	return c
}

// VouchesForCompleteness reports whether a completed read with this
// pagination saw every record that existed throughout it, even while the
// source inserted and deleted others: only a cursor (a position in the
// source's order that does not move when other records come or go) does.
// Page numbers and offsets shift under inserts and deletes, and a next
// link may carry either, so a record missed by one such read may still
// exist (README §Incremental syncs and deletes).
func (p Pagination) VouchesForCompleteness() bool {
	return strings.EqualFold(p.Type, PaginationCursor)
}

// ParamName is the query parameter the pagination sends its cursor, page
// number or offset in (its default when Param is empty); "" for linked
// pagination.
func (p Pagination) ParamName() string {
	if p.Type == PaginationNextURL || p.Type == PaginationLinkHeader {
		return ""
	}
	return p.param()
}
