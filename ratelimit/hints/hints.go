package hints

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// MaxHint caps every delay read from a server's hints (Retry-After,
// RateLimit t, X-RateLimit-Reset) and so every delay this package returns,
// Quota.Reset included (and with it the RetryAfter of the errors package). A server that asks for more (a typo, an epoch in
// milliseconds read as seconds, a daily quota) is retried after MaxHint and
// may then ask again; a task never parks for days on one header.
// It is a variable so that a worker may tune it at start-up; change it only
// before any request is classified.
var MaxHint = time.Hour

// maxWindow bounds a RateLimit-Policy window, which may legitimately be long
// (a daily quota) but must not overflow a time.Duration.
const maxWindow = 366 * 24 * time.Hour

// clampHint bounds d to [0, MaxHint].
func clampHint(d time.Duration) time.Duration {
	hi := MaxHint
	if hi < 0 {
		hi = 0
	}
	if d < 0 {
		return 0
	}
	if d > hi {
		return hi
	}
	return d
}

// hintCap is MaxHint, never negative.
func hintCap() time.Duration { return clampHint(math.MaxInt64) }

// secondsDuration converts a non-negative number of seconds to a duration,
// rounded up to the next whole millisecond and capped at hi (before the
// multiplication, so that it cannot overflow).
func secondsDuration(secs float64, hi time.Duration) time.Duration {
	if hi < 0 {
		hi = 0
	}
	if !(secs > 0) { // also NaN
		return 0
	}
	if secs >= hi.Seconds() {
		return hi
	}
	d := time.Duration(math.Ceil(secs*1000)) * time.Millisecond
	if d > hi {
		return hi
	}
	return d
}

// parseDecimal reads a plain non-negative decimal number: digits, optionally
// followed by a point and more digits ("120", "2.0", "1.5", "3."). Signs,
// exponents, hexadecimal, "inf" and "NaN" are refused. Absurdly long
// numbers read as +Inf, which the callers clamp.
func parseDecimal(s string) (float64, bool) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return 0, false
	}
	intPart := s[:i]
	frac := ""
	if i < len(s) {
		if s[i] != '.' {
			return 0, false
		}
		frac = s[i+1:]
		for j := 0; j < len(frac); j++ {
			if !isDigit(frac[j]) {
				return 0, false
			}
		}
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 300 {
		return math.Inf(1), true
	}
	var f float64
	for k := 0; k < len(intPart); k++ {
		f = f*10 + float64(intPart[k]-'0')
	}
	scale := 0.1
	for k := 0; k < len(frac) && k < 9; k++ {
		f += float64(frac[k]-'0') * scale
		scale /= 10
	}
	// Digits past the ninth cannot be represented in a duration anyway; any
	// non-zero one still rounds the value up (see secondsDuration).
	if len(frac) > 9 && strings.Trim(frac[9:], "0") != "" {
		f += scale
	}
	return f, true
}

// ParseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3):
//
//   - delay-seconds ("120"), leniently also with a decimal part ("2.0",
//     "1.5"), rounded up to the next whole millisecond;
//   - an HTTP-date in any of the three forms http.ParseTime accepts
//     (IMF-fixdate, RFC 850, asctime), taken relative to date, the
//     response's own Date (see ResponseDate), so that the client's clock
//     skew does not matter. A date in the past means "retry now": 0, true.
//
// The result is clamped to [0, MaxHint]. ok is false for an empty, negative
// or unreadable value, which the caller then ignores.
func ParseRetryAfter(v string, date time.Time) (d time.Duration, ok bool) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return 0, false
	}
	if isDigit(v[0]) {
		secs, ok := parseDecimal(v)
		if !ok {
			return 0, false
		}
		return secondsDuration(secs, hintCap()), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return clampHint(t.Sub(date)), true
}

