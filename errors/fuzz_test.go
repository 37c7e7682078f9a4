package errors_test

import (
	"net/http"
	"testing"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit/hints"
)

// FuzzFromResponse checks that no combination of quota headers makes
// FromResponse panic, and that the delay a throttled response carries is
// within [0, hints.MaxHint]. Its inputs are those of hints.FuzzParseQuota;
// seeds live in testdata/fuzz/FuzzFromResponse.
func FuzzFromResponse(f *testing.F) {
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
		for _, status := range []int{403, 429, 503} {
			e := sferrors.FromResponse("GET", "https://h/", status, h, nil, now)
			if e == nil || e.RetryAfter < 0 || e.RetryAfter > hints.MaxHint {
				t.Fatalf("FromResponse(%d) = %+v", status, e)
			}
		}
	})
}
