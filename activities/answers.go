package activities

import (
	"context"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit/hints"
)

// Every request the key's limiter let through is answered to it exactly
// once (ratelimit.Registry.Unanswered says why): a success by Observe, a
// rate-limit answer by Freeze, a server error by Strained, anything else
// (a transport error, a fetch cut off or dropped after the limiter let it
// go) by Unanswered. The fetch itself answers the failures (answerFailure);
// whoever reads the result answers a success or a rate-limit answer; the
// results nobody reads are answered when the execution ends (endFetches).

// answerFailure answers the limiter for a fetch that failed other than by
// a rate-limit answer, and reports whether it did.
func (s *pageSync) answerFailure(r fetched) bool {
	if r.err == nil {
		return false
	}
	e := sferrors.Classify(r.err)
	switch {
	case e.Class == sferrors.RateLimited:
		return false // the reader freezes the key
	case e.Class == sferrors.Transient && e.Status >= 500:
		s.a.Limits.Strained(s.key) // no retry storm (ARCHITECTURE.md §Rate-limit layers)
	default:
		s.a.Limits.Unanswered(s.key)
	}
	return true
}

// forget answers the limiter for a result that will not be read: a
// success is observed, a rate-limit answer is answered without a freeze
// (the execution that would have waited it out has ended).
func (s *pageSync) forget(r fetched) {
	switch {
	case r.waitErr != nil || r.answered:
	case r.err == nil:
		s.a.Limits.Observe(s.key, hints.ParseQuotaWith(r.page.Header, s.a.now(), s.in.Dataset.Source.QuotaHeaders))
	default:
		s.a.Limits.Unanswered(s.key)
	}
}

// goFetch runs fetch in a goroutine of the execution's: endFetches waits
// for all of them.
func (s *pageSync) goFetch(fetch func()) { s.fetches.Go(fetch) }

// endFetches ends the execution's fetches: it cancels those in flight,
// waits until every fetch goroutine has returned and answers the limiter
// for the results nobody read (the fetch ahead, a window's slots).
func (s *pageSync) endFetches(cancel context.CancelFunc) {
	if s.win != nil {
		s.win.close()
	}
	cancel()
	s.fetches.Wait()
	if s.ahead != nil {
		select {
		case r := <-s.ahead.ch:
			s.forget(r)
		default:
		}
	}
	if s.win == nil {
		return
	}
	for {
		select {
		case d := <-s.win.results:
			s.forget(d.res)
		default:
			return
		}
	}
}
