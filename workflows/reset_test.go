package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/activities"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/workflows"
)

func TestResetWorkflowRunsTheActivityOnTheTasksDestination(t *testing.T) {
	env := newEnv(t)
	env.RegisterWorkflow(workflows.ResetWorkflow)
	var got activities.ResetInput
	env.OnActivity(a.ResetDataset, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ResetInput) (activities.ResetResult, error) {
		got = in
		return activities.ResetResult{DatasetID: in.DatasetID, RecordsBefore: 5, RecordsDeleted: in.Records}, nil
	})
	env.ExecuteWorkflow(workflows.ResetWorkflow, workflows.ResetInput{DatasetID: "orders", Records: true, Sink: "sqlite:///d.db"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.ResetResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, activities.ResetInput{DatasetID: "orders", Records: true, Sink: "sqlite:///d.db"}, got)
	require.Equal(t, workflows.ResetResult{DatasetID: "orders", RecordsBefore: 5, RecordsDeleted: true}, res)
}

func TestResetWorkflowFailsWithTheActivitysClass(t *testing.T) {
	env := newEnv(t)
	env.RegisterWorkflow(workflows.ResetWorkflow)
	env.OnActivity(a.ResetDataset, mock.Anything, mock.Anything).Return(activities.ResetResult{},
		temporal.NewNonRetryableApplicationError("open destination: bad DSN", sferrors.TypeInvalidRequest, nil))
	env.ExecuteWorkflow(workflows.ResetWorkflow, workflows.ResetInput{DatasetID: "orders"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	require.Equal(t, sferrors.TypeInvalidRequest, ae.Type())
	require.Contains(t, ae.Message(), "reset of dataset orders failed (invalid_request): open destination: bad DSN")

	env = newEnv(t)
	env.RegisterWorkflow(workflows.ResetWorkflow)
	env.ExecuteWorkflow(workflows.ResetWorkflow, workflows.ResetInput{})
	require.ErrorContains(t, env.GetWorkflowError(), "dataset_id: required")
}
