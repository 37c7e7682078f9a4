package sinktest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/task"
)

// reset: Reset forgets every checkpoint of one dataset (all its tasks), and
// with records its records too; other datasets keep theirs, and the
// dataset's next commit starts a new history, whatever generation it has.
func (c contract) reset(t *testing.T) {
	s := c.open(t)
	ctx := t.Context()
	later := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, cp := range []sink.Checkpoint{
		{TaskID: "sync-orders", DatasetID: "orders", Position: task.Position{Generation: "g2", GenerationStarted: later, Pages: 1, Records: 3, Done: true}, State: task.Completed},
		{TaskID: "orders-nightly", DatasetID: "orders", Position: task.Position{Generation: "g3", Pages: 1, Records: 3}},
		{TaskID: "sync-customers", DatasetID: "customers", Position: task.Position{Generation: "g4", Pages: 1, Records: 2}},
	} {
		require.NoError(t, s.Commit(ctx, cp, MakePage(cp.DatasetID, int(cp.Records), "v1")))
	}

	require.NoError(t, s.Reset(ctx, "orders", false))
	for _, id := range []string{"sync-orders", "orders-nightly"} {
		_, ok, err := s.Load(ctx, id)
		require.NoError(t, err)
		assert.False(t, ok, "checkpoint of %s after the reset of its dataset", id)
	}
	assert.Equal(t, int64(3), MustCount(t, s, "orders"), "a reset without records keeps them")
	mustLoad(t, s, "sync-customers")
	assert.Equal(t, int64(2), MustCount(t, s, "customers"))

	// The next run is a new history: an earlier generation is not refused
	// by the checkpoint that was forgotten.
	older := sink.Checkpoint{TaskID: "sync-orders", DatasetID: "orders",
		Position: task.Position{Generation: "g1", GenerationStarted: later.Add(-time.Hour), Pages: 1, Records: 1}}
	require.NoError(t, s.Commit(ctx, older, MakePage("new", 1, "v2")))
	assertCheckpoint(t, older, mustLoad(t, s, "sync-orders"))
	assert.Equal(t, int64(4), MustCount(t, s, "orders"))

	require.NoError(t, s.Reset(ctx, "orders", true))
	assert.Equal(t, int64(0), MustCount(t, s, "orders"), "a reset with records deletes them")
	c.assertAbsent(t, s, "orders", "orders-0")
	_, ok, err := s.Load(ctx, "sync-orders")
	require.NoError(t, err)
	assert.False(t, ok)
	mustLoad(t, s, "sync-customers")
	assert.Equal(t, int64(2), MustCount(t, s, "customers"), "another dataset's records stay")
	c.assertStored(t, s, "customers", "customers-1", `{"id":"customers-1","n":1,"tag":"v1"}`)

	require.NoError(t, s.Reset(ctx, "unknown", true), "resetting an unknown dataset")
	require.Error(t, s.Reset(ctx, "", false), "a reset needs a dataset")
}
