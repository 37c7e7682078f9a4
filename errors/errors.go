package errors

import (
	"fmt"
	"time"
)

// Class is what a failure means, and so how it is treated.
type Class string

// The five classes of DESIGN.md §3.
const (
	// Transient failures (network errors, 5xx, timeouts) are retried with
	// exponential backoff and jitter, a bounded number of times.
	Transient Class = "transient"
	// RateLimited failures wait what the server asks, freeze the dataset's
	// limiter and retry without using up the transient attempt budget.
	RateLimited Class = "rate_limited"
	// InvalidRequest failures (400, 404, 422, bad configuration) are not
	// retried; the task fails, a batch goes on.
	InvalidRequest Class = "invalid_request"
	// Cancelled means the task was cancelled by its operator.
	Cancelled Class = "cancelled"
	// Unrecoverable failures (401, certificate errors, sink errors) are not
	// retried; the task fails and a batch stops.
	Unrecoverable Class = "unrecoverable"
)

// Wire-stable Temporal error types, one per class. They appear in workflow
// histories and retry policies: never change them.
const (
	TypeTransient      = "SyncflowTransient"
	TypeRateLimited    = "SyncflowRateLimited"
	TypeInvalidRequest = "SyncflowInvalidRequest"
	TypeCancelled      = "SyncflowCancelled"
	TypeUnrecoverable  = "SyncflowUnrecoverable"
)

// Error is a classified failure. It never carries record data or secrets:
// URL is redacted and Body is a bounded excerpt of an error response.
type Error struct {
	Class      Class
	Op         string        // what was being done: "fetch", "parse", "commit", ...
	Method     string        // HTTP method, when the failure is an HTTP exchange
	URL        string        // request URL, secrets redacted
	Status     int           // HTTP status, 0 when none
	Body       string        // bounded excerpt of the response body
	RetryAfter time.Duration // rate-limit hint, 0 when none; already clamped
	Err        error         // cause, may be nil
}

func (e *Error) Error() string {
	s := e.Op
	if e.Method != "" {
		s += " " + e.Method + " " + e.URL
	}
	if e.Status != 0 {
		s += fmt.Sprintf(": status %d", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Quota is what a response says of the caller's remaining request budget
// (RateLimit / RateLimit-Policy fields, X-RateLimit-* headers).
type Quota struct {
	Known     bool          // the response carried quota information
	Limit     float64       // requests allowed per window, 0 when unknown
	Remaining float64       // requests left in the current window
	Reset     time.Duration // time until the window resets, 0 when unknown
	Window    time.Duration // the policy's window, 0 when unknown
}
