// Package hints reads what HTTP servers say of their rate limits, so that
// the limiter (package ratelimit) and the failure classification (package
// errors) hear the same thing from the same headers (ARCHITECTURE.md
// §Rate-limit layers).
//
//   - ParseRetryAfter and RetryAfter read Retry-After (RFC 9110 §10.2.3),
//     ResponseDate the Date its HTTP-dates are measured against;
//   - ParseQuota reads the remaining budget (Quota) from the IETF RateLimit
//     and RateLimit-Policy structured fields (RFC 9651 lists) and from the
//     de-facto X-RateLimit-* headers; Exhausted says whether none is left;
//   - RateLimitDelay says how long the server asks the client to wait.
//
// Every delay is clamped to [0, MaxHint]. The package is a leaf: it imports
// only the standard library, so that both sides can depend on it.
package hints
