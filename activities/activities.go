// Package activities holds the work a sync does outside the workflow: wait for
// the dataset's rate limit, fetch a page from the source, commit it to the
// sink together with the task's checkpoint, heartbeat the cursor.
//
// Every failure leaves an activity as a *temporal.ApplicationError built by
// package errors, so that the workflow's retry policy treats it by its class.
package activities

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/ratelimit/hints"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// Fetcher gets one page of a dataset from its source.
type Fetcher interface {
	Fetch(ctx context.Context, cfg source.Config, cursor string) (source.Page, error)
}

// Limiter is the worker's per-key request budget (package ratelimit).
type Limiter interface {
	Wait(ctx context.Context, key string, l ratelimit.Limit) error
	// WaitAtMost is Wait that returns a *ratelimit.LongWaitError instead
	// of sleeping longer than limit (waits.go).
	WaitAtMost(ctx context.Context, key string, l ratelimit.Limit, limit time.Duration) error
	Freeze(key string, d time.Duration) time.Time
	Observe(key string, q hints.Quota)
	// Strained records a transient server error: the key slows down.
	Strained(key string)
	// Unanswered answers a request that got no answer to learn from
	// (answers.go).
	Unanswered(key string)
	// Spread is the extra wait of one task on a durable timer of d.
	Spread(d time.Duration) time.Duration
	Status(key string) ratelimit.Status
}

// Observer receives what the activities do, for metrics. All methods must be
// cheap and safe for concurrent use. A nil Observer is allowed.
type Observer interface {
	// PageCommitted is called after a page is committed.
	PageCommitted(dataset string, records int)
	// Request is called after every request to a source with its outcome
	// class ("ok" or an errors.Class).
	Request(dataset string, outcome string)
	// RateLimitWait is called when a rate-limit answer makes a key wait.
	RateLimitWait(key string, d time.Duration)
}

// Sinks gives each task the sink of its destination (ARCHITECTURE.md §Sink
// protocol): engine.Sinks, a pool of open sinks shared by the tasks.
type Sinks interface {
	// Acquire returns the open sink of the destination dsn (a task's
	// SyncInput.Sink; "" is the worker's default) and the function that
	// releases it once the activity is done with it. Its errors are
	// classified (*errors.Error) and name the destination, password
	// redacted.
	Acquire(ctx context.Context, dsn string) (sink.Sink, func(), error)
}

// Activities is the set of activities a worker registers. Its fields are the
// dependencies, injected by the worker main (or a test).
type Activities struct {
	Source Fetcher
	// Sink is the default destination, for a task that names none; with
	// Sinks nil, every task's.
	Sink sink.Sink
	// Sinks, when set, gives each task the sink of its destination
	// (SyncPagesInput.Sink), the default included.
	Sinks    Sinks
	Limits   Limiter
	Observer Observer // optional
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HeartbeatEvery is how often a running SyncPages heartbeats while it
	// waits or fetches; default 1s. Heartbeats are how a cancellation reaches
	// an activity, so this bounds cancellation latency.
	HeartbeatEvery time.Duration
	// Progress, when set, tells each running SyncPages's workflow what it
	// has committed (SignalProgress), at most every ReportEvery (default
	// DefaultReportEvery), so that progress is live between results.
	Progress    ProgressReporter
	ReportEvery time.Duration
}

