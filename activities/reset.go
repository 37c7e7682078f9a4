package activities

import (
	"context"

	"go.temporal.io/sdk/activity"

	sferrors "github.com/syncflow/syncflow/errors"
)

// ResetInput is the input of ResetDataset: which dataset of which
// destination to reset. It carries no secret (Sink as in SyncPagesInput).
type ResetInput struct {
	DatasetID string `json:"dataset_id"`
	// Records asks for the dataset's records to be deleted too.
	Records bool `json:"records,omitempty"`
	// Sink is the destination DSN, as in SyncPagesInput ("" = the
	// worker's default).
	Sink string `json:"sink,omitempty"`
}

// ResetResult is what ResetDataset did.
type ResetResult struct {
	DatasetID string `json:"dataset_id"`
	// RecordsBefore is how many records the dataset had before the reset
	// (deleted when Records was asked, kept otherwise).
	RecordsBefore int64 `json:"records_before"`
	// RecordsDeleted reports whether the records were deleted.
	RecordsDeleted bool `json:"records_deleted"`
}

// ResetDataset clears a dataset's sync state in its destination
// (sink.Sink.Reset): the checkpoints of all its tasks, so that the next run
// is a full one, and with Records its records. The caller (ResetWorkflow,
// started by syncclient.Reset) has made sure no run of the dataset is open.
func (a *Activities) ResetDataset(ctx context.Context, in ResetInput) (ResetResult, error) {
	res := ResetResult{DatasetID: in.DatasetID}
	if in.DatasetID == "" {
		return res, a.fail(ctx, in.DatasetID, sferrors.Newf(sferrors.InvalidRequest, "reset", "reset needs a dataset ID"))
	}
	snk, release, serr := a.sinkOf(ctx, in.Sink)
	if serr != nil {
		return res, a.fail(ctx, in.DatasetID, serr)
	}
	defer release()
	n, err := snk.Count(ctx, in.DatasetID)
	if err != nil {
		return res, a.fail(ctx, in.DatasetID, sferrors.New(classifySinkError(ctx, err), "reset: count records", err))
	}
	if err := snk.Reset(ctx, in.DatasetID, in.Records); err != nil {
		return res, a.fail(ctx, in.DatasetID, sferrors.New(classifySinkError(ctx, err), "reset", err))
	}
	activity.GetLogger(ctx).Info("dataset reset", "dataset", in.DatasetID, "records_deleted", in.Records, "records_before", n)
	res.RecordsBefore, res.RecordsDeleted = n, in.Records
	return res, nil
}
