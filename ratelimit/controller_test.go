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

// The curve's time to its plateau holds at least freezeCycle freezes: a
// key of a fast server answering Retry-After in whole seconds probes
// slowly, one answering without a hint as before, and one frozen an hour
// (a quota) climbs back within a minute.
func TestExpensiveRefusalsLengthenTheCycle(t *testing.T) {
	keys := map[time.Duration]controller{}
	for _, freeze := range []time.Duration{time.Second, 20 * time.Millisecond, time.Hour} {
		c := newController(0, 200, DefaultMinRate, DefaultDecrease, epoch)
		c.slowStart = false
		now := drive(&c, epoch, 2*time.Second)
		refuse(t, &c, now, freeze)
		keys[freeze] = c
	}
	assert.InDelta(t, float64(freezeCycle), keys[time.Second].k, 1e-9, "40 freezes of a second")
	assert.InDelta(t, maxFreezeCycle.Seconds(), keys[time.Hour].k, 1e-9, "a quota's hour: a minute, not 40 hours")
	fast := keys[20*time.Millisecond]
	assert.InDelta(t, math.Cbrt((fast.wmax-fast.base)/cubicC), fast.k, 1e-9, "CUBIC's own K: the cycle is shorter")
}
