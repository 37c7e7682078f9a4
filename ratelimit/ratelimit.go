// Package ratelimit keeps each rate-limit key's request budget on a worker
// (ARCHITECTURE.md §Rate-limit layers, layers 1–3). A Registry holds, per
// key, a golang.org/x/time/rate limiter behind a freeze gate; activities call
// Wait before every request to a source, Freeze on a rate-limit answer and
// Observe on a success, with the quota package hints read from its headers.
//
// A rate-limit answer freezes the key until the hinted time (extend-only,
// jittered so that many waiters do not wake together) and cuts its rate
// multiplicatively. The gate is not rate.Limiter.SetLimit(0), which would
// still grant the stored burst and leave waiters asleep: it is a deadline
// that waiters watch together with a channel closed whenever the deadline
// moves, and Wait checks it again after the limiter grants.
//
// Rates follow CUBIC (as in the AWS SDK's adaptive retry mode): after a cut
// the rate climbs back quickly, lingers near the rate at which the server
// last said no, then probes beyond it. A declared key recovers up to its
// configured ceiling and never exceeds it; a key with no declared rate
// starts at Options.InitialAdaptiveRate and doubles its rate once per
// round trip of its answers (at least 100 ms, at most 1 s), never beyond
// twice what the round sent, until the server first says no (slow start,
// so that neither an unthrottled API nor a short sync is crawled at 5
// req/s), then discovers the server's limit. Quota
// hints on successful responses (Remaining, Reset) slow a key down before
// the server has to say no: a long quota is spread over its reset, a short
// burst budget running dry ends slow start.
//
// Every time comes from Options.Now and every wait from Options.Timer, so
// tests run the whole registry in virtual time.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// Defaults of Options.
const (
	DefaultMaxJitter           = 10 * time.Second
	DefaultMaxSpread           = 5 * time.Minute
	DefaultDecrease            = 0.9 // CUBIC's beta; see controller
	DefaultMinRate             = 0.5
	DefaultInitialAdaptiveRate = 5
	DefaultLowQuota            = 0.1
	// DefaultMinQuotaHorizon: see Options.MinQuotaHorizon.
	DefaultMinQuotaHorizon = 10 * time.Second
	// DefaultFreeze bounds the first freeze of a rate-limit answer
	// without a hint (see Registry.Freeze).
	DefaultFreeze = time.Second
	// MaxRPS is the highest ceiling a Limit may declare; more is clamped.
	MaxRPS = 1e9
)

// Limit is a key's configured budget. RPS <= 0 means undeclared: the key
// discovers its rate adaptively. Burst <= 0 means the default: for a
// declared key ceil(RPS/10) (a tenth of a second's worth), at least 1; an
// adaptive key always has burst 1.
//
// A declared rate equal to the server's is safe when our burst is below the
// server's bucket: requests then never outrun the server's refill, and the
// difference absorbs network jitter (benchmarks: 20 req/s declared against
// a server's 20 req/s with burst 5, our default burst 2: no 429). The small
// default burst still lets a key catch up after a short pause (a new
// activity, a commit). Against a server whose bucket holds a single
// request, declare Burst 1 and a rate a few percent under the server's:
// any jitter at equal rates would otherwise be answered 429.
type Limit struct {
	RPS   float64
	Burst int
}

// burst returns the limiter burst of l, at least 1.
func (l Limit) burst() int {
	if l.RPS <= 0 || math.IsNaN(l.RPS) {
		return 1
	}
	if l.Burst > 0 {
		return l.Burst
	}
	return max(1, int(math.Ceil(l.ceiling()/10)))
}

// ceiling returns the declared rate, clamped to MaxRPS; 0 when adaptive.
func (l Limit) ceiling() float64 {
	if !(l.RPS > 0) { // also NaN
		return 0
	}
	return math.Min(l.RPS, MaxRPS)
}

