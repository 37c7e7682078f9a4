package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// SyncOptions tune one sync task. Zero values take the defaults below.
type SyncOptions struct {
	// PagesPerActivity bounds the pages one SyncPages execution commits.
	PagesPerActivity int `json:"pages_per_activity,omitempty"`
	// ActivitiesPerRun is how many SyncPages executions one workflow run
	// makes before it continues as new (history stays small).
	ActivitiesPerRun int `json:"activities_per_run,omitempty"`
	// MaxAttempts bounds the tries of one page against transient failures;
	// a committed page starts the count (and the backoff) again. Rate-limit
	// waits do not count. (Before version perPageTries it bounded the
	// attempts of one SyncPages execution.)
	MaxAttempts int32 `json:"max_attempts,omitempty"`
	// MaxWait is the longest rate-limit wait taken inside an activity;
	// longer waits are durable timers in the workflow.
	MaxWait source.Duration `json:"max_wait,omitempty"`
	// HeartbeatTimeout is how soon a lost worker is noticed.
	HeartbeatTimeout source.Duration `json:"heartbeat_timeout,omitempty"`
	// Deadline bounds the whole task (all runs); 0 means none.
	Deadline source.Duration `json:"deadline,omitempty"`
	// MaxRateLimitWait bounds the task's total rate-limited wait (all runs,
	// inside activities and on workflow timers); once it is used up the
	// task fails rate limited. Default DefaultMaxRateLimitWait.
	MaxRateLimitWait source.Duration `json:"max_rate_limit_wait,omitempty"`
}

// Defaults of SyncOptions.
const (
	DefaultPagesPerActivity = activities.DefaultMaxPages
	DefaultActivitiesPerRun = 500
	DefaultMaxAttempts      = 10
	DefaultMaxWait          = activities.DefaultMaxWait
	DefaultHeartbeatTimeout = 10 * time.Second
	DefaultMaxRateLimitWait = 6 * time.Hour
)

