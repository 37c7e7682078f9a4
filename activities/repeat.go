package activities

import (
	"crypto/sha256"
	"fmt"
	"slices"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// repeatDetector notices a source that serves the same page again
// (ARCHITECTURE.md §Data flow: a SyncPages execution): a `page` or `offset`
// source that ignores its page parameter returns the same records for every
// page number, and a cursor, next_url or Link source whose next cursor names
// a page already fetched (A→B→A) would loop for ever. Either would count
// records that are never stored as new ones, and with a reported total
// would even "complete". The zero value is ready to use.
//
// It remembers only this execution's pages, starting from the position the
// execution resumed from, so resuming from a checkpoint (where the resumed
// page may well have been fetched by an earlier attempt) never looks like a
// repeat. It keeps a fingerprint of each page (a hash of its sorted record
// keys, never the keys themselves) and each cursor fetched.
type repeatDetector struct {
	pages   map[[sha256.Size]byte]int64 // fingerprint → the page number that had it
	cursors map[string]int64            // cursor fetched → its page number
}

// check is called with the position a fetched page was requested at and
// the page, before the page is committed. It returns an invalid-request
// failure naming the pagination parameter that seems to be ignored when
// the page has exactly the record keys of an earlier page, or its next
// cursor names a page already fetched. The first repeated page fails the
// task uncommitted: a page source of 2 pages that ignores its parameter
// must not complete either.
func (d *repeatDetector) check(cfg source.Pagination, at task.Position, page source.Page) *sferrors.Error {
	if d.pages == nil {
		d.pages, d.cursors = map[[sha256.Size]byte]int64{}, map[string]int64{}
	}
	n := at.Pages + 1 // this page's number in the generation
	d.cursors[at.Cursor] = n
	if !page.Done {
		if first, seen := d.cursors[page.Next]; seen {
			return sferrors.Newf(sferrors.InvalidRequest, "paginate",
				"the next cursor of page %d names page %d again (a pagination cycle): the source seems to ignore %s", n, first, paramName(cfg))
		}
	}
	if len(page.Records) == 0 {
		return nil
	}
	fp := fingerprint(page.Records)
	first, seen := d.pages[fp]
	if !seen {
		d.pages[fp] = n
		return nil
	}
	return sferrors.Newf(sferrors.InvalidRequest, "paginate",
		"page %d has the same %d record keys as page %d: the source seems to ignore %s",
		n, len(page.Records), first, paramName(cfg))
}

// fingerprint hashes a page's record keys, in sorted order so that a source
// serving one page in varying order is still recognised.
func fingerprint(recs []source.Record) [sha256.Size]byte {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s", len(k), k)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// paramName names what carries the page position of cfg's pagination,
// for the operator to check against the API's documentation.
func paramName(cfg source.Pagination) string {
	switch cfg.Type {
	case source.PaginationNextURL:
		return fmt.Sprintf("the next page URL (body path %q)", cfg.Next)
	case source.PaginationLinkHeader:
		return `the Link header's rel="next" URL`
	}
	name := cfg.Param
	if name == "" {
		name = cfg.Type // the defaults: cursor, page and offset
	}
	return fmt.Sprintf("the query parameter %q (pagination.param, type %s)", name, cfg.Type)
}
