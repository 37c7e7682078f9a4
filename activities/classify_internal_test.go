package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
)

func TestClassifySinkError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	classified := func(c sferrors.Class) error {
		return fmt.Errorf("sqlite commit task %q: %w", "t", sferrors.New(c, "", errors.New("driver says")))
	}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want sferrors.Class
	}{
		{"cancelled context wins over the class", cancelled, classified(sferrors.Transient), sferrors.Cancelled},
		{"stale checkpoint", context.Background(), fmt.Errorf("commit: %w", sink.ErrStaleCheckpoint), sferrors.Transient},
		{"superseded by a newer generation", context.Background(),
			fmt.Errorf("commit: %w", sferrors.New(sferrors.InvalidRequest, "", sink.ErrSuperseded)), sferrors.InvalidRequest},
		{"driver says transient", context.Background(), classified(sferrors.Transient), sferrors.Transient},
		{"driver says unrecoverable", context.Background(), classified(sferrors.Unrecoverable), sferrors.Unrecoverable},
		{"unclassified network error", context.Background(),
			&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, sferrors.Transient},
		{"unclassified error: message text is not read", context.Background(),
			errors.New("database is locked (SQLITE_BUSY)"), sferrors.Unrecoverable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classifySinkError(tt.ctx, tt.err))
		})
	}
}
