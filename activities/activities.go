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
	"math/rand/v2"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
)

// Fetcher gets one page of a dataset from its source.
type Fetcher interface {
	Fetch(ctx context.Context, cfg source.Config, cursor string) (source.Page, error)
}

// Limiter is the worker's per-key request budget (package ratelimit).
type Limiter interface {
	Wait(ctx context.Context, key string, l ratelimit.Limit) error
	Freeze(key string, d time.Duration) time.Time
	Observe(key string, q sferrors.Quota)
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

// Activities is the set of activities a worker registers. Its fields are the
// dependencies, injected by the worker main (or a test).
type Activities struct {
	Source   Fetcher
	Sink     sink.Sink
	Limits   Limiter
	Observer Observer // optional
	// Now is the clock; default time.Now.
	Now func() time.Time
	// HeartbeatEvery is how often a running SyncPages heartbeats while it
	// waits or fetches; default 1s. Heartbeats are how a cancellation reaches
	// an activity, so this bounds cancellation latency.
	HeartbeatEvery time.Duration
}

// SyncPagesInput is the input of SyncPages. It carries no secrets and no
// record data.
type SyncPagesInput struct {
	TaskID     string         `json:"task_id"`
	Dataset    config.Dataset `json:"dataset"`
	Generation string         `json:"generation"`
	Cursor     string         `json:"cursor"`
	Pages      int64          `json:"pages"`
	Records    int64          `json:"records"`
	// MaxPages bounds the pages one activity execution commits.
	MaxPages int `json:"max_pages"`
	// MaxDuration bounds the time one execution runs before it returns its
	// progress (it then stops after the page in flight).
	MaxDuration time.Duration `json:"max_duration"`
	// MaxWait is the longest rate-limit wait taken inside the activity;
	// a longer one is returned to the workflow, which waits on a durable
	// timer without holding a worker slot.
	MaxWait time.Duration `json:"max_wait"`
}

// SyncPagesResult is where the task stands after one SyncPages execution.
type SyncPagesResult struct {
	Cursor  string `json:"cursor"`
	Done    bool   `json:"done"`
	Pages   int64  `json:"pages"`   // pages committed in this generation
	Records int64  `json:"records"` // records committed in this generation
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
}

// Heartbeat is what SyncPages records with each heartbeat: enough for the
// next attempt to resume, and for `starter status` to show live progress
// while an execution runs. No record data.
type Heartbeat struct {
	Generation string `json:"generation"`
	Cursor     string `json:"cursor"`
	Pages      int64  `json:"pages"`
	Records    int64  `json:"records"`
	Done       bool   `json:"done"`
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
	info := activity.GetInfo(ctx)
	log := sdklog.With(activity.GetLogger(ctx), "dataset", in.Dataset.ID)
	key := in.Dataset.LimitKey()
	limit := ratelimit.Limit{RPS: in.Dataset.RateLimit.RPS, Burst: in.Dataset.RateLimit.Burst}
	if in.MaxPages <= 0 {
		in.MaxPages = DefaultMaxPages
	}
	if in.MaxDuration <= 0 {
		in.MaxDuration = DefaultMaxDuration
	}
	if in.MaxWait <= 0 {
		in.MaxWait = DefaultMaxWait
	}

	st := Heartbeat{Generation: in.Generation, Cursor: in.Cursor, Pages: in.Pages, Records: in.Records}
	if activity.HasHeartbeatDetails(ctx) {
		var hb Heartbeat
		if err := activity.GetHeartbeatDetails(ctx, &hb); err == nil && hb.Generation == st.Generation && hb.Pages > st.Pages {
			st = hb
		}
	}
	cp, ok, err := a.Sink.Load(ctx, in.TaskID)
	if err != nil {
		return SyncPagesResult{}, a.fail(ctx, in.Dataset.ID, sferrors.New(classifySinkError(ctx, err), "load checkpoint", err))
	}
	if ok && cp.Generation == st.Generation && cp.Pages > st.Pages {
		st = Heartbeat{Generation: cp.Generation, Cursor: cp.Cursor, Pages: cp.Pages, Records: cp.Records, Done: cp.Done}
	}

	res := SyncPagesResult{Attempt: info.Attempt}
	finish := func() SyncPagesResult {
		res.Cursor, res.Done, res.Pages, res.Records = st.Cursor, st.Done, st.Pages, st.Records
		res.Rate = a.Limits.Status(key).Rate
		return res
	}

	hb := newHeartbeater(ctx, a.heartbeatEvery(), st)
	defer hb.stop()

	started := a.now()
	stopping := activity.GetWorkerStopChannel(ctx)

	// While a page commits, the next one is already being fetched: one
	// fetch runs ahead of the commits. Returning cancels it; its page is
	// then fetched again by the next execution (at most one page twice).
	fctx, cancelAhead := context.WithCancel(ctx)
	defer cancelAhead()
	var ahead <-chan fetched
	fetch := func(cursor string) <-chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			if err := a.Limits.Wait(fctx, key, limit); err != nil {
				ch <- fetched{waitErr: err}
				return
			}
			p, err := a.Source.Fetch(fctx, in.Dataset.Source, cursor)
			ch <- fetched{page: p, err: err}
		}()
		return ch
	}
	budgetLeft := func() bool {
		return res.PagesFetched < in.MaxPages && (res.PagesFetched == 0 || a.now().Sub(started) < in.MaxDuration)
	}
	isStopping := func() bool {
		select {
		case <-stopping:
			return true
		default:
			return false
		}
	}

	for !st.Done && budgetLeft() {
		if isStopping() {
			log.Info("worker stopping: returning after the last committed page", "pages", st.Pages)
			res.WorkerStopping = true
			return finish(), nil
		}
		if ahead == nil {
			ahead = fetch(st.Cursor)
		}
		r := <-ahead
		ahead = nil
		if r.waitErr != nil {
			return SyncPagesResult{}, a.fail(ctx, in.Dataset.ID, cutOff(ctx, stopping, "wait for rate limit"))
		}
		page, err := r.page, r.err
		if err != nil {
			e := sferrors.Classify(err)
			if ctx.Err() != nil {
				e = cutOff(ctx, stopping, "fetch")
			}
			a.observeRequest(in.Dataset.ID, string(e.Class))
			if e.Class == sferrors.RateLimited {
				until := a.Limits.Freeze(key, e.RetryAfter)
				d := until.Sub(a.now())
				a.observeWait(key, d)
				res.RateLimitWaits++
				if d > in.MaxWait || a.now().Add(d).Sub(started) > in.MaxDuration {
					log.Warn("rate limited: waiting in the workflow", "key", key, "until", until.UTC().Format(time.RFC3339), "status", e.Status)
					res.RateLimitedFor = d
					res.RateLimitMessage = e.Error()
					return finish(), nil
				}
				log.Info("rate limited: waiting", "key", key, "until", until.UTC().Format(time.RFC3339), "status", e.Status)
				continue // the next fetch waits at the frozen gate
			}
			return SyncPagesResult{}, a.fail(ctx, in.Dataset.ID, e)
		}
		a.observeRequest(in.Dataset.ID, "ok")
		a.Limits.Observe(key, sferrors.ParseQuota(page.Header, a.now()))

		next := Heartbeat{
			Generation: st.Generation,
			Cursor:     page.Next,
			Done:       page.Done,
			Pages:      st.Pages + 1,
			Records:    st.Records + int64(len(page.Records)),
		}
		if !next.Done && res.PagesFetched+1 < in.MaxPages && a.now().Sub(started) < in.MaxDuration && !isStopping() {
			ahead = fetch(next.Cursor)
		}
		state := sink.StateRunning
		if next.Done {
			state = sink.StateCompleted
		}
		cp := sink.Checkpoint{
			TaskID: in.TaskID, DatasetID: in.Dataset.ID, Generation: next.Generation,
			Cursor: next.Cursor, Done: next.Done, Pages: next.Pages, Records: next.Records,
			State: state, UpdatedAt: a.now(),
		}
		if err := a.Sink.Commit(ctx, cp, page.Records); err != nil {
			if ctx.Err() != nil {
				return SyncPagesResult{}, a.fail(ctx, in.Dataset.ID, cutOff(ctx, stopping, "commit"))
			}
			return SyncPagesResult{}, a.fail(ctx, in.Dataset.ID, sferrors.New(classifySinkError(ctx, err), "commit", err))
		}
		st = next
		hb.set(st)
		res.PagesFetched++
		if a.Observer != nil {
			a.Observer.PageCommitted(in.Dataset.ID, len(page.Records))
		}
	}
	return finish(), nil
}

