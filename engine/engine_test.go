package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
)

// nopSink is a Sink that New only passes on.
type nopSink struct{ sink.Sink }

func TestNewFillsInDefaults(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()

	s := nopSink{}
	w, acts, err := New(c, Options{Sink: s})
	require.NoError(t, err)
	require.NotNil(t, w)
	assert.Equal(t, s, acts.Sink)
	assert.IsType(t, &source.Client{}, acts.Source)
	assert.IsType(t, &ratelimit.Registry{}, acts.Limits)
	assert.Nil(t, acts.Observer)
	assert.Equal(t, DefaultHeartbeatEvery, acts.HeartbeatEvery)

	reg := ratelimit.NewRegistry(ratelimit.Options{})
	_, acts, err = New(c, Options{Sink: s, Limits: reg, HeartbeatEvery: 50 * time.Millisecond})
	require.NoError(t, err)
	assert.Same(t, reg, acts.Limits)
	assert.Equal(t, 50*time.Millisecond, acts.HeartbeatEvery)
}

func TestNewNeedsASink(t *testing.T) {
	_, _, err := New(nil, Options{})
	require.ErrorContains(t, err, "Sink is required")
}

func TestWorkerOptions(t *testing.T) {
	tests := []struct {
		name string
		stop time.Duration
		want time.Duration
	}{
		{"default", 0, DefaultStopTimeout},
		{"negative: at once", -1, 0},
		{"given", 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := workerOptions(Options{StopTimeout: tt.stop, MaxConcurrentActivities: 3})
			assert.Equal(t, tt.want, o.WorkerStopTimeout)
			assert.Equal(t, 3, o.MaxConcurrentActivityExecutionSize)
			assert.Equal(t, time.Second, o.MaxHeartbeatThrottleInterval)
		})
	}
	assert.Equal(t, "tq", taskQueue(Options{TaskQueue: "tq"}))
}
