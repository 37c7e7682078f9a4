package workflows

import (
	"fmt"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/activities"
	sferrors "github.com/syncflow/syncflow/errors"
)

// versionWaitDeadline guards checkWaitDeadline: a durable rate-limit wait
// that would end after the task's deadline fails the task at once (before,
// the timer ran and the deadline failed it as unrecoverable afterwards).
const versionWaitDeadline = "rate-limit-wait-deadline"

// maxSummaryReason bounds the reason quoted in a timer's summary.
const maxSummaryReason = 300

// timerSummary is the summary of a durable rate-limit timer (the Web UI
// and `temporal workflow describe` show it): the key, until when, and why.
func timerSummary(key string, until time.Time, why string) string {
	if len(why) > maxSummaryReason {
		cut := maxSummaryReason
		for cut > 0 && !utf8.RuneStart(why[cut]) {
			cut--
		}
		why = why[:cut] + "…"
	}
	s := fmt.Sprintf("rate limited: %s until %s", key, until.UTC().Format(time.RFC3339))
	if why != "" {
		s += " — " + why
	}
	return s
}

// checkWaitDeadline fails the task rate limited, saying so, when the wait
// an execution asks for would end after the task's deadline: the deadline
// is reached while the task waits for its rate limit (ARCHITECTURE.md
// §Failure table).
func (r *syncRun) checkWaitDeadline(res activities.SyncPagesResult) error {
	d := time.Duration(r.opts.Deadline)
	if d <= 0 {
		return nil
	}
	deadline := r.p.Started.Add(d)
	until := workflow.Now(r.ctx).Add(res.RateLimitedFor)
	if !until.After(deadline) {
		return nil
	}
	if workflow.GetVersion(r.ctx, versionWaitDeadline, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	err := temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("deadline of %s reached while rate limited: asked to wait until %s, after the deadline %s; last answer: %s",
			d, until.UTC().Format(time.RFC3339), deadline.UTC().Format(time.RFC3339), res.RateLimitMessage),
		sferrors.TypeRateLimited, nil)
	return r.fail(sferrors.RateLimited, err)
}
