package activities

import "sync"

// pendingFetch is a page fetch started in the background (the one running
// ahead of the commits, see SyncPages). Whether its request has gone out
// decides what a graceful worker stop does with it: a fetch still waiting
// at the rate limiter is dropped (nothing was asked of the source), one
// whose request is out is awaited and committed, so that the next
// execution does not fetch that page again (ARCHITECTURE.md §Failure table:
// a graceful stop loses no work).
type pendingFetch struct {
	ch <-chan fetched

	mu      sync.Mutex
	sent    bool // the request has gone out
	dropped bool // the execution gave it up before that
}

// send is called by the fetching goroutine once the rate limiter lets the
// request go: it reports whether to send it (false once dropped).
func (p *pendingFetch) send() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropped {
		return false
	}
	p.sent = true
	return true
}

// drop gives the fetch up unless its request is already out; it reports
// whether it did.
func (p *pendingFetch) drop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent {
		return false
	}
	p.dropped = true
	return true
}

// dropAhead is called when the worker is stopping while the execution
// awaits a fetch: it gives the fetch up unless its request is already out,
// and reports whether the execution may return now. When the request is
// out, the page is awaited and committed first (its worker's stop timeout
// bounds the wait: once it is over, the context ends and the page is
// retried, as after any cut-off).
func (s *pageSync) dropAhead() bool {
	if s.ahead.drop() {
		return true
	}
	s.log.Info("worker stopping: committing the page already requested, then returning", "pages", s.pos.Pages)
	return false
}

// stopNow ends the execution after the last committed page because its
// worker is stopping: the workflow goes on from its result.
func (s *pageSync) stopNow() bool {
	s.log.Info("worker stopping: returning after the last committed page", "pages", s.pos.Pages)
	s.res.WorkerStopping = true
	return true
}