func (o SyncOptions) withDefaults() SyncOptions {
	if o.PagesPerActivity <= 0 {
		o.PagesPerActivity = DefaultPagesPerActivity
	}
	if o.ActivitiesPerRun <= 0 {
		o.ActivitiesPerRun = DefaultActivitiesPerRun
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxWait <= 0 {
		o.MaxWait = source.Duration(DefaultMaxWait)
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = source.Duration(DefaultHeartbeatTimeout)
	}
	if o.MaxRateLimitWait <= 0 {
		o.MaxRateLimitWait = source.Duration(DefaultMaxRateLimitWait)
	}
	return o
}

// SyncInput is the input of SyncWorkflow: what to sync, never a secret.
// Carry is empty when a task starts; continue-as-new fills it.
type SyncInput struct {
	TaskID  string         `json:"task_id"`
	Dataset config.Dataset `json:"dataset"`
	Options SyncOptions    `json:"options,omitempty"`
	Carry   *SyncCarry     `json:"carry,omitempty"`
	// Sink is the task's destination DSN (ARCHITECTURE.md §Sink protocol):
	// a reference that holds no secret, credentials as ${NAME} references
	// that the worker resolves, e.g. postgres://app:${PG_PASSWORD}@db/sync.
	// Empty means the worker's default destination.
	Sink string `json:"sink,omitempty"`
}

// SyncCarry is the state a task carries from one run to the next.
type SyncCarry struct {
	task.Position
	task.Counters
	Started time.Time `json:"started"`
	Runs    int       `json:"runs"`
	// PageTries is how many tries the page at Position has failed.
	PageTries int32 `json:"page_tries,omitempty"`
	// RateLimitedWait is the task's total rate-limited wait so far.
	RateLimitedWait time.Duration `json:"rate_limited_wait,omitempty"`
	// Seen are the last committed pages, for the repeat check
	// (activities.SyncPagesResult.Seen).
	Seen []activities.SeenPage `json:"seen,omitempty"`
	// Escalations is how many escalating rate-limit answers in a row the
	// page at Position has had (activities.SyncPagesResult.Escalations).
	Escalations int32 `json:"escalations,omitempty"`
}

// SyncResult is the result of a completed SyncWorkflow.
type SyncResult struct {
	TaskID    string     `json:"task_id"`
	DatasetID string     `json:"dataset_id"`
	State     task.State `json:"state"`
	// Position is where the task ended: its last generation's pages and
	// records.
	task.Position
	task.Counters
	// Retries is Counters.Retries(), for readers of the JSON.
	Retries  int64         `json:"retries"`
	Duration time.Duration `json:"duration"`
	Runs     int           `json:"runs"`
}

// Progress is the answer of the progress query.
type Progress struct {
	TaskID    string     `json:"task_id"`
	DatasetID string     `json:"dataset_id"`
	State     task.State `json:"state"`
	task.Position
	task.Counters
	// Retries is Counters.Retries(), for readers of the JSON.
	Retries          int64     `json:"retries"`
	RateLimitedUntil time.Time `json:"rate_limited_until,omitzero"`
	Rate             float64   `json:"rate"`
	LastErrorClass   string    `json:"last_error_class,omitempty"`
	LastError        string    `json:"last_error,omitempty"`
	Started          time.Time `json:"started"`
	Updated          time.Time `json:"updated"`
	Runs             int       `json:"runs"`
	// RateLimitedWait is the task's total rate-limited wait so far
	// (bounded by SyncOptions.MaxRateLimitWait).
	RateLimitedWait time.Duration `json:"rate_limited_wait,omitempty"`
	// RateLimitKey is the dataset's effective rate-limit key
	// (config.Dataset.LimitKey): its budget, shared with every dataset of
	// the key.
	RateLimitKey string `json:"rate_limit_key,omitempty"`
}

// SyncWorkflow copies one dataset from its source into the sink, page by
// page, until the source reports the end. See ARCHITECTURE.md §Data flow
// and §Failure table.
func SyncWorkflow(ctx workflow.Context, in SyncInput) (SyncResult, error) {
	if err := in.validate(); err != nil {
		return SyncResult{}, temporal.NewNonRetryableApplicationError(err.Error(), sferrors.TypeInvalidRequest, nil)
	}
	r := newSyncRun(ctx, in)
	r.resume()
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) {
		return r.p, nil
	}); err != nil {
		return SyncResult{}, err
	}
	setState(ctx, &r.p, task.Running)
	updateDetails(ctx, &r.p)
	r.receiveProgress()
	for n := 0; ; n++ {
		if n >= r.opts.ActivitiesPerRun || r.reports >= maxReportsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return SyncResult{}, r.continueAsNew()
		}
		if err := r.checkDeadline(); err != nil {
			return SyncResult{}, err
		}
		res, err := r.syncPages()
		if err != nil {
			return SyncResult{}, err
		}
		if res.Done {
			return r.complete(), nil
		}
		if res.RateLimitedFor > 0 {
			if err := r.onRateLimited(res); err != nil {
				return SyncResult{}, err
			}
		}
		updateDetails(ctx, &r.p)
	}
}

// syncRun is one run of a SyncWorkflow: its input, options and the task's
// progress (also the progress query's answer).
type syncRun struct {
	ctx  workflow.Context
	actx workflow.Context // with the SyncPages activity options
	in   SyncInput
	opts SyncOptions
	p    Progress
	// pageTries is how many tries the page at p.Position has failed
	// (activities.SyncPagesResult.PageTries).
	pageTries int32
	// reports counts the progress reports this run received.
	reports int
	// unaskedCancels counts activity cancellations in a row that the
	// workflow did not ask for.
	unaskedCancels int32
	// seen are the last committed pages (hashes), handed from one
	// SyncPages execution to the next.
	seen []activities.SeenPage
	// escalations is activities.SyncPagesResult.Escalations of the last
	// execution.
	escalations int32
}

func newSyncRun(ctx workflow.Context, in SyncInput) *syncRun {
	if in.Dataset.RateLimit.GlobalRPS > 0 && in.Options.PagesPerActivity == 0 {
		// A global limit bounds activity dispatch: one page per activity
		// makes it bound requests.
		in.Options.PagesPerActivity = 1
	}
	r := &syncRun{ctx: ctx, in: in, opts: in.Options.withDefaults()}
	r.actx = workflow.WithActivityOptions(ctx, syncPagesOptions(in.Dataset, r.opts))
	return r
}