// SyncPagesInput is the input of SyncPages. It carries no secrets and no
// record data.
type SyncPagesInput struct {
	TaskID  string         `json:"task_id"`
	Dataset config.Dataset `json:"dataset"`
	// Position is where the workflow last saw the task (its Done is false).
	task.Position
	// MaxPages bounds the pages one activity execution commits.
	MaxPages int `json:"max_pages"`
	// MaxDuration bounds the time one execution runs before it returns its
	// progress (it then stops after the page in flight).
	MaxDuration time.Duration `json:"max_duration"`
	// MaxWait is the longest rate-limit wait taken inside the activity;
	// a longer one is returned to the workflow, which waits on a durable
	// timer without holding a worker slot.
	MaxWait time.Duration `json:"max_wait"`
	// Sink is the task's destination DSN (workflows.SyncInput.Sink), no
	// secret in it; empty means the worker's default.
	Sink string `json:"sink,omitempty"`
	// MaxAttempts bounds the tries of one page against transient failures
	// (default DefaultMaxAttempts); a committed page starts the count again.
	MaxAttempts int32 `json:"max_attempts,omitempty"`
	// PageTries is how many tries the page at Position has failed in
	// earlier executions (SyncPagesResult.PageTries).
	PageTries int32 `json:"page_tries,omitempty"`
	// RateLimitBudget, when positive, is how long this execution may still
	// wait for rate limits before it returns the wait to the workflow
	// (which ends the task once its max_rate_limit_wait is used up).
	RateLimitBudget time.Duration `json:"rate_limit_budget,omitempty"`
	// Seen are the last pages earlier executions committed
	// (SyncPagesResult.Seen), for the repeat check (repeat.go).
	Seen []SeenPage `json:"seen,omitempty"`
	// Escalations is how many escalating rate-limit answers in a row
	// (GitHub's secondary limit) the page at Position has had in earlier
	// executions (SyncPagesResult.Escalations).
	Escalations int32 `json:"escalations,omitempty"`
}

// SyncPagesResult is where the task stands after one SyncPages execution.
type SyncPagesResult struct {
	// Position is the task's position after the last committed page.
	task.Position
	// PagesFetched counts the pages this execution committed.
	PagesFetched int `json:"pages_fetched"`
	// Attempt is the activity attempt that produced this result.
	Attempt int32 `json:"attempt"`
	// RateLimitWaits counts rate-limit answers this execution waited out.
	RateLimitWaits int `json:"rate_limit_waits"`
	// RateLimitedFor, when positive, asks the workflow to wait that long
	// before the next execution (the server asked for more than MaxWait).
	RateLimitedFor time.Duration `json:"rate_limited_for,omitempty"`
	// RateLimitMessage says which answer asked for the wait.
	RateLimitMessage string `json:"rate_limit_message,omitempty"`
	// Rate is the key's current request rate on this worker (req/s).
	Rate float64 `json:"rate"`
	// WorkerStopping is set when the execution returned early because its
	// worker is shutting down; the workflow simply goes on.
	WorkerStopping bool `json:"worker_stopping,omitempty"`
	// PageTries is how many tries the page at Position has failed so far
	// (0 after a commit); the workflow passes it to the next execution.
	PageTries int32 `json:"page_tries,omitempty"`
	// RateLimitedWait is how long this execution waited for rate limits.
	RateLimitedWait time.Duration `json:"rate_limited_wait,omitempty"`
	// Seen are the last pages committed so far (hashes only), for the
	// next execution's repeat check; the workflow passes them on.
	Seen []SeenPage `json:"seen,omitempty"`
	// Escalations is how many escalating rate-limit answers in a row the
	// page at Position has had (0 after a commit); the workflow passes it
	// to the next execution.
	Escalations int32 `json:"escalations,omitempty"`
}

// Heartbeat is what SyncPages records with each heartbeat: enough for the
// next attempt to resume, and for `starter status` to show live progress
// while an execution runs. No record data.
type Heartbeat struct {
	task.Position
	// PageAttempt is the activity attempt at which Position was first
	// tried (see pageTries).
	PageAttempt int32 `json:"page_attempt,omitempty"`
}

// Defaults for SyncPagesInput fields left zero.
const (
	DefaultMaxPages    = 20
	DefaultMaxDuration = 2 * time.Minute
	DefaultMaxWait     = 30 * time.Second
)

