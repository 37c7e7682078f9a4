package ratelimit

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// syncResult is what simulateSync measured over a whole sync.
type syncResult struct {
	rate     float64 // successful requests per second, first to last request
	share429 float64 // share of requests answered 429
	limited  int
}

// simulateSync runs a sync of n successful requests from a fresh key
// against srv in virtual time (the real Registry's Wait, Freeze and
// Observe, one request after the other, each taking rtt), and measures it
// from its first request to its last: no warm-up is left out.
func simulateSync(t *testing.T, srv *bucketServer, rtt time.Duration, n int, quota func(*bucketServer) hints.Quota) syncResult {
	t.Helper()
	clock := &simClock{now: epoch}
	rnd := rand.New(rand.NewPCG(1, 2))
	reg := NewRegistry(Options{Now: clock.Now, Timer: clock.Timer, Rand: rnd.Float64})
	srv.last, srv.tokens = epoch, srv.burst
	var ok, limited int
	var first, last time.Time
	for ok < n {
		require.NoError(t, reg.Wait(context.Background(), "k", Limit{}))
		if first.IsZero() {
			first = clock.now
		}
		last = clock.now
		served, hint := srv.serve(clock.now)
		clock.now = clock.now.Add(rtt)
		if served {
			ok++
			q := hints.Quota{}
			if quota != nil {
				q = quota(srv)
			}
			reg.Observe("k", q)
		} else {
			limited++
			reg.Freeze("k", hint)
		}
	}
	span := last.Sub(first) + time.Duration(float64(time.Second)/srv.rate)
	return syncResult{rate: float64(ok) / span.Seconds(), share429: float64(limited) / float64(ok+limited), limited: limited}
}

// ietfQuota is what the demo API says on a success: its policy (rate per
// second) and what is left in its bucket.
func ietfQuota(s *bucketServer) hints.Quota {
	left := math.Floor(s.tokens)
	return hints.Quota{Known: true, Limit: math.Round(s.rate), Window: time.Second, Remaining: left,
		Reset: time.Duration(math.Ceil((s.burst-s.tokens)/s.rate)) * time.Second}
}

// TestUndeclaredWholeSync syncs 300 requests from a fresh undeclared key
// against token-bucket servers in virtual time and measures the whole
// sync, first request to last (issue 12, point 3): the slow start, the
// first refusal and the climb back all count. Before this change, 20 req/s
// with burst 5 reached 0.73 answering Retry-After in whole seconds, 0.73
// without any hint and 0.76 behind the demo API's headers: the meter
// measured from the curve's epoch, which slow start moves on every answer,
// so the first cut took the doubling rate itself, far above the limit, and
// four more refusals followed; a refusal without a hint froze the key for a
// whole second (20 requests at 20 req/s); the policy the headers announce
// (20 per second) was not used as the rate. Since slow start doubles per
// round of answers rather than per second (TestSlowStartDoublesPerRound),
// "no hint" reaches 0.95 (0.91 before), 40/s 0.71 (0.66); "burst 1" went
// from 0.78 to 0.72: a server without a burst refuses as soon as the ramp
// passes its limit, now within the first half second, and the rate sent
// until then, taken for the rate in use, is lower than a second later
// (the grid of TestUndeclaredGrid shows no loss for burst 1 on average).
// Since a cycle holds at least 40 freezes (freezeCycle), "whole seconds"
// reaches 0.89 (0.80): each refusal there costs a second, and the curve
// took 10 s to probe again.
func TestUndeclaredWholeSync(t *testing.T) {
	seconds := func(d time.Duration) time.Duration { return time.Duration(math.Ceil(d.Seconds())) * time.Second }
	none := func(time.Duration) time.Duration { return 0 }
	exact := func(d time.Duration) time.Duration { return d }
	for _, tt := range []struct {
		name         string
		limit, burst float64
		hint         func(time.Duration) time.Duration
		quota        func(*bucketServer) hints.Quota
		want         float64 // whole-sync rate / limit at least
	}{
		{"whole seconds", 20, 5, seconds, nil, 0.85},
		{"no hint", 20, 5, none, nil, 0.93},
		{"exact hint", 20, 5, exact, nil, 0.9},
		{"demo api headers", 20, 5, seconds, ietfQuota, 0.97},
		{"burst 1", 20, 1, seconds, nil, 0.7},
		{"burst 20", 20, 20, seconds, nil, 0.9},
		{"40/s", 40, 5, seconds, nil, 0.68},
		{"slow server", 2, 1, seconds, nil, 0.85},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := &bucketServer{rate: tt.limit, burst: tt.burst, hint: tt.hint}
			got := simulateSync(t, srv, 0, 300, tt.quota)
			t.Logf("limit %v req/s, burst %v: %.2f req/s over the whole sync (%.2f), %d × 429 (%.2f%%)",
				tt.limit, tt.burst, got.rate, got.rate/tt.limit, got.limited, 100*got.share429)
			require.GreaterOrEqual(t, got.rate/tt.limit, tt.want)
			require.LessOrEqual(t, got.rate/tt.limit, 1.05)
			require.LessOrEqual(t, got.share429, 0.03)
		})
	}
}
