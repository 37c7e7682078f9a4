package errors

import (
	stderrors "errors"

	"go.temporal.io/sdk/temporal"
)

// Message is a failure's own message, without the Temporal SDK's wrapping
// ("workflow execution error (type: ..., workflowID: ...)", "activity error
// (...)"): the message of the first *temporal.ApplicationError in err's
// chain, as errors.As finds it, else err.Error(). The first one beneath the
// SDK's wrappers is the classified failure (ToApplicationError's); an
// application error it wraps is only its cause, so it does not win.
func Message(err error) string {
	var app *temporal.ApplicationError
	if stderrors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
