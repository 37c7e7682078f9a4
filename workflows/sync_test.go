package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// Unit tests of SyncWorkflow's logic with mocked activities. Whole syncs
// against a real server are in package integration.

var a *activities.Activities

func testInput() workflows.SyncInput {
	return workflows.SyncInput{
		TaskID: "t1",
		Dataset: config.Dataset{ID: "orders", Source: source.Config{
			URL: "https://api.example.com/orders", Key: "id",
			Pagination: source.Pagination{Type: source.PaginationCursor, Param: "cursor", Next: "next"},
		}},
	}
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.SyncWorkflow, workflow.RegisterOptions{Name: workflows.SyncWorkflowName})
	env.RegisterActivity(a)
	return env
}

// pages answers SyncPages as a source of n pages of 10 records would,
// PagesPerActivity at a time.
func pages(n int64) func(context.Context, activities.SyncPagesInput) (activities.SyncPagesResult, error) {
	return func(_ context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
		got := min(int64(in.MaxPages), n-in.Pages)
		p := in.Pages + got
		return activities.SyncPagesResult{
			Position:     task.Position{Cursor: "c" + string(rune('a'+p)), Done: p >= n, Pages: p, Records: p * 10},
			PagesFetched: int(got), Attempt: 1,
		}, nil
	}
}

func TestSyncWorkflowLoopsUntilDone(t *testing.T) {
	env := newEnv(t)
	var calls int
	env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
			calls++
			return pages(7)(ctx, in)
		})
	in := testInput()
	in.Options.PagesPerActivity = 3
	env.ExecuteWorkflow(workflows.SyncWorkflow, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.SyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, 3, calls, "3+3+1 pages")
	require.EqualValues(t, 7, res.Pages)
	require.EqualValues(t, 70, res.Records)
	require.Equal(t, task.Completed, res.State)
}

func TestSyncWorkflowContinuesAsNewCarryingCursor(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(pages(10))
	in := testInput()
	in.Options.PagesPerActivity = 2
	in.Options.ActivitiesPerRun = 2
	env.ExecuteWorkflow(workflows.SyncWorkflow, in)
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, err, &can)
	var next workflows.SyncInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Carry)
	require.EqualValues(t, 4, next.Carry.Pages)
	require.EqualValues(t, 40, next.Carry.Records)
	require.Equal(t, "ce", next.Carry.Cursor)
	require.NotEmpty(t, next.Carry.Generation, "generation carried so the checkpoint is recognised")
	require.Equal(t, 1, next.Carry.Runs)
}

func TestSyncWorkflowRetriesAndAttemptsCounted(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
			r, err := pages(2)(ctx, in)
			r.Attempt = 3 // two retries before this success
			return r, err
		})
	env.ExecuteWorkflow(workflows.SyncWorkflow, testInput())
	var res workflows.SyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.EqualValues(t, 2, res.Retries)
}

func TestSyncWorkflowWaitsDurablyWhenRateLimited(t *testing.T) {
	env := newEnv(t)
	first := true
	env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
			if first {
				first = false
				return activities.SyncPagesResult{Position: task.Position{Cursor: "c1", Pages: 1, Records: 10}, PagesFetched: 1, Attempt: 1,
					RateLimitWaits: 1, RateLimitedFor: time.Hour, RateLimitMessage: "fetch GET https://api.example.com/orders: status 429"}, nil
			}
			return pages(2)(ctx, in)
		})
	var during workflows.Progress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
	}, 30*time.Minute)
	env.ExecuteWorkflow(workflows.SyncWorkflow, testInput())
	var res workflows.SyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, task.RateLimited, during.State)
	require.False(t, during.RateLimitedUntil.IsZero())
	require.Equal(t, string(sferrors.RateLimited), during.LastErrorClass)
	require.EqualValues(t, 1, res.RateLimitWaits)
	require.Zero(t, res.Retries, "a rate-limit wait is not a retry")
	require.GreaterOrEqual(t, res.Duration, time.Hour, "the workflow waited on its timer")
}

func TestSyncWorkflowFailsWithTheClassOfTheActivityFailure(t *testing.T) {
	for _, tc := range []struct {
		class    sferrors.Class
		wantType string
	}{
		{sferrors.InvalidRequest, sferrors.TypeInvalidRequest},
		{sferrors.Unrecoverable, sferrors.TypeUnrecoverable},
	} {
		t.Run(string(tc.class), func(t *testing.T) {
			env := newEnv(t)
			env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
				activities.SyncPagesResult{}, sferrors.ToApplicationError(sferrors.Newf(tc.class, "fetch", "status 4xx")))
			var recorded activities.RecordStateInput
			env.OnActivity(a.RecordState, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.RecordStateInput) error { recorded = in; return nil })
			env.ExecuteWorkflow(workflows.SyncWorkflow, testInput())
			err := env.GetWorkflowError()
			var app *temporal.ApplicationError
			require.True(t, errors.As(err, &app), "%v", err)
			require.Equal(t, tc.wantType, app.Type())
			var f workflows.SyncFailure
			require.NoError(t, app.Details(&f), "the failure carries its class and cause")
			require.Equal(t, tc.class, f.Class)
			require.Equal(t, "fetch: status 4xx", f.Message)
			require.Equal(t, task.Failed, recorded.State)
			require.Contains(t, recorded.Message, string(tc.class))
		})
	}
}

