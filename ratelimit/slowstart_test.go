package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// runFor drives key k of reg as fast as it allows for d of virtual time,
// every request answered by serve; it returns how many requests went.
func runFor(t *testing.T, reg *Registry, clock *simClock, d time.Duration, serve func(time.Time) (bool, time.Duration)) int {
	t.Helper()
	end := clock.now.Add(d)
	n := 0
	for clock.now.Before(end) {
		require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
		n++
		if ok, hint := serve(clock.now); ok {
			reg.Observe("k", hints.Quota{})
		} else {
			reg.Freeze("k", hint)
		}
	}
	return n
}

// An undeclared key on an unthrottled API doubles its rate every second
// from the initial rate (slow start) instead of crawling up a curve.
func TestSlowStartDoublesPerSecond(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer})
	always := func(time.Time) (bool, time.Duration) { return true, 0 }
	prev := DefaultInitialAdaptiveRate * 1.0
	for s := 1; s <= 8; s++ {
		runFor(t, reg, clock, time.Second, always)
		r := reg.Status("k").Rate
		assert.Greater(t, r, 1.5*prev, "second %d: the rate grows by about 2x a second (%.1f after %.1f)", s, r, prev)
		assert.LessOrEqual(t, r, 2.1*prev, "second %d: no faster than 2x a second", s)
		prev = r
	}
	assert.Greater(t, prev, 600.0, "after 8 s the key sends at hundreds of requests per second")
}

// Slow start ends at the first rate-limit answer: from then on the rate is
// cut and recovers along the cubic curve, never doubling again.
func TestSlowStartEndsAtFirstAnswer(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, Rand: func() float64 { return 0 }})
	srv := &bucketServer{rate: 40, burst: 5, tokens: 5, last: epoch, hint: func(time.Duration) time.Duration { return time.Second }}
	runFor(t, reg, clock, 10*time.Second, srv.serve)
	st := reg.Status("k")
	require.Positive(t, st.Freezes, "the key found the server's limit")
	assert.Less(t, st.Rate, 44.0, "after the answer the rate stays near the limit")

	// A server that stops limiting: the key probes upwards, but gradually.
	before := st.Rate
	runFor(t, reg, clock, 2*time.Second, func(time.Time) (bool, time.Duration) { return true, 0 })
	assert.Less(t, reg.Status("k").Rate, 2*before, "no more doubling after the first answer")
}

// A declared key never slow-starts beyond its ceiling.
func TestDeclaredKeyHasNoSlowStart(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer})
	ctx := context.Background()
	for range 100 {
		require.NoError(t, reg.Wait(ctx, "d", Limit{RPS: 10}))
		reg.Observe("d", hints.Quota{})
		require.Equal(t, 10.0, reg.Status("d").Rate, "a declared key stays at its ceiling")
	}
	assert.Equal(t, epoch.Add(9900*time.Millisecond), clock.now, "100 requests at 10 req/s, burst 1")
}

// A burst budget running dry (RateLimit r=0 on a success) ends slow start
// without a refusal: the rate is cut mildly and doubles no more; later
// such warnings do not cut again (jitter alone runs a bucket dry).
func TestBurstBudgetDryEndsSlowStart(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer})
	always := func(time.Time) (bool, time.Duration) { return true, 0 }
	runFor(t, reg, clock, 3*time.Second, always)
	before := reg.Status("k").Rate
	require.Greater(t, before, 20.0, "slow start has grown the rate")

	// No policy (Limit, Window): that would announce the rate itself
	// (TestShortPolicyIsTheRate).
	dry := hints.Quota{Known: true, Remaining: 0, Reset: time.Second}
	require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
	reg.Observe("k", dry)
	cut := reg.Status("k")
	assert.Less(t, cut.Rate, before, "the warning cuts the rate")
	assert.GreaterOrEqual(t, cut.Rate, 0.5*before, "but mildly")
	assert.True(t, cut.FrozenUntil.IsZero(), "no freeze: nothing was refused")
	assert.Zero(t, cut.Freezes)

	runFor(t, reg, clock, 2*time.Second, always)
	after := reg.Status("k").Rate
	assert.Less(t, after, 1.5*cut.Rate, "no more doubling")
	require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
	reg.Observe("k", dry)
	assert.GreaterOrEqual(t, reg.Status("k").Rate, after, "a later warning does not cut")
}

// A short quota policy (RateLimit-Policy q=20;w=1: 20 requests per second)
// announces the limit: an undeclared key in slow start takes it at once,
// as if declared, and never goes above it while it stands; a declared key
// keeps its ceiling.
func TestShortPolicyIsTheRate(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer})
	policy := hints.Quota{Known: true, Limit: 20, Window: time.Second, Remaining: 4, Reset: time.Second}
	require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
	reg.Observe("k", policy)
	assert.Equal(t, 20.0, reg.Status("k").Rate, "the policy's rate, from the first answer")
	for range 200 {
		require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
		reg.Observe("k", policy)
		require.LessOrEqual(t, reg.Status("k").Rate, 20.0)
	}
	assert.InDelta(t, 20.0, reg.Status("k").Rate, 1e-9, "it stays at the policy's rate")
	assert.Equal(t, epoch.Add(200*50*time.Millisecond), clock.now, "201 requests at 20 req/s, burst 1")

	// A refusal still cuts below it; the curve climbs back to it, not past.
	reg.Freeze("k", time.Second)
	assert.Less(t, reg.Status("k").Rate, 20.0)

	// A policy with a long window is a quota to plan, not a rate; a
	// declared key keeps its own ceiling.
	require.NoError(t, reg.Wait(context.Background(), "q", Limit{}))
	reg.Observe("q", hints.Quota{Known: true, Limit: 5000, Window: time.Hour, Remaining: 4999, Reset: time.Hour})
	assert.Equal(t, DefaultInitialAdaptiveRate*1.0, reg.Status("q").Rate, "still in slow start")
	require.NoError(t, reg.Wait(context.Background(), "d", Limit{RPS: 10}))
	reg.Observe("d", policy)
	assert.Equal(t, 10.0, reg.Status("d").Rate)
}
