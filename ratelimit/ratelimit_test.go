package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// newFakeRegistry returns a registry on a fakeClock with no jitter.
func newFakeRegistry() (*Registry, *fakeClock) {
	clock := newFakeClock()
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, Rand: func() float64 { return 0 }})
	return reg, clock
}

// waitAsync runs Wait in a goroutine; the result carries Wait's error and
// the virtual time at which it returned.
type waitResult struct {
	err error
	at  time.Time
}

func waitAsync(ctx context.Context, reg *Registry, clock *fakeClock, key string, l Limit) <-chan waitResult {
	done := make(chan waitResult, 1)
	go func() {
		err := reg.Wait(ctx, key, l)
		done <- waitResult{err, clock.Now()}
	}()
	return done
}

// sendOne lets one request of key through reg, advancing clock over every
// timer the Wait starts (a freeze, the limiter's interval), and fails t if
// the Wait fails.
func sendOne(t *testing.T, reg *Registry, clock *fakeClock, key string, l Limit) {
	t.Helper()
	done := waitAsync(context.Background(), reg, clock, key, l)
	for {
		select {
		case res := <-done:
			require.NoError(t, res.err)
			return
		case d := <-clock.started:
			clock.Advance(d)
		}
	}
}

// returnsWithoutBlocking reports whether a Wait started with waitAsync
// returned without starting a timer. It never sleeps: a Wait either
// returns or blocks on a timer, which fakeClock announces.
func returnsWithoutBlocking(t *testing.T, clock *fakeClock, done <-chan waitResult) bool {
	t.Helper()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		return true
	case <-clock.started:
		return false
	}
}

func TestBurstAtLeastOne(t *testing.T) {
	tests := []struct {
		limit Limit
		burst int
	}{
		{Limit{RPS: 1, Burst: 0}, 1},
		{Limit{RPS: 0.1, Burst: -3}, 1},
		{Limit{RPS: 0}, 1},
		{Limit{RPS: -5, Burst: 7}, 1},
		{Limit{RPS: 100}, 10},
		{Limit{RPS: 25}, 3},
		{Limit{RPS: 5, Burst: 4}, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.limit), func(t *testing.T) {
			reg, clock := newFakeRegistry()
			done := waitAsync(context.Background(), reg, clock, "k", tt.limit)
			assert.True(t, returnsWithoutBlocking(t, clock, done), "first request must go at once")
			assert.Equal(t, tt.burst, reg.keys["k"].lim.Burst())
		})
	}
}

func TestFreezeExtendOnly(t *testing.T) {
	tests := []struct {
		name   string
		first  time.Duration
		second time.Duration
		want   time.Duration // resume time after both, from the start
	}{
		{"shorter does not shorten", 10 * time.Second, 2 * time.Second, 10 * time.Second},
		{"longer extends", 2 * time.Second, 10 * time.Second, 10 * time.Second},
		{"equal keeps", 5 * time.Second, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, _ := newFakeRegistry()
			reg.Freeze("k", tt.first)
			got := reg.Freeze("k", tt.second)
			assert.Equal(t, epoch.Add(tt.want), got)
			st := reg.Status("k")
			assert.Equal(t, epoch.Add(tt.want), st.FrozenUntil)
			assert.Equal(t, int64(2), st.Freezes)
		})
	}
}

func TestFreezeJitterBounded(t *testing.T) {
	tests := []struct {
		name      string
		d         time.Duration
		maxJitter time.Duration
		rand      float64
		want      time.Duration
	}{
		{"no jitter at zero", 10 * time.Second, 0, 0, 0},
		{"capped by MaxJitter", 10 * time.Second, 250 * time.Millisecond, 0.5, 125 * time.Millisecond},
		{"default: a tenth of the freeze", 10 * time.Second, 0, 0.5, 500 * time.Millisecond},
		{"capped by a tenth of the freeze", time.Second, time.Second, 0.5, 50 * time.Millisecond},
		{"almost the bound", 10 * time.Second, 300 * time.Millisecond, 0.999, 299700 * time.Microsecond},
		{"no hint", 0, 0, 0.999, 79920 * time.Microsecond}, // 4 intervals at 5 req/s: 800 ms
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, MaxJitter: tt.maxJitter,
				Rand: func() float64 { return tt.rand }})
			d := tt.d
			if d <= 0 {
				d = hintlessIntervals * time.Second / DefaultInitialAdaptiveRate
			}
			jitter := reg.Freeze("k", tt.d).Sub(epoch.Add(d))
			assert.Equal(t, tt.want, jitter)
			bound := min(reg.opts.MaxJitter, d/10)
			assert.GreaterOrEqual(t, jitter, time.Duration(0))
			assert.Less(t, jitter, bound)
		})
	}
}

