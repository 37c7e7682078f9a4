package codec

import (
	stderrors "errors"

	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/errors"
)

// OpDecodePayload is the Op of the failure a process reports when it
// cannot decrypt a payload it was given.
const OpDecodePayload = "decode payload"

// DataConverter is Temporal's default data converter with c applied to
// every payload.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter converts errors to Temporal failures. With keys, a
// failure's message and stack trace are encrypted too (Temporal's
// EncodeCommonAttributes: the history shows "Encoded failure"; the failure
// type, syncflow's failure class, stays readable). With or without keys, an
// error caused by a payload this process cannot decrypt (*DecodeError)
// becomes a non-retryable SyncflowUnrecoverable failure naming the key ID:
// retrying on the same process could only fail the same way
// (ARCHITECTURE.md §Payload encryption).
func (c *Codec) FailureConverter() converter.FailureConverter {
	return failureConverter{temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          c.DataConverter(),
		EncodeCommonAttributes: c.Enabled(),
	})}
}

// Apply sets the data and failure converters of o to c's.
func (c *Codec) Apply(o *client.Options) {
	o.DataConverter = c.DataConverter()
	o.FailureConverter = c.FailureConverter()
}

// failureConverter classifies decode errors before the default conversion.
type failureConverter struct {
	converter.FailureConverter
}

// ErrorToFailure implements converter.FailureConverter.
func (f failureConverter) ErrorToFailure(err error) *failurepb.Failure {
	var de *DecodeError
	var appErr *temporal.ApplicationError
	if stderrors.As(err, &de) && !stderrors.As(err, &appErr) {
		err = errors.ToApplicationError(errors.New(errors.Unrecoverable, OpDecodePayload, err))
	}
	return f.FailureConverter.ErrorToFailure(err)
}