// Options tune a Registry. The zero value gives the documented defaults.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Timer starts a timer on the Now clock: c receives once d has passed
	// and stop releases the timer. Default: time.NewTimer. Set it together
	// with Now to run Wait in virtual time.
	Timer func(d time.Duration) (c <-chan time.Time, stop func() bool)
	// Rand returns a number in [0,1) for jitter; default math/rand/v2.
	Rand func() float64
	// MaxJitter bounds what is added to a freeze's end: at most this and at
	// most 10% of the freeze; default 10s.
	MaxJitter time.Duration
	// MaxSpread bounds Spread, the extra wait of each task that waits on a
	// durable timer: at most this and at most 10% of the wait; default
	// 5 min.
	MaxSpread time.Duration
	// Decrease is the multiplicative decrease on a rate-limit answer, in
	// (0,1); default 0.9. The cut is mild because its partner, the freeze,
	// already pauses the key; a second answer before the rate has recovered
	// cuts by Decrease².
	Decrease float64
	// MinRate is the floor of decreases in requests per second; default
	// 0.5 (a declared ceiling below it is its own floor).
	MinRate float64
	// InitialAdaptiveRate is the start rate of a key without a declared
	// rate; default 5 requests per second.
	InitialAdaptiveRate float64
	// LowQuota is the share of a quota below which a key slows down
	// pre-emptively; default 0.1.
	LowQuota float64
	// MinQuotaHorizon separates quotas from burst budgets; default 10s. A
	// quota whose horizon (Reset, else Window) is at least this long is
	// planned for: a low remainder spreads over the horizon and none left
	// closes the gate until Reset. A shorter one is a token bucket's
	// burst (e.g. "20 per second, burst 5"), which refills continuously:
	// spreading its remainder or waiting for its full refill would stall
	// a key that sends at the server's rate. Running it dry ends an
	// adaptive key's slow start (its limit found without a refusal: a cut
	// half as deep as a rate-limit answer's, no freeze); later, network
	// jitter alone runs a bucket dry below the limit, so it is then
	// ignored and refusals steer the rate.
	MinQuotaHorizon time.Duration
}

// withDefaults returns o with every unset field at its default.
func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timer == nil {
		o.Timer = func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.MaxJitter <= 0 {
		o.MaxJitter = DefaultMaxJitter
	}
	if o.MaxSpread <= 0 {
		o.MaxSpread = DefaultMaxSpread
	}
	if !(o.Decrease > 0 && o.Decrease < 1) {
		o.Decrease = DefaultDecrease
	}
	if !(o.MinRate > 0) {
		o.MinRate = DefaultMinRate
	}
	if !(o.InitialAdaptiveRate > 0) {
		o.InitialAdaptiveRate = DefaultInitialAdaptiveRate
	}
	if !(o.LowQuota > 0) {
		o.LowQuota = DefaultLowQuota
	}
	if o.MinQuotaHorizon <= 0 {
		o.MinQuotaHorizon = DefaultMinQuotaHorizon
	}
	return o
}

// Registry holds the limiters of a worker, one per key, created on first
// use. It is safe for concurrent use by any number of goroutines. Keys are
// never removed: there is one per dataset or API credential.
type Registry struct {
	opts Options
	mu   sync.RWMutex
	keys map[string]*key
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	return &Registry{opts: opts.withDefaults(), keys: make(map[string]*key)}
}

// key is one key's state. mu guards everything but lim, which has its own
// lock and is only used under mu anyway.
type key struct {
	mu         sync.Mutex
	limit      Limit // as last given to Wait
	configured bool  // Wait has given a Limit
	lim        *rate.Limiter
	ctl        controller

	frozenUntil time.Time
	frozenWhy   string        // what closed the gate, for LongWaitError
	calmUntil   time.Time     // burst 1 until then: a freeze's end lets no stored burst go at once
	changed     chan struct{} // closed and replaced when the gate moves

	quotaRate  float64   // pre-emptive cap from quota hints
	quotaUntil time.Time // when the cap expires (the quota window resets)
	quotaWhy   string    // what set the cap, for LongWaitError

	appliedRate  rate.Limit
	appliedBurst int
	// scheduledRate is the rate the waiters at the limiter last reserved
	// at (see apply); generation counts the limiters apply built since,
	// so that a turn reserved on an older one is reserved again.
	scheduledRate rate.Limit
	generation    int64
	lastSent      time.Time // when Wait last let a request through

	freezes, requests, strains int64
	// hintlessRun counts the rate-limit answers without a hint since the
	// last success (see hintless).
	hintlessRun int
}