// SyncPages fetches and commits up to in.MaxPages pages of a dataset, starting
// at the furthest of the input cursor, the last heartbeat and the sink's
// checkpoint, so that a retry resumes where the previous attempt stopped.
func (a *Activities) SyncPages(ctx context.Context, in SyncPagesInput) (SyncPagesResult, error) {
	s := a.newPageSync(ctx, in.withDefaults())
	snk, release, serr := a.sinkOf(ctx, in.Sink)
	if serr != nil {
		return SyncPagesResult{}, s.fail(serr)
	}
	defer release()
	s.snk = snk
	pos, err := s.resume()
	if err != nil {
		return SyncPagesResult{}, err
	}
	s.pos = pos
	s.repeats.seed(s.in.Seen, pos)
	s.hb = newHeartbeater(ctx, a.heartbeatEvery(), Heartbeat{pos, s.tries.first})
	defer s.hb.stop()
	s.reports = newProgressReports(ctx, a.Progress, a.reportEvery(), pos)
	flush := true
	defer func() { s.reports.stop(flush) }()
	s.started = a.now()
	if e := s.tries.exhausted(); e != nil {
		return SyncPagesResult{}, s.fail(e)
	}

	// While a page commits, the next one is already being fetched: one
	// fetch runs ahead of the commits. Returning cancels it; its page is
	// then fetched again by the next execution (at most one page twice).
	var cancelAhead context.CancelFunc
	s.fctx, cancelAhead = context.WithCancel(ctx)
	if s.windowed() { // several pages in flight (window.go)
		s.win = newWindow(s.cfg.ConcurrencyBound())
	}
	defer s.endFetches(cancelAhead)

	for !s.pos.Done && s.budgetLeft() {
		stop, err := s.step()
		if err != nil {
			return SyncPagesResult{}, err
		}
		if stop {
			break
		}
	}
	flush = false // the result carries the position
	return s.finish(), nil
}

// withDefaults fills the fields left zero.
func (in SyncPagesInput) withDefaults() SyncPagesInput {
	if in.MaxPages <= 0 {
		in.MaxPages = DefaultMaxPages
	}
	if in.MaxDuration <= 0 {
		in.MaxDuration = DefaultMaxDuration
	}
	if in.MaxWait <= 0 {
		in.MaxWait = DefaultMaxWait
	}
	return in
}

// pageSync is one SyncPages execution: where it stands (pos, committed and
// heartbeated), what it will return (res) and the fetch running ahead.
type pageSync struct {
	a        *Activities
	snk      sink.Sink // the task's destination
	ctx      context.Context
	fctx     context.Context // of the fetches: cancelled when the execution returns
	in       SyncPagesInput
	log      sdklog.Logger
	key      string
	limit    ratelimit.Limit
	started  time.Time
	stopping <-chan struct{}
	fetches  sync.WaitGroup // the fetch goroutines (answers.go)
	hb       *heartbeater
	reports  *progressReports
	tries    pageTries
	pos      task.Position
	res      SyncPagesResult
	ahead    *pendingFetch   // the one fetch ahead when there is no window (stopping.go)
	win      *window         // the pages in flight of a page or offset source; nil: one fetch ahead
	repeats  repeatDetector  // pages served again (repeat.go)
	cfg      source.Config   // the source, with the incremental filter of the run (incremental.go)
	deletes  sink.DeleteMode // what the completing commit does to records not seen
	// escalations counts the escalating rate-limit answers in a row of
	// the current page (waits.go).
	escalations int32
}

func (a *Activities) newPageSync(ctx context.Context, in SyncPagesInput) *pageSync {
	return &pageSync{
		a:        a,
		ctx:      ctx,
		in:       in,
		log:      sdklog.With(activity.GetLogger(ctx), "dataset", in.Dataset.ID),
		key:      in.Dataset.LimitKey(),
		limit:    ratelimit.Limit{RPS: in.Dataset.RateLimit.RPS, Burst: in.Dataset.RateLimit.Burst},
		stopping: activity.GetWorkerStopChannel(ctx),
		res:      SyncPagesResult{Attempt: activity.GetInfo(ctx).Attempt},

		escalations: in.Escalations,
	}
}

// resume is the position to start from: the furthest of the input, the
// last heartbeat of a previous attempt and the sink's checkpoint.
func (s *pageSync) resume() (task.Position, error) {
	from := []task.Position{s.in.Position}
	hb := s.heartbeatOf()
	if hb != nil {
		from = append(from, hb.Position)
	}
	cp, ok, err := s.snk.Load(s.ctx, s.in.TaskID)
	if err != nil {
		if s.ctx.Err() != nil {
			return task.Position{}, s.fail(cutOff(s.ctx, s.stopping, "load checkpoint"))
		}
		return task.Position{}, s.fail(sferrors.New(classifySinkError(s.ctx, err), "load checkpoint", err))
	}
	if ok {
		from = append(from, cp.Position)
	}
	pos, e := s.startIncremental(task.Furthest(from...))
	if e != nil {
		return task.Position{}, s.fail(e)
	}
	s.tries = newPageTries(s.res.Attempt, s.in, hb, pos)
	return pos, nil
}

