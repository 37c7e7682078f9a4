package activities

import (
	"crypto/sha256"
	"encoding/hex"
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
// It remembers this execution's pages, starting from the position the
// execution resumed from, and the last pages earlier executions committed
// (SyncPagesInput.Seen, so one-page executions are protected too); resuming
// from a checkpoint (where the resumed page may well have been fetched by
// an earlier attempt) never looks like a repeat. It keeps hashes only: of
// each page's sorted record keys and of each cursor fetched, never the keys
// or cursors themselves.
type repeatDetector struct {
	pages   map[string]int64 // page fingerprint → the page number that had it
	cursors map[string]int64 // hash of a cursor fetched → its page number
	seen    []SeenPage       // every page checked, in order
}

// SeenPage is a committed page as the repeat detector carries it from one
// execution to the next: its number and hashes (never record keys or a
// cursor).
type SeenPage struct {
	Page   int64  `json:"page"`
	Keys   string `json:"keys,omitempty"` // fingerprint of its record keys; empty for a page without records
	Cursor string `json:"cursor"`         // hash of the cursor it was fetched at
}

// MaxSeen is how many committed pages an execution hands on to the next.
const MaxSeen = 8

// seed remembers pages earlier executions committed, up to the position
// this execution resumes from.
func (d *repeatDetector) seed(seen []SeenPage, at task.Position) {
	d.init()
	for _, p := range seen {
		if p.Page > at.Pages {
			continue
		}
		d.cursors[p.Cursor] = p.Page
		if p.Keys != "" {
			d.pages[p.Keys] = p.Page
		}
		d.seen = append(d.seen, p)
	}
}

// handOn is the last MaxSeen pages checked up to the committed position at.
func (d *repeatDetector) handOn(at task.Position) []SeenPage {
	var out []SeenPage
	for _, p := range d.seen {
		if p.Page <= at.Pages {
			out = append(out, p)
		}
	}
	return out[max(0, len(out)-MaxSeen):]
}

func (d *repeatDetector) init() {
	if d.pages == nil {
		d.pages, d.cursors = map[string]int64{}, map[string]int64{}
	}
}

// check is called with the position a fetched page was requested at and
// the page, before the page is committed. It returns an invalid-request
// failure naming the pagination parameter that seems to be ignored when
// the page has exactly the record keys of an earlier page, or its next
// cursor names a page already fetched. The first repeated page fails the
// task uncommitted: a page source of 2 pages that ignores its parameter
// must not complete either.
func (d *repeatDetector) check(cfg source.Pagination, at task.Position, page source.Page) *sferrors.Error {
	d.init()
	n := at.Pages + 1 // this page's number in the generation
	here := SeenPage{Page: n, Cursor: hashText(at.Cursor)}
	d.cursors[here.Cursor] = n
	if !page.Done {
		if first, seen := d.cursors[hashText(page.Next)]; seen {
			return sferrors.Newf(sferrors.InvalidRequest, "paginate",
				"the next cursor of page %d names page %d again (a pagination cycle): the source seems to ignore %s", n, first, paramName(cfg))
		}
	}
	if len(page.Records) > 0 {
		here.Keys = fingerprint(page.Records)
		if first, seen := d.pages[here.Keys]; seen {
			return sferrors.Newf(sferrors.InvalidRequest, "paginate",
				"page %d has the same %d record keys as page %d: the source seems to ignore %s",
				n, len(page.Records), first, paramName(cfg))
		}
		d.pages[here.Keys] = n
	}
	d.seen = append(d.seen, here)
	return nil
}

// hashText is a short hash of a cursor, to remember it without keeping it.
func hashText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:12])
}

// fingerprint hashes a page's record keys, in sorted order so that a source
// serving one page in varying order is still recognised.
func fingerprint(recs []source.Record) string {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s", len(k), k)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
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
