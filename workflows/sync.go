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
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
)

// SyncOptions tune one sync task. Zero values take the defaults below.
type SyncOptions struct {
	// PagesPerActivity bounds the pages one SyncPages execution commits.
	PagesPerActivity int `json:"pages_per_activity,omitempty"`
	// ActivitiesPerRun is how many SyncPages executions one workflow run
	// makes before it continues as new (history stays small).
	ActivitiesPerRun int `json:"activities_per_run,omitempty"`
	// MaxAttempts bounds the attempts of one SyncPages execution against
	// transient failures. Rate-limit waits do not count.
	MaxAttempts int32 `json:"max_attempts,omitempty"`
	// MaxWait is the longest rate-limit wait taken inside an activity;
	// longer waits are durable timers in the workflow.
	MaxWait source.Duration `json:"max_wait,omitempty"`
	// HeartbeatTimeout is how soon a lost worker is noticed.
	HeartbeatTimeout source.Duration `json:"heartbeat_timeout,omitempty"`
	// Deadline bounds the whole task (all runs); 0 means none.
	Deadline source.Duration `json:"deadline,omitempty"`
}

// Defaults of SyncOptions.
const (
	DefaultPagesPerActivity = activities.DefaultMaxPages
	DefaultActivitiesPerRun = 500
	DefaultMaxAttempts      = 10
	DefaultMaxWait          = activities.DefaultMaxWait
	DefaultHeartbeatTimeout = 10 * time.Second
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
	return o
}

// SyncInput is the input of SyncWorkflow: what to sync, never a secret.
// Carry is empty when a task starts; continue-as-new fills it.
type SyncInput struct {
	TaskID  string         `json:"task_id"`
	Dataset config.Dataset `json:"dataset"`
	Options SyncOptions    `json:"options,omitempty"`
	Carry   *SyncCarry     `json:"carry,omitempty"`
}

// SyncCarry is the state a task carries from one run to the next.
type SyncCarry struct {
	Generation     string    `json:"generation"`
	Cursor         string    `json:"cursor"`
	Pages          int64     `json:"pages"`
	Records        int64     `json:"records"`
	Executions     int64     `json:"executions"`
	Attempts       int64     `json:"attempts"`
	RateLimitWaits int64     `json:"rate_limit_waits"`
	Started        time.Time `json:"started"`
	Runs           int       `json:"runs"`
}

// SyncResult is the result of a completed SyncWorkflow.
type SyncResult struct {
	TaskID         string        `json:"task_id"`
	DatasetID      string        `json:"dataset_id"`
	State          string        `json:"state"`
	Pages          int64         `json:"pages"`
	Records        int64         `json:"records"`
	Retries        int64         `json:"retries"`
	RateLimitWaits int64         `json:"rate_limit_waits"`
	Duration       time.Duration `json:"duration"`
	Runs           int           `json:"runs"`
}

// Task states reported by the progress query.
const (
	StateRunning     = "running"
	StateRateLimited = "rate_limited"
	StateCompleted   = "completed"
	StateCancelled   = "cancelled"
	StateFailed      = "failed"
)

// Progress is the answer of the progress query.
type Progress struct {
	TaskID           string    `json:"task_id"`
	DatasetID        string    `json:"dataset_id"`
	State            string    `json:"state"`
	Pages            int64     `json:"pages"`
	Records          int64     `json:"records"`
	Cursor           string    `json:"cursor"`
	Executions       int64     `json:"executions"`
	Attempts         int64     `json:"attempts"`
	Retries          int64     `json:"retries"`
	RateLimitWaits   int64     `json:"rate_limit_waits"`
	RateLimitedUntil time.Time `json:"rate_limited_until,omitzero"`
	Rate             float64   `json:"rate"`
	LastErrorClass   string    `json:"last_error_class,omitempty"`
	LastError        string    `json:"last_error,omitempty"`
	Started          time.Time `json:"started"`
	Updated          time.Time `json:"updated"`
	Runs             int       `json:"runs"`
}