// A rate-limit answer without a hint freezes for a few request intervals
// at the rate refused (not a whole second: at 20 req/s that cost 20
// requests), doubling while such answers follow each other with no success
// between (a quota used up); a success starts again from the short freeze.
func TestHintlessFreeze(t *testing.T) {
	reg, clock := newFakeRegistry()
	send := func() { t.Helper(); sendOne(t, reg, clock, "k", Limit{RPS: 20}) }
	freeze := func() time.Duration {
		t.Helper()
		send()
		return reg.Freeze("k", 0).Sub(clock.Now())
	}
	assert.Equal(t, 200*time.Millisecond, freeze(), "4 intervals at 20 req/s")
	second := freeze()
	assert.Greater(t, second, 400*time.Millisecond, "doubled: 4 intervals at the cut rate, twice")
	assert.Less(t, second, 500*time.Millisecond)
	for range 20 {
		freeze()
	}
	assert.Equal(t, MaxHintlessFreeze, freeze(), "bounded")

	send()
	reg.Observe("k", hints.Quota{})
	// The refusals cut the rate to its floor: 4 intervals there are more
	// than DefaultFreeze, which bounds the first freeze after a success.
	assert.Equal(t, DefaultFreeze, freeze(), "a success starts again, undoubled")
}

func TestWaitBlocksUntilFreezeEnds(t *testing.T) {
	reg, clock := newFakeRegistry()
	until := reg.Freeze("k", 10*time.Second)
	done := waitAsync(context.Background(), reg, clock, "k", Limit{RPS: 100})
	require.Equal(t, 10*time.Second, <-clock.started, "waiter must sleep until the freeze ends")
	assert.Equal(t, 0, clock.Advance(9*time.Second), "no timer is due before the freeze ends")
	assert.Equal(t, 1, clock.Advance(time.Second))
	r := <-done
	require.NoError(t, r.err)
	assert.False(t, r.at.Before(until), "Wait returned at %v, before the freeze ended at %v", r.at, until)
	assert.Equal(t, int64(1), reg.Status("k").Requests)
}

func TestWaitRearmsWhenFreezeExtended(t *testing.T) {
	reg, clock := newFakeRegistry()
	reg.Freeze("k", 10*time.Second)
	done := waitAsync(context.Background(), reg, clock, "k", Limit{RPS: 100})
	require.Equal(t, 10*time.Second, <-clock.started)
	until := reg.Freeze("k", 30*time.Second)
	require.Equal(t, 30*time.Second, <-clock.started, "waiter must re-arm to the new end")
	assert.Equal(t, 0, clock.Advance(10*time.Second), "the old end must not wake the waiter")
	assert.Equal(t, 1, clock.Advance(20*time.Second))
	r := <-done
	require.NoError(t, r.err)
	assert.False(t, r.at.Before(until))
}