// resume starts the task's progress where the previous run left it (its
// carry), or at the start of a new generation named by this run.
func (r *syncRun) resume() {
	r.p = Progress{TaskID: r.in.TaskID, DatasetID: r.in.Dataset.ID, State: task.Running, Started: workflow.Now(r.ctx), Runs: 1,
		RateLimitKey: r.in.Dataset.LimitKey()}
	if c := r.in.Carry; c != nil {
		r.p.Position, r.p.Counters, r.p.Started, r.p.Runs = c.Position, c.Counters, c.Started, c.Runs+1
		r.p.Retries = r.p.Counters.Retries()
		r.pageTries, r.p.RateLimitedWait = c.PageTries, c.RateLimitedWait
		r.seen, r.escalations = c.Seen, c.Escalations
	}
	if r.p.Generation == "" {
		// A new generation: named by this run, ordered by its start
		// (ARCHITECTURE.md §Sink protocol). A carry keeps both, and one
		// from before the start existed keeps it unknown. A run made by a
		// workflow reset keeps the generation of the run it reset (its
		// original run ID), so the page rule orders the two.
		r.p.Generation = generationOf(workflow.GetInfo(r.ctx))
		r.p.GenerationStarted = workflow.Now(r.ctx).UTC()
	}
	r.p.Updated = workflow.Now(r.ctx)
}

// generationOf names the generation a first run starts: the original run
// ID, which is the run's own except in a run made by a workflow reset.
func generationOf(info *workflow.Info) string {
	if info.OriginalRunID != "" {
		return info.OriginalRunID
	}
	return info.WorkflowExecution.RunID
}

// continueAsNew ends this run and starts the next with the task's progress
// as its carry, so that history stays small.
func (r *syncRun) continueAsNew() error {
	next := r.in
	next.Carry = &SyncCarry{
		Position: r.p.Position, Counters: r.p.Counters, Started: r.p.Started, Runs: r.p.Runs,
		PageTries: r.pageTries, RateLimitedWait: r.p.RateLimitedWait, Seen: r.seen, Escalations: r.escalations,
	}
	workflow.GetLogger(r.ctx).Info("continuing as new", "pages", r.p.Pages, "records", r.p.Records)
	return workflow.NewContinueAsNewError(r.ctx, SyncWorkflow, next)
}

// checkDeadline fails the task once it has run longer than its deadline
// (across runs).
func (r *syncRun) checkDeadline() error {
	d := time.Duration(r.opts.Deadline)
	if d <= 0 || workflow.Now(r.ctx).Sub(r.p.Started) <= d {
		return nil
	}
	err := temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("task %s exceeded its deadline of %s after %d pages", r.in.TaskID, d, r.p.Pages),
		sferrors.TypeUnrecoverable, nil)
	return r.fail(sferrors.Unrecoverable, err)
}

// syncPages runs one SyncPages execution from the task's position and
// records its outcome; a failure ends the task (cancelled or failed).
func (r *syncRun) syncPages() (activities.SyncPagesResult, error) {
	var a *activities.Activities
	var res activities.SyncPagesResult
	for {
		err := workflow.ExecuteActivity(r.actx, a.SyncPages, activities.SyncPagesInput{
			TaskID:          r.in.TaskID,
			Dataset:         r.in.Dataset,
			Position:        r.p.Position,
			MaxPages:        r.opts.PagesPerActivity,
			MaxWait:         time.Duration(r.opts.MaxWait),
			MaxAttempts:     r.opts.MaxAttempts,
			PageTries:       r.pageTries,
			RateLimitBudget: time.Duration(r.opts.MaxRateLimitWait) - r.p.RateLimitedWait,
			Sink:            r.in.Sink,
			Seen:            r.seen,
			Escalations:     r.escalations,
		}).Get(r.ctx, &res)
		if err == nil {
			break
		}
		if r.ctx.Err() == nil && temporal.IsCanceledError(err) && r.retryUnaskedCancel() {
			continue
		}
		if r.ctx.Err() != nil || temporal.IsCanceledError(err) {
			return res, r.cancelled()
		}
		class, _, _ := sferrors.ClassOf(err)
		return res, r.fail(class, err)
	}
	r.unaskedCancels, r.pageTries = 0, res.PageTries
	r.seen, r.escalations = res.Seen, res.Escalations
	r.p.RateLimitedWait += res.RateLimitedWait
	r.p.Counters.Record(int64(max(res.Attempt, 1)), int64(res.RateLimitWaits))
	r.p.Retries = r.p.Counters.Retries()
	// The task's generation; its start the earlier of the task's and the
	// result's (a reset run learns the original run's start from the
	// checkpoint; a result from an older worker has none).
	gen, started := r.p.Generation, r.p.GenerationStarted
	if res.Generation == gen {
		started = task.EarlierStart(started, res.GenerationStarted)
	}
	r.p.Position = res.Position
	r.p.Generation, r.p.GenerationStarted = gen, started
	r.p.Rate = res.Rate
	r.p.Updated = workflow.Now(r.ctx)
	return res, nil
}

