package hints

import (
	"bytes"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Headers names one family of quota headers: how many requests are left
// (Remaining, required), when the window resets (Reset: seconds, or an
// epoch in seconds or milliseconds, as X-RateLimit-Reset) and, optionally,
// the window's size (Limit). A dataset names its API's own pair in
// source.quota_headers when the API is not in Providers.
type Headers struct {
	Remaining string `json:"remaining" yaml:"remaining"`
	Reset     string `json:"reset" yaml:"reset"`
	Limit     string `json:"limit,omitempty" yaml:"limit,omitempty"`
}

// legacyNames are the X-RateLimit-* style families every response is read
// for, in order of precedence: a family fills what the ones before it left
// unknown.
var legacyNames = []Headers{
	{Limit: "X-RateLimit-Limit", Remaining: "X-RateLimit-Remaining", Reset: "X-RateLimit-Reset"},
	{Limit: "RateLimit-Limit", Remaining: "RateLimit-Remaining", Reset: "RateLimit-Reset"},
	{Limit: "X-Rate-Limit", Remaining: "X-Rate-Limit-Remaining", Reset: "X-Rate-Limit-Reset"},
}

// Provider is one row of the provider table (ARCHITECTURE.md §Failure
// table, "Provider conventions"): an API's documented rate-limit signals
// and what syncflow does with them.
type Provider struct {
	Name      string
	Signals   string // the documented headers or body, and their format
	Treatment string
}

// Providers is the provider table: the conventions this package (and
// errors.FromResponse, which applies StripeShouldRetry and
// SecondaryLimit) understands. The README and ARCHITECTURE.md show it.
var Providers = []Provider{
	{"IETF draft", "`RateLimit: \"default\";r=0;t=30`, `RateLimit-Policy: \"default\";q=100;w=60`", "r remaining, t seconds to the reset; r=0 closes the key until the reset"},
	{"GitHub (primary)", "`x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset` (epoch seconds)", "remaining 0 closes the key until the reset, on a 200 too; a 403/429 with remaining 0 is rate limited"},
	{"GitHub (secondary)", "403 or 429 whose body says `secondary rate limit` (or `abuse detection`), often without `Retry-After`", "rate limited: wait `Retry-After`, at least 60 s, doubling on each further answer for the same page; fails rate limited after 6 answers in a row"},
	{"Shopify", "`X-Shopify-Shop-Api-Call-Limit: 39/40` (used/size of a leaky bucket that drains size/20 requests per second)", "from half full the key is held to the leak rate, before the API answers 429"},
	{"Stripe", "`Stripe-Should-Retry: true` / `false`", "wins over the status: `false` is never retried (invalid request), `true` is retried (transient) whatever the status"},
	{"HubSpot", "`X-HubSpot-RateLimit-Max`, `-Remaining`, `-Interval-Milliseconds`; `X-HubSpot-RateLimit-Daily`, `-Daily-Remaining`", "remaining 0 closes the key for the interval; daily remaining 0 closes it for an hour (MaxHint), then asks again"},
	{"Zendesk", "`X-Rate-Limit`, `X-Rate-Limit-Remaining` (per minute), `ratelimit-reset`; `Zendesk-RateLimit-<endpoint>: total=100; remaining=99; resets=41`", "the lowest remaining of them counts; 0 closes the key until the reset"},
	{"any other API", "a custom pair in `source.quota_headers` (`remaining`, `reset`, optional `limit`)", "read before every other X-RateLimit-* family, with the same rules"},
}

// providers reads the provider headers that are not a plain family.
func (q *quotaHints) providers(h http.Header) {
	q.hubSpot(h)
	q.zendesk(h)
	q.shopify(h)
}

// hubSpot reads X-HubSpot-RateLimit-*: the interval budget, and the daily
// one when it is used up (its reset, midnight in the account's time zone,
// is not sent: MaxHint stands for it).
func (q *quotaHints) hubSpot(h http.Header) {
	const p = "X-HubSpot-RateLimit-"
	if daily, ok := firstNumber(h.Values(p + "Daily-Remaining")); ok && daily == 0 {
		q.legacyRemaining, q.legacyRemainingOK = 0, true
		q.legacyLimit, q.legacyLimitOK = firstNumber(h.Values(p + "Daily"))
		q.legacyReset, q.legacyResetOK = hintCap(), true
		return
	}
	rem, ok := firstNumber(h.Values(p + "Remaining"))
	if !ok || q.legacyRemainingOK {
		return
	}
	q.legacyRemaining, q.legacyRemainingOK = rem, true
	q.legacyLimit, q.legacyLimitOK = firstNumber(h.Values(p + "Max"))
	if ms, ok := firstNumber(h.Values(p + "Interval-Milliseconds")); ok {
		q.legacyWindow = secondsDuration(ms/1000, maxWindow)
		if rem == 0 && !q.legacyResetOK {
			q.legacyReset, q.legacyResetOK = clampHint(q.legacyWindow), true
		}
	}
}

// zendesk reads Zendesk's per-endpoint headers, Zendesk-RateLimit-<name>:
// total=N; remaining=N; resets=SECONDS. The one with the least left wins
// over the account-wide headers when it has less left.
func (q *quotaHints) zendesk(h http.Header) {
	var names []string
	for name := range h {
		if strings.HasPrefix(name, "Zendesk-Ratelimit-") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		total, rem, resets, ok := zendeskField(h.Get(name))
		if !ok || (q.legacyRemainingOK && rem >= q.legacyRemaining) {
			continue
		}
		q.legacyRemaining, q.legacyRemainingOK = rem, true
		q.legacyLimit, q.legacyLimitOK = total, total > 0
		if resets >= 0 {
			q.legacyReset, q.legacyResetOK = secondsDuration(resets, hintCap()), true
		}
	}
}

// zendeskField parses "total=100; remaining=99; resets=41"; resets is -1
// when absent.
func zendeskField(v string) (total, remaining, resets float64, ok bool) {
	resets = -1
	for part := range strings.SplitSeq(v, ";") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		n, valid := parseDecimal(strings.TrimSpace(val))
		if !found || !valid || math.IsInf(n, 0) {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "total":
			total = n
		case "remaining":
			remaining, ok = n, true
		case "resets":
			resets = n
		}
	}
	return total, remaining, resets, ok
}