// ResponseDate returns the time of the response's first valid Date header,
// or now when there is none: hints given as absolute times are measured
// against it.
func ResponseDate(h http.Header, now time.Time) time.Time {
	for _, v := range h.Values("Date") {
		if t, err := http.ParseTime(strings.Trim(v, " \t")); err == nil {
			return t
		}
	}
	return now
}

// Quota is what a response says of the caller's remaining request budget
// (RateLimit / RateLimit-Policy fields, X-RateLimit-* headers).
type Quota struct {
	Known     bool          // the response said how many requests are left: Remaining is meaningful
	Limit     float64       // requests allowed per window, 0 when unknown
	Remaining float64       // requests left in the current window; 0 when unknown (see Known)
	Reset     time.Duration // time until the window resets, 0 when unknown; clamped to [0, MaxHint]
	Window    time.Duration // the policy's window, 0 when unknown
	// LeakRate, when positive, is the rate in requests per second at which
	// a leaky bucket of Limit requests drains (Shopify's call limit): a key
	// whose bucket fills up should send no faster.
	LeakRate float64
}

// quotaHints is what the quota headers say, kept apart by source so that
// RateLimitDelay can apply its order of precedence.
type quotaHints struct {
	// IETF RateLimit / RateLimit-Policy fields.
	ietf          bool // a valid RateLimit item was found
	ietfRemaining float64
	ietfReset     time.Duration
	ietfResetOK   bool
	policy        bool // a valid RateLimit-Policy item was found
	policyQuota   float64
	policyWindow  time.Duration

	// X-RateLimit-* (or draft-06 RateLimit-Limit/-Remaining/-Reset) headers.
	legacyLimit       float64
	legacyLimitOK     bool
	legacyRemaining   float64
	legacyRemainingOK bool
	legacyReset       time.Duration
	legacyResetOK     bool
	legacyWindow      time.Duration // a provider's interval (HubSpot)
	leakRate          float64       // a leaky bucket's drain (Shopify)
}

// Exhausted reports whether h says no request is left: the RateLimit
// field's r is 0, or X-RateLimit-Remaining (RateLimit-Remaining) is 0.
// Either source suffices, even where ParseQuota prefers the other: a server
// that says so has throttled the caller, whatever status it chose.
func Exhausted(h http.Header) bool { return ExhaustedWith(h, nil) }

// ExhaustedWith is Exhausted that also reads a custom header pair.
func ExhaustedWith(h http.Header, custom *Headers) bool {
	// The reset is not needed here, so neither is a clock.
	return parseQuota(h, time.Time{}, custom).exhausted()
}

// exhausted reports whether the headers say no request is left.
func (q quotaHints) exhausted() bool {
	return (q.ietf && q.ietfRemaining == 0) || (q.legacyRemainingOK && q.legacyRemaining == 0)
}

// ParseQuota reads what a response says of the caller's request budget:
//
//   - the IETF fields of draft-ietf-httpapi-ratelimit-headers-11, e.g.
//     `RateLimit: "default";r=50;t=30` (r remaining units, t seconds to the
//     reset) and `RateLimit-Policy: "default";q=100;w=60` (q units per w
//     seconds). Of RateLimit the first list member is used; of
//     RateLimit-Policy the member with the same name, else the first. A
//     field value that is not a valid structured-field list, or whose chosen
//     member lacks r (q) or has a negative parameter, is ignored;
//   - the de-facto X-RateLimit-Limit, X-RateLimit-Remaining and
//     X-RateLimit-Reset headers (and their draft-06 names RateLimit-Limit,
//     RateLimit-Remaining, RateLimit-Reset). A reset above 1e9 is an epoch in
//     seconds (above 1e12, in milliseconds) measured against the response's
//     Date (ResponseDate); below, it is a number of seconds.
//
// The IETF fields win where both are present. Of duplicated headers the first
// valid value counts. Quota.Known is true when the remaining budget is known.
// Reset is clamped to [0, MaxHint].
//
// Provider headers (see Providers) count as X-RateLimit-* headers, after
// them.
func ParseQuota(h http.Header, now time.Time) Quota { return ParseQuotaWith(h, now, nil) }