func TestWaitHonoursContext(t *testing.T) {
	t.Run("frozen", func(t *testing.T) {
		reg, clock := newFakeRegistry()
		reg.Freeze("k", time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		done := waitAsync(ctx, reg, clock, "k", Limit{RPS: 1})
		<-clock.started
		cancel()
		r := <-done
		require.ErrorIs(t, r.err, context.Canceled)
		assert.Contains(t, r.err.Error(), `"k"`)
		assert.Equal(t, int64(0), reg.Status("k").Requests)
	})
	t.Run("in the limiter, reservation returned", func(t *testing.T) {
		reg, clock := newFakeRegistry()
		l := Limit{RPS: 1, Burst: 1}
		require.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, "k", l)))
		ctx, cancel := context.WithCancel(context.Background())
		done := waitAsync(ctx, reg, clock, "k", l)
		require.Equal(t, time.Second, <-clock.started)
		cancel()
		require.ErrorIs(t, (<-done).err, context.Canceled)
		clock.Advance(time.Second)
		// The cancelled waiter's token is back: the next request goes at once.
		assert.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, "k", l)))
	})
	t.Run("already done", func(t *testing.T) {
		reg, _ := newFakeRegistry()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, reg.Wait(ctx, "k", Limit{RPS: 1}), context.Canceled)
	})
}

func TestFreezeWhileInLimiter(t *testing.T) {
	reg, clock := newFakeRegistry()
	l := Limit{RPS: 1, Burst: 1}
	require.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, "k", l)))
	done := waitAsync(context.Background(), reg, clock, "k", l)
	require.Equal(t, time.Second, <-clock.started, "second request waits for the limiter")
	until := reg.Freeze("k", 5*time.Second)
	require.Equal(t, 5*time.Second, <-clock.started, "the freeze sends the waiter back to the gate")
	assert.Equal(t, 0, clock.Advance(time.Second), "the limiter's timer must be stopped")
	assert.Equal(t, 1, clock.Advance(4*time.Second))
	r := <-done
	require.NoError(t, r.err)
	assert.False(t, r.at.Before(until))
}

// TestFreezeAfterLimiterGrants freezes the key while the waiter's limiter
// timer fires, so that both wake-ups are ready at once: whichever Wait
// takes, it must look at the gate again before letting the request go.
func TestFreezeAfterLimiterGrants(t *testing.T) {
	for i := range 50 {
		clock := &simClock{now: epoch}
		var until time.Time
		var reg *Registry
		timer := func(d time.Duration) (<-chan time.Time, func() bool) {
			if until.IsZero() {
				until = reg.Freeze("k", 5*time.Second) // arrives during the limiter's wait
			}
			return clock.Timer(d)
		}
		reg = NewRegistry(Options{Now: clock.Now, Timer: timer, Rand: func() float64 { return 0 }})
		l := Limit{RPS: 1, Burst: 1}
		require.NoError(t, reg.Wait(context.Background(), "k", l))
		require.NoError(t, reg.Wait(context.Background(), "k", l))
		require.False(t, clock.now.Before(until), "run %d: request let through at %v, inside the freeze ending %v", i, clock.now, until)
	}
}

func TestDecreaseAndRecovery(t *testing.T) {
	tests := []struct {
		name    string
		limit   Limit
		freezes int
	}{
		{"one answer", Limit{RPS: 10}, 1},
		{"three answers", Limit{RPS: 10}, 3},
		{"down to the floor", Limit{RPS: 2}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &simClock{now: epoch}
			reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, Rand: func() float64 { return 0 }})
			ctx := context.Background()
			require.NoError(t, reg.Wait(ctx, "k", tt.limit))
			reg.Observe("k", hints.Quota{})
			prev := reg.Status("k").Rate
			require.Equal(t, tt.limit.RPS, prev)
			for range tt.freezes {
				require.NoError(t, reg.Wait(ctx, "k", tt.limit))
				reg.Freeze("k", time.Second)
				r := reg.Status("k").Rate
				if prev > reg.opts.MinRate {
					assert.Less(t, r, prev, "a rate-limit answer lowers the rate")
				}
				assert.GreaterOrEqual(t, r, reg.opts.MinRate, "never below the floor")
				prev = r
			}
			if tt.freezes >= 30 {
				assert.Equal(t, reg.opts.MinRate, prev, "many answers reach the floor")
			}
			// Recovery: gradual, never above the ceiling, back at it in the end.
			steps := 0
			for reg.Status("k").Rate < tt.limit.RPS && steps < 10000 {
				require.NoError(t, reg.Wait(ctx, "k", tt.limit))
				reg.Observe("k", hints.Quota{})
				r := reg.Status("k").Rate
				assert.GreaterOrEqual(t, r, prev, "recovery does not go down")
				assert.LessOrEqual(t, r, tt.limit.RPS, "never above the ceiling")
				assert.Less(t, r-prev, 0.2*tt.limit.RPS, "recovery is gradual")
				prev = r
				steps++
			}
			assert.Equal(t, tt.limit.RPS, reg.Status("k").Rate)
			assert.Greater(t, steps, 10, "recovery takes more than a few requests")
		})
	}
}