// shopifyLeakShare is the part of its size Shopify's bucket drains each
// second (40 requests and 2 per second; 80 and 4 for Plus stores).
const shopifyLeakShare = 1.0 / 20

// shopify reads X-Shopify-Shop-Api-Call-Limit: used/size.
func (q *quotaHints) shopify(h http.Header) {
	v := h.Get("X-Shopify-Shop-Api-Call-Limit")
	a, b, found := strings.Cut(strings.TrimSpace(v), "/")
	if !found {
		return
	}
	used, ok1 := parseDecimal(strings.TrimSpace(a))
	size, ok2 := parseDecimal(strings.TrimSpace(b))
	if !ok1 || !ok2 || !(size > 0) || math.IsInf(size, 0) || math.IsInf(used, 0) {
		return
	}
	q.leakRate = size * shopifyLeakShare
	if !q.legacyRemainingOK {
		q.legacyRemaining, q.legacyRemainingOK = math.Max(0, size-used), true
		q.legacyLimit, q.legacyLimitOK = size, true
	}
}

// StripeShouldRetry reads Stripe-Should-Retry: ok is false when the header
// is absent or neither "true" nor "false".
func StripeShouldRetry(h http.Header) (retry, ok bool) {
	switch strings.ToLower(strings.TrimSpace(h.Get("Stripe-Should-Retry"))) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// SecondaryLimitMinWait is the least a GitHub secondary rate limit is
// waited out when the answer says no more (GitHub's documented minute).
const SecondaryLimitMinWait = time.Minute

// SecondaryLimit reports whether a 403 or 429 body is GitHub's secondary
// rate limit ("You have exceeded a secondary rate limit", older "abuse
// detection mechanism").
func SecondaryLimit(status int, body []byte) bool {
	if status != http.StatusForbidden && status != http.StatusTooManyRequests {
		return false
	}
	b := bytes.ToLower(body)
	return bytes.Contains(b, []byte("secondary rate limit")) || bytes.Contains(b, []byte("abuse detection"))
}