// ParseQuotaWith is ParseQuota that reads a custom header pair (a dataset's
// source.quota_headers) before every other X-RateLimit-* style header.
func ParseQuotaWith(h http.Header, now time.Time, custom *Headers) Quota {
	return parseQuota(h, now, custom).quota()
}

func (q quotaHints) quota() Quota {
	var out Quota
	switch {
	case q.ietf:
		out.Known, out.Remaining = true, q.ietfRemaining
	case q.legacyRemainingOK:
		out.Known, out.Remaining = true, q.legacyRemaining
	}
	switch {
	case q.policy:
		out.Limit, out.Window = q.policyQuota, q.policyWindow
	case q.legacyLimitOK:
		out.Limit, out.Window = q.legacyLimit, q.legacyWindow
	}
	out.LeakRate = q.leakRate
	switch {
	case q.ietfResetOK:
		out.Reset = q.ietfReset
	case q.legacyResetOK:
		out.Reset = q.legacyReset
	}
	return out
}

func parseQuota(h http.Header, now time.Time, custom *Headers) quotaHints {
	var q quotaHints
	name := ""
	for _, v := range h.Values("RateLimit") {
		n, r, t, tOK, ok := parseRateLimitField(v)
		if ok {
			name = n
			q.ietf, q.ietfRemaining, q.ietfReset, q.ietfResetOK = true, r, t, tOK
			break
		}
	}
	for _, v := range h.Values("RateLimit-Policy") {
		quota, w, ok := parsePolicyField(v, name)
		if ok {
			q.policy, q.policyQuota, q.policyWindow = true, quota, w
			break
		}
	}

	date := ResponseDate(h, now)
	names := legacyNames
	if custom != nil && custom.Remaining != "" {
		names = append([]Headers{*custom}, legacyNames...)
	}
	for _, n := range names {
		q.legacy(h, n, date)
	}
	q.providers(h)
	return q
}

// legacy reads one family of X-RateLimit-* style headers, where the
// families before it said nothing.
func (q *quotaHints) legacy(h http.Header, n Headers, date time.Time) {
	if !q.legacyLimitOK && n.Limit != "" {
		q.legacyLimit, q.legacyLimitOK = firstNumber(h.Values(n.Limit))
	}
	if !q.legacyRemainingOK {
		q.legacyRemaining, q.legacyRemainingOK = firstNumber(h.Values(n.Remaining))
	}
	if !q.legacyResetOK && n.Reset != "" {
		if v, ok := firstNumber(h.Values(n.Reset)); ok {
			q.legacyReset, q.legacyResetOK = resetDelay(v, date), true
		}
	}
}

// parseRateLimitField reads the first member of a RateLimit field value.
func parseRateLimitField(v string) (name string, r float64, t time.Duration, tOK, ok bool) {
	members, err := parseSFList(v)
	if err != nil || len(members) == 0 {
		return "", 0, 0, false, false
	}
	m := members[0]
	name, ok = memberName(m)
	if !ok {
		return "", 0, 0, false, false
	}
	rv, ok := m.params["r"]
	if !ok {
		return "", 0, 0, false, false
	}
	r, ok = nonNegative(rv)
	if !ok {
		return "", 0, 0, false, false
	}
	if tv, present := m.params["t"]; present {
		secs, valid := nonNegative(tv)
		if !valid {
			return "", 0, 0, false, false
		}
		t, tOK = secondsDuration(secs, hintCap()), true
	}
	return name, r, t, tOK, true
}