// step fetches and commits one page. It returns stop when the execution
// must return its progress now: its worker is stopping, or a rate limit
// asks for a wait that belongs in the workflow.
func (s *pageSync) step() (stop bool, err error) {
	// A window's slots in flight are dropped at a stop; the one fetch
	// ahead of a source without a window is committed if its request is
	// out (stopping.go).
	if s.isStopping() && (s.win != nil || s.ahead == nil) {
		return s.stopNow(), nil
	}
	var r fetched
	if s.win != nil {
		if stop, err := s.awaitWindow(); stop || err != nil {
			return stop, err
		}
		r = s.win.pop()
	} else if r, stop = s.awaitFetch(); stop {
		return s.stopNow(), nil
	}
	if r.waitErr != nil {
		return s.onWaitError(r.waitErr)
	}
	if r.err != nil {
		return s.onFetchError(r)
	}
	return false, s.commit(r.page)
}

// budgetLeft says whether this execution may fetch another page: always
// one, then while it has pages and time left.
func (s *pageSync) budgetLeft() bool {
	return s.res.PagesFetched < s.pageBudget() && (s.res.PagesFetched == 0 || s.a.now().Sub(s.started) < s.in.MaxDuration)
}

func (s *pageSync) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// fetch waits for the key's rate limit, then fetches the page at cursor,
// in the background.
func (s *pageSync) fetch(cursor string) *pendingFetch {
	ch := make(chan fetched, 1)
	pf := &pendingFetch{ch: ch}
	s.goFetch(func() { ch <- s.fetchGated(s.fctx, cursor, pf.send) })
	return pf
}

// fetchNow waits for the key's rate limit, then fetches the page at cursor.
func (s *pageSync) fetchNow(ctx context.Context, cursor string) fetched {
	return s.fetchGated(ctx, cursor, nil)
}

// fetchGated is fetchNow asking gate, when set, once the limiter lets the
// request go: false drops the fetch before anything is sent.
func (s *pageSync) fetchGated(ctx context.Context, cursor string, gate func() bool) fetched {
	if err := s.a.Limits.WaitAtMost(ctx, s.key, s.limit, s.waitBound()); err != nil {
		return fetched{waitErr: err}
	}
	if gate != nil && !gate() {
		s.a.Limits.Unanswered(s.key)
		return fetched{waitErr: context.Canceled} // dropped before its request went out
	}
	sent := time.Now()
	p, err := s.a.Source.Fetch(ctx, s.cfg, cursor)
	r := fetched{page: p, err: err, sent: sent, took: time.Since(sent)}
	r.answered = s.answerFailure(r)
	return r
}

// awaitFetch is the page at the current position: the one fetched ahead,
// or a new fetch. stop is set when the worker began stopping before the
// fetch's request went out (see dropAhead).
func (s *pageSync) awaitFetch() (_ fetched, stop bool) {
	if s.ahead == nil {
		s.ahead = s.fetch(s.pos.Cursor)
	}
	select {
	case r := <-s.ahead.ch:
		s.ahead = nil
		return r, false
	case <-s.stopping:
	}
	if s.dropAhead() {
		return fetched{}, true
	}
	r := <-s.ahead.ch
	s.ahead = nil
	return r, false
}

// onFetchError classifies a failed fetch: a rate limit is waited out
// (onRateLimited), anything else fails the execution.
// The fetch answered the limiter for any failure but a rate-limit answer
// (answers.go); one that is not waited out here is answered without a
// freeze.
func (s *pageSync) onFetchError(r fetched) (stop bool, _ error) {
	e := sferrors.Classify(r.err)
	if s.ctx.Err() != nil {
		e = cutOff(s.ctx, s.stopping, "fetch")
	}
	s.a.observeRequest(s.in.Dataset.ID, string(e.Class))
	if e.Class == sferrors.RateLimited {
		return s.onRateLimited(e)
	}
	s.forget(r)
	return false, s.fail(e)
}

