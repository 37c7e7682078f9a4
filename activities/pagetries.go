package activities

import (
	"fmt"

	"go.temporal.io/sdk/activity"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/task"
)

// DefaultMaxAttempts is the number of tries of one page when
// SyncPagesInput.MaxAttempts is zero.
const DefaultMaxAttempts = 10

// pageTries counts the tries of the page an execution stands at, across
// the attempts of the execution (Temporal retries SyncPages without a
// bound of its own, see errors.PageRetryPolicy) and across executions
// (SyncPagesInput.PageTries). A committed page starts the count again, so
// that an attempt that made progress is not a failure of the task
// (ARCHITECTURE.md §Failure table). Rate-limit answers are no tries.
//
// The count lives in the heartbeat: with each position the execution
// heartbeats the attempt at which it first tried that position
// (Heartbeat.PageAttempt). The SDK throttles heartbeats, and a failing
// attempt does not flush the last one, so the server may hold an older
// heartbeat than the last commit. Only commits change the heartbeated
// position, and an attempt's first heartbeat is never throttled, so a lost
// heartbeat is always one that followed a commit: the next attempt then
// resumes from the sink's checkpoint, further than the heartbeat, sees a
// different position and starts the count again, which is what a commit
// asks for anyway. A heartbeat that names the resumed position is from an
// attempt that stood at it, and its PageAttempt is when the page was first
// tried.
type pageTries struct {
	attempt int32 // this attempt
	first   int32 // the attempt at which the current position was first tried
	prior   int32 // failed tries of the position before this execution
	max     int32
}

// newPageTries starts the count at the resumed position pos.
func newPageTries(attempt int32, in SyncPagesInput, hb *Heartbeat, pos task.Position) pageTries {
	t := pageTries{attempt: attempt, first: attempt, max: in.MaxAttempts}
	if hb != nil && samePosition(hb.Position, pos) && hb.PageAttempt > 0 && hb.PageAttempt <= attempt {
		t.first = hb.PageAttempt // an activity reset starts at attempt 1 again: then so does the count
	}
	if samePosition(in.Position, pos) {
		t.prior = max(in.PageTries, 0)
	}
	return t
}

// failed is the number of failed tries of the current page so far.
func (t pageTries) failed() int32 { return t.prior + t.attempt - t.first }

// committed starts the count again: the next position is first tried now.
func (t *pageTries) committed() { t.first, t.prior = t.attempt, 0 }

// exhausted is the failure of an attempt that starts on a page that has had
// all its tries already (attempts that timed out, e.g. a worker crashing on
// it), nil otherwise.
func (t pageTries) exhausted() *sferrors.Error {
	if t.failed() < t.limit() {
		return nil
	}
	return sferrors.Newf(sferrors.Transient, "fetch", "page tried %d times without success", t.failed())
}

// toError converts a failure of this try into the activity's error: a
// transient one waits the backoff of the page's tries and is not retried
// once the page has had max tries.
func (t pageTries) toError(e *sferrors.Error) error {
	tries := t.failed() + 1
	return sferrors.ToPageError(e, tries, tries >= t.limit())
}

// limit is the page's number of tries.
func (t pageTries) limit() int32 {
	if t.max <= 0 {
		return DefaultMaxAttempts
	}
	return t.max
}

// samePosition reports whether a and b name the same page of the same run.
func samePosition(a, b task.Position) bool {
	return a.Generation == b.Generation && a.Pages == b.Pages && a.Cursor == b.Cursor && a.Done == b.Done
}

// heartbeatOf reads the previous attempt's heartbeat, if any.
func (s *pageSync) heartbeatOf() *Heartbeat {
	if !activity.HasHeartbeatDetails(s.ctx) {
		return nil
	}
	var hb Heartbeat
	if err := activity.GetHeartbeatDetails(s.ctx, &hb); err != nil {
		return nil
	}
	return &hb
}

// String names the count for logs.
func (t pageTries) String() string { return fmt.Sprintf("%d/%d", t.failed()+1, t.limit()) }