// parsePolicyField reads the member of a RateLimit-Policy field value named
// name, or else its first member.
func parsePolicyField(v, name string) (quota float64, w time.Duration, ok bool) {
	members, err := parseSFList(v)
	if err != nil || len(members) == 0 {
		return 0, 0, false
	}
	m := members[0]
	for _, cand := range members {
		if n, valid := memberName(cand); valid && n == name {
			m = cand
			break
		}
	}
	if _, valid := memberName(m); !valid {
		return 0, 0, false
	}
	qv, present := m.params["q"]
	if !present {
		return 0, 0, false
	}
	if quota, ok = nonNegative(qv); !ok {
		return 0, 0, false
	}
	if wv, present := m.params["w"]; present {
		secs, valid := nonNegative(wv)
		if !valid {
			return 0, 0, false
		}
		w = secondsDuration(secs, maxWindow)
	}
	return quota, w, true
}

// memberName returns a policy's name: the member's string (or, leniently,
// token) value.
func memberName(m sfMember) (string, bool) {
	if m.value.kind == sfString || m.value.kind == sfToken {
		return m.value.str, true
	}
	return "", false
}

// nonNegative returns a numeric parameter that is not negative.
func nonNegative(v sfValue) (float64, bool) {
	if (v.kind == sfInteger || v.kind == sfDecimal) && v.num >= 0 {
		return v.num, true
	}
	return 0, false
}

// firstNumber returns the first header value that is a plain non-negative
// number. A value such as "100, 100;w=60" (an older draft's syntax, or
// duplicates joined by a proxy) counts by its leading number.
func firstNumber(values []string) (float64, bool) {
	for _, v := range values {
		if i := strings.IndexAny(v, ",;"); i >= 0 {
			v = v[:i]
		}
		if n, ok := parseDecimal(strings.Trim(v, " \t")); ok && !math.IsInf(n, 0) {
			return n, true
		}
	}
	return 0, false
}

// resetDelay interprets an X-RateLimit-Reset number: an epoch in
// milliseconds above 1e12, an epoch in seconds above 1e9, else a number of
// seconds. Epochs are measured against date, the response's Date.
func resetDelay(n float64, date time.Time) time.Duration {
	hi := hintCap()
	secs := n
	switch {
	case n > 1e12:
		secs = n / 1000
	case n > 1e9:
	default:
		return secondsDuration(n, hi)
	}
	if secs > 1e11 { // beyond year 5000: absurd, wait as long as allowed
		return hi
	}
	whole := math.Floor(secs)
	at := time.Unix(int64(whole), int64((secs-whole)*1e9))
	return clampHint(at.Sub(date))
}

// RateLimitDelay returns how long the server asks the client to wait, from
// the first of these that is present and valid:
//
//  1. Retry-After (see ParseRetryAfter; of several values the first valid);
//  2. the RateLimit field's t, when its r is 0;
//  3. X-RateLimit-Reset, when X-RateLimit-Remaining is 0.
//
// ok is false when the response gives no such hint. The delay is clamped to
// [0, MaxHint].
func RateLimitDelay(h http.Header, now time.Time) (time.Duration, bool) {
	return RateLimitDelayWith(h, now, nil)
}

// RateLimitDelayWith is RateLimitDelay that also reads a custom header
// pair (see ParseQuotaWith).
func RateLimitDelayWith(h http.Header, now time.Time, custom *Headers) (time.Duration, bool) {
	if d, ok := RetryAfter(h, now); ok {
		return d, true
	}
	q := parseQuota(h, now, custom)
	if q.ietf && q.ietfRemaining == 0 && q.ietfResetOK {
		return q.ietfReset, true
	}
	if q.legacyRemainingOK && q.legacyRemaining == 0 && q.legacyResetOK {
		return q.legacyReset, true
	}
	return 0, false
}

// RetryAfter returns the first valid Retry-After value of h (see
// ParseRetryAfter), HTTP-dates measured against the response's Date
// (ResponseDate, now when it has none); ok is false when h has none.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	values := h.Values("Retry-After")
	if len(values) == 0 {
		return 0, false
	}
	date := ResponseDate(h, now)
	for _, v := range values {
		if d, ok := ParseRetryAfter(v, date); ok {
			return d, true
		}
	}
	return 0, false
}
