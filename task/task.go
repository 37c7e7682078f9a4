// Package task is the one vocabulary of a sync task's position and state,
// shared by the workflows, the activities and the sinks: where a task stands
// (Position), what it has spent getting there (Counters) and what it is doing
// (State). See ARCHITECTURE.md §Task position. It imports only the standard
// library, so every other package may use it.
package task

import "time"

// Position is where a task stands in one generation: the cursor of the next
// page to fetch and what has been committed before it. The same struct
// travels in the workflow's carry, the activity's input, result and
// heartbeat, and the sink's checkpoint, so no hop copies fields one by one.
type Position struct {
	// Generation identifies one sync of the task (stable across
	// continue-as-new); positions of different generations never compare.
	Generation string `json:"generation"`
	// GenerationStarted is when the generation started (the workflow time
	// of its first run): it orders generations, so that a sink refuses a
	// commit of a generation that started before the stored one
	// (sink.ErrSuperseded, ARCHITECTURE.md §Sink protocol). Zero means
	// unknown (a position written before it existed): such a position is
	// ordered with none.
	GenerationStarted time.Time `json:"generation_started,omitzero"`
	// Cursor is the cursor of the next page to fetch.
	Cursor string `json:"cursor"`
	// Pages counts the pages committed in this generation.
	Pages int64 `json:"pages"`
	// Records counts the records committed in this generation (counting
	// re-sent keys).
	Records int64 `json:"records"`
	// Done is set once the source reported the end. It is omitted when
	// false, so that the structs that never carried it keep their payloads.
	Done bool `json:"done,omitempty"`
	// Window is the span of cursor values of an incremental run (zero for
	// a full one); see Window.
	Window Window `json:"window,omitzero"`
}

// Advance is the position after one more committed page of records records,
// whose source said next is the following cursor and done whether it was
// the last.
func (p Position) Advance(next string, done bool, records int) Position {
	return Position{
		Generation:        p.Generation,
		GenerationStarted: p.GenerationStarted,
		Cursor:            next,
		Done:              done,
		Pages:             p.Pages + 1,
		Records:           p.Records + int64(records),
		Window:            p.Window,
	}
}

// Furthest is the position to resume from: the first one (the caller's
// view) unless a later one is of the same generation and has committed more
// pages; on a tie the earlier wins. A retried activity passes its input, its
// last heartbeat and the sink's checkpoint, in that order, and so resumes
// where the previous attempt stopped, never behind the sink and never in
// another generation. A generation has one start: the result carries the
// earliest GenerationStarted its positions know (a run made by a workflow
// reset re-runs the first workflow task and reads a later clock; a heartbeat
// or checkpoint written before the field existed knows none).
func Furthest(ps ...Position) Position {
	if len(ps) == 0 {
		return Position{}
	}
	best := ps[0]
	for _, p := range ps[1:] {
		if p.Generation == best.Generation && p.Pages > best.Pages {
			best = p
		}
	}
	for _, p := range ps {
		if p.Generation == best.Generation {
			best.GenerationStarted = EarlierStart(best.GenerationStarted, p.GenerationStarted)
		}
	}
	return best
}

// EarlierStart is the earlier of two starts of one generation, a zero
// (unknown) one ignored.
func EarlierStart(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Counters are what a task has spent so far, across its runs: activity
// executions that succeeded, the attempts they took and the rate-limit
// answers waited out.
type Counters struct {
	Executions     int64 `json:"executions"`
	Attempts       int64 `json:"attempts"`
	RateLimitWaits int64 `json:"rate_limit_waits"`
}

// Record counts one successful execution that took attempts attempts and
// waited out rateLimitWaits rate-limit answers.
func (c *Counters) Record(attempts, rateLimitWaits int64) {
	c.Executions++
	c.Attempts += attempts
	c.RateLimitWaits += rateLimitWaits
}

// Retries is how many attempts failed and were retried: every execution's
// attempts but its last.
func (c Counters) Retries() int64 {
	return c.Attempts - c.Executions
}

// State is what a task (or a batch of tasks) is doing. Its values are
// stored in checkpoints, search attributes and query answers: never change
// them.
type State string

// States of a sync task (progress query, SyncState search attribute, sink
// checkpoint), of a batch's tasks and of a batch. A checkpoint holds only
// Running, Completed, Cancelled and Failed.
const (
	// Pending: a batch's task that has not started yet.
	Pending State = "pending"
	// Running: syncing (a batch: starting and watching its tasks).
	Running State = "running"
	// RateLimited: a sync waiting out a rate limit on a durable timer.
	RateLimited State = "rate_limited"
	// Completed: the source reported the end and everything is committed
	// (a batch: every task ended and the batch was never stopped).
	Completed State = "completed"
	// Cancelled: cancelled by request (a batch's task: also because its
	// batch was cancelled or stopped while it ran).
	Cancelled State = "cancelled"
	// Failed: ended by a failure (a batch: it stopped after a task failed).
	Failed State = "failed"
	// Skipped: a batch's task that never started because the batch stopped.
	Skipped State = "skipped"
	// Stopping: a batch whose task failed in a way that stops it; its
	// running tasks are being cancelled.
	Stopping State = "stopping"
	// Cancelling: a batch that was cancelled; its tasks are being
	// cancelled.
	Cancelling State = "cancelling"
)
