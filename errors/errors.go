package errors

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Class is what a failure means, and so how it is treated.
type Class string

// The five classes. How each is treated is written once, in the failure
// table (FailureTable; ARCHITECTURE.md §Failure table).
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
	// Cancelled means the task was cancelled by its operator (or its
	// batch); it is not retried and stops no batch.
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
	// Escalates marks a rate-limit answer whose waits grow while it repeats
	// (GitHub's secondary limit; RateLimited's Treatment.Backoff).
	Escalates bool
	Err       error // cause, may be nil
}

// Error describes the failure: op, method and URL, status, cause and body
// excerpt, in that order, whichever are present. URLs inside the cause (as
// in *url.Error messages) are redacted.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Method != "" || e.URL != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strings.TrimSpace(e.Method + " " + e.URL))
	}
	add := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	if e.Status != 0 {
		add("status " + strconv.Itoa(e.Status))
	}
	if e.Err != nil {
		add(causeText(e.Err))
	}
	add(e.Body)
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error of the given class for operation op, caused by err
// (which may be nil). Callers that fill in URL must pass it through Redact.
func New(class Class, op string, err error) *Error {
	return &Error{Class: class, Op: op, Err: err}
}

// Newf is New with a cause built by fmt.Errorf(format, args...), so %w wraps.
func Newf(class Class, op, format string, args ...any) *Error {
	return New(class, op, fmt.Errorf(format, args...))
}
