package errors

import (
	stderrors "errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// MaxBodyExcerpt is the most bytes of a response body an *Error keeps.
const MaxBodyExcerpt = 512

// OpFetch is the Op of the errors FromResponse returns.
const OpFetch = "fetch"

// FromResponse classifies an HTTP response by its status and headers
// (ARCHITECTURE.md §Failure table); it returns nil for a success (1xx is not expected here).
//
//   - 2xx and 3xx: nil. Quota headers on a success are for the limiter
//     (hints.ParseQuota), not a failure: the page was served.
//   - 429: RateLimited.
//   - 403 with a rate-limit signal (a valid Retry-After; X-RateLimit-Remaining: 0;
//     RateLimit r=0): RateLimited. Without one, 403 is Unrecoverable, as are 401, 407 and 511.
//   - 403 or 429 whose body is GitHub's secondary rate limit
//     (hints.SecondaryLimit): RateLimited, waiting at least
//     hints.SecondaryLimitMinWait, and Escalates (RateLimited's
//     Treatment.Backoff and GiveUpAfter).
//   - 503 with a valid Retry-After, and 408 or any 5xx but the permanent
//     ones when the quota headers say nothing is left: RateLimited.
//     Otherwise 408 and 5xx but the permanent ones are Transient.
//   - 501, 505, 506, 508, 510 (permanent: retrying the same request cannot
//     succeed) and every other 4xx (400, 404, 405, 410, 422, ...): InvalidRequest.
//   - any other status: Unrecoverable.
//   - Stripe-Should-Retry wins over all of that (hints.StripeShouldRetry):
//     false makes a retryable class InvalidRequest, true makes a class that
//     is not retried Transient.
//
// A RateLimited error carries RetryAfter = hints.RateLimitDelay(h, now), or 0 when
// the server gave no hint (the caller then uses its own default). The error's
// Op is OpFetch, its URL is redacted (Redact), and its Body a bounded,
// printable excerpt of body (at most MaxBodyExcerpt bytes of valid UTF-8).
func FromResponse(method, rawURL string, status int, h http.Header, body []byte, now time.Time) *Error {
	return FromResponseWith(method, rawURL, status, h, body, now, nil)
}

// FromResponseWith is FromResponse that also reads a dataset's custom quota
// header pair (source.quota_headers; nil for none).
func FromResponseWith(method, rawURL string, status int, h http.Header, body []byte, now time.Time, custom *hints.Headers) *Error {
	if status >= 200 && status < 400 {
		return nil
	}
	class := statusClass(status, h, now, custom)
	secondary := hints.SecondaryLimit(status, body)
	if secondary {
		class = RateLimited
	}
	var cause error
	if retry, ok := hints.StripeShouldRetry(h); ok {
		class, cause = shouldRetry(class, retry)
	}
	e := &Error{
		Class:  class,
		Op:     OpFetch,
		Method: method,
		URL:    Redact(rawURL),
		Status: status,
		Body:   excerpt(body),
		Err:    cause,
	}
	if class == RateLimited {
		e.RetryAfter, _ = hints.RateLimitDelayWith(h, now, custom)
		if secondary {
			e.RetryAfter, e.Escalates = max(e.RetryAfter, hints.SecondaryLimitMinWait), true
		}
	}
	return e
}

// permanent are the 5xx statuses that no retry of the same request can
// turn into a success; 511 (network authentication) is a 407's sibling.
var permanent = map[int]Class{
	http.StatusNotImplemented:                InvalidRequest,
	http.StatusHTTPVersionNotSupported:       InvalidRequest,
	http.StatusVariantAlsoNegotiates:         InvalidRequest,
	http.StatusLoopDetected:                  InvalidRequest,
	http.StatusNotExtended:                   InvalidRequest,
	http.StatusNetworkAuthenticationRequired: Unrecoverable,
}

// statusClass is the class of an error status and its rate-limit headers.
func statusClass(status int, h http.Header, now time.Time, custom *hints.Headers) Class {
	_, hasRetryAfter := hints.RetryAfter(h, now)
	exhausted := hints.ExhaustedWith(h, custom)
	if c, ok := permanent[status]; ok {
		return c
	}
	switch {
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status == http.StatusForbidden:
		if exhausted || hasRetryAfter {
			return RateLimited
		}
		return Unrecoverable
	case status == http.StatusUnauthorized || status == http.StatusProxyAuthRequired:
		return Unrecoverable
	case status == http.StatusRequestTimeout || (status >= 500 && status <= 599):
		if exhausted || (status == http.StatusServiceUnavailable && hasRetryAfter) {
			return RateLimited
		}
		return Transient
	case status >= 400 && status <= 499:
		return InvalidRequest
	}
	return Unrecoverable
}

// shouldRetry applies Stripe-Should-Retry to class.
func shouldRetry(class Class, retry bool) (Class, error) {
	switch {
	case !retry && class.Retryable():
		return InvalidRequest, stderrors.New("the server says not to retry (Stripe-Should-Retry: false)")
	case retry && !class.Retryable():
		return Transient, stderrors.New("the server says to retry (Stripe-Should-Retry: true)")
	}
	return class, nil
}

// excerpt returns at most MaxBodyExcerpt bytes of body as valid UTF-8:
// invalid bytes and control characters are dropped, line breaks and tabs
// become spaces, and a cut is marked with "…".
func excerpt(body []byte) string {
	const ellipsis = "…"
	var b strings.Builder
	truncated := false
	lastSpace := true // trims leading spaces and collapses runs
	for len(body) > 0 {
		r, size := utf8.DecodeRune(body)
		body = body[size:]
		if r == utf8.RuneError && size <= 1 {
			continue
		}
		if unicode.IsSpace(r) {
			if lastSpace {
				continue
			}
			r = ' '
		} else if !unicode.IsGraphic(r) { // controls, format characters, unassigned
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxBodyExcerpt-len(ellipsis) {
			truncated = true
			break
		}
		b.WriteRune(r)
		lastSpace = r == ' '
	}
	s := strings.TrimRight(b.String(), " ")
	if truncated {
		s += ellipsis
	}
	return s
}

// RedactedValue replaces the value of a secret query parameter.
const RedactedValue = "REDACTED"

// secretParams are query parameter names (lower case) whose values are
// secrets.
var secretParams = map[string]bool{
	"token": true, "access_token": true, "refresh_token": true, "id_token": true,
	"api_key": true, "apikey": true, "api-key": true, "key": true,
	"secret": true, "client_secret": true, "password": true, "passwd": true, "pwd": true,
	"signature": true, "sig": true, "auth": true, "authorization": true,
	"code": true, "session": true, "sessionid": true, "credential": true, "credentials": true,
	"x-amz-signature": true, "x-amz-credential": true, "x-amz-security-token": true,
}

// isSecretParam reports whether a query parameter's name looks as if its
// value were a secret.
func isSecretParam(name string) bool {
	n := strings.ToLower(name)
	if secretParams[n] {
		return true
	}
	for _, part := range []string{"token", "secret", "password", "apikey", "api_key", "api-key"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// unparseableURL stands for a URL that Redact could not parse.
const unparseableURL = "<unparseable url>"

// Redact returns rawURL fit for logs and errors: userinfo removed, and the
// value of every query (and fragment) parameter whose name looks secret
// (token, access_token, api_key, apikey, key, secret, password, passwd,
// signature, sig, auth, client_secret, ..., and any name containing "token",
// "secret" or "password", case-insensitively) replaced by RedactedValue.
// Other parameters are kept as they are, in order. A URL that does not parse
// becomes "<unparseable url>". Redact is idempotent.
func Redact(rawURL string) string {
	if rawURL == unparseableURL {
		return rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return unparseableURL
	}
	u.User = nil
	u.RawQuery = redactParams(u.RawQuery)
	if strings.Contains(u.Fragment, "=") {
		// OAuth implicit grants put the access token in the fragment.
		frag := redactParams(u.EscapedFragment())
		if f, err := url.PathUnescape(frag); err == nil {
			u.Fragment, u.RawFragment = f, frag
		} else {
			u.Fragment, u.RawFragment = "", ""
		}
	}
	return u.String()
}

// redactParams redacts the secret values of an encoded query string,
// keeping everything else byte for byte.
func redactParams(raw string) string {
	if raw == "" {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if hasValue && isSecretParam(name) {
			parts[i] = k + "=" + RedactedValue
		}
	}
	return strings.Join(parts, "&")
}