// SyncWorkflow copies one dataset from its source into the sink, page by
// page, until the source reports the end. See DESIGN.md §2–3.
func SyncWorkflow(ctx workflow.Context, in SyncInput) (SyncResult, error) {
	if err := in.validate(); err != nil {
		return SyncResult{}, temporal.NewNonRetryableApplicationError(err.Error(), sferrors.TypeInvalidRequest, nil)
	}
	if in.Dataset.RateLimit.GlobalRPS > 0 && in.Options.PagesPerActivity == 0 {
		// A global limit bounds activity dispatch: one page per activity
		// makes it bound requests.
		in.Options.PagesPerActivity = 1
	}
	opts := in.Options.withDefaults()
	log := workflow.GetLogger(ctx)

	p := Progress{TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: StateRunning, Started: workflow.Now(ctx), Runs: 1}
	if c := in.Carry; c != nil {
		p.Cursor, p.Pages, p.Records = c.Cursor, c.Pages, c.Records
		p.Executions, p.Attempts, p.RateLimitWaits, p.Started, p.Runs = c.Executions, c.Attempts, c.RateLimitWaits, c.Started, c.Runs+1
		p.Retries = p.Attempts - p.Executions
	}
	generation := workflow.GetInfo(ctx).WorkflowExecution.RunID
	if in.Carry != nil && in.Carry.Generation != "" {
		generation = in.Carry.Generation
	}
	p.Updated = workflow.Now(ctx)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) {
		return p, nil
	}); err != nil {
		return SyncResult{}, err
	}
	setState(ctx, &p, StateRunning)
	updateDetails(ctx, &p)

	actx := workflow.WithActivityOptions(ctx, syncPagesOptions(in.Dataset, opts))
	var a *activities.Activities
	for n := 0; ; n++ {
		if n >= opts.ActivitiesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			next := in
			next.Carry = &SyncCarry{
				Generation: generation, Cursor: p.Cursor, Pages: p.Pages, Records: p.Records,
				Executions: p.Executions, Attempts: p.Attempts, RateLimitWaits: p.RateLimitWaits, Started: p.Started, Runs: p.Runs,
			}
			log.Info("continuing as new", "pages", p.Pages, "records", p.Records)
			return SyncResult{}, workflow.NewContinueAsNewError(ctx, SyncWorkflow, next)
		}
		if d := time.Duration(opts.Deadline); d > 0 && workflow.Now(ctx).Sub(p.Started) > d {
			err := temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("task %s exceeded its deadline of %s after %d pages", in.TaskID, d, p.Pages),
				sferrors.TypeUnrecoverable, nil)
			return SyncResult{}, fail(ctx, &p, in, sferrors.Unrecoverable, err)
		}

		var r activities.SyncPagesResult
		err := workflow.ExecuteActivity(actx, a.SyncPages, activities.SyncPagesInput{
			TaskID:     in.TaskID,
			Dataset:    in.Dataset,
			Generation: generation,
			Cursor:     p.Cursor,
			Pages:      p.Pages,
			Records:    p.Records,
			MaxPages:   opts.PagesPerActivity,
			MaxWait:    time.Duration(opts.MaxWait),
		}).Get(ctx, &r)
		if err != nil {
			if ctx.Err() != nil || temporal.IsCanceledError(err) {
				return SyncResult{}, cancelled(ctx, &p, in)
			}
			class, _, _ := sferrors.ClassOf(err)
			return SyncResult{}, fail(ctx, &p, in, class, err)
		}
		p.Executions++
		p.Attempts += int64(max(r.Attempt, 1))
		p.Retries = p.Attempts - p.Executions
		p.Cursor, p.Pages, p.Records, p.Rate = r.Cursor, r.Pages, r.Records, r.Rate
		p.RateLimitWaits += int64(r.RateLimitWaits)
		p.Updated = workflow.Now(ctx)
		if r.Done {
			break
		}
		if r.RateLimitedFor > 0 {
			setState(ctx, &p, StateRateLimited)
			p.RateLimitedUntil = workflow.Now(ctx).Add(r.RateLimitedFor)
			p.LastErrorClass, p.LastError = string(sferrors.RateLimited), r.RateLimitMessage
			updateDetails(ctx, &p)
			log.Info("rate limited: waiting on a durable timer", "until", p.RateLimitedUntil)
			timer := workflow.NewTimerWithOptions(ctx, r.RateLimitedFor, workflow.TimerOptions{
				Summary: fmt.Sprintf("rate limited: %s", in.Dataset.LimitKey()),
			})
			if err := timer.Get(ctx, nil); err != nil {
				return SyncResult{}, cancelled(ctx, &p, in)
			}
			p.RateLimitedUntil = time.Time{}
			setState(ctx, &p, StateRunning)
		}
		updateDetails(ctx, &p)
	}

	setState(ctx, &p, StateCompleted)
	updateDetails(ctx, &p)
	return SyncResult{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: StateCompleted,
		Pages: p.Pages, Records: p.Records, Retries: p.Retries,
		RateLimitWaits: p.RateLimitWaits, Duration: workflow.Now(ctx).Sub(p.Started), Runs: p.Runs,
	}, nil
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
		RetryPolicy:         sferrors.RetryPolicy(o.MaxAttempts),
		Priority:            temporal.Priority{FairnessKey: ds.LimitKey()},
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
func cancelled(ctx workflow.Context, p *Progress, in SyncInput) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	setState(dctx, p, StateCancelled)
	dctx = workflow.WithActivityOptions(dctx, cleanupOptions)
	var a *activities.Activities
	if err := workflow.ExecuteActivity(dctx, a.RecordState, activities.RecordStateInput{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: sink.StateCancelled, Message: "cancelled by request",
	}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not record the cancellation", "error", err)
	}
	updateDetails(dctx, p)
	return temporal.NewCanceledError("sync cancelled")
}

