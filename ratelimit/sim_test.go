package ratelimit

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// bucketServer is a simulated API limiting with a token bucket in virtual
// time, answering 429 with a Retry-After hint when the bucket is empty.
type bucketServer struct {
	rate, burst, tokens float64
	last                time.Time
	hint                func(wait time.Duration) time.Duration
	// dropAt, when set, lowers the limit to dropTo at that time.
	dropAt time.Time
	dropTo float64
}

// serve answers one request at now.
func (s *bucketServer) serve(now time.Time) (ok bool, retryAfter time.Duration) {
	if !s.dropAt.IsZero() && !now.Before(s.dropAt) {
		s.rate, s.dropAt = s.dropTo, time.Time{}
	}
	s.tokens = math.Min(s.burst, s.tokens+now.Sub(s.last).Seconds()*s.rate)
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return true, 0
	}
	return false, s.hint(time.Duration((1 - s.tokens) / s.rate * float64(time.Second)))
}

// simResult is what a simulation measured after its warm-up.
type simResult struct {
	rate     float64 // successful requests per second
	share429 float64 // share of requests answered 429
}

// simulate runs one client against a bucketServer for warmup+measure of
// virtual time, calling the real Registry's Wait, Freeze and Observe.
func simulate(t *testing.T, srv *bucketServer, rtt, warmup, measure time.Duration) simResult {
	t.Helper()
	clock := &simClock{now: epoch}
	rnd := rand.New(rand.NewPCG(1, 2))
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, Rand: rnd.Float64})
	srv.last, srv.tokens = epoch, srv.burst
	start, end := epoch.Add(warmup), epoch.Add(warmup+measure)
	var ok, limited int
	for clock.now.Before(end) {
		require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
		served, hint := srv.serve(clock.now)
		counted := !clock.now.Before(start)
		clock.now = clock.now.Add(rtt)
		if served {
			reg.Observe("k", hints.Quota{})
		} else {
			reg.Freeze("k", hint)
		}
		switch {
		case !counted:
		case served:
			ok++
		default:
			limited++
		}
	}
	return simResult{
		rate:     float64(ok) / measure.Seconds(),
		share429: float64(limited) / float64(ok+limited),
	}
}

// TestAdaptiveConvergesToServerLimit runs an adaptive key against token
// bucket servers in virtual time. Retry-After in whole seconds is what HTTP
// servers send (a 1 s freeze per answer is expensive at 20 req/s); the
// exact hint is what a careful server sends.
func TestAdaptiveConvergesToServerLimit(t *testing.T) {
	exact := func(d time.Duration) time.Duration { return d }
	seconds := func(d time.Duration) time.Duration { return time.Duration(math.Ceil(d.Seconds())) * time.Second }
	none := func(time.Duration) time.Duration { return 0 }
	tests := []struct {
		name  string
		limit float64
		burst float64
		rtt   time.Duration
		hint  func(time.Duration) time.Duration
	}{
		{"whole seconds", 20, 5, 0, seconds},
		{"no hint", 20, 5, 0, none},
		{"exact hint", 20, 5, 0, exact},
		{"exact hint, 10ms round trip", 20, 5, 10 * time.Millisecond, exact},
		{"burst 1", 20, 1, 0, seconds},
		{"burst 20", 20, 20, 0, seconds},
		{"slow server", 2, 1, 0, seconds},
		{"fast server", 200, 10, 0, exact},
		{"fast server, whole seconds", 200, 10, 0, seconds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &bucketServer{rate: tt.limit, burst: tt.burst, hint: tt.hint}
			warmup := 10 * time.Second
			if tt.limit > 100 {
				warmup = 20 * time.Second // the first climb from 5 req/s takes longer
			}
			got := simulate(t, srv, tt.rtt, warmup, 120*time.Second)
			t.Logf("limit %v req/s: achieved %.2f req/s, %.2f%% answered 429", tt.limit, got.rate, 100*got.share429)
			assert.GreaterOrEqual(t, got.rate, 0.85*tt.limit)
			assert.LessOrEqual(t, got.rate, 1.1*tt.limit)
			assert.LessOrEqual(t, got.share429, 0.03)
		})
	}
}

// TestAdaptiveFollowsLimitDrop lowers the server's limit from 20 to 5 req/s
// after 30 s; the key must settle near the new limit.
func TestAdaptiveFollowsLimitDrop(t *testing.T) {
	srv := &bucketServer{rate: 20, burst: 5, dropAt: epoch.Add(30 * time.Second), dropTo: 5,
		hint: func(time.Duration) time.Duration { return time.Second }}
	got := simulate(t, srv, 0, 60*time.Second, 120*time.Second)
	t.Logf("after the drop: achieved %.2f req/s, %.2f%% answered 429", got.rate, 100*got.share429)
	assert.GreaterOrEqual(t, got.rate, 0.8*5)
	assert.LessOrEqual(t, got.rate, 1.1*5)
	assert.LessOrEqual(t, got.share429, 0.03)
}