// onRateLimited waits on a durable timer for as long as the execution's
// rate limit asked (longer than an activity waits), holding no worker slot.
func (r *syncRun) onRateLimited(res activities.SyncPagesResult) error {
	if err := r.checkRateLimitBudget(res); err != nil {
		return err
	}
	if err := r.checkWaitDeadline(res); err != nil {
		return err
	}
	setState(r.ctx, &r.p, task.RateLimited)
	r.p.RateLimitedUntil = workflow.Now(r.ctx).Add(res.RateLimitedFor)
	r.p.LastErrorClass, r.p.LastError = string(sferrors.RateLimited), res.RateLimitMessage
	updateDetails(r.ctx, &r.p)
	workflow.GetLogger(r.ctx).Info("rate limited: waiting on a durable timer", "until", r.p.RateLimitedUntil)
	timer := workflow.NewTimerWithOptions(r.ctx, res.RateLimitedFor, workflow.TimerOptions{
		Summary: timerSummary(r.in.Dataset.LimitKey(), r.p.RateLimitedUntil, res.RateLimitMessage),
	})
	if err := timer.Get(r.ctx, nil); err != nil {
		return r.cancelled()
	}
	r.p.RateLimitedUntil = time.Time{}
	r.p.RateLimitedWait += res.RateLimitedFor
	setState(r.ctx, &r.p, task.Running)
	return nil
}

// complete records the end of the task and its result.
func (r *syncRun) complete() SyncResult {
	setState(r.ctx, &r.p, task.Completed)
	updateDetails(r.ctx, &r.p)
	return SyncResult{
		TaskID: r.in.TaskID, DatasetID: r.in.Dataset.ID, State: task.Completed,
		Position: r.p.Position, Counters: r.p.Counters, Retries: r.p.Retries,
		Duration: workflow.Now(r.ctx).Sub(r.p.Started), Runs: r.p.Runs,
	}
}

func (in SyncInput) validate() error {
	var errs []error
	if in.TaskID == "" {
		errs = append(errs, errors.New("task_id: required"))
	}
	if in.Dataset.ID == "" {
		errs = append(errs, errors.New("dataset.id: required"))
	}
	if in.Dataset.Source.URL == "" {
		errs = append(errs, errors.New("dataset.source.url: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid sync input: %w", err)
	}
	return nil
}

// syncPagesOptions are the activity options of SyncPages. The retry policy
// comes from the failure table (sferrors.RetryPolicy): the transient backoff,
// to which the activity adds full jitter through NextRetryDelay, and no
// retry by Temporal for the non-retryable classes.
func syncPagesOptions(ds config.Dataset, o SyncOptions) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: activities.DefaultMaxDuration + 3*time.Minute + time.Duration(o.MaxWait),
		HeartbeatTimeout:    time.Duration(o.HeartbeatTimeout),
		WaitForCancellation: true,
		RetryPolicy:         sferrors.PageRetryPolicy(), // the activity bounds each page's tries

		Priority: temporal.Priority{FairnessKey: ds.LimitKey()},
		// An eagerly dispatched activity bypasses the task queue, and with
		// it the global per-key limit (package fairness).
		DisableEagerExecution: ds.RateLimit.GlobalRPS > 0,
		Summary:               fmt.Sprintf("sync %s", ds.ID),
	}
}

