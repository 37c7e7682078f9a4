package ratelimit

import (
	"fmt"
	"time"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// LongWaitError is what WaitAtMost returns when a key's next turn is
// further away than the caller may sleep: the caller hands the wait to a
// durable timer (ARCHITECTURE.md §Rate-limit layers, "Long waits").
type LongWaitError struct {
	Key    string
	Until  time.Time // when the key may send again
	Reason string    // what makes it wait: a rate-limit answer, a used-up quota, a slowed rate
}

func (e *LongWaitError) Error() string {
	return fmt.Sprintf("rate limit key %s may send again at %s: %s", e.Key, e.Until.UTC().Format(time.RFC3339), e.Reason)
}

// slowWhy says why k's next request is due later than its caller may
// wait; k.mu is held.
func (k *key) slowWhy(now time.Time) string {
	if now.Before(k.quotaUntil) && k.quotaWhy != "" {
		return fmt.Sprintf("slowed to %.3g req/s by %s", k.quotaRate, k.quotaWhy)
	}
	return fmt.Sprintf("slowed to %.3g req/s after rate-limit or server-error answers", k.ctl.rate)
}

// Strained records a server error (a transient 5xx answer) for key: like a
// rate-limit answer it cuts the key's rate (CUBIC's multiplicative
// decrease, Options.Decrease, twice as hard when it comes again before the
// rate has recovered), but it freezes nothing; successes let the rate
// climb back. Retries of many tasks against a struggling API so slow down
// instead of piling on (ARCHITECTURE.md §Rate-limit layers). Like Freeze
// and Observe it answers one request let through by Wait.
func (r *Registry) Strained(key string) {
	k := r.get(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	now := r.opts.Now()
	k.strains++
	// A gentler cut than a refusal's (an overloaded server, not a limit
	// found), at most once per congestion event. Not while an undeclared
	// key is still in slow start: its rate is not yet known, and cutting
	// there would make the first random 5xx its plateau (an API failing 15 %
	// of requests at random then took more than twice as long to sync).
	switch {
	case k.ctl.slowStart:
		k.ctl.answer()
	case k.ctl.congested(now, true, 0):
		k.apply(now)
	}
}

// Spread returns how much later than d one task that waits d on a durable
// timer should resume: a random share of min(d/10, Options.MaxSpread), so
// that the tasks one freeze stopped together come back spread over a
// window proportional to the wait instead of all at once.
func (r *Registry) Spread(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	bound := min(r.opts.MaxSpread, d/10)
	return time.Duration(r.opts.Rand() * float64(bound))
}

// bucketHalf is how full a leaky bucket (hints.Quota.LeakRate) may get
// before the key is held to the bucket's leak rate.
const bucketHalf = 0.5

// observeBucket applies a leaky bucket's fill level (Shopify's call
// limit); k.mu is held. From half full the key sends no faster than the
// bucket drains, so that it never overflows (a 429); nearly full, at half
// that, so that it drains. The cap lasts until the bucket would be empty.
func (r *Registry) observeBucket(k *key, q hints.Quota, now time.Time) {
	if !(q.Limit > 0) || q.Remaining/q.Limit >= bucketHalf {
		k.quotaUntil = time.Time{}
		return
	}
	rps := q.LeakRate
	if q.Remaining <= 1 {
		rps /= 2
	}
	drain := time.Duration((q.Limit - q.Remaining) / q.LeakRate * float64(time.Second))
	k.quotaRate, k.quotaUntil = rps, now.Add(drain)
	k.quotaWhy = fmt.Sprintf("a leaky bucket %g of %g full, draining %g req/s", q.Limit-q.Remaining, q.Limit, q.LeakRate)
}