func TestSameEventCutsOnce(t *testing.T) {
	reg, clock := newFakeRegistry()
	l := Limit{RPS: 10, Burst: 3}
	for range 3 { // three requests in flight
		require.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, "k", l)))
	}
	reg.Freeze("k", time.Second)
	cut := reg.Status("k").Rate
	assert.InDelta(t, 10*DefaultDecrease, cut, 1e-9)
	reg.Freeze("k", time.Second) // answers to the two others
	reg.Freeze("k", time.Second)
	assert.Equal(t, cut, reg.Status("k").Rate, "answers to requests in flight at the cut do not cut again")
	assert.Equal(t, int64(3), reg.Status("k").Freezes)
}

func TestLowQuota(t *testing.T) {
	tests := []struct {
		name       string
		q          hints.Quota
		wantRate   float64
		wantFrozen time.Duration // 0: not frozen
	}{
		{"unknown", hints.Quota{}, 10, 0},
		{"plenty left", hints.Quota{Known: true, Limit: 100, Remaining: 50, Reset: 10 * time.Second}, 10, 0},
		{"low: spread over reset", hints.Quota{Known: true, Limit: 100, Remaining: 5, Reset: 10 * time.Second}, 0.5, 0},
		{"low: spread over window", hints.Quota{Known: true, Limit: 100, Remaining: 4, Window: 20 * time.Second}, 0.2, 0},
		{"low but higher than rate", hints.Quota{Known: true, Limit: 1000, Remaining: 90, Reset: time.Second}, 10, 0},
		{"none left: wait for reset", hints.Quota{Known: true, Limit: 100, Remaining: 0, Reset: 30 * time.Second}, 10, 30 * time.Second},
		{"none left, limit unknown", hints.Quota{Known: true, Remaining: 0, Reset: 20 * time.Second}, 10, 20 * time.Second},
		{"policy only", hints.Quota{Known: true, Window: time.Minute}, 10, 0},
		// Burst budgets (horizon < MinQuotaHorizon): a token bucket refills
		// continuously; neither a low remainder nor none left slows a
		// declared key (none left only ends an adaptive key's slow start).
		{"burst budget low", hints.Quota{Known: true, Limit: 20, Remaining: 1, Reset: time.Second, Window: time.Second}, 10, 0},
		{"burst budget dry", hints.Quota{Known: true, Limit: 20, Remaining: 0, Reset: time.Second, Window: time.Second}, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, clock := newFakeRegistry()
			l := Limit{RPS: 10}
			require.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, "k", l)))
			reg.Observe("k", tt.q)
			st := reg.Status("k")
			assert.InDelta(t, tt.wantRate, st.Rate, 1e-9)
			if tt.wantFrozen > 0 {
				assert.Equal(t, epoch.Add(tt.wantFrozen), st.FrozenUntil)
				assert.Equal(t, int64(0), st.Freezes, "a quota wait is not a rate-limit answer")
			} else {
				assert.True(t, st.FrozenUntil.IsZero())
			}
			// Once the window has reset, the key is back at full speed.
			clock.Advance(time.Minute)
			assert.InDelta(t, 10, reg.Status("k").Rate, 1e-9)
		})
	}
}

func TestLowQuotaLiftedByHealthyQuota(t *testing.T) {
	reg, _ := newFakeRegistry()
	reg.Observe("k", hints.Quota{Known: true, Limit: 100, Remaining: 1, Reset: 10 * time.Second})
	require.InDelta(t, 0.1, reg.Status("k").Rate, 1e-9)
	reg.Observe("k", hints.Quota{Known: true, Limit: 100, Remaining: 100, Reset: 60 * time.Second})
	assert.InDelta(t, DefaultInitialAdaptiveRate, reg.Status("k").Rate, 1e-9)
}

