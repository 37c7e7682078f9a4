package ratelimit

import (
	"context"
	"math"
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

// An undeclared key on an unthrottled API doubles its rate once per round
// of answers (slow start): on a server that answers at once a round lasts
// slowStartRound, so the rate doubles ten times a second instead of once
// (issue 12: a sync at 40 req/s took 3 s to get there), and reaches
// thousands of requests per second within a second.
func TestSlowStartDoublesPerRound(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer})
	always := func(time.Time) (bool, time.Duration) { return true, 0 }
	prev := DefaultInitialAdaptiveRate * 1.0
	for r := 1; r <= 10; r++ {
		runFor(t, reg, clock, slowStartRound, always)
		rate := reg.Status("k").Rate
		assert.Greater(t, rate, 1.5*prev, "round %d: the rate grows by about 2x a round (%.1f after %.1f)", r, rate, prev)
		assert.LessOrEqual(t, rate, 2.1*prev, "round %d: no faster than 2x a round", r)
		prev = rate
	}
	assert.Greater(t, prev, 2000.0, "after 1 s the key sends at thousands of requests per second")
}

// A round lasts the round trip of the answers: with pages answered after
// 300 ms the rate doubles about every 300 ms, not every slowStartRound, so
// the key never runs more than a round trip ahead of what the server has
// answered.
func TestSlowStartRoundIsTheRoundTrip(t *testing.T) {
	const rtt = 300 * time.Millisecond
	for _, after := range []time.Duration{650 * time.Millisecond, 1250 * time.Millisecond, 1850 * time.Millisecond} {
		r := simulateWindow(t, windowSim{limit: 1e6, burst: 1e6, latency: rtt, refusedLatency: rtt, bound: 64, n: 1e6, stopAt: after})
		rounds := float64(after / rtt) // whole round trips answered
		assert.LessOrEqual(t, r.final, DefaultInitialAdaptiveRate*math.Exp2(rounds), "after %s: at most one doubling per round trip", after)
		assert.Greater(t, r.final, DefaultInitialAdaptiveRate*math.Exp2(rounds-1), "after %s: a doubling about every round trip", after)
	}
}

// Slow start never grows the rate beyond twice what a round sent: a key
// limited by its own pages in flight (one at a time, each answered after
// 100 ms: at most 10 req/s) does not build up a rate it never tested.
func TestSlowStartBoundedByUse(t *testing.T) {
	r := simulateWindow(t, windowSim{limit: 1e6, burst: 1e6, latency: 100 * time.Millisecond, refusedLatency: time.Millisecond, bound: 1, n: 1e6, stopAt: 5 * time.Second})
	assert.LessOrEqual(t, r.final, 2*10.0+1e-9)
	assert.GreaterOrEqual(t, r.final, 10.0, "but it grows to what it uses")
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
// without a refusal: the rate is cut, less than a refusal would cut it (a
// twin key refused at the same moment is the measure), and grows no more
// beyond where slow start left it; later such warnings do not cut again
// (jitter alone runs a bucket dry).
func TestBurstBudgetDryEndsSlowStart(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, Rand: func() float64 { return 0 }})
	always := func(time.Time) (bool, time.Duration) { return true, 0 }
	twin := func() float64 { // the rate of a key refused now instead
		c := reg.keys["k"].ctl
		c.sent(clock.now)
		c.throttled(clock.now, 0)
		return c.rate
	}
	runFor(t, reg, clock, 500*time.Millisecond, always)
	before := reg.Status("k").Rate
	require.Greater(t, before, 20.0, "slow start has grown the rate")
	refused := twin()

	// No policy (Limit, Window): that would announce the rate itself
	// (TestShortPolicyIsTheRate).
	dry := hints.Quota{Known: true, Remaining: 0, Reset: time.Second}
	require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
	reg.Observe("k", dry)
	cut := reg.Status("k")
	assert.Less(t, cut.Rate, before, "the warning cuts the rate")
	assert.Greater(t, cut.Rate, refused, "but less than a refusal")
	assert.True(t, cut.FrozenUntil.IsZero(), "no freeze: nothing was refused")
	assert.Zero(t, cut.Freezes)

	runFor(t, reg, clock, 2*time.Second, always)
	after := reg.Status("k").Rate
	assert.Less(t, after, before, "no more slow start")
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
