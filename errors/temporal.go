package errors

import (
	"context"
	stderrors "errors"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Details travel with a syncflow *temporal.ApplicationError (its details) so
// that a workflow can log and decide without parsing messages. They hold no
// body and no secrets: URL is redacted.
type Details struct {
	Class      Class         `json:"class"`
	Op         string        `json:"op,omitempty"`
	Status     int           `json:"status,omitempty"`
	Method     string        `json:"method,omitempty"`
	URL        string        `json:"url,omitempty"`
	RetryAfter time.Duration `json:"retry_after,omitempty"` // nanoseconds
}

// detailsOf returns the Details of a classified error.
func detailsOf(e *Error) Details {
	return Details{
		Class:      e.Class,
		Op:         e.Op,
		Status:     e.Status,
		Method:     e.Method,
		URL:        e.URL,
		RetryAfter: e.RetryAfter,
	}
}

// ToApplicationError converts an activity's error into what the activity
// must return to Temporal (return it as is: Temporal only inspects the
// top-level error, and wrapping it again would make it retryable).
//
//   - nil gives nil;
//   - a *temporal.ApplicationError or *temporal.CanceledError in the chain is
//     returned as is: it was built on purpose;
//   - anything else is classified (Classify) and becomes a
//     *temporal.ApplicationError whose message is the *Error's Error() (URLs
//     redacted), whose type is the class's TemporalType, with Details as its
//     only detail. InvalidRequest, Unrecoverable and Cancelled are
//     NonRetryable. RateLimited carries NextRetryDelay = RetryAfter (0 lets
//     the retry policy decide) and the benign category, so that an expected
//     throttle is not logged as an error by the SDK.
//
// One exception, on purpose: a Cancelled error caused by context.Canceled
// keeps context.Canceled as its cause and stays retryable. When the workflow
// asked for the cancellation, the SDK sees the cause and reports the
// activity as cancelled (retry does not apply); when the context was
// cancelled for another reason (the worker is shutting down for a deploy),
// the attempt is retried elsewhere instead of failing the sync.
func ToApplicationError(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if stderrors.As(err, &appErr) && appErr != nil {
		return appErr
	}
	var canceledErr *temporal.CanceledError
	if stderrors.As(err, &canceledErr) && canceledErr != nil {
		return canceledErr
	}
	e := Classify(err)
	opts := temporal.ApplicationErrorOptions{
		NonRetryable: !e.Class.Retryable(),
		Details:      []any{detailsOf(e)},
	}
	switch e.Class {
	case RateLimited:
		opts.NextRetryDelay = e.RetryAfter
		opts.Category = temporal.ApplicationErrorCategoryBenign
	case Cancelled:
		if stderrors.Is(err, context.Canceled) {
			opts.Cause = context.Canceled
			opts.NonRetryable = false
		}
	}
	return temporal.NewApplicationErrorWithOptions(e.Error(), e.Class.TemporalType(), opts)
}

// ToActivityError is ToApplicationError for a failure of an activity's
// attempt-th attempt (activity.GetInfo(ctx).Attempt): a Transient failure
// carries NextRetryDelay = Transient's Backoff.Delay(attempt), the fully
// jittered delay of the failure table, and keeps e.Err as its cause; every
// other class converts as ToApplicationError does.
func ToActivityError(e *Error, attempt int32) error {
	if e == nil {
		return nil
	}
	if e.Class != Transient {
		return ToApplicationError(e)
	}
	d := detailsOf(e)
	d.RetryAfter = 0 // a transient failure waits its backoff, not a hint
	return temporal.NewApplicationErrorWithOptions(e.Error(), TypeTransient, temporal.ApplicationErrorOptions{
		NextRetryDelay: Transient.Treatment().Backoff.Delay(attempt),
		Cause:          e.Err,
		Details:        []any{d},
	})
}

// ClassOf says, on the workflow side, what a failure means. It walks err's
// chain (as errors.As does, outermost first) and decides at the first of:
//
//   - a *temporal.ApplicationError: the class of its Type (ClassFromType;
//     Unrecoverable for a type that is not syncflow's), with its Details
//     decoded when it carries them;
//   - a *temporal.CanceledError: Cancelled;
//   - a *temporal.TimeoutError: Transient (an activity or child that timed
//     out, whatever its last attempt said);
//   - an *Error: its class and details.
//
// Anything else is Unrecoverable. ok is false only for a nil err. It works on
// what workflow.ExecuteActivity and child workflows return (an
// *temporal.ActivityError or *temporal.ChildWorkflowExecutionError around the
// failure) and is deterministic. Details.Class always equals the class.
func ClassOf(err error) (class Class, details Details, ok bool) {
	if err == nil {
		return "", Details{}, false
	}
	class, details, found := classOfChain(err)
	if !found {
		class, details = Unrecoverable, Details{}
	}
	details.Class = class
	return class, details, true
}

// classOfChain walks err's tree depth first and returns at the first node it
// recognises.
func classOfChain(err error) (Class, Details, bool) {
	for err != nil {
		switch e := err.(type) {
		case *temporal.ApplicationError:
			if e == nil {
				return "", Details{}, false
			}
			class, known := ClassFromType(e.Type())
			if !known {
				return Unrecoverable, Details{}, true
			}
			d, _ := decodeDetails(e)
			return class, d, true
		case *temporal.CanceledError:
			return Cancelled, Details{}, true
		case *temporal.TimeoutError:
			return Transient, Details{}, true
		case *Error:
			if e == nil {
				return "", Details{}, false
			}
			return e.Class, detailsOf(e), true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if c, d, ok := classOfChain(inner); ok {
					return c, d, true
				}
			}
			return "", Details{}, false
		default:
			return "", Details{}, false
		}
	}
	return "", Details{}, false
}

// decodeDetails reads a syncflow Details from e; ok is false when e carries
// none or something else. A locally built error with details of another type
// makes the SDK panic (it assigns by reflection): that is recovered.
func decodeDetails(e *temporal.ApplicationError) (d Details, ok bool) {
	defer func() {
		if recover() != nil {
			d, ok = Details{}, false
		}
	}()
	if !e.HasDetails() {
		return Details{}, false
	}
	if err := e.Details(&d); err != nil {
		return Details{}, false
	}
	return d, true
}