// onRateLimited freezes the key for as long as the answer asks (an
// escalating answer at least its backoff, see escalate). A short wait is
// taken here: the next fetch waits at the frozen gate. A longer one stops
// the execution and asks the workflow to wait on a durable timer.
func (s *pageSync) onRateLimited(e *sferrors.Error) (stop bool, _ error) {
	wait, err := s.escalate(e)
	if err != nil {
		return false, err
	}
	until := s.a.Limits.Freeze(s.key, wait)
	d := until.Sub(s.a.now())
	s.a.observeWait(s.key, d)
	s.res.RateLimitWaits++
	overBudget := s.in.RateLimitBudget > 0 && s.res.RateLimitedWait+d > s.in.RateLimitBudget
	if d > s.in.MaxWait || s.a.now().Add(d).Sub(s.started) > s.in.MaxDuration || overBudget {
		s.durable(until, e.Error(), "status", e.Status)
		return true, nil
	}
	s.res.RateLimitedWait += d
	s.log.Info("rate limited: waiting", "key", s.key, "until", until.UTC().Format(time.RFC3339), "status", e.Status)
	return false, nil
}

// commit writes a fetched page with the task's next position in one sink
// transaction (the next page is fetched meanwhile), then heartbeats it.
func (s *pageSync) commit(page source.Page) error {
	if s.win == nil { // a window observes each page as it arrives
		s.a.observeRequest(s.in.Dataset.ID, "ok")
		s.a.Limits.Observe(s.key, hints.ParseQuotaWith(page.Header, s.a.now(), s.in.Dataset.Source.QuotaHeaders))
	}
	if e := s.repeats.check(s.in.Dataset.Source.Pagination, s.pos, page); e != nil {
		return s.fail(e)
	}
	highest, e := s.pageMark(page.Records)
	if e != nil {
		return s.fail(e)
	}
	next := s.pos.Advance(page.Next, page.Done, len(page.Records))
	next.Window.To = task.MaxMark(s.pos.Window.To, highest)
	if s.win != nil {
		s.advance(next, page)
	} else {
		s.fetchAhead(next)
	}
	if err := s.snk.Commit(s.ctx, s.checkpoint(next), page.Records); err != nil {
		if s.ctx.Err() != nil {
			return s.fail(cutOff(s.ctx, s.stopping, "commit"))
		}
		return s.fail(sferrors.New(classifySinkError(s.ctx, err), "commit", err))
	}
	s.pos = s.counted(next)
	s.tries.committed()
	s.escalations = 0
	s.hb.set(Heartbeat{s.pos, s.tries.first})
	s.reports.set(s.pos)
	s.res.PagesFetched++
	if s.a.Observer != nil {
		s.a.Observer.PageCommitted(s.in.Dataset.ID, len(page.Records))
	}
	return nil
}

// counted is next with, once the task is done, the number of distinct
// records the generation wrote as the sink counted it in the last commit
// (ARCHITECTURE.md §Sink protocol); next unchanged if it cannot be read.
func (s *pageSync) counted(next task.Position) task.Position {
	if !next.Done || next.GenerationStarted.IsZero() {
		return next
	}
	cp, ok, err := s.snk.Load(s.ctx, s.in.TaskID)
	if err != nil || !ok || cp.Generation != next.Generation {
		s.log.Warn("could not read back the distinct record count", "error", err)
		return next
	}
	if cp.Records != next.Records {
		s.log.Info("pages overlapped: records counted once per key", "pages_total", next.Records, "distinct", cp.Records)
	}
	next.Records = cp.Records
	return next
}

// fetchAhead starts fetching the page at next while the current one
// commits, unless this execution will stop after it.
func (s *pageSync) fetchAhead(next task.Position) {
	if !next.Done && s.res.PagesFetched+1 < s.in.MaxPages && s.a.now().Sub(s.started) < s.in.MaxDuration && !s.isStopping() {
		s.ahead = s.fetch(next.Cursor)
	}
}

// checkpoint is what the sink records with the page that moves the task
// to next.
func (s *pageSync) checkpoint(next task.Position) sink.Checkpoint {
	state := task.Running
	if next.Done {
		state = task.Completed
	}
	return sink.Checkpoint{
		TaskID: s.in.TaskID, DatasetID: s.in.Dataset.ID, Position: next, State: state, UpdatedAt: s.a.now(),
		Incremental: s.incrementalField(), Deletes: s.deletes,
	}
}