// cleanupOptions are for the last word of a task (its final state): short,
// a few retries, never cancelled.
var cleanupOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 5,
	},
	Summary: "record final state",
}

// cancelled records the cancellation in the checkpoint from a disconnected
// context, then ends the workflow as Canceled.
func (r *syncRun) cancelled() error {
	ctx, p, in := r.ctx, &r.p, r.in
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	setState(dctx, p, task.Cancelled)
	dctx = workflow.WithActivityOptions(dctx, cleanupOptions)
	var a *activities.Activities
	if err := workflow.ExecuteActivity(dctx, a.RecordState, activities.RecordStateInput{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: task.Cancelled, Message: "cancelled by request", Sink: in.Sink,
		GenerationStarted: p.GenerationStarted,
	}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not record the cancellation", "error", err)
	}
	updateDetails(dctx, p)
	// The details were ("sync cancelled"); the SyncFailure follows it.
	return temporal.NewCanceledError("sync cancelled", SyncFailure{Class: sferrors.Cancelled, Message: "cancelled by request", Position: p.Position})
}

// fail records the failure in the checkpoint and returns the error the
// workflow fails with: an ApplicationError whose type is the class's, so a
// batch (or any caller) reads the class from the top of the chain.
func (r *syncRun) fail(class sferrors.Class, cause error) error {
	ctx, p, in := r.ctx, &r.p, r.in
	msg := sferrors.Message(cause)
	p.LastErrorClass, p.LastError = string(class), msg
	setState(ctx, p, task.Failed)
	workflow.GetLogger(ctx).Error("sync failed", "class", string(class), "error", msg)
	actx := workflow.WithActivityOptions(ctx, cleanupOptions)
	var a *activities.Activities
	if err := workflow.ExecuteActivity(actx, a.RecordState, activities.RecordStateInput{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: task.Failed, Message: string(class) + ": " + msg, Sink: in.Sink,
		GenerationStarted: p.GenerationStarted,
	}).Get(actx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not record the failure", "error", err)
	}
	updateDetails(ctx, p)
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("sync %s failed (%s): %s", in.TaskID, class, msg), class.TemporalType(), nil,
		SyncFailure{Class: class, Message: msg, Position: p.Position})
}

// SyncFailure is the detail of a failed SyncWorkflow's error: its class and
// the cause's message, so a batch (or any caller) reads them without parsing
// the error's text.
type SyncFailure struct {
	Class   sferrors.Class `json:"class"`
	Message string         `json:"message"`
	// Position is what the destination had committed when the task ended
	// (the details of a cancelled SyncWorkflow's error carry it too).
	task.Position
}

// setState records the task's state in p and in the SyncState search
// attribute (with SyncDataset), so lists and filters see it.
func setState(ctx workflow.Context, p *Progress, state task.State) {
	p.State = state
	p.Updated = workflow.Now(ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchAttrDataset.ValueSet(p.DatasetID), SearchAttrState.ValueSet(string(state))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "error", err)
	}
}

// updateDetails publishes the task's progress as the workflow's current
// details, shown by the Web UI and `temporal workflow describe`.
func updateDetails(ctx workflow.Context, p *Progress) {
	s := fmt.Sprintf("**%s** %s: %d pages, %d records", p.DatasetID, p.State, p.Pages, p.Records)
	if p.Rate > 0 {
		s += fmt.Sprintf(", %.1f req/s", p.Rate)
	}
	if !p.Window.IsZero() {
		s += ", incremental window " + p.Window.String()
	}
	if !p.RateLimitedUntil.IsZero() {
		s += ", rate limited until " + p.RateLimitedUntil.UTC().Format(time.RFC3339)
	}
	if p.LastError != "" && p.State != task.Running {
		s += "\n\nlast error (" + p.LastErrorClass + "): " + p.LastError
	}
	workflow.SetCurrentDetails(ctx, s)
}
