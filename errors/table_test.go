package errors_test

import (
	stderrors "errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	sferrors "github.com/syncflow/syncflow/errors"
)

// TestFailureTable pins every row of the failure table: changing one changes
// how failures are retried and how batches stop.
func TestFailureTable(t *testing.T) {
	transient := sferrors.Backoff{
		Initial: time.Second, Coefficient: 2, Maximum: time.Minute, Floor: 100 * time.Millisecond,
	}
	want := []sferrors.Treatment{
		{Class: sferrors.Transient, Type: sferrors.TypeTransient, Retryable: true, CountsAttempts: true, StopsBatch: true, Backoff: transient},
		{Class: sferrors.RateLimited, Type: sferrors.TypeRateLimited, Retryable: true, CountsAttempts: false, StopsBatch: true,
			Backoff: sferrors.Backoff{Initial: time.Minute, Coefficient: 2, Maximum: time.Hour}, GiveUpAfter: 6},
		{Class: sferrors.InvalidRequest, Type: sferrors.TypeInvalidRequest, Retryable: false, CountsAttempts: false, StopsBatch: false},
		{Class: sferrors.Unrecoverable, Type: sferrors.TypeUnrecoverable, Retryable: false, CountsAttempts: false, StopsBatch: true},
		{Class: sferrors.Cancelled, Type: sferrors.TypeCancelled, Retryable: false, CountsAttempts: false, StopsBatch: false},
	}
	table := sferrors.FailureTable()
	require.Equal(t, want, table)
	assert.ElementsMatch(t, allClasses, classesOf(table), "one row per class")

	for _, row := range table {
		c := row.Class
		assert.Equal(t, row, c.Treatment(), c)
		assert.Equal(t, row.Type, c.TemporalType(), c)
		assert.Equal(t, row.Retryable, c.Retryable(), c)
		assert.Equal(t, row.CountsAttempts, c.CountsAttempts(), c)
		assert.Equal(t, row.StopsBatch, c.StopsBatch(), c)
	}

	table[0].Retryable = false
	assert.True(t, sferrors.Transient.Retryable(), "FailureTable returns a copy")
}

func classesOf(rows []sferrors.Treatment) []sferrors.Class {
	var out []sferrors.Class
	for _, r := range rows {
		out = append(out, r.Class)
	}
	return out
}

// An unknown class is treated as Unrecoverable everywhere.
func TestUnknownClassTreatment(t *testing.T) {
	c := sferrors.Class("nonsense")
	assert.Equal(t, sferrors.Unrecoverable.Treatment(), c.Treatment())
	assert.True(t, c.StopsBatch())
	assert.False(t, c.Retryable())
	assert.False(t, c.CountsAttempts())
}

// TestRetryPolicy checks that the policy is, field for field, the one
// SyncPages has always had: 1 s doubling to 1 min, the given attempts, and
// the three non-retryable types.
func TestRetryPolicy(t *testing.T) {
	for _, attempts := range []int32{0, 1, 10} {
		got := sferrors.RetryPolicy(attempts)
		want := &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    attempts,
			NonRetryableErrorTypes: []string{
				sferrors.TypeInvalidRequest, sferrors.TypeUnrecoverable, sferrors.TypeCancelled,
			},
		}
		assert.Equal(t, want, got)
	}
	assert.NotSame(t, sferrors.RetryPolicy(1), sferrors.RetryPolicy(1), "each caller gets its own policy")
}

func TestBackoffCeiling(t *testing.T) {
	b := sferrors.Transient.Treatment().Backoff
	want := map[int32]time.Duration{
		-3: time.Second, 0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		4: 8 * time.Second, 5: 16 * time.Second, 6: 32 * time.Second, 7: time.Minute,
		8: time.Minute, 100: time.Minute, 1<<31 - 1: time.Minute,
	}
	for attempt, d := range want {
		assert.Equal(t, d, b.Ceiling(attempt), "attempt %d", attempt)
	}

	flat := sferrors.Backoff{Initial: time.Second, Coefficient: 1, Maximum: time.Minute}
	assert.Equal(t, time.Second, flat.Ceiling(1<<31-1), "a coefficient of 1 never grows")
	low := sferrors.Backoff{Initial: time.Hour, Coefficient: 2, Maximum: time.Minute}
	assert.Equal(t, time.Minute, low.Ceiling(1), "the cap holds from the first attempt")
	huge := sferrors.Backoff{Initial: time.Second, Coefficient: 1e300, Maximum: 1<<63 - 1}
	assert.Equal(t, time.Duration(1<<63-1), huge.Ceiling(3), "no overflow")
}

func TestBackoffDelay(t *testing.T) {
	b := sferrors.Transient.Treatment().Backoff
	for _, attempt := range []int32{0, 1, 2, 6, 7, 50} {
		ceil := b.Ceiling(attempt)
		for range 200 {
			d := b.Delay(attempt)
			if d < b.Floor || d > ceil {
				t.Fatalf("Delay(%d) = %v, outside [%v, %v]", attempt, d, b.Floor, ceil)
			}
		}
	}
	// Full jitter: the draws spread over the range rather than sit on it.
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[b.Delay(7)] = true
	}
	assert.Greater(t, len(seen), 1)

	fixed := sferrors.Backoff{Initial: 10 * time.Millisecond, Coefficient: 2, Maximum: time.Second, Floor: 50 * time.Millisecond}
	assert.Equal(t, 50*time.Millisecond, fixed.Delay(1), "a ceiling under the floor gives the floor")
}

func TestToActivityError(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	e := &sferrors.Error{Class: sferrors.Transient, Op: "fetch", Method: "GET", URL: "https://h/x", Status: 502, Err: cause}
	for _, attempt := range []int32{1, 3, 9} {
		err := sferrors.ToActivityError(e, attempt)
		var app *temporal.ApplicationError
		require.True(t, stderrors.As(err, &app))
		assert.Equal(t, sferrors.TypeTransient, app.Type())
		assert.False(t, app.NonRetryable())
		assert.Equal(t, e.Error(), app.Message())
		assert.ErrorIs(t, err, cause, "the cause is kept")
		b := sferrors.Transient.Treatment().Backoff
		assert.GreaterOrEqual(t, app.NextRetryDelay(), b.Floor)
		assert.LessOrEqual(t, app.NextRetryDelay(), b.Ceiling(attempt))
		var d sferrors.Details
		require.NoError(t, app.Details(&d))
		assert.Equal(t, sferrors.Details{Class: sferrors.Transient, Op: "fetch", Status: 502, Method: "GET", URL: "https://h/x"}, d)
	}

	assert.Nil(t, sferrors.ToActivityError(nil, 1))
	for _, c := range []sferrors.Class{sferrors.RateLimited, sferrors.InvalidRequest, sferrors.Cancelled, sferrors.Unrecoverable} {
		other := &sferrors.Error{Class: c, Op: "fetch", Status: 400, RetryAfter: time.Second}
		assert.Equal(t, sferrors.ToApplicationError(other), sferrors.ToActivityError(other, 4), c)
	}
}
