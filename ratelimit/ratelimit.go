// Package ratelimit keeps each rate-limit key's request budget on a worker
// (DESIGN.md §4): a golang.org/x/time/rate limiter per key behind a freeze
// gate. A rate-limit answer freezes the key until the hinted time
// (extend-only, jittered), lowers its rate multiplicatively, and the rate
// recovers gradually up to the configured ceiling. A key with no declared
// rate discovers the server's limit adaptively.
package ratelimit