// fetched is the outcome of one fetch run ahead.
type fetched struct {
	page    source.Page
	err     error // from the source
	waitErr error // from the rate-limit wait
}

// cutOff classifies an activity whose context ended: a cancellation of the
// task, or (when its worker is stopping) a transient interruption that
// another worker retries from the last committed page.
func cutOff(ctx context.Context, stopping <-chan struct{}, op string) *sferrors.Error {
	select {
	case <-stopping:
		return sferrors.Newf(sferrors.Transient, op, "worker stopped before the page was committed")
	default:
	}
	if err := ctx.Err(); err != nil {
		return sferrors.New(sferrors.Cancelled, op, err)
	}
	return sferrors.Newf(sferrors.Transient, op, "interrupted")
}

// RecordStateInput is the input of RecordState.
type RecordStateInput struct {
	TaskID    string     `json:"task_id"`
	DatasetID string     `json:"dataset_id"`
	State     sink.State `json:"state"`
	Message   string     `json:"message,omitempty"`
}

// RecordState writes a task's final state (cancelled, failed) into its
// checkpoint. The workflow calls it from a disconnected context during
// cleanup.
func (a *Activities) RecordState(ctx context.Context, in RecordStateInput) error {
	if err := a.Sink.SetState(ctx, in.TaskID, in.DatasetID, in.State, in.Message); err != nil {
		return a.fail(ctx, in.DatasetID, sferrors.New(classifySinkError(ctx, err), "record state", err))
	}
	return nil
}

