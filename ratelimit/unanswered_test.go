package ratelimit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Requests that failed without an answer the limiter learns from (a
// transport error, a fetch cut off in flight) are answered by Unanswered:
// afterwards a refusal of a request sent after the last cut is a new
// congestion event again, cut and with its hintless freeze doubled. Left
// counted as in flight, they made every later refusal pass for an echo of
// the first one: no further cut, no doubling, for the life of the worker.
func TestUnansweredRequestsDoNotHideLaterRefusals(t *testing.T) {
	reg, clock := newFakeRegistry()
	send := func() { t.Helper(); sendOne(t, reg, clock, "k", Limit{RPS: 20}) }
	for range 5 { // five transport errors
		send()
		reg.Unanswered("k")
	}
	send()
	first := reg.Freeze("k", 0).Sub(clock.Now())
	rate1 := reg.Status("k").Rate
	require.Less(t, rate1, 20.0, "the first refusal cuts")

	send() // sent after the cut: a refusal of it is a new event
	second := reg.Freeze("k", 0).Sub(clock.Now())
	assert.Less(t, reg.Status("k").Rate, rate1, "the second refusal cuts again")
	send()
	third := reg.Freeze("k", 0).Sub(clock.Now())
	assert.Greater(t, second, first, "hintless freezes double while refusals follow each other")
	assert.Greater(t, third, second)
}