// finish is the execution's result: where the task stands now.
func (s *pageSync) finish() SyncPagesResult {
	s.res.Position = s.pos
	s.res.PageTries = s.tries.failed()
	s.res.Seen = s.repeats.handOn(s.pos)
	s.res.Escalations = s.escalations
	s.res.Rate = s.a.Limits.Status(s.key).Rate
	return s.res
}

// fail converts a classified failure into the activity's error; a
// transient one is counted against the current page's tries (pageTries).
func (s *pageSync) fail(e *sferrors.Error) error {
	s.a.logFailure(s.ctx, s.in.Dataset.ID, e, "page_try", s.tries.String())
	return s.tries.toError(e)
}

// fetched is the outcome of one fetch run ahead.
type fetched struct {
	page    source.Page
	err     error // from the source
	waitErr error // from the rate-limit wait
	sent    time.Time
	took    time.Duration // from the limiter's turn to the answer
	// answered: the fetch answered the key's limiter itself (a failure
	// other than a rate-limit answer, answers.go).
	answered bool
}

// cutOff classifies an activity whose context ended. Only a cancellation
// the workflow asked for (the SDK's cause is then a *temporal.CanceledError)
// is Cancelled; any other (its worker stopping, an activity pause or reset
// from the Web UI or CLI) is a transient interruption that another attempt
// retries from the last committed page (ARCHITECTURE.md §Failure table).
func cutOff(ctx context.Context, stopping <-chan struct{}, op string) *sferrors.Error {
	select {
	case <-stopping:
		return sferrors.Newf(sferrors.Transient, op, "worker stopped before the page was committed")
	default:
	}
	if err := ctx.Err(); err != nil {
		cause := context.Cause(ctx)
		if temporal.IsCanceledError(cause) {
			return sferrors.New(sferrors.Cancelled, op, err)
		}
		return sferrors.Newf(sferrors.Transient, op, "interrupted: %v", cause)
	}
	return sferrors.Newf(sferrors.Transient, op, "interrupted")
}

// RecordStateInput is the input of RecordState.
type RecordStateInput struct {
	TaskID    string     `json:"task_id"`
	DatasetID string     `json:"dataset_id"`
	State     task.State `json:"state"`
	Message   string     `json:"message,omitempty"`
	// GenerationStarted is the start of the generation whose run records
	// the state (task.Position): the sink does not let it relabel the
	// checkpoint of a newer generation. Zero (older histories): unknown.
	GenerationStarted time.Time `json:"generation_started,omitzero"`
	// Sink is the task's destination DSN, as in SyncPagesInput.
	Sink string `json:"sink,omitempty"`
}

// RecordState writes a task's final state (cancelled, failed) into its
// checkpoint. The workflow calls it from a disconnected context during
// cleanup.
func (a *Activities) RecordState(ctx context.Context, in RecordStateInput) error {
	snk, release, serr := a.sinkOf(ctx, in.Sink)
	if serr != nil {
		return a.fail(ctx, in.DatasetID, serr)
	}
	defer release()
	if err := snk.SetState(ctx, in.TaskID, in.DatasetID, in.GenerationStarted, in.State, in.Message); err != nil {
		return a.fail(ctx, in.DatasetID, sferrors.New(classifySinkError(ctx, err), "record state", err))
	}
	return nil
}

// fail logs a classified failure with what is needed to debug it and converts
// it into the error the activity returns (ARCHITECTURE.md §Failure table):
// transient failures get the table's jittered retry delay.
func (a *Activities) fail(ctx context.Context, dataset string, e *sferrors.Error) error {
	a.logFailure(ctx, dataset, e)
	return sferrors.ToActivityError(e, activity.GetInfo(ctx).Attempt)
}

