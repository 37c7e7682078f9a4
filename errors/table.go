package errors

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Backoff is an exponential backoff: the delay before retry n (after attempt
// n) is at most Initial·Coefficient^(n-1), capped at Maximum.
type Backoff struct {
	Initial     time.Duration
	Coefficient float64
	Maximum     time.Duration
	// Floor is the least delay Delay draws, so that a retry never comes
	// straight back however the dice fall.
	Floor time.Duration
}

// Ceiling is the longest delay before the retry that follows attempt (1 for
// the first attempt; less counts as 1).
func (b Backoff) Ceiling(attempt int32) time.Duration {
	d := b.Initial
	for n := int32(1); n < attempt && d < b.Maximum && b.Coefficient > 1; n++ {
		next := float64(d) * b.Coefficient
		if next >= float64(b.Maximum) {
			return b.Maximum
		}
		d = time.Duration(next)
	}
	return min(d, b.Maximum)
}

// Delay is the delay before the retry that follows attempt, with full jitter:
// uniform in [Floor, Ceiling(attempt)]. Spreading retries over the whole
// range keeps the workers that one outage failed together from coming back
// together.
func (b Backoff) Delay(attempt int32) time.Duration {
	ceil := b.Ceiling(attempt)
	if ceil <= b.Floor {
		return b.Floor
	}
	return b.Floor + time.Duration(rand.Int64N(int64(ceil-b.Floor)+1))
}

// Treatment is how failures of one class are handled, wherever they are
// handled: by Temporal's retry policy (RetryPolicy), by the activity that
// returns them (ToActivityError) and by a batch (Class.StopsBatch).
type Treatment struct {
	// Class is the class the row is about.
	Class Class
	// Type is the wire-stable Temporal error type (Class.TemporalType).
	Type string
	// Retryable failures are worth another attempt (Class.Retryable); the
	// others are in the retry policy's NonRetryableErrorTypes.
	Retryable bool
	// CountsAttempts: a retry uses up one of the tries of the page it
	// failed on (max_attempts, see PageRetryPolicy). False where nothing is retried, and for RateLimited,
	// whose waits the activity and the workflow take without failing.
	CountsAttempts bool
	// StopsBatch: a task that fails so stops its batch (Class.StopsBatch);
	// otherwise the task fails alone and the batch goes on.
	StopsBatch bool
	// Backoff spaces the retries; zero when the class is not retried on a
	// backoff of its own. RateLimited's spaces the answers of a limit that
	// insists without saying how long (Error.Escalates: GitHub's secondary
	// limit): the n-th such answer in a row for one page waits at least
	// Backoff.Ceiling(n).
	Backoff Backoff
	// GiveUpAfter, when positive, is how many escalating answers in a row
	// one page takes before the task fails with this class.
	GiveUpAfter int32
}

// transientBackoff spaces transient retries: 1 s doubling to a 1 min cap,
// fully jittered from 100 ms up.
var transientBackoff = Backoff{
	Initial:     time.Second,
	Coefficient: 2,
	Maximum:     time.Minute,
	Floor:       100 * time.Millisecond,
}

// escalatingBackoff spaces the answers of a rate limit that insists
// without a hint (GitHub's secondary limit: "wait at least one minute,
// then an exponentially increasing time, and give up after a number of
// retries"): 1 min doubling to 1 h.
var escalatingBackoff = Backoff{
	Initial:     time.Minute,
	Coefficient: 2,
	Maximum:     time.Hour,
}

// escalatingGiveUp is how many escalating answers in a row one page takes:
// 1+2+4+8+16 min of waits, then the sixth answer fails the task.
const escalatingGiveUp = 6

// failureTable is the failure table (ARCHITECTURE.md §Failure table): every
// decision of what a class means reads it. The non-retryable rows are in the
// order their types have always had in the retry policy.
//
//   - RateLimited waits what the server asks (Error.RetryAfter) instead of a
//     backoff; a hint-less one retried by Temporal falls back to the retry
//     policy, whose intervals are Transient's.
//   - Cancelled is not retried, with one exception kept by
//     ToApplicationError: a cancellation caused by context.Canceled that the
//     workflow did not ask for (a worker shutting down) is retried elsewhere.
//   - Cancelled stops no batch: the batch is what cancelled the task, or
//     someone cancelled that one task on purpose.
var failureTable = [...]Treatment{
	{Class: Transient, Type: TypeTransient, Retryable: true, CountsAttempts: true, StopsBatch: true, Backoff: transientBackoff},
	{Class: RateLimited, Type: TypeRateLimited, Retryable: true, CountsAttempts: false, StopsBatch: true, Backoff: escalatingBackoff, GiveUpAfter: escalatingGiveUp},
	{Class: InvalidRequest, Type: TypeInvalidRequest, Retryable: false, CountsAttempts: false, StopsBatch: false},
	{Class: Unrecoverable, Type: TypeUnrecoverable, Retryable: false, CountsAttempts: false, StopsBatch: true},
	{Class: Cancelled, Type: TypeCancelled, Retryable: false, CountsAttempts: false, StopsBatch: false},
}

// FailureTable returns a copy of the failure table, one Treatment per class.
func FailureTable() []Treatment {
	return append([]Treatment(nil), failureTable[:]...)
}

// Treatment returns the row of c in the failure table; a class that is not
// one of the five gets Unrecoverable's: a failure nobody understands is not
// retried and stops a batch.
func (c Class) Treatment() Treatment {
	for _, t := range failureTable {
		if t.Class == c {
			return t
		}
	}
	return Unrecoverable.Treatment()
}

// TemporalType returns the wire-stable Temporal error type of c. An unknown
// class maps to TypeUnrecoverable: a failure nobody understands is not
// retried.
func (c Class) TemporalType() string { return c.Treatment().Type }

// ClassFromType is the inverse of TemporalType; ok is false when t is not one
// of the Type* constants.
func ClassFromType(t string) (c Class, ok bool) {
	for _, row := range failureTable {
		if row.Type == t {
			return row.Class, true
		}
	}
	return "", false
}

// Retryable reports whether failures of class c are worth another attempt:
// Transient and RateLimited are, the others are not.
func (c Class) Retryable() bool { return c.Treatment().Retryable }

// CountsAttempts reports whether a retry of class c uses up one of the retry
// policy's attempts: only Transient's do.
func (c Class) CountsAttempts() bool { return c.Treatment().CountsAttempts }

// StopsBatch reports whether a task failing with class c stops its batch:
// InvalidRequest and Cancelled do not, the others (and unknown classes) do.
func (c Class) StopsBatch() bool { return c.Treatment().StopsBatch }

// RetryPolicy is the Temporal retry policy of an activity whose failures this
// package classifies: Transient's backoff (the activity adds full jitter
// through NextRetryDelay, see ToActivityError), at most maxAttempts attempts,
// and the types of the non-retryable classes as NonRetryableErrorTypes.
func RetryPolicy(maxAttempts int32) *temporal.RetryPolicy {
	b := Transient.Treatment().Backoff
	var nonRetryable []string
	for _, t := range failureTable {
		if !t.Retryable {
			nonRetryable = append(nonRetryable, t.Type)
		}
	}
	return &temporal.RetryPolicy{
		InitialInterval:        b.Initial,
		BackoffCoefficient:     b.Coefficient,
		MaximumInterval:        b.Maximum,
		MaximumAttempts:        maxAttempts,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// PageRetryPolicy is the retry policy of an activity that bounds the tries
// of each page itself (activities.SyncPages, ARCHITECTURE.md §Failure
// table): RetryPolicy without a MaximumAttempts, so that Temporal retries
// until the activity returns a non-retryable error. The activity counts
// the tries of the page it stands at, resets the count when a page
// commits and gives up, as a non-retryable Transient error (ToPageError),
// when one page has had max_attempts tries.
func PageRetryPolicy() *temporal.RetryPolicy { return RetryPolicy(0) }

// ToPageError is ToActivityError for a failure of the tries-th try of one
// page: a Transient failure waits the backoff of the page's tries (a
// committed page starts again at the first), and when last is set (the
// page has had all its tries) it is non-retryable, still of type
// TypeTransient, so that callers read the class. Other classes convert as
// ToApplicationError does.
func ToPageError(e *Error, tries int32, last bool) error {
	if e == nil {
		return nil
	}
	if e.Class != Transient {
		return ToApplicationError(e)
	}
	d := detailsOf(e)
	d.RetryAfter = 0
	msg := e.Error()
	if last {
		msg = fmt.Sprintf("%s (page tried %d times)", msg, tries)
	}
	return temporal.NewApplicationErrorWithOptions(msg, TypeTransient, temporal.ApplicationErrorOptions{
		NonRetryable:   last,
		NextRetryDelay: Transient.Treatment().Backoff.Delay(tries),
		Cause:          e.Err,
		Details:        []any{d},
	})
}
