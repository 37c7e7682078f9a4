package source

import "strconv"

// Concurrency bounds (Config.Concurrency, ARCHITECTURE.md §Data flow).
const (
	// DefaultConcurrency is the most pages of a page or offset dataset
	// in flight at once when Config.Concurrency is 0.
	DefaultConcurrency = 8
	// MaxConcurrency is the highest Config.Concurrency accepted.
	MaxConcurrency = 64
)

// Predictable reports whether the cursors of p's following pages can be
// worked out before the pages arrive: page numbers and offsets can, the
// cursors of cursor, next_url and link_header paginations come only with
// the page before.
func (p Pagination) Predictable() bool {
	return p.Type == PaginationPage || p.Type == PaginationOffset
}

// ConcurrencyBound is how many pages of the source may be in flight at
// once: 1 for a pagination that is not Predictable, else Concurrency, or
// DefaultConcurrency when it is 0.
func (c Config) ConcurrencyBound() int {
	switch {
	case !c.Pagination.Predictable():
		return 1
	case c.Concurrency > 0:
		return min(c.Concurrency, MaxConcurrency)
	}
	return DefaultConcurrency
}

// Shape is what a page tells about the pages after it: how many records
// it had and the total the source reported.
type Shape struct {
	Records  int
	Total    int64
	HasTotal bool
}

// Shape returns p's shape.
func (p Page) Shape() Shape {
	return Shape{Records: len(p.Records), Total: p.Total, HasTotal: p.HasTotal}
}

// Predict returns the cursors of up to n pages that follow the page at
// cursor, as the source will most likely name them, for fetching them
// before the page at cursor has arrived. last is the shape of a full page
// already fetched (its records tell the page size; its reported total,
// where to stop). Page numbers count on from cursor; offsets advance by
// the records of last. No cursor is predicted at or past a reported total,
// nor for an offset source before a page with records was seen, nor for a
// pagination that is not Predictable. A prediction is a guess: the caller
// checks it against the real next cursor of each page (Page.Next) before
// using a page fetched with it.
func Predict(cfg Config, cursor string, last Shape, n int) []string {
	size := int64(last.Records)
	switch cfg.Pagination.Type {
	case PaginationPage:
		return predictPages(cursor, size, last, n)
	case PaginationOffset:
		return predictOffsets(cursor, size, last, n)
	}
	return nil
}

func predictPages(cursor string, size int64, last Shape, n int) []string {
	page := int64(1)
	if cursor != "" {
		p, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || p < 1 {
			return nil
		}
		page = p
	}
	var out []string
	for k := int64(1); k <= int64(n); k++ {
		p := page + k
		if last.HasTotal && pageEnds(p-1, size, last.Total, true) {
			break // the page before p is the last, by the reported total
		}
		out = append(out, strconv.FormatInt(p, 10))
	}
	return out
}

func predictOffsets(cursor string, size int64, last Shape, n int) []string {
	if size == 0 {
		return nil
	}
	offset := int64(0)
	if cursor != "" {
		o, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || o < 0 {
			return nil
		}
		offset = o
	}
	var out []string
	for k := int64(1); k <= int64(n); k++ {
		o := offset + k*size
		if last.HasTotal && offsetEnds(o, size, last.Total, true) {
			break // the page ending at o is the last, by the reported total
		}
		out = append(out, strconv.FormatInt(o, 10))
	}
	return out
}
