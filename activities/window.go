package activities

import (
	"context"
	"math"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit/hints"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// window holds the fetches in flight of a page or offset source
// (ARCHITECTURE.md §Data flow, "Concurrent pages"). Its slots are in page
// order; the first is the page at the committed position, the others were
// fetched at the cursors source.Predict gave. Pages commit strictly in
// order, one transaction each, as without a window: the head commits once
// it has arrived, and only if its real next cursor is the cursor the
// following slot was fetched at are the speculative slots kept; otherwise
// they are dropped and the window starts again from the real cursor. So
// the checkpoint never claims a page that was not committed, and a kill
// loses at most the slots in flight.
//
// How many slots: about ceil(rate × latency) + 1, enough to send at the
// key's rate while every request takes the observed latency, never more
// than the source's concurrency bound (source.Config.ConcurrencyBound).
// Every fetch waits at the key's limiter, so the window never exceeds the
// rate; it only keeps the limiter from idling while pages are on the way.
//
// Only the goroutine of the execution touches a window; each fetch runs in
// a goroutine of its own and reports on results.
type window struct {
	bound   int
	slots   []*slot
	results chan slotDone
	closed  chan struct{} // closed when the execution returns
	latency time.Duration // smoothed latency of the answered fetches; 0: none yet
	last    source.Shape  // of the largest page committed, for Predict
	hasLast bool
	peak    int // the largest window this execution wanted
	// ramp caps the window while the pages' size is not yet confirmed: 1
	// until a page holds the configured page size (then open) or is as
	// large as the one before (then doubling with each such page); a lone
	// short page, such as the one page of changes of an incremental run,
	// is likely the last, so no page is guessed past it; back to 1 after a
	// shorter page (see rampAfter).
	ramp    int
	frozeAt time.Time // when this execution last froze the key
}

// slot is one page of the window: its cursor and, once arrived, its
// outcome. try tells the results of a refetch from the earlier ones.
type slot struct {
	cursor string
	try    int
	done   bool
	res    fetched
	cancel context.CancelFunc
}

// slotDone is the outcome of one try of a slot.
type slotDone struct {
	slot *slot
	try  int
	res  fetched
}

// windowed says whether this execution fetches pages concurrently: a page
// or offset source allowing more than one page in flight, and not a key
// with a global limit (its activities run one page each, ARCHITECTURE.md
// §Rate-limit layers).
func (s *pageSync) windowed() bool {
	return s.cfg.ConcurrencyBound() > 1 && s.in.Dataset.RateLimit.GlobalRPS <= 0
}

func newWindow(bound int) *window {
	return &window{bound: bound, results: make(chan slotDone, bound), closed: make(chan struct{}), peak: 1, ramp: 1}
}

// close lets the fetches still running end without being read; the
// execution's fetch context cancels them.
func (w *window) close() { close(w.closed) }

// launch starts (again) the fetch of sl.
func (s *pageSync) launch(sl *slot) {
	sl.try++
	sl.done, sl.res = false, fetched{}
	ctx, cancel := context.WithCancel(s.fctx)
	sl.cancel = cancel
	w, try, cursor := s.win, sl.try, sl.cursor
	s.goFetch(func() {
		r := s.fetchNow(ctx, cursor)
		select {
		case w.results <- slotDone{slot: sl, try: try, res: r}:
		case <-w.closed:
			s.forget(r)
		}
	})
}

// fill tops the window up to the slots it should have once done pages of
// the execution are committed: the head at cursor, then predicted pages
// while the execution's page budget, its time and the worker allow.
func (s *pageSync) fill(cursor string, done int) {
	w := s.win
	if len(w.slots) == 0 {
		sl := &slot{cursor: cursor}
		w.slots = append(w.slots, sl)
		s.launch(sl)
	}
	want := min(s.windowTarget(), s.pageBudget()-done)
	if len(w.slots) >= want || !w.hasLast || !s.mayFetchAhead() {
		return
	}
	from := w.slots[len(w.slots)-1].cursor
	for _, c := range source.Predict(s.cfg, from, w.last, want-len(w.slots)) {
		sl := &slot{cursor: c}
		w.slots = append(w.slots, sl)
		s.launch(sl)
	}
}

// windowTarget is the number of pages to have in flight: ceil(rate ×
// latency) + 1 at the key's current rate (the declared one, or the
// adaptive one when none is declared, as the limiter now applies it),
// within [1, bound]. Before any answer, one.
func (s *pageSync) windowTarget() int {
	w := s.win
	if w.latency <= 0 {
		return 1
	}
	rate := s.a.Limits.Status(s.key).Rate
	n := w.bound
	if need := rate * w.latency.Seconds(); need < float64(w.bound) {
		n = int(math.Ceil(need)) + 1
	}
	n = max(1, min(n, w.bound))
	w.peak = max(w.peak, n)
	n = min(n, w.ramp)
	return n
}

// pageBudget is how many pages this execution may commit: MaxPages, and
// with a window MaxPages for each page the window had in flight at most,
// so that an execution lasts about as long with a window as without and
// the window's start and end (one page alone, then the last pages
// draining) stay a small part of it.
func (s *pageSync) pageBudget() int {
	if s.win == nil {
		return s.in.MaxPages
	}
	return s.in.MaxPages * s.win.peak
}

// mayFetchAhead says whether the execution may start a fetch beyond the
// page it stands at: it has time left and its worker is not stopping.
func (s *pageSync) mayFetchAhead() bool {
	return s.a.now().Sub(s.started) < s.in.MaxDuration && !s.isStopping()
}

// awaitWindow fills the window and waits until its head has an outcome
// other than a rate-limit answer. A rate-limit answer to any slot freezes
// the key at once (onRateLimited), so that the other fetches wait at the
// frozen gate, and that slot is fetched again after the freeze (no try
// counted). It returns stop when the execution must return now.
func (s *pageSync) awaitWindow() (stop bool, err error) {
	s.fill(s.pos.Cursor, s.res.PagesFetched)
	w := s.win
	for !w.slots[0].done {
		d := <-w.results
		current := d.try == d.slot.try && w.holds(d.slot)
		e := s.rateLimited(d.res)
		switch {
		case e != nil && !current:
			s.a.Limits.Freeze(s.key, e.RetryAfter) // a dropped page's answer still holds for the key
		case e != nil:
			if stop, err := s.onWindowRateLimited(d.res, e); stop || err != nil {
				return stop, err
			}
			s.launch(d.slot)
		default:
			s.arrived(d, current)
		}
	}
	return false, nil
}

// rateLimited is the classified rate-limit answer of r, nil when r is
// anything else (a cut-off fetch of an ending execution included).
func (s *pageSync) rateLimited(r fetched) *sferrors.Error {
	if r.err == nil || s.ctx.Err() != nil {
		return nil
	}
	if e := sferrors.Classify(r.err); e.Class == sferrors.RateLimited {
		return e
	}
	return nil
}

// onWindowRateLimited handles a rate-limit answer to a slot. Answers to
// requests sent before this execution last froze the key are that same
// refusal arriving late: they extend the freeze as they ask but are not
// counted again (nor escalated).
func (s *pageSync) onWindowRateLimited(r fetched, e *sferrors.Error) (stop bool, err error) {
	s.a.observeRequest(s.in.Dataset.ID, string(e.Class))
	if r.sent.Before(s.win.frozeAt) {
		s.a.Limits.Freeze(s.key, e.RetryAfter)
	} else {
		s.win.frozeAt = time.Now() // the clock of fetched.sent
		if stop, err = s.onRateLimited(e); stop || err != nil {
			return stop, err
		}
	}
	if s.isStopping() {
		s.res.WorkerStopping = true
		return true, nil
	}
	return false, nil
}

// arrived records a fetch's outcome: a page answers the key's limiter
// (its quota hints) and teaches the window the latency.
func (s *pageSync) arrived(d slotDone, current bool) {
	w := s.win
	if d.res.err == nil && d.res.waitErr == nil {
		s.a.observeRequest(s.in.Dataset.ID, "ok")
		s.a.Limits.Observe(s.key, hints.ParseQuotaWith(d.res.page.Header, s.a.now(), s.in.Dataset.Source.QuotaHeaders))
		if w.latency <= 0 {
			w.latency = d.res.took
		} else {
			w.latency = (7*w.latency + 3*d.res.took) / 10
		}
	}
	if d.res.err != nil && !d.res.answered {
		// A rate-limit answer read after the execution's end: nobody
		// waits it out (answers.go).
		s.a.Limits.Unanswered(s.key)
		d.res.answered = true
	}
	if current {
		d.slot.done, d.slot.res = true, d.res
	}
}

// holds says whether sl is still one of the window's slots.
func (w *window) holds(sl *slot) bool {
	for _, x := range w.slots {
		if x == sl {
			return true
		}
	}
	return false
}

// pop removes the head, which has arrived, and returns its outcome.
func (w *window) pop() fetched {
	r := w.slots[0].res
	w.slots[0].cancel()
	w.slots = w.slots[1:]
	return r
}

// advance is called with the position the head's page moves the task to,
// before it commits: the slots stay only if the first was fetched at the
// real next cursor (then so were the others: each prediction follows from
// the one before), and are dropped when the task is done (pages past the
// end are never committed). Then the window is filled again, so that the
// next fetches overlap the commit.
func (s *pageSync) advance(next task.Position, page source.Page) {
	w := s.win
	sh := page.Shape()
	w.rampAfter(sh, next.Done, s.cfg.Pagination.PageSize)
	if sh.Records >= w.last.Records {
		w.last, w.hasLast = sh, sh.Records > 0
	} else if sh.HasTotal {
		w.last.Total, w.last.HasTotal = sh.Total, true
	}
	if next.Done || (len(w.slots) > 0 && w.slots[0].cursor != next.Cursor) {
		w.drop()
	}
	if !next.Done && s.res.PagesFetched+1 < s.pageBudget() && s.mayFetchAhead() {
		s.fill(next.Cursor, s.res.PagesFetched+1)
	}
}

// drop cancels every slot: their pages are never committed.
func (w *window) drop() {
	for _, sl := range w.slots {
		sl.cancel()
	}
	w.slots = nil
}

// rampAfter moves the ramp after a page of shape sh: fully open when it
// holds the configured page size (the server honours it: more pages
// follow), doubled when it is as large as the largest page before it,
// back to 1 when it is shorter.
func (w *window) rampAfter(sh source.Shape, done bool, pageSize int) {
	switch {
	case done:
	case pageSize > 0 && sh.Records >= pageSize:
		w.ramp = w.bound
	case w.hasLast && sh.Records >= w.last.Records:
		w.ramp = min(2*w.ramp, w.bound)
	case w.hasLast:
		w.ramp = 1
	}
}
