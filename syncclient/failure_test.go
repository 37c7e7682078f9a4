package syncclient_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/syncclient"
)

func TestFailureText(t *testing.T) {
	app := temporal.NewNonRetryableApplicationError("sync orders failed (unrecoverable): 401", "SyncflowUnrecoverable", nil)
	require.Equal(t, "SyncflowUnrecoverable: sync orders failed (unrecoverable): 401",
		syncclient.FailureText(fmt.Errorf("workflow execution error: %w", app)))
	require.Equal(t, "no type", syncclient.FailureText(temporal.NewApplicationError("no type", "")))
	require.Equal(t, "cancelled", syncclient.FailureText(temporal.NewCanceledError("sync cancelled")))
	require.Equal(t, "disk full", syncclient.FailureText(errors.New("disk full")))
}
