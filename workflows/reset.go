package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/activities"
	sferrors "github.com/syncflow/syncflow/errors"
)

// ResetWorkflowName is the registered name of ResetWorkflow.
const ResetWorkflowName = "ResetWorkflow"

// ResetInput is the input of ResetWorkflow: the dataset to reset, whether
// its records go too, and its destination (a DSN without secrets, as in
// SyncInput.Sink; "" = the worker's default).
type ResetInput struct {
	DatasetID string `json:"dataset_id"`
	Records   bool   `json:"records,omitempty"`
	Sink      string `json:"sink,omitempty"`
}

// ResetResult is the result of ResetWorkflow.
type ResetResult = activities.ResetResult

// resetOptions are the ResetDataset activity's: a few tries against
// transient failures (the failure table's backoff), long enough to delete
// a large dataset's records.
var resetOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Minute,
	RetryPolicy:         sferrors.RetryPolicy(5),
	Summary:             "reset dataset",
}

// ResetWorkflow clears a dataset's sync state in its destination on a
// worker (the starter links no database driver): the checkpoints of all its
// tasks, so that the next run is a full one, and with Records its records
// (activities.ResetDataset). syncclient.Reset starts it once no run of the
// dataset is open.
func ResetWorkflow(ctx workflow.Context, in ResetInput) (ResetResult, error) {
	if in.DatasetID == "" {
		return ResetResult{}, temporal.NewNonRetryableApplicationError("invalid reset input: dataset_id: required", sferrors.TypeInvalidRequest, nil)
	}
	ctx = workflow.WithActivityOptions(ctx, resetOptions)
	var a *activities.Activities
	var res ResetResult
	err := workflow.ExecuteActivity(ctx, a.ResetDataset, activities.ResetInput{
		DatasetID: in.DatasetID, Records: in.Records, Sink: in.Sink,
	}).Get(ctx, &res)
	if err != nil {
		class, _, _ := sferrors.ClassOf(err)
		var ae *temporal.ApplicationError
		msg := err.Error()
		if errors.As(err, &ae) {
			msg = ae.Message()
		}
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("reset of dataset %s failed (%s): %s", in.DatasetID, class, msg), class.TemporalType(), nil)
	}
	return res, nil
}
