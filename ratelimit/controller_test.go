package ratelimit

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drive sends from at the controller's own rate, every request answered at
// once with a success, until d has passed, and returns the time reached.
func drive(c *controller, from time.Time, d time.Duration) time.Time {
	now := from
	for now.Before(from.Add(d)) {
		now = now.Add(time.Duration(float64(time.Second) / c.rate))
		c.sent(now)
		c.succeeded(now)
	}
	return now
}

// refuse sends one request at now and answers it with a refusal that
// freezes the key for freeze; it returns the time the key resumes.
func refuse(t *testing.T, c *controller, now time.Time, freeze time.Duration) time.Time {
	t.Helper()
	c.sent(now)
	require.True(t, c.throttled(now, freeze), "the refusal cuts")
	c.pause(now.Add(freeze))
	return now.Add(freeze)
}

// congestionAvoidance returns an adaptive key past slow start that has
// sent at its rate from 20 req/s for 2 s and was then refused (at
// c.refused, its rate cut to 0.9 of that).
func congestionAvoidance(t *testing.T) (*controller, time.Time) {
	c := newController(0, 20, DefaultMinRate, DefaultDecrease, epoch)
	c.slowStart = false
	now := drive(&c, epoch, 2*time.Second)
	now = refuse(t, &c, now, 200*time.Millisecond)
	require.InDelta(t, DefaultDecrease*c.refused, c.rate, 1e-9)
	return &c, now
}

// A second refusal on the climb back to the plateau cuts twice as hard
// only when it comes well under the rate last refused (the limit dropped);
// near it (the noise of a server without a burst, refusing requests sent
// at 0.95 of its limit when jitter brings two closer) it cuts once.
func TestSecondRefusalCutsTwiceOnlyWellUnderTheLast(t *testing.T) {
	c, now := congestionAvoidance(t)
	now = drive(c, now, 3*time.Second)
	near := c.rate
	require.Greater(t, near, 0.925*c.refused, "3 s up the climb, near the rate refused")
	require.Less(t, now.Sub(c.epoch).Seconds(), c.k, "still climbing")
	refuse(t, c, now, 200*time.Millisecond)
	assert.InDelta(t, DefaultDecrease*near, c.rate, 0.01, "one cut")

	c, now = congestionAvoidance(t)
	at := c.rate
	refuse(t, c, now, 200*time.Millisecond) // at once, at the rate the cut set
	assert.InDelta(t, DefaultDecrease*DefaultDecrease*at, c.rate, 1e-9, "two cuts")
}

// A key that sends as fast as its rate lets it and is refused on the climb
// back to its plateau cuts from its rate, not from the meter, which
// averages the last second and lags the climb; a key that does not use
// its rate cuts from what it sent.
func TestRefusalOnTheClimbTakesTheRateInUse(t *testing.T) {
	c, now := slowStartExit(t)
	now = drive(c, now, 1500*time.Millisecond) // the steep start of the climb
	m, ok := c.meter.rate(now, c.since(now))
	require.True(t, ok)
	before := c.rate
	require.Less(t, m, before, "the meter lags the climb")
	require.GreaterOrEqual(t, m, saturatedShare*before)
	refuse(t, c, now, 200*time.Millisecond)
	assert.InDelta(t, DefaultDecrease*before, c.rate, 1e-9, "cut from the rate")

	c, now = congestionAvoidance(t)
	for range 20 { // 2 s at 10 req/s, under the key's 18
		now = now.Add(100 * time.Millisecond)
		c.sent(now)
		c.succeeded(now)
	}
	c.sent(now) // the request refused
	m, ok = c.meter.rate(now, c.since(now))
	require.True(t, ok)
	require.Less(t, m, saturatedShare*c.rate)
	require.True(t, c.throttled(now, 200*time.Millisecond))
	// Well under the rate last refused: twice (see
	// TestSecondRefusalCutsTwiceOnlyWellUnderTheLast).
	assert.InDelta(t, DefaultDecrease*DefaultDecrease*m, c.rate, 1e-9, "cut from what it sent")
}

// The curve's time to its plateau holds at least freezeCycle freezes: a
// key of a fast server answering Retry-After in whole seconds probes
// slowly, one answering without a hint as before.
func TestExpensiveRefusalsLengthenTheCycle(t *testing.T) {
	keys := map[time.Duration]controller{}
	for _, freeze := range []time.Duration{time.Second, 20 * time.Millisecond} {
		c := newController(0, 200, DefaultMinRate, DefaultDecrease, epoch)
		c.slowStart = false
		now := drive(&c, epoch, 2*time.Second)
		refuse(t, &c, now, freeze)
		keys[freeze] = c
	}
	assert.InDelta(t, float64(freezeCycle), keys[time.Second].k, 1e-9, "40 freezes of a second")
	fast := keys[20*time.Millisecond]
	assert.InDelta(t, math.Cbrt((fast.wmax-fast.base)/cubicC), fast.k, 1e-9, "CUBIC's own K: the cycle is shorter")
}

// Leaving slow start, the plateau comes from the rate refused and the cut
// from the meter, which averaged the ramp: the curve's time to its plateau
// is that of minCycleRequests at the climb's mean rate, not at the cut's.
func TestSlowStartExitClimbsAtItsMeanRate(t *testing.T) {
	c, _ := slowStartExit(t)
	mean := c.base + 0.75*(c.wmax-c.base)
	require.Greater(t, minCycleRequests/mean, math.Cbrt((c.wmax-c.base)/cubicC), "the cycle decides")
	assert.InDelta(t, minCycleRequests/mean, c.k, 1e-9)
	assert.Less(t, c.k, minCycleRequests/c.refused, "shorter than at the cut's rate")
}

// slowStartExit returns a key refused as slow start doubled its rate to
// 40 req/s, and the time it resumes.
func slowStartExit(t *testing.T) (*controller, time.Time) {
	c := newController(0, DefaultInitialAdaptiveRate, DefaultMinRate, DefaultDecrease, epoch)
	now := drive(&c, epoch, 450*time.Millisecond)
	require.True(t, c.slowStart)
	require.InDelta(t, 8.0*DefaultInitialAdaptiveRate, c.rate, 1e-9, "slow start has doubled three times")
	now = refuse(t, &c, now, 100*time.Millisecond)
	require.Greater(t, c.wmax, c.refused, "the plateau from the rate refused, above the rate in use")
	return &c, now
}
