package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// A wait longer than WaitAtMost's bound is not slept: a freeze, a quota
// used up until its reset and a rate slowed below one request per bound
// each return a *LongWaitError saying until when and why, at once.
func TestWaitAtMostReturnsLongWaits(t *testing.T) {
	ctx := context.Background()
	t.Run("freeze", func(t *testing.T) {
		reg, clock := newFakeRegistry()
		until := reg.Freeze("k", time.Minute)
		var lw *LongWaitError
		require.True(t, errors.As(reg.WaitAtMost(ctx, "k", Limit{RPS: 10}, 30*time.Second), &lw))
		assert.Equal(t, until, lw.Until)
		assert.Equal(t, "k", lw.Key)
		assert.Equal(t, "closed by a rate-limit answer", lw.Reason)
		assert.Equal(t, epoch, clock.Now(), "nothing slept")
		// Within the bound it waits as Wait does.
		done := make(chan error, 1)
		go func() { done <- reg.WaitAtMost(ctx, "k", Limit{RPS: 10}, 2*time.Minute) }()
		require.Equal(t, time.Minute, <-clock.started)
		clock.Advance(time.Minute)
		require.NoError(t, <-done)
	})
	t.Run("quota used up on a success", func(t *testing.T) {
		reg, _ := newFakeRegistry()
		require.NoError(t, reg.Wait(ctx, "k", Limit{}))
		reg.Observe("k", hints.Quota{Known: true, Limit: 5000, Remaining: 0, Reset: time.Hour})
		var lw *LongWaitError
		require.True(t, errors.As(reg.WaitAtMost(ctx, "k", Limit{}, 30*time.Second), &lw))
		assert.Equal(t, epoch.Add(time.Hour), lw.Until)
		assert.Contains(t, lw.Reason, "quota used up")
		assert.Contains(t, lw.Error(), "rate limit key k may send again at ")
	})
	t.Run("slowed by a low quota", func(t *testing.T) {
		reg, _ := newFakeRegistry()
		require.NoError(t, reg.Wait(ctx, "k", Limit{RPS: 10}))
		reg.Observe("k", hints.Quota{Known: true, Limit: 5000, Remaining: 10, Reset: time.Hour})
		var lw *LongWaitError
		require.True(t, errors.As(reg.WaitAtMost(ctx, "k", Limit{RPS: 10}, 30*time.Second), &lw))
		assert.Contains(t, lw.Reason, "slowed to")
		assert.Contains(t, lw.Reason, "low quota")
		assert.Equal(t, int64(1), reg.Status("k").Requests, "the refused turn is not counted")
	})
}

// A server error cuts the key's rate without freezing it; it recovers
// with successes; a second one before recovery cuts harder.
func TestStrainedCutsAndRecovers(t *testing.T) {
	clock := &simClock{now: epoch}
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, Rand: func() float64 { return 0 }})
	ctx := context.Background()
	l := Limit{RPS: 10}
	require.NoError(t, reg.Wait(ctx, "k", l))
	reg.Observe("k", hints.Quota{})
	require.NoError(t, reg.Wait(ctx, "k", l))
	reg.Strained("k")
	st := reg.Status("k")
	assert.InDelta(t, 9.5, st.Rate, 1e-9, "cut by half as much as a refusal's Decrease")
	assert.True(t, st.FrozenUntil.IsZero(), "no freeze")
	assert.EqualValues(t, 1, st.Strains)
	clock.now = clock.now.Add(6 * time.Second) // a new congestion event
	require.NoError(t, reg.Wait(ctx, "k", l))
	reg.Strained("k")
	second := reg.Status("k").Rate
	assert.Less(t, second, 9.5*0.95+1e-9, "again before recovery: cut harder")
	for range 10000 {
		if reg.Status("k").Rate >= 10 {
			break
		}
		require.NoError(t, reg.Wait(ctx, "k", l))
		reg.Observe("k", hints.Quota{})
	}
	assert.Equal(t, 10.0, reg.Status("k").Rate, "recovered to the ceiling")
}

// After a freeze the key resumes one request at a time: the burst it
// stored before the freeze, or would have refilled during it, does not go
// at once.
func TestFreezeResumesWithBurstOne(t *testing.T) {
	reg, clock := newFakeRegistry()
	ctx := context.Background()
	l := Limit{RPS: 10, Burst: 5}
	require.NoError(t, reg.Wait(ctx, "k", l)) // full bucket of 5, one used
	reg.Freeze("k", 10*time.Second)
	clock.Advance(10 * time.Second)
	done := waitAsync(ctx, reg, clock, "k", l)
	require.True(t, returnsWithoutBlocking(t, clock, done), "the first request goes at once")
	done = waitAsync(ctx, reg, clock, "k", l)
	require.False(t, returnsWithoutBlocking(t, clock, done), "the second waits its turn: burst 1")
	clock.Advance(time.Second) // the cut rate's interval, whatever it is
	require.NoError(t, (<-done).err)
}

// Spread is a random share of a tenth of the wait, capped by MaxSpread.
func TestSpreadProportionalAndCapped(t *testing.T) {
	for _, tt := range []struct {
		d, want time.Duration
	}{
		{0, 0},
		{time.Minute, 3 * time.Second},       // half of 6 s
		{time.Hour, 150 * time.Second},       // half of 5 min: capped
		{10 * time.Minute, 30 * time.Second}, // half of 1 min
	} {
		reg := NewRegistry(Options{Rand: func() float64 { return 0.5 }})
		assert.Equal(t, tt.want, reg.Spread(tt.d), "spread of %s", tt.d)
	}
	reg := NewRegistry(Options{Rand: func() float64 { return 0.999 }, MaxSpread: time.Second})
	assert.Less(t, reg.Spread(time.Hour), time.Second)
}

// A leaky bucket (Shopify's call limit) holds the key to its leak rate
// from half full, to half of it when nearly full, and lets it go when the
// bucket is less than half full.
func TestLeakyBucketHoldsTheLeakRate(t *testing.T) {
	reg, _ := newFakeRegistry()
	ctx := context.Background()
	require.NoError(t, reg.Wait(ctx, "k", Limit{}))
	reg.Observe("k", hints.Quota{Known: true, Limit: 40, Remaining: 30, LeakRate: 2})
	assert.Equal(t, float64(DefaultInitialAdaptiveRate), reg.Status("k").Rate, "a quarter full: free")
	reg.Observe("k", hints.Quota{Known: true, Limit: 40, Remaining: 15, LeakRate: 2})
	assert.Equal(t, 2.0, reg.Status("k").Rate, "more than half full: the leak rate")
	reg.Observe("k", hints.Quota{Known: true, Limit: 40, Remaining: 1, LeakRate: 2})
	assert.Equal(t, 1.0, reg.Status("k").Rate, "nearly full: half the leak rate, so it drains")
	reg.Observe("k", hints.Quota{Known: true, Limit: 40, Remaining: 35, LeakRate: 2})
	assert.Greater(t, reg.Status("k").Rate, 2.0, "drained: the cap is lifted")
}