// get returns key name, creating it (adaptive, not yet configured) if new.
func (r *Registry) get(name string) *key {
	r.mu.RLock()
	k := r.keys[name]
	r.mu.RUnlock()
	if k != nil {
		return k
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if k = r.keys[name]; k == nil {
		o := &r.opts
		k = &key{
			ctl:          newController(0, o.InitialAdaptiveRate, o.MinRate, o.Decrease, o.Now()),
			changed:      make(chan struct{}),
			appliedBurst: 1,
		}
		k.appliedRate = rate.Limit(k.ctl.rate)
		k.scheduledRate = k.appliedRate
		k.lim = rate.NewLimiter(k.appliedRate, k.appliedBurst)
		r.keys[name] = k
	}
	return k
}

// configure applies l to k; k.mu is held.
func (k *key) configure(l Limit, o *Options, now time.Time) {
	if k.configured && l == k.limit {
		return
	}
	was := k.limit.ceiling()
	c := l.ceiling()
	switch {
	case c > 0 && (!k.configured || was == 0):
		inflight := k.ctl.inflight // requests still out keep counting
		k.ctl = newController(c, o.InitialAdaptiveRate, o.MinRate, o.Decrease, now)
		k.ctl.inflight = inflight
	case c > 0:
		k.ctl.setCeiling(c, o.MinRate, now)
	case k.configured && was > 0:
		k.ctl.setAdaptive(o.MinRate, now)
	}
	if !k.configured {
		// Nobody has waited on the key yet: start with a full bucket of
		// the configured burst.
		k.appliedRate, k.appliedBurst = rate.Limit(k.ctl.rate), l.burst()
		k.scheduledRate = k.appliedRate
		k.lim = rate.NewLimiter(k.appliedRate, k.appliedBurst)
	}
	k.limit, k.configured = l, true
	k.broadcast()
}

// broadcast wakes every waiter of k so that it looks at the key again;
// k.mu is held.
func (k *key) broadcast() {
	close(k.changed)
	k.changed = make(chan struct{})
}

// effective returns the rate and burst the limiter should have at now:
// the controller's rate, lowered by an unexpired quota cap (which also
// drops the burst to 1, so that no stored tokens go at once).
func (k *key) effective(now time.Time) (float64, int) {
	rps, burst := k.ctl.rate, k.limit.burst()
	if now.Before(k.quotaUntil) {
		rps, burst = math.Min(rps, k.quotaRate), 1
	}
	if now.Before(k.calmUntil) {
		burst = 1
	}
	return rps, burst
}

// rescheduleShare is how far the rate may move from the one the waiters
// reserved at before they reserve again (see apply).
const rescheduleShare = 1.25

// apply brings the limiter up to date; k.mu is held. When the rate has
// moved by more than rescheduleShare since the waiters at the limiter
// reserved their turns, they are woken to reserve again: a turn reserved
// at the old rate would otherwise stand next to turns reserved at the new
// one (at 5 req/s a waiter is due 200 ms after the last request; doubled
// to 10, the next waiter reserves 100 ms after what the bucket held then,
// 40 ms after the first: a server without a burst refused it). They
// reserve on a new limiter whose bucket the last request sent emptied:
// handing the old turns back one by one (rate.Reservation.Cancel) restores
// more than they took once a turn at the new rate stands before them, and
// two requests went 47 ms apart at 14 req/s.
func (k *key) apply(now time.Time) {
	rps, burst := k.effective(now)
	if l := rate.Limit(rps); l != k.appliedRate {
		old := k.appliedRate
		k.appliedRate = l
		if l > k.scheduledRate*rescheduleShare || l*rescheduleShare < k.scheduledRate {
			k.scheduledRate = l
			k.rebuild(old, l, burst, now)
			k.broadcast()
		} else {
			k.lim.SetLimitAt(now, l)
		}
	}
	if burst != k.appliedBurst {
		k.lim.SetBurstAt(now, burst)
		k.appliedBurst = burst
	}
}

// rebuild replaces the limiter, at rate old until now, by one at rate l
// and burst holding what the old bucket holds now without the turns
// reserved on it: refilled at old since the last request let through
// emptied it (a bucket full before it, so that a burst above 1 is not
// withheld). A rate's change does not act backwards: at 5 req/s, 100 ms
// after a request, a rate doubled to 10 req/s lets the next go 50 ms
// later. k.mu is held. Turns reserved on the old limiter are reserved
// again (WaitAtMost compares generations).
func (k *key) rebuild(old, l rate.Limit, burst int, now time.Time) {
	k.lim = rate.NewLimiter(l, burst)
	k.appliedBurst = burst
	if !k.lastSent.IsZero() && l > 0 && l != rate.Inf {
		held := math.Min(float64(burst), now.Sub(k.lastSent).Seconds()*float64(old))
		// Emptied at v, the new bucket holds at now what the old one does.
		v := now.Add(-time.Duration(held / float64(l) * float64(time.Second)))
		k.lim.ReserveN(v, 1)
	}
	k.generation++
}

// Wait blocks until key may send one request: first the freeze gate (until
// the key's freeze ends), then the key's rate.Limiter, then the gate once
// more (a freeze that arrived meanwhile is honoured). l configures the key
// on first use; a later call with another Limit updates it. A freeze
// arriving while Wait waits for the limiter returns the reservation and
// sends the caller back to the gate. It returns the context's error,
// wrapped, if ctx ends first. Wait has no bound; see WaitAtMost.
func (r *Registry) Wait(ctx context.Context, key string, l Limit) error {
	return r.WaitAtMost(ctx, key, l, 0)
}

// WaitAtMost is Wait that never sleeps longer than limit at once (0: no
// bound): when the key's next turn is further away (a freeze, a quota used
// up until its reset, a rate slowed so far that the next request is due
// later), it returns a *LongWaitError at once saying until when and why,
// and the caller hands the wait to something durable (ARCHITECTURE.md
// §Rate-limit layers, "Long waits"). Nothing is reserved then.
func (r *Registry) WaitAtMost(ctx context.Context, key string, l Limit, limit time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ratelimit: wait for key %q: %w", key, err)
	}
	k := r.get(key)
	var res *rate.Reservation // held once the limiter granted, until sent
	var gen int64             // k.generation when res was reserved
	for {
		k.mu.Lock()
		now := r.opts.Now()
		k.configure(l, &r.opts, now)
		if now.Before(k.frozenUntil) {
			if res != nil { // granted, but a freeze came first
				res.CancelAt(now)
				res = nil
			}
			if err := r.atGate(ctx, k, key, now, limit); err != nil {
				return err
			}
			continue
		}
		if res != nil && gen != k.generation { // reserved on a limiter since replaced
			res = nil
		}
		if res == nil {
			k.apply(now)
			if k.lim.AllowN(now, 1) { // the common case, without allocation
				k.sentAt(now)
				k.mu.Unlock()
				return nil
			}
			res, gen = k.lim.ReserveN(now, 1), k.generation // always OK: burst >= 1
			if d := res.DelayFrom(now); d > 0 {
				var err error
				if res, err = r.atLimiter(ctx, k, key, res, now, d, limit); err != nil {
					return err
				}
				continue // check the gate again
			}
		}
		k.sentAt(now)
		k.mu.Unlock()
		return nil
	}
}