func TestKeysIndependent(t *testing.T) {
	reg, clock := newFakeRegistry()
	l := Limit{RPS: 10, Burst: 5}
	for _, k := range []string{"b", "a"} {
		require.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, k, l)))
	}
	reg.Freeze("a", time.Minute)
	done := waitAsync(context.Background(), reg, clock, "b", l)
	assert.True(t, returnsWithoutBlocking(t, clock, done), "a freeze of a must not hold b")
	a, b := reg.Status("a"), reg.Status("b")
	assert.Less(t, a.Rate, 10.0)
	assert.Equal(t, 10.0, b.Rate)
	assert.True(t, b.FrozenUntil.IsZero())
	assert.Equal(t, int64(0), b.Freezes)
	assert.Equal(t, int64(2), b.Requests)
	assert.Equal(t, []string{"a", "b"}, reg.Keys())
}

func TestLimitUpdate(t *testing.T) {
	tests := []struct {
		name     string
		from, to Limit
		want     Status
	}{
		{"raise ceiling", Limit{RPS: 10}, Limit{RPS: 20}, Status{Rate: 20, Ceiling: 20}},
		{"lower ceiling", Limit{RPS: 10}, Limit{RPS: 4}, Status{Rate: 4, Ceiling: 4}},
		{"declared to adaptive", Limit{RPS: 10}, Limit{}, Status{Rate: 10, Adaptive: true}},
		{"adaptive to declared", Limit{}, Limit{RPS: 3}, Status{Rate: 3, Ceiling: 3}},
		{"ceiling clamped", Limit{}, Limit{RPS: 1e12}, Status{Rate: MaxRPS, Ceiling: MaxRPS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, clock := newFakeRegistry()
			require.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, "k", tt.from)))
			clock.Advance(time.Second)
			require.True(t, returnsWithoutBlocking(t, clock, waitAsync(context.Background(), reg, clock, "k", tt.to)))
			got := reg.Status("k")
			tt.want.Key, tt.want.Requests, tt.want.InFlight = "k", 2, 2 // never answered here
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestStatusUnknownKey(t *testing.T) {
	reg := NewRegistry(Options{})
	assert.Equal(t, Status{Key: "nope"}, reg.Status("nope"))
	assert.Empty(t, reg.Keys())
}

// TestConcurrent runs many goroutines on a few keys on the real clock, with
// freezes and quota hints, for the race detector; it asserts counts only.
func TestConcurrent(t *testing.T) {
	reg := NewRegistry(Options{})
	const goroutines, perG = 16, 50
	keys := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			key := keys[g%len(keys)]
			for i := range perG {
				if err := reg.Wait(context.Background(), key, Limit{RPS: 1e6, Burst: 100}); err != nil {
					t.Error(err)
					return
				}
				switch i % 10 {
				case 3:
					reg.Freeze(key, time.Millisecond)
				case 7:
					reg.Observe(key, hints.Quota{Known: true, Limit: 100, Remaining: 50, Reset: time.Second})
				default:
					reg.Observe(key, hints.Quota{})
				}
				_ = reg.Status(key)
			}
		})
	}
	wg.Wait()
	var total int64
	for _, k := range reg.Keys() {
		total += reg.Status(k).Requests
	}
	assert.Equal(t, int64(goroutines*perG), total)
}

