// Package errors is syncflow's failure taxonomy: the one place that decides
// what a failure means and how it is treated (ARCHITECTURE.md §Failure
// table).
//
// Every failure is one of five classes (Class). The failure table
// (FailureTable, Class.Treatment) says, per class, its wire-stable Temporal
// error type (the Type* constants, Class.TemporalType, ClassFromType),
// whether it is retried (Class.Retryable), whether a retry uses up an
// attempt (Class.CountsAttempts), whether it stops a batch
// (Class.StopsBatch) and its Backoff. RetryPolicy is the table as a Temporal
// retry policy; nothing else writes those numbers down.
//
// On the activity side:
//   - FromResponse classifies an HTTP response by status and headers;
//   - Classify classifies a Go error (network, TLS, DNS, context);
//   - New and Newf build an *Error for failures the caller has already
//     understood (bad configuration, a response of the wrong shape, a sink
//     error);
//   - ToApplicationError turns any of these into the
//     *temporal.ApplicationError the activity returns, with the retry
//     behaviour of its class and Details for the workflow; ToActivityError
//     adds, for a transient failure, the table's jittered backoff delay for
//     the attempt that failed.
//
// On the workflow side, ClassOf reads the class (and Details) back from what
// workflow.ExecuteActivity or a child workflow returned; the table's readers
// (RetryPolicy, Class.StopsBatch) are deterministic.
//
// What servers say of their limits (Retry-After, RateLimit, X-RateLimit-*)
// is read by package ratelimit/hints, which FromResponse consults; every
// RetryAfter is so clamped to [0, hints.MaxHint].
//
// Nothing here puts record data or secrets into an error: URLs pass through
// Redact, and response bodies are kept only as short printable excerpts.
//
// The package is imported under an alias (conventionally sferrors) so that it
// does not shadow the standard library's errors package.
package errors