// sentAt counts a request let through; k.mu is held.
func (k *key) sentAt(now time.Time) {
	k.lastSent = now
	k.requests++
	k.ctl.sent(now)
}

// atGate waits for k's freeze to end, or returns a *LongWaitError when it
// ends more than limit (> 0) away. k.mu is held on entry and released.
func (r *Registry) atGate(ctx context.Context, k *key, name string, now time.Time, limit time.Duration) error {
	d, changed := k.frozenUntil.Sub(now), k.changed
	if limit > 0 && d > limit {
		err := &LongWaitError{Key: name, Until: k.frozenUntil, Reason: k.frozenWhy}
		k.mu.Unlock()
		return err
	}
	k.mu.Unlock()
	if _, err := r.sleep(ctx, d, changed); err != nil {
		return fmt.Errorf("ratelimit: wait for key %q: %w", name, err)
	}
	return nil
}

// atLimiter waits d for the reservation res, or cancels it and returns a
// *LongWaitError when d is longer than limit (> 0). It returns res, or nil
// when the reservation was given back (a wake-up: the caller looks again).
// k.mu is held on entry and released.
func (r *Registry) atLimiter(ctx context.Context, k *key, name string, res *rate.Reservation, now time.Time, d, limit time.Duration) (*rate.Reservation, error) {
	if limit > 0 && d > limit {
		res.CancelAt(now)
		err := &LongWaitError{Key: name, Until: now.Add(d), Reason: k.slowWhy(now)}
		k.mu.Unlock()
		return nil, err
	}
	changed := k.changed
	k.mu.Unlock()
	woken, err := r.sleep(ctx, d, changed)
	if err != nil || woken {
		k.mu.Lock()
		res.CancelAt(r.opts.Now())
		k.mu.Unlock()
		res = nil
	}
	if err != nil {
		return nil, fmt.Errorf("ratelimit: wait for key %q: %w", name, err)
	}
	return res, nil
}

// sleep waits d on the registry's clock. It returns woken == true if
// changed closes first, and ctx's error if ctx ends first.
func (r *Registry) sleep(ctx context.Context, d time.Duration, changed <-chan struct{}) (woken bool, err error) {
	c, stop := r.opts.Timer(d)
	defer stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-changed:
		return true, nil
	case <-c:
		return false, nil
	}
}

