package activities

import (
	"context"
	"errors"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit"
)

// deadlineReserve is the part of an attempt's own timeout that a wait
// inside it leaves for the fetch and the commit that follow.
const deadlineReserve = time.Minute

// waitBound is the longest one wait for the key may sleep inside this
// execution (ARCHITECTURE.md §Data flow, "Long waits are durable"):
// max_wait, and never into the last deadlineReserve of the attempt's
// start-to-close timeout. A longer wait goes back to the workflow.
func (s *pageSync) waitBound() time.Duration {
	bound := s.in.MaxWait
	if dl, ok := s.ctx.Deadline(); ok {
		bound = min(bound, dl.Sub(s.a.now())-deadlineReserve)
	}
	return max(bound, time.Millisecond) // 0 would mean no bound
}

// onWaitError handles a wait for the key that did not end in a turn: one
// too long for this execution goes to the workflow's durable timer; an
// attempt whose own deadline came during the wait fails rate limited (it
// is retried, no try counted); anything else is the context ending.
func (s *pageSync) onWaitError(err error) (stop bool, _ error) {
	var lw *ratelimit.LongWaitError
	if errors.As(err, &lw) {
		s.res.RateLimitWaits++
		s.a.observeWait(s.key, lw.Until.Sub(s.a.now()))
		s.durable(lw.Until, lw.Error(), "reason", lw.Reason)
		return true, nil
	}
	if errors.Is(s.ctx.Err(), context.DeadlineExceeded) && !s.isStopping() {
		return false, s.fail(sferrors.Newf(sferrors.RateLimited, "wait for rate limit",
			"the attempt's deadline came while it waited for rate limit key %s", s.key))
	}
	return false, s.fail(cutOff(s.ctx, s.stopping, "wait for rate limit"))
}

// durable asks the workflow to wait until until (plus this task's share
// of the resume window, Limiter.Spread) on a durable timer; why says what
// asked for the wait.
func (s *pageSync) durable(until time.Time, why string, kv ...any) {
	d := until.Sub(s.a.now())
	d += s.a.Limits.Spread(d)
	s.log.Warn("rate limited: waiting in the workflow", append([]any{"key", s.key, "until", until.UTC().Format(time.RFC3339)}, kv...)...)
	s.res.RateLimitedFor = d
	s.res.RateLimitMessage = why
}

// escalate is the wait of a rate-limit answer: what it asks, and for one
// that escalates (GitHub's secondary limit) at least RateLimited's
// Treatment.Backoff for the answers in a row of this page. Once the page
// has had Treatment.GiveUpAfter of them, the task fails rate limited.
func (s *pageSync) escalate(e *sferrors.Error) (time.Duration, error) {
	if !e.Escalates {
		return e.RetryAfter, nil
	}
	t := sferrors.RateLimited.Treatment()
	s.escalations++
	if t.GiveUpAfter > 0 && s.escalations >= t.GiveUpAfter {
		s.log.Error("rate limited: giving up", "answers_in_a_row", s.escalations, "status", e.Status, "error", e.Error())
		return 0, sferrors.ToGiveUpError(e, s.escalations)
	}
	return max(e.RetryAfter, t.Backoff.Ceiling(s.escalations)), nil
}
