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
	task.Position
	task.Counters
	Started time.Time `json:"started"`
	Runs    int       `json:"runs"`
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

	p := Progress{TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: task.Running, Started: workflow.Now(ctx), Runs: 1}
	if c := in.Carry; c != nil {
		p.Position, p.Counters, p.Started, p.Runs = c.Position, c.Counters, c.Started, c.Runs+1
		p.Retries = p.Counters.Retries()
	}
	if p.Generation == "" {
		p.Generation = workflow.GetInfo(ctx).WorkflowExecution.RunID
	}
	p.Updated = workflow.Now(ctx)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) {
		return p, nil
	}); err != nil {
		return SyncResult{}, err
	}
	setState(ctx, &p, task.Running)
	updateDetails(ctx, &p)

	actx := workflow.WithActivityOptions(ctx, syncPagesOptions(in.Dataset, opts))
	var a *activities.Activities
	for n := 0; ; n++ {
		if n >= opts.ActivitiesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			next := in
			next.Carry = &SyncCarry{Position: p.Position, Counters: p.Counters, Started: p.Started, Runs: p.Runs}
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
			TaskID:   in.TaskID,
			Dataset:  in.Dataset,
			Position: p.Position,
			MaxPages: opts.PagesPerActivity,
			MaxWait:  time.Duration(opts.MaxWait),
		}).Get(ctx, &r)
		if err != nil {
			if ctx.Err() != nil || temporal.IsCanceledError(err) {
				return SyncResult{}, cancelled(ctx, &p, in)
			}
			class, _, _ := sferrors.ClassOf(err)
			return SyncResult{}, fail(ctx, &p, in, class, err)
		}
		p.Counters.Record(int64(max(r.Attempt, 1)), int64(r.RateLimitWaits))
		p.Retries = p.Counters.Retries()
		// The generation is the task's: a result from an older worker has none.
		gen := p.Generation
		p.Position = r.Position
		p.Generation = gen
		p.Rate = r.Rate
		p.Updated = workflow.Now(ctx)
		if r.Done {
			break
		}
		if r.RateLimitedFor > 0 {
			setState(ctx, &p, task.RateLimited)
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
			setState(ctx, &p, task.Running)
		}
		updateDetails(ctx, &p)
	}

	setState(ctx, &p, task.Completed)
	updateDetails(ctx, &p)
	return SyncResult{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: task.Completed,
		Position: p.Position, Counters: p.Counters, Retries: p.Retries,
		Duration: workflow.Now(ctx).Sub(p.Started), Runs: p.Runs,
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

// syncPagesOptions are the activity options of SyncPages: the retry policy
// encodes the backoff for transient failures (the activity adds full jitter
// through NextRetryDelay); other classes are not retried by Temporal.
func syncPagesOptions(ds config.Dataset, o SyncOptions) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: activities.DefaultMaxDuration + 3*time.Minute + time.Duration(o.MaxWait),
		HeartbeatTimeout:    time.Duration(o.HeartbeatTimeout),
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    o.MaxAttempts,
			NonRetryableErrorTypes: []string{
				sferrors.TypeInvalidRequest, sferrors.TypeUnrecoverable, sferrors.TypeCancelled,
			},
		},
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
func cancelled(ctx workflow.Context, p *Progress, in SyncInput) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	setState(dctx, p, task.Cancelled)
	dctx = workflow.WithActivityOptions(dctx, cleanupOptions)
	var a *activities.Activities
	if err := workflow.ExecuteActivity(dctx, a.RecordState, activities.RecordStateInput{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: task.Cancelled, Message: "cancelled by request",
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
	setState(ctx, p, task.Failed)
	workflow.GetLogger(ctx).Error("sync failed", "class", string(class), "error", msg)
	actx := workflow.WithActivityOptions(ctx, cleanupOptions)
	var a *activities.Activities
	if err := workflow.ExecuteActivity(actx, a.RecordState, activities.RecordStateInput{
		TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: task.Failed, Message: string(class) + ": " + msg,
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
	if !p.RateLimitedUntil.IsZero() {
		s += ", rate limited until " + p.RateLimitedUntil.UTC().Format(time.RFC3339)
	}
	if p.LastError != "" && p.State != task.Running {
		s += "\n\nlast error (" + p.LastErrorClass + "): " + p.LastError
	}
	workflow.SetCurrentDetails(ctx, s)
}