// logFailure logs a classified failure with what is needed to debug it (and
// kv, more key-value pairs).
func (a *Activities) logFailure(ctx context.Context, dataset string, e *sferrors.Error, more ...any) {
	log := sdklog.With(activity.GetLogger(ctx), "dataset", dataset)
	info := activity.GetInfo(ctx)
	kv := append([]any{"class", string(e.Class), "op", e.Op, "attempt", info.Attempt}, more...)
	if e.Method != "" {
		kv = append(kv, "method", e.Method, "url", e.URL)
	}
	if e.Status != 0 {
		kv = append(kv, "status", e.Status)
	}
	if e.Body != "" {
		kv = append(kv, "body", e.Body)
	}
	switch e.Class {
	case sferrors.Transient:
		log.Warn("transient failure: will retry", append(kv, "error", e.Error())...)
	case sferrors.Cancelled:
		log.Info("cancelled", kv...)
	default:
		log.Error("failure: not retried", append(kv, "error", e.Error())...)
	}
}

// classifySinkError decides what a sink failure means: a cancelled context
// is a cancellation, an overtaken checkpoint is transient and a checkpoint
// of a newer generation (sink.ErrSuperseded: another run owns the task) is
// invalid request, never retried and not stopping a batch; otherwise the
// driver's class (drivers classify by their error codes, see sink/sqlite
// and sink/postgres) decides: transient, or else unrecoverable. An error
// without a class (a sink outside this module) is judged by errors.Classify.
func classifySinkError(ctx context.Context, err error) sferrors.Class {
	if ctx.Err() != nil {
		return sferrors.Cancelled
	}
	if errors.Is(err, sink.ErrStaleCheckpoint) {
		return sferrors.Transient
	}
	if errors.Is(err, sink.ErrSuperseded) {
		return sferrors.InvalidRequest
	}
	if sferrors.Classify(err).Class == sferrors.Transient {
		return sferrors.Transient
	}
	return sferrors.Unrecoverable
}

// sinkOf is the sink of the destination dsn ("" = the default) and its
// release: from Sinks when set, else the Sink field (dsn must then be empty
// or nothing could honour it).
func (a *Activities) sinkOf(ctx context.Context, dsn string) (sink.Sink, func(), *sferrors.Error) {
	if a.Sinks == nil {
		if dsn != "" || a.Sink == nil {
			return nil, nil, sferrors.Newf(sferrors.InvalidRequest, "open destination",
				"this worker has no sink pool to open the task's destination %s", sink.RedactDSN(dsn))
		}
		return a.Sink, func() {}, nil
	}
	snk, release, err := a.Sinks.Acquire(ctx, dsn)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, sferrors.New(sferrors.Cancelled, "open destination", ctx.Err())
		}
		var e *sferrors.Error
		if !errors.As(err, &e) {
			e = sferrors.New(classifySinkError(ctx, err), "open destination", err)
		}
		return nil, nil, e
	}
	return snk, release, nil
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) reportEvery() time.Duration {
	if a.ReportEvery > 0 {
		return a.ReportEvery
	}
	return DefaultReportEvery
}

func (a *Activities) heartbeatEvery() time.Duration {
	if a.HeartbeatEvery > 0 {
		return a.HeartbeatEvery
	}
	return time.Second
}

func (a *Activities) observeRequest(dataset, outcome string) {
	if a.Observer != nil {
		a.Observer.Request(dataset, outcome)
	}
}

func (a *Activities) observeWait(key string, d time.Duration) {
	if a.Observer != nil {
		a.Observer.RateLimitWait(key, d)
	}
}

// heartbeater records the latest progress as heartbeat details at once when
// it changes, and again every interval while the activity waits or fetches,
// so that the server sees the activity alive and can deliver a cancellation.
type heartbeater struct {
	mu      sync.Mutex
	details Heartbeat
	changed chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

func newHeartbeater(ctx context.Context, every time.Duration, initial Heartbeat) *heartbeater {
	h := &heartbeater{details: initial, changed: make(chan struct{}, 1), done: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			h.mu.Lock()
			d := h.details
			h.mu.Unlock()
			activity.RecordHeartbeat(ctx, d)
			select {
			case <-h.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			case <-h.changed:
			}
		}
	}()
	return h
}

func (h *heartbeater) set(d Heartbeat) {
	h.mu.Lock()
	h.details = d
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *heartbeater) stop() {
	close(h.done)
	h.wg.Wait()
}
