package activities

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	sferrors "github.com/syncflow/syncflow/errors"
)

// An escalating rate-limit answer (GitHub's secondary limit) waits at
// least a minute, doubling with each answer in a row for the same page;
// the sixth answer gives up: a non-retryable rate-limited error. The count
// comes in with the input (earlier executions) and a commit starts it
// again.
func TestEscalatingAnswersBackOffThenGiveUp(t *testing.T) {
	s := &pageSync{log: log.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	e := &sferrors.Error{Class: sferrors.RateLimited, Status: 403, RetryAfter: time.Minute, Escalates: true}
	var waits []time.Duration
	for range 5 {
		d, err := s.escalate(e)
		require.NoError(t, err)
		waits = append(waits, d)
	}
	assert.Equal(t, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute}, waits)
	_, err := s.escalate(e)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	assert.Equal(t, sferrors.TypeRateLimited, app.Type())
	assert.True(t, app.NonRetryable())
	assert.Contains(t, app.Error(), "gave up after 6 such answers in a row")

	// A hint longer than the backoff wins; an answer that does not
	// escalate leaves the count alone.
	s = &pageSync{log: log.NewStructuredLogger(slog.New(slog.DiscardHandler)), escalations: 1}
	d, err := s.escalate(&sferrors.Error{Class: sferrors.RateLimited, RetryAfter: 10 * time.Minute, Escalates: true})
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, d)
	d, err = s.escalate(&sferrors.Error{Class: sferrors.RateLimited, RetryAfter: 3 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, d)
	assert.EqualValues(t, 2, s.escalations)
}
