package activities_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/task"
)

// namedSinks hands out one sink per DSN and records what was asked.
type namedSinks struct {
	mu       sync.Mutex
	sinks    map[string]sink.Sink
	asked    []string
	released int
}

func (n *namedSinks) Acquire(_ context.Context, dsn string) (sink.Sink, func(), error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.asked = append(n.asked, dsn)
	s, ok := n.sinks[dsn]
	if !ok {
		return nil, nil, sferrors.Newf(sferrors.Unrecoverable, "open destination "+dsn, "refused")
	}
	return s, func() { n.mu.Lock(); n.released++; n.mu.Unlock() }, nil
}

// Each activity uses the sink of its task's destination (SyncPagesInput.Sink,
// RecordStateInput.Sink), never the default field, and releases it.
func TestActivitiesUseTheTasksDestination(t *testing.T) {
	f := newFixture(t, 25, nil)
	other, err := engine.OpenSink(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "other.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	pool := &namedSinks{sinks: map[string]sink.Sink{"sqlite:///other.db": other}}
	f.acts.Sinks = pool

	r, err := f.syncPages(activities.SyncPagesInput{MaxPages: 10, Sink: "sqlite:///other.db"})
	require.NoError(t, err)
	require.True(t, r.Done)
	n, err := other.Count(context.Background(), "ds")
	require.NoError(t, err)
	require.EqualValues(t, 25, n)
	n, err = f.sink.Count(context.Background(), "ds")
	require.NoError(t, err)
	require.Zero(t, n, "the default sink got records")

	_, err = f.env.ExecuteActivity(f.acts.RecordState, activities.RecordStateInput{
		TaskID: "task", DatasetID: "ds", State: task.Failed, Message: "x", Sink: "sqlite:///other.db",
	})
	require.NoError(t, err)
	cp, ok, err := other.Load(context.Background(), "task")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, task.Failed, cp.State)
	require.Equal(t, []string{"sqlite:///other.db", "sqlite:///other.db"}, pool.asked)
	require.Equal(t, 2, pool.released)

	// A destination the pool refuses fails the activity with its class.
	_, err = f.syncPages(activities.SyncPagesInput{Sink: "postgres://app@nowhere/x"})
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.Unrecoverable, class, "%v", err)
}

// Hand-built Activities without a pool: the Sink field serves the tasks
// that name no destination; one that names a destination fails as invalid
// request instead of writing to the wrong place.
func TestActivitiesWithoutAPoolRefuseANamedDestination(t *testing.T) {
	f := newFixture(t, 5, nil)
	_, err := f.syncPages(activities.SyncPagesInput{Sink: "sqlite:///elsewhere.db"})
	class, _, _ := sferrors.ClassOf(err)
	require.Equal(t, sferrors.InvalidRequest, class, "%v", err)
	r, err := f.syncPages(activities.SyncPagesInput{})
	require.NoError(t, err)
	require.True(t, r.Done)
}
