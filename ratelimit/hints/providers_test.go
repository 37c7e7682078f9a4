package hints

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// Each provider of the table is read as documented.
func TestProviderQuotas(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		h      http.Header
		custom *Headers
		want   Quota
	}{
		{"GitHub primary", header("x-ratelimit-limit", "5000", "x-ratelimit-remaining", "0", "x-ratelimit-reset", "1796130000", "x-ratelimit-used", "5000", "Date", now.Format(http.TimeFormat)), nil,
			Quota{Known: true, Limit: 5000, Remaining: 0, Reset: MaxHint}},
		{"Shopify", header("X-Shopify-Shop-Api-Call-Limit", "39/40"), nil,
			Quota{Known: true, Limit: 40, Remaining: 1, LeakRate: 2}},
		{"Shopify Plus", header("X-Shopify-Shop-Api-Call-Limit", "20/80"), nil,
			Quota{Known: true, Limit: 80, Remaining: 60, LeakRate: 4}},
		{"HubSpot interval", header("X-HubSpot-RateLimit-Max", "100", "X-HubSpot-RateLimit-Remaining", "0", "X-HubSpot-RateLimit-Interval-Milliseconds", "10000"), nil,
			Quota{Known: true, Limit: 100, Remaining: 0, Reset: 10 * time.Second, Window: 10 * time.Second}},
		{"HubSpot daily used up", header("X-HubSpot-RateLimit-Daily", "250000", "X-HubSpot-RateLimit-Daily-Remaining", "0", "X-HubSpot-RateLimit-Remaining", "90"), nil,
			Quota{Known: true, Limit: 250000, Remaining: 0, Reset: MaxHint}},
		{"Zendesk account", header("X-Rate-Limit", "700", "X-Rate-Limit-Remaining", "699"), nil,
			Quota{Known: true, Limit: 700, Remaining: 699}},
		{"Zendesk endpoint", header("X-Rate-Limit", "700", "X-Rate-Limit-Remaining", "699", "ratelimit-reset", "41", "Zendesk-RateLimit-Tickets-Index", "total=100; remaining=0; resets=41"), nil,
			Quota{Known: true, Limit: 100, Remaining: 0, Reset: 41 * time.Second}},
		{"custom pair", header("X-Api-Calls-Left", "0", "X-Api-Calls-Reset-In", "120", "X-RateLimit-Remaining", "50"), &Headers{Remaining: "X-Api-Calls-Left", Reset: "X-Api-Calls-Reset-In"},
			Quota{Known: true, Remaining: 0, Reset: 2 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ParseQuotaWith(tt.h, now, tt.custom))
		})
	}
	d, ok := RateLimitDelayWith(header("X-Api-Calls-Left", "0", "X-Api-Calls-Reset-In", "120"), now, &Headers{Remaining: "X-Api-Calls-Left", Reset: "X-Api-Calls-Reset-In"})
	assert.True(t, ok)
	assert.Equal(t, 2*time.Minute, d)
	assert.True(t, ExhaustedWith(header("X-Api-Calls-Left", "0"), &Headers{Remaining: "X-Api-Calls-Left"}))
	assert.False(t, Exhausted(header("X-Api-Calls-Left", "0")), "without the pair the header means nothing")
}

func TestStripeShouldRetry(t *testing.T) {
	for v, want := range map[string][2]bool{"true": {true, true}, "false": {false, true}, " False ": {false, true}, "maybe": {}, "": {}} {
		retry, ok := StripeShouldRetry(header("Stripe-Should-Retry", v))
		assert.Equal(t, want, [2]bool{retry, ok}, "%q", v)
	}
}

func TestSecondaryLimit(t *testing.T) {
	body := []byte(`{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`)
	assert.True(t, SecondaryLimit(http.StatusForbidden, body))
	assert.True(t, SecondaryLimit(http.StatusTooManyRequests, body))
	assert.True(t, SecondaryLimit(http.StatusForbidden, []byte(`{"message":"You have triggered an abuse detection mechanism."}`)))
	assert.False(t, SecondaryLimit(http.StatusForbidden, []byte(`{"message":"Resource not accessible by integration"}`)))
	assert.False(t, SecondaryLimit(http.StatusInternalServerError, body))
}