// Freeze records a rate-limit answer for key: no request for the key until
// now+d plus a jitter of at most min(MaxJitter, d/10); d <= 0 means no hint
// (see hintless: a few request intervals, doubling while refusals without
// a hint follow each other with no success between). Freezes only extend: a shorter freeze never
// shortens a longer one. The first answer of a congestion event also cuts
// the key's rate by Options.Decrease (not below MinRate): answers to
// requests already in flight at a cut belong to the same event. The rate's
// recovery starts when the freeze ends. It returns when the key resumes.
//
// Each request let through by Wait should be answered by one Freeze or one
// Observe; that is how in-flight requests are told apart.
func (r *Registry) Freeze(key string, d time.Duration) time.Time {
	k := r.get(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	now := r.opts.Now()
	if d <= 0 {
		d = k.hintless()
	}
	k.freezes++
	if k.ctl.throttled(now, d) {
		k.apply(now)
	}
	k.extendWhy(now.Add(d+r.jitter(d)), "a rate-limit answer")
	k.ctl.pause(k.frozenUntil)
	k.apply(now) // burst 1 from now on: no stored tokens wait at the gate
	return k.frozenUntil
}

// Freezes of rate-limit answers without a hint (see hintless).
const (
	// hintlessIntervals is how many request intervals, at the rate the key
	// was refused at, the first hintless freeze lasts: a token bucket or
	// nginx's limit_req lets the next request through one interval after
	// the refusal.
	hintlessIntervals = 4
	// MinHintlessFreeze and DefaultFreeze bound the first hintless freeze;
	// MaxHintlessFreeze bounds the doubled ones.
	MinHintlessFreeze = 100 * time.Millisecond
	MaxHintlessFreeze = 5 * time.Minute
)

// hintless returns the freeze of a rate-limit answer without a hint: at
// first hintlessIntervals request intervals at the key's rate, within
// [MinHintlessFreeze, DefaultFreeze] (a freeze of one second at 20 req/s
// cost 20 requests against a server that would have taken the next one 50
// ms later); doubled for every further hintless answer before a success,
// up to MaxHintlessFreeze, because refusals in a row mean a quota used up
// rather than a rate passed. An answer to a request sent before the last
// cut belongs to the same event and does not double it; k.mu is held.
func (k *key) hintless() time.Duration {
	d := time.Duration(hintlessIntervals / math.Max(k.ctl.rate, 1e-3) * float64(time.Second))
	d = min(max(d, MinHintlessFreeze), DefaultFreeze)
	d = min(d<<min(k.hintlessRun, 20), MaxHintlessFreeze)
	if k.ctl.pending == 0 {
		k.hintlessRun++
	}
	return d
}

// jitter returns a random duration in [0, min(MaxJitter, d/10)): the
// window over which waiters of one freeze resume is proportional to the
// freeze, capped.
func (r *Registry) jitter(d time.Duration) time.Duration {
	bound := min(r.opts.MaxJitter, d/10)
	return time.Duration(r.opts.Rand() * float64(bound))
}

// extendWhy moves the gate to until if that is later, records why, keeps
// the burst at 1 until the key has had time to refill it after the gate
// opens (the key resumes one request at a time), and wakes the waiters so
// that they re-arm their timers; k.mu is held.
func (k *key) extendWhy(until time.Time, why string) {
	if !until.After(k.frozenUntil) {
		return
	}
	k.frozenUntil, k.frozenWhy = until, "closed by "+why
	refill := time.Duration(float64(k.limit.burst()) / math.Max(k.ctl.rate, 1e-3) * float64(time.Second))
	k.calmUntil = until.Add(refill)
	k.broadcast()
}

// Observe records a successful response for key and its quota hints (q.Known
// may be false). The rate recovers along the CUBIC curve, up to the ceiling
// of a declared key, beyond the last limit for an adaptive one. When the
// quota runs low (Remaining/Limit < LowQuota) the key is capped until the
// window resets so that the remaining requests spread over Reset (or over
// Window when Reset is unknown); when nothing remains, the gate closes until
// Reset. A quota that is not low lifts an earlier cap. A quota with a
// horizon shorter than Options.MinQuotaHorizon is a burst budget: nothing
// left ends an adaptive key's slow start (a cut half as deep as a
// rate-limit answer's, without a freeze) and is otherwise a success.
func (r *Registry) Observe(key string, q hints.Quota) {
	k := r.get(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	now := r.opts.Now()
	k.hintlessRun = 0
	if rps, ok := r.policyRate(q); ok {
		k.ctl.hint(rps, now)
	}
	if q.Known && r.burstDry(q) {
		k.ctl.warned(now)
	} else {
		k.ctl.succeeded(now)
	}
	if q.Known {
		r.observeQuota(k, q, now)
	}
	k.apply(now)
}

// policyRate returns the rate a short quota policy announces: Limit
// requests per Window, when the window is shorter than MinQuotaHorizon (a
// rate such as "20 per second", not a quota to plan, which observeQuota
// spreads) and the quota is not a leaky bucket's (observeBucket's).
func (r *Registry) policyRate(q hints.Quota) (float64, bool) {
	if q.Limit <= 0 || q.Window <= 0 || q.Window >= r.opts.MinQuotaHorizon || q.LeakRate > 0 {
		return 0, false
	}
	return q.Limit / q.Window.Seconds(), true
}

// horizon returns how far a quota looks ahead: Reset, else Window.
func horizon(q hints.Quota) time.Duration {
	if q.Reset > 0 {
		return q.Reset
	}
	return q.Window
}

// burstDry reports whether q is a burst budget (a horizon shorter than
// MinQuotaHorizon) with nothing left.
func (r *Registry) burstDry(q hints.Quota) bool {
	return q.Remaining <= 0 && (q.Reset > 0 || q.Limit > 0) && horizon(q) < r.opts.MinQuotaHorizon
}

// observeQuota applies quota hints; k.mu is held. The horizon is Reset, or
// the policy's Window when Reset is unknown. A zero Remaining is believed
// only next to a Reset or a Limit, so that a response naming only its
// policy does not close the gate.
func (r *Registry) observeQuota(k *key, q hints.Quota, now time.Time) {
	horizon := horizon(q)
	switch {
	case q.LeakRate > 0:
		r.observeBucket(k, q, now)
	case horizon > 0 && horizon < r.opts.MinQuotaHorizon:
		// A burst budget: Observe has acted on it.
		k.quotaUntil = time.Time{}
	case q.Remaining <= 0 && (q.Reset > 0 || q.Limit > 0):
		if horizon > 0 {
			k.extendWhy(now.Add(horizon+r.jitter(horizon)), fmt.Sprintf("a quota used up (%g left) until its reset", q.Remaining))
			k.ctl.pause(k.frozenUntil)
		}
	case q.Limit > 0 && q.Remaining/q.Limit < r.opts.LowQuota:
		if horizon > 0 {
			k.quotaRate = q.Remaining / horizon.Seconds()
			k.quotaUntil = now.Add(horizon)
			k.quotaWhy = fmt.Sprintf("a low quota (%g of %g left) spread over %s", q.Remaining, q.Limit, horizon)
		}
	default:
		k.quotaUntil = time.Time{}
	}
}

// Status is a key's state as the progress query shows it.
type Status struct {
	Key         string
	Rate        float64   // requests per second now, quota cap included
	Ceiling     float64   // declared requests per second; 0 when adaptive
	Adaptive    bool      // the key discovers its rate
	FrozenUntil time.Time // end of the current freeze; zero when not frozen
	Freezes     int64     // rate-limit answers recorded
	Strains     int64     // server errors recorded (Strained)
	Requests    int64     // requests let through by Wait
	InFlight    int       // of those, not yet answered (Observe, Freeze, Strained, Unanswered)
}

// Status returns key's state; a key never used has only its name set.
func (r *Registry) Status(key string) Status {
	r.mu.RLock()
	k := r.keys[key]
	r.mu.RUnlock()
	if k == nil {
		return Status{Key: key}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := r.opts.Now()
	rps, _ := k.effective(now)
	s := Status{
		Key:      key,
		Rate:     rps,
		Ceiling:  k.ctl.ceiling,
		Adaptive: k.ctl.adaptive(),
		Freezes:  k.freezes,
		Strains:  k.strains,
		Requests: k.requests,
		InFlight: k.ctl.inflight,
	}
	if now.Before(k.frozenUntil) {
		s.FrozenUntil = k.frozenUntil
	}
	return s
}

// Keys returns the registry's keys, sorted.
func (r *Registry) Keys() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	keys := make([]string, 0, len(r.keys))
	for name := range r.keys {
		keys = append(keys, name)
	}
	slices.Sort(keys)
	return keys
}