func TestSyncWorkflowCancellationRecordsStateAndEndsCanceled(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
			return activities.SyncPagesResult{Position: task.Position{Cursor: "c", Pages: in.Pages + 1, Records: in.Records + 10}, PagesFetched: 1, Attempt: 1,
				RateLimitedFor: time.Hour}, nil
		})
	var recorded activities.RecordStateInput
	env.OnActivity(a.RecordState, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordStateInput) error { recorded = in; return nil })
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	env.ExecuteWorkflow(workflows.SyncWorkflow, testInput())
	err := env.GetWorkflowError()
	require.True(t, temporal.IsCanceledError(err), "%v", err)
	require.Equal(t, task.Cancelled, recorded.State)
}

func TestSyncWorkflowRejectsInvalidInput(t *testing.T) {
	env := newEnv(t)
	in := testInput()
	in.TaskID = ""
	env.ExecuteWorkflow(workflows.SyncWorkflow, in)
	var app *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &app))
	require.Equal(t, sferrors.TypeInvalidRequest, app.Type())
	require.Contains(t, app.Error(), "task_id")
}

func TestSyncWorkflowDeadline(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
			return activities.SyncPagesResult{Position: task.Position{Cursor: "c", Pages: in.Pages + 1}, PagesFetched: 1, Attempt: 1, RateLimitedFor: time.Hour}, nil
		})
	env.OnActivity(a.RecordState, mock.Anything, mock.Anything).Return(nil)
	in := testInput()
	in.Options.Deadline = source.Duration(3 * time.Hour)
	env.ExecuteWorkflow(workflows.SyncWorkflow, in)
	var app *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &app))
	require.Equal(t, sferrors.TypeUnrecoverable, app.Type())
	require.Contains(t, app.Error(), "deadline")
}

// A generation's start is the workflow time of its first run: every
// SyncPages input of the generation carries it (a result without it, from
// an older worker, does not erase it), continue-as-new carries it, and the
// next run keeps it rather than starting a new one (ARCHITECTURE.md §Sink
// protocol).
func TestSyncWorkflowGenerationStartIsKeptAcrossRuns(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	run := func(in workflows.SyncInput, at time.Time) ([]time.Time, workflows.SyncInput) {
		env := newEnv(t)
		env.SetStartTime(at)
		var seen []time.Time
		env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
				seen = append(seen, in.GenerationStarted)
				return pages(10)(ctx, in)
			})
		env.ExecuteWorkflow(workflows.SyncWorkflow, in)
		var can *workflow.ContinueAsNewError
		require.ErrorAs(t, env.GetWorkflowError(), &can)
		var next workflows.SyncInput
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
		return seen, next
	}
	in := testInput()
	in.Options.PagesPerActivity, in.Options.ActivitiesPerRun = 2, 2
	seen, next := run(in, start)
	require.Len(t, seen, 2)
	for _, s := range seen {
		require.True(t, s.Equal(start), "SyncPages input generation start %v, want %v", s, start)
	}
	require.True(t, next.Carry.GenerationStarted.Equal(start), "carried start %v", next.Carry.GenerationStarted)

	seen, next = run(next, start.Add(time.Hour))
	for _, s := range seen {
		require.True(t, s.Equal(start), "next run's input generation start %v, want the first run's %v", s, start)
	}
	require.True(t, next.Carry.GenerationStarted.Equal(start))
}

// An activity cancellation the workflow did not ask for (an activity reset
// or pause from the Web UI or CLI) is not the task's cancellation: the
// workflow runs another execution, which resumes from the last committed
// page, up to MaxAttempts in a row; then the task ends cancelled.
func TestSyncWorkflowRetriesAnActivityCancelledWithoutItsRequest(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cancels  int
		complete bool
	}{
		{"two in a row, then the pages", 2, true},
		{"more than max_attempts in a row", 4, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			var calls int
			env.OnActivity(a.SyncPages, mock.Anything, mock.Anything).Return(
				func(ctx context.Context, in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
					calls++
					if calls <= tt.cancels {
						return activities.SyncPagesResult{}, temporal.NewCanceledError("activity reset")
					}
					return pages(4)(ctx, in)
				})
			env.OnActivity(a.RecordState, mock.Anything, mock.Anything).Return(nil).Maybe()
			in := testInput()
			in.Options.MaxAttempts = 3
			env.ExecuteWorkflow(workflows.SyncWorkflow, in)
			require.True(t, env.IsWorkflowCompleted())
			if !tt.complete {
				err := env.GetWorkflowError()
				require.Error(t, err)
				require.True(t, temporal.IsCanceledError(err), "after max_attempts the cancellation ends the task: %v", err)
				require.Equal(t, 4, calls, "MaxAttempts (3) retries after the first cancellation")
				return
			}
			require.NoError(t, env.GetWorkflowError())
			var res workflows.SyncResult
			require.NoError(t, env.GetWorkflowResult(&res))
			require.Equal(t, task.Completed, res.State)
			require.EqualValues(t, 4, res.Pages)
			require.Equal(t, 3, calls)
		})
	}
}
