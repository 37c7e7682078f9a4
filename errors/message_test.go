package errors_test

import (
	stderrors "errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	sferrors "github.com/syncflow/syncflow/errors"
)

func TestMessage(t *testing.T) {
	plain := stderrors.New("disk full")
	app := temporal.NewNonRetryableApplicationError("sync orders failed (unrecoverable): 401", sferrors.TypeUnrecoverable, nil)
	nested := temporal.NewApplicationErrorWithOptions("fetch GET /orders: 503", sferrors.TypeTransient,
		temporal.ApplicationErrorOptions{Cause: temporal.NewApplicationError("connection reset", "net")})
	classified := sferrors.New(sferrors.InvalidRequest, "load", plain)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"plain error", plain, "disk full"},
		{"wrapped plain error", fmt.Errorf("commit: %w", plain), "commit: disk full"},
		{"application error", app, "sync orders failed (unrecoverable): 401"},
		{"wrapped application error", fmt.Errorf("workflow execution error: %w", app), "sync orders failed (unrecoverable): 401"},
		{"application error with an application cause", fmt.Errorf("activity error: %w", nested), "fetch GET /orders: 503"},
		{"converted error", sferrors.ToApplicationError(classified), classified.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, sferrors.Message(tc.err))
		})
	}
}
