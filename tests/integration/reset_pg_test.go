package integration_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// A scheduled run into a PostgreSQL destination, triggered, then reset
// through the worker: without records the checkpoint goes and the records
// stay; with records both go.
func TestScheduledRunAndResetOnPostgres(t *testing.T) {
	admin := postgresDSN(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "reset_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, `CREATE SCHEMA `+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	pgDSN := admin + "&search_path=" + schema

	w := newScheduleWorld(t, ctx)
	src := newGatedSource(5)
	src.open()
	api := src.serve(t)
	f := w.writeConfig(t, api.URL, map[string]string{"tickets": "0 0 1 1 *"})
	f.Sink = pgDSN
	_, err = w.sc.ApplySchedules(ctx, f.Datasets, f.Sink, syncclient.ApplyOptions{})
	require.NoError(t, err)
	require.NoError(t, w.sc.TriggerSchedule(ctx, "sync-tickets"))
	st := w.describeWhen(t, ctx, "sync-tickets", "the triggered run", func(st syncclient.ScheduleStatus) bool { return len(st.Recent) == 1 })
	var res workflows.SyncResult
	require.NoError(t, w.c.GetWorkflow(ctx, st.Recent[0].WorkflowID, "").Get(ctx, &res))

	pg, err := engine.OpenSink(ctx, pgDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	n, err := pg.Count(ctx, "tickets")
	require.NoError(t, err)
	require.EqualValues(t, 5, n, "the scheduled run wrote to the file's PostgreSQL sink")
	_, ok, err := pg.Load(ctx, "sync-tickets")
	require.NoError(t, err)
	require.True(t, ok)

	r, err := w.sc.Reset(ctx, "tickets", f.Sink, syncclient.ResetOptions{})
	require.NoError(t, err)
	require.Equal(t, workflows.ResetResult{DatasetID: "tickets", RecordsBefore: 5}, r)
	_, ok, err = pg.Load(ctx, "sync-tickets")
	require.NoError(t, err)
	require.False(t, ok, "the reset cleared the checkpoint")
	n, err = pg.Count(ctx, "tickets")
	require.NoError(t, err)
	require.EqualValues(t, 5, n)

	r, err = w.sc.Reset(ctx, "tickets", f.Sink, syncclient.ResetOptions{Records: true})
	require.NoError(t, err)
	require.True(t, r.RecordsDeleted)
	n, err = pg.Count(ctx, "tickets")
	require.NoError(t, err)
	require.Zero(t, n)
	local, err := w.dest.Count(ctx, "tickets")
	require.NoError(t, err)
	require.Zero(t, local, "nothing went to the worker's default destination")
}
