package hints_test

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// FuzzParseRetryAfter checks that no Retry-After value makes ParseRetryAfter
// panic or return a delay outside [0, MaxHint], and that a refused value
// gives 0. Seeds live in testdata/fuzz/FuzzParseRetryAfter.
func FuzzParseRetryAfter(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string, dateUnix int64) {
		date := time.Unix(dateUnix%(1<<40), 0).UTC()
		d, ok := hints.ParseRetryAfter(v, date)
		if d < 0 || d > hints.MaxHint {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, %v]", v, d, hints.MaxHint)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) refused the value but returned %v", v, d)
		}
		h := http.Header{"Retry-After": {v}}
		if rd, rok := hints.RateLimitDelay(h, date); rok != ok || rd != d {
			t.Fatalf("RateLimitDelay disagrees with ParseRetryAfter on %q: %v,%v vs %v,%v", v, rd, rok, d, ok)
		}
	})
}

// FuzzParseQuota checks that no combination of quota headers makes
// ParseQuota, RateLimitDelay or Exhausted panic, and that every duration
// they return is within bounds (FuzzFromResponse in package errors does the
// same for the classification). Seeds live in testdata/fuzz/FuzzParseQuota.
func FuzzParseQuota(f *testing.F) {
	f.Fuzz(func(t *testing.T, rateLimit, policy, limit, remaining, reset, date string) {
		h := http.Header{}
		for k, v := range map[string]string{
			"Ratelimit":             rateLimit,
			"Ratelimit-Policy":      policy,
			"X-Ratelimit-Limit":     limit,
			"X-Ratelimit-Remaining": remaining,
			"X-Ratelimit-Reset":     reset,
			"Date":                  date,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		q := hints.ParseQuota(h, now)
		if q.Reset < 0 || q.Reset > hints.MaxHint {
			t.Fatalf("Reset %v outside [0, %v]", q.Reset, hints.MaxHint)
		}
		if q.Window < 0 {
			t.Fatalf("negative Window %v", q.Window)
		}
		for name, n := range map[string]float64{"Limit": q.Limit, "Remaining": q.Remaining} {
			if n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
				t.Fatalf("%s = %v", name, n)
			}
		}
		if !q.Known && q.Remaining != 0 {
			t.Fatalf("Remaining %v without Known", q.Remaining)
		}
		d, ok := hints.RateLimitDelay(h, now)
		if d < 0 || d > hints.MaxHint || (!ok && d != 0) {
			t.Fatalf("RateLimitDelay = %v, %v", d, ok)
		}
		if ra, rok := hints.RetryAfter(h, now); ra != 0 || rok {
			t.Fatalf("RetryAfter = %v, %v without a Retry-After header", ra, rok)
		}
		hints.Exhausted(h) // must not panic
	})
}
