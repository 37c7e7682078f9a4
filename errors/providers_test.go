package errors_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit/hints"
)

// Provider conventions and permanent statuses (ARCHITECTURE.md §Failure
// table, "Provider conventions").
func TestFromResponseProviderConventions(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	secondary := `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`
	tests := []struct {
		name       string
		status     int
		h          http.Header
		body       string
		custom     *hints.Headers
		class      sferrors.Class
		retryAfter time.Duration
		escalates  bool
	}{
		{"505 is permanent", 505, nil, "", nil, sferrors.InvalidRequest, 0, false},
		{"506 is permanent", 506, nil, "", nil, sferrors.InvalidRequest, 0, false},
		{"508 is permanent", 508, nil, "", nil, sferrors.InvalidRequest, 0, false},
		{"510 is permanent", 510, nil, "", nil, sferrors.InvalidRequest, 0, false},
		{"511 is a 407", 511, nil, "", nil, sferrors.Unrecoverable, 0, false},
		{"502 stays transient", 502, nil, "", nil, sferrors.Transient, 0, false},
		{"Stripe false on a 500", 500, http.Header{"Stripe-Should-Retry": {"false"}}, "", nil, sferrors.InvalidRequest, 0, false},
		{"Stripe false on a 429", 429, http.Header{"Stripe-Should-Retry": {"false"}}, "", nil, sferrors.InvalidRequest, 0, false},
		{"Stripe true on a 409", 409, http.Header{"Stripe-Should-Retry": {"true"}}, "", nil, sferrors.Transient, 0, false},
		{"Stripe true on a 500", 500, http.Header{"Stripe-Should-Retry": {"true"}}, "", nil, sferrors.Transient, 0, false},
		{"GitHub secondary 403 without a hint", 403, nil, secondary, nil, sferrors.RateLimited, time.Minute, true},
		{"GitHub secondary 403 with Retry-After", 403, http.Header{"Retry-After": {"120"}}, secondary, nil, sferrors.RateLimited, 2 * time.Minute, true},
		{"GitHub secondary 429 with a short Retry-After", 429, http.Header{"Retry-After": {"5"}}, secondary, nil, sferrors.RateLimited, time.Minute, true},
		{"GitHub plain 403", 403, nil, `{"message":"Must have admin rights to Repository."}`, nil, sferrors.Unrecoverable, 0, false},
		{"HubSpot 429", 429, http.Header{"X-Hubspot-Ratelimit-Remaining": {"0"}, "X-Hubspot-Ratelimit-Interval-Milliseconds": {"10000"}}, "", nil, sferrors.RateLimited, 10 * time.Second, false},
		{"custom pair on a 403", 403, http.Header{"X-Calls-Left": {"0"}, "X-Calls-Reset": {"30"}}, "", &hints.Headers{Remaining: "X-Calls-Left", Reset: "X-Calls-Reset"}, sferrors.RateLimited, 30 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sferrors.FromResponseWith("GET", "https://api.example.com/x", tt.status, tt.h, []byte(tt.body), now, tt.custom)
			assert.Equal(t, tt.class, e.Class)
			assert.Equal(t, tt.retryAfter, e.RetryAfter)
			assert.Equal(t, tt.escalates, e.Escalates)
		})
	}
}