// fail records the failure in the checkpoint and returns the error the
// workflow fails with: an ApplicationError whose type is the class's, so a
// batch (or any caller) reads the class from the top of the chain.
func fail(ctx workflow.Context, p *Progress, in SyncInput, class sferrors.Class, cause error) error {
	msg := failureMessage(cause)
	p.LastErrorClass, p.LastError = string(class), msg
	setState(ctx, p, StateFailed)
	workflow.GetLogger(ctx).Error("sync failed", "class", string(class), "error", msg)
	actx := workflow.WithActivityOptions(ctx, cleanupOptions)
	var a *activities.Activities
	if err := workflow.ExecuteActivity(actx, a.RecordState, activities.RecordStateInput{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: sink.StateFailed, Message: string(class) + ": " + msg,
	}).Get(actx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not record the failure", "error", err)
	}
	updateDetails(ctx, p)
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("sync %s failed (%s): %s", in.TaskID, class, msg), class.TemporalType(), nil,
		SyncFailure{Class: class, Message: msg})
}

// SyncFailure is the detail of a failed SyncWorkflow's error: its class and
// the cause's message, so a batch (or any caller) reads them without parsing
// the error's text.
type SyncFailure struct {
	Class   sferrors.Class `json:"class"`
	Message string         `json:"message"`
}

// failureMessage is the innermost application error's message: the
// classified failure without the activity wrapper's boilerplate.
func failureMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// setState records the task's state in p and in the SyncState search
// attribute (with SyncDataset), so lists and filters see it.
func setState(ctx workflow.Context, p *Progress, state string) {
	p.State = state
	p.Updated = workflow.Now(ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchAttrDataset.ValueSet(p.DatasetID), SearchAttrState.ValueSet(state)); err != nil {
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
	if !p.RateLimitedUntil.IsZero() {
		s += ", rate limited until " + p.RateLimitedUntil.UTC().Format(time.RFC3339)
	}
	if p.LastError != "" && p.State != StateRunning {
		s += "\n\nlast error (" + p.LastErrorClass + "): " + p.LastError
	}
	workflow.SetCurrentDetails(ctx, s)
}
