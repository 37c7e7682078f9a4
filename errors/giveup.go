package errors

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// ToGiveUpError is the activity error of a page that had all the answers
// its class's Treatment.GiveUpAfter allows (ARCHITECTURE.md §Failure
// table: a rate limit that insists, GitHub's secondary limit): of the
// class's type, so that callers read the class, but not retryable, and
// saying how many answers it took.
func ToGiveUpError(e *Error, answers int32) error {
	if e == nil {
		return nil
	}
	msg := fmt.Sprintf("%s (gave up after %d such answers in a row for this page)", e.Error(), answers)
	return temporal.NewNonRetryableApplicationError(msg, e.Class.TemporalType(), e.Err, detailsOf(e))
}