func BenchmarkWaitUnlimited(b *testing.B) {
	reg := NewRegistry(Options{})
	ctx := context.Background()
	l := Limit{RPS: MaxRPS}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := reg.Wait(ctx, "k", l); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A rate that doubles while a request waits at the limiter wakes it to
// reserve its turn again at the new rate: kept at the old rate, its turn
// would stand next to the turns reserved after it (at 5 req/s a waiter is
// due 200 ms after the last request; doubled to 10 req/s after 100 ms, the
// next waiter was due 50 ms after it, half the new interval, and a server
// without a burst refused it). A watchdog fails the test instead of
// hanging if the waiter is never woken.
func TestRateIncreaseReschedulesWaiters(t *testing.T) {
	reg, clock := newFakeRegistry()
	ctx := context.Background()
	require.True(t, returnsWithoutBlocking(t, clock, waitAsync(ctx, reg, clock, "k", Limit{})))
	a := waitAsync(ctx, reg, clock, "k", Limit{})
	require.Equal(t, 200*time.Millisecond, <-clock.started, "at 5 req/s the next turn is 200 ms away")

	clock.Advance(slowStartRound) // the first answer ends slow start's first round
	reg.Observe("k", hints.Quota{})
	require.Equal(t, 10.0, reg.Status("k").Rate, "the rate doubled")
	select {
	case d := <-clock.started:
		assert.Equal(t, 50*time.Millisecond, d, "the waiter's turn, reserved again at 10 req/s")
	case r := <-a:
		t.Fatalf("the waiter returned at %s", r.at.Sub(epoch))
	case <-time.After(10 * time.Second): // watchdog, not a measure
		t.Fatal("the waiter was not woken by the rate's increase")
	}
	b := waitAsync(ctx, reg, clock, "k", Limit{})
	assert.Equal(t, 150*time.Millisecond, <-clock.started, "the next turn one interval of the new rate later")
	clock.Advance(50 * time.Millisecond)
	assert.Equal(t, epoch.Add(150*time.Millisecond), (<-a).at)
	clock.Advance(100 * time.Millisecond)
	assert.Equal(t, epoch.Add(250*time.Millisecond), (<-b).at)
}

// Two requests waiting at the limiter when the rate doubles reserve their
// turns again one interval of the new rate apart, whichever reserves
// first: handed back one by one to the old limiter (rate.Reservation's
// Cancel), the later turn gave back more than it took once the earlier
// one stood before it at the new rate, and two requests went 47 ms apart
// at 14 req/s (a server without a burst refused the second). A watchdog
// fails the test instead of hanging if a waiter is never woken.
func TestRateIncreaseReschedulesEveryWaiter(t *testing.T) {
	reg, clock := newFakeRegistry()
	ctx := context.Background()
	require.True(t, returnsWithoutBlocking(t, clock, waitAsync(ctx, reg, clock, "k", Limit{})))
	a := waitAsync(ctx, reg, clock, "k", Limit{})
	require.Equal(t, 200*time.Millisecond, <-clock.started, "at 5 req/s the next turn is 200 ms away")
	b := waitAsync(ctx, reg, clock, "k", Limit{})
	require.Equal(t, 400*time.Millisecond, <-clock.started, "and the one after it 400 ms")

	clock.Advance(slowStartRound) // the first answer ends slow start's first round
	reg.Observe("k", hints.Quota{})
	require.Equal(t, 10.0, reg.Status("k").Rate, "the rate doubled")
	var turns []time.Duration
	for range 2 {
		select {
		case d := <-clock.started:
			turns = append(turns, d)
		case <-time.After(10 * time.Second): // watchdog, not a measure
			t.Fatal("a waiter was not woken by the rate's increase")
		}
	}
	assert.ElementsMatch(t, []time.Duration{50 * time.Millisecond, 150 * time.Millisecond}, turns,
		"half the new interval left after 100 ms at the old rate, then one interval more")
	first := func() waitResult { // whichever waiter returns
		select {
		case r := <-a:
			a = nil
			return r
		case r := <-b:
			b = nil
			return r
		case <-time.After(10 * time.Second): // watchdog, not a measure
			t.Fatalf("no waiter returned at %s", clock.Now().Sub(epoch))
			return waitResult{}
		}
	}
	clock.Advance(50 * time.Millisecond)
	assert.Equal(t, epoch.Add(150*time.Millisecond), first().at)
	clock.Advance(100 * time.Millisecond)
	assert.Equal(t, epoch.Add(250*time.Millisecond), first().at)
}
