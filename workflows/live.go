package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/activities"
	sferrors "github.com/syncflow/syncflow/errors"
)

// maxReportsPerRun bounds the progress reports one run takes before it
// continues as new: each costs a few history events (ARCHITECTURE.md
// §Data flow, "Long syncs stay small").
const maxReportsPerRun = 1000

// Version change IDs (workflow.GetVersion) of this file's decisions; each
// is asked only where the decision issues other commands than before.
const (
	versionUnaskedCancel  = "retry-unasked-activity-cancel"
	versionRateLimitTotal = "max-rate-limit-wait"
)

// receiveProgress applies the progress reports of running SyncPages
// executions (activities.SignalProgress) to the task's progress, so that
// the progress query and the current details show what the destination has
// committed while an execution runs. It issues no commands: histories
// without reports replay as before. A report of another generation, or not
// further than the progress, is ignored.
func (r *syncRun) receiveProgress() {
	ch := workflow.GetSignalChannel(r.ctx, activities.SignalProgress)
	dctx, _ := workflow.NewDisconnectedContext(r.ctx) // reports still count while the task cleans up
	workflow.Go(dctx, func(ctx workflow.Context) {
		for {
			var rep activities.ProgressReport
			ch.Receive(ctx, &rep)
			r.reports++
			if rep.Generation != r.p.Generation || rep.Pages <= r.p.Pages {
				continue
			}
			started := r.p.GenerationStarted // a report from an older worker has none
			r.p.Position = rep.Position
			r.p.GenerationStarted = started
			r.p.Done = false // the result says when the task is done
			r.pageTries = 0
			r.p.Updated = workflow.Now(ctx)
			updateDetails(ctx, &r.p)
		}
	})
}

// retryUnaskedCancel decides about an activity cancellation the workflow
// did not ask for (its own context is not cancelled: an activity reset or
// pause, a worker stopping): another execution resumes from the last
// committed page, up to MaxAttempts in a row.
func (r *syncRun) retryUnaskedCancel() bool {
	if workflow.GetVersion(r.ctx, versionUnaskedCancel, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	r.unaskedCancels++
	workflow.GetLogger(r.ctx).Warn("activity cancelled without a request: retrying", "in_a_row", r.unaskedCancels)
	return r.unaskedCancels <= r.opts.MaxAttempts
}

// checkRateLimitBudget fails the task rate limited when the wait an
// execution asks for would take its total rate-limited wait past
// MaxRateLimitWait (ARCHITECTURE.md §Failure table).
func (r *syncRun) checkRateLimitBudget(res activities.SyncPagesResult) error {
	limit := time.Duration(r.opts.MaxRateLimitWait)
	if r.p.RateLimitedWait+res.RateLimitedFor <= limit {
		return nil
	}
	if workflow.GetVersion(r.ctx, versionRateLimitTotal, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	err := temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("rate limited for a total of %s, and asked to wait %s more: max_rate_limit_wait %s is used up; last answer: %s",
			r.p.RateLimitedWait.Round(time.Millisecond), res.RateLimitedFor.Round(time.Millisecond), limit, res.RateLimitMessage),
		sferrors.TypeRateLimited, nil)
	return r.fail(sferrors.RateLimited, err)
}