// fail logs a classified failure with what is needed to debug it and converts
// it into the ApplicationError the activity returns. Transient failures get
// an exponential, fully jittered retry delay.
func (a *Activities) fail(ctx context.Context, dataset string, e *sferrors.Error) error {
	log := sdklog.With(activity.GetLogger(ctx), "dataset", dataset)
	info := activity.GetInfo(ctx)
	kv := []any{"class", string(e.Class), "op", e.Op, "attempt", info.Attempt}
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
		return temporal.NewApplicationErrorWithOptions(e.Error(), sferrors.TypeTransient, temporal.ApplicationErrorOptions{
			NextRetryDelay: backoff(info.Attempt),
			Cause:          e.Err,
			Details:        []any{sferrors.Details{Class: e.Class, Op: e.Op, Status: e.Status, Method: e.Method, URL: e.URL}},
		})
	case sferrors.Cancelled:
		log.Info("cancelled", kv...)
	default:
		log.Error("failure: not retried", append(kv, "error", e.Error())...)
	}
	return sferrors.ToApplicationError(e)
}

// Backoff parameters for transient failures: exponential with full jitter.
const (
	backoffBase  = time.Second
	backoffCap   = time.Minute
	backoffFloor = 100 * time.Millisecond
)

// backoff is the delay before retry number attempt+1: uniform in
// [floor, min(cap, base*2^(attempt-1))] ("full jitter").
func backoff(attempt int32) time.Duration {
	ceil := backoffCap
	if attempt < 1 {
		attempt = 1
	}
	if attempt < 7 {
		ceil = min(backoffCap, backoffBase<<(attempt-1))
	}
	return backoffFloor + time.Duration(rand.Int64N(int64(ceil-backoffFloor)+1))
}

// classifySinkError decides what a sink failure means: a cancelled context
// is a cancellation and an overtaken checkpoint is transient; otherwise the
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
	if sferrors.Classify(err).Class == sferrors.Transient {
		return sferrors.Transient
	}
	return sferrors.Unrecoverable
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
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
