package sinktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/task"
)

// MarkReader says whether a stored record is marked deleted (its
// deleted_at is set); ok is false when the record is not stored.
type MarkReader func(ctx context.Context, s sink.Sink, datasetID, key string) (marked, ok bool, err error)

// RunIncremental runs the contract of incremental marks, deletes and Reset
// (ARCHITECTURE.md §Sink protocol) against a driver.
func RunIncremental(t *testing.T, open Opener, read Reader, marked MarkReader) {
	c := incContract{contract: contract{open: open, read: read}, marked: marked}
	t.Run("the window is stored with the checkpoint", c.windowStored)
	t.Run("only the commit that completes a run promotes the mark", c.markPromotion)
	t.Run("a superseded completing commit promotes nothing", c.supersededPromotesNothing)
	t.Run("mark sets deleted_at on records not seen, cleared when they reappear", c.deletesMark)
	t.Run("delete removes records not seen", c.deletesDelete)
	t.Run("confirmed delete removes only records missed by two completed runs in a row", c.deletesConfirmed)
	t.Run("deletes apply only to completed full runs of a known start", c.deletesOnlyCompletedFull)
	t.Run("reset clears checkpoints and incremental state, and records if asked", c.reset)
}

type incContract struct {
	contract
	marked MarkReader
}

var incStart = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// run commits pages of keys (one page per slice) as generation gen (its
// start incStart + n hours), the last one completing the run when done.
func (c incContract) run(t *testing.T, s sink.Sink, n int, done bool, mode sink.DeleteMode, pages ...[]string) sink.Checkpoint {
	t.Helper()
	cp := sink.Checkpoint{TaskID: "task-d", DatasetID: "things", Deletes: mode, Position: task.Position{
		Generation: fmt.Sprintf("g%d", n), GenerationStarted: incStart.Add(time.Duration(n) * time.Hour)}}
	for i, keys := range pages {
		last := i == len(pages)-1 && done
		cp.Position = cp.Advance(fmt.Sprintf("c%d", i+1), last, len(keys))
		cp.State = task.Running
		if last {
			cp.State = task.Completed
		}
		recs := MakePage("k", 0, "")
		for _, k := range keys {
			recs = append(recs, MakePage(k, 1, cp.Generation)...)
		}
		require.NoError(t, s.Commit(t.Context(), cp, recs))
	}
	return cp
}

// present lists which of keys are stored (k-0 style keys: "a" is "a-0")
// and which of those are marked.
func (c incContract) present(t *testing.T, s sink.Sink, keys ...string) (stored, marked []string) {
	t.Helper()
	for _, k := range keys {
		m, ok, err := c.marked(t.Context(), s, "things", k+"-0")
		require.NoError(t, err)
		if ok {
			stored = append(stored, k)
			if m {
				marked = append(marked, k)
			}
		}
	}
	return stored, marked
}

func (c incContract) windowStored(t *testing.T) {
	s := c.open(t)
	cp := sink.Checkpoint{TaskID: "t", DatasetID: "d", Incremental: "updated_at", Position: task.Position{
		Generation: "g1", GenerationStarted: incStart, Pages: 1, Records: 1,
		Window: task.Window{From: "2026-01-01T00:00:00Z", To: "2026-02-01T00:00:00Z"}}}
	require.NoError(t, s.Commit(t.Context(), cp, MakePage("a", 1, "x")))
	got := mustLoad(t, s, "t")
	assert.Equal(t, cp.Window, got.Window)
	require.NoError(t, s.SetState(t.Context(), "t", "d", incStart, task.Failed, "boom"))
	assert.Equal(t, cp.Window, mustLoad(t, s, "t").Window, "SetState keeps the window")
	_, ok, err := s.Incremental(t.Context(), "d")
	require.NoError(t, err)
	assert.False(t, ok, "a run that did not complete left a mark")
}

// incCommit commits one page of generation n with the given window end.
func incCommit(t *testing.T, s sink.Sink, n int, field, to string, done bool) error {
	cp := sink.Checkpoint{TaskID: fmt.Sprintf("task-%d", n%2), DatasetID: "d", Incremental: field, Position: task.Position{
		Generation: fmt.Sprintf("g%d", n), GenerationStarted: incStart.Add(time.Duration(n) * time.Hour),
		Pages: 1, Records: 1, Done: done, Window: task.Window{To: to}}}
	if done {
		cp.State = task.Completed
	}
	return s.Commit(t.Context(), cp, MakePage(fmt.Sprintf("g%d", n), 1, "x"))
}

func mustMark(t *testing.T, s sink.Sink) (string, string, bool) {
	t.Helper()
	st, ok, err := s.Incremental(t.Context(), "d")
	require.NoError(t, err)
	return st.Field, st.Mark, ok
}

func (c incContract) markPromotion(t *testing.T) {
	s := c.open(t)
	require.NoError(t, incCommit(t, s, 1, "updated_at", "2026-03-01T00:00:00Z", false))
	_, _, ok := mustMark(t, s)
	assert.False(t, ok, "promoted before the run completed")
	require.NoError(t, incCommit(t, s, 1, "updated_at", "2026-03-02T00:00:00Z", true))
	field, mark, ok := mustMark(t, s)
	require.True(t, ok)
	assert.Equal(t, "updated_at", field)
	assert.Equal(t, "2026-03-02T00:00:00Z", mark)

	// A newer run (another generation, another task ID) that fails after
	// committing a higher value leaves the mark.
	require.NoError(t, incCommit(t, s, 2, "updated_at", "2026-04-01T00:00:00Z", false))
	require.NoError(t, s.SetState(t.Context(), "task-0", "d", incStart.Add(2*time.Hour), task.Failed, "boom"))
	_, mark, _ = mustMark(t, s)
	assert.Equal(t, "2026-03-02T00:00:00Z", mark)
	// A completed run that saw only older values (a lookback) keeps the
	// higher mark; one that saw nothing keeps it too.
	require.NoError(t, incCommit(t, s, 3, "updated_at", "2026-03-01T12:00:00Z", true))
	require.NoError(t, incCommit(t, s, 4, "updated_at", "", true))
	_, mark, _ = mustMark(t, s)
	assert.Equal(t, "2026-03-02T00:00:00Z", mark)
	// Numbers compare as numbers; another field replaces the mark.
	require.NoError(t, incCommit(t, s, 5, "seq", "9", true))
	require.NoError(t, incCommit(t, s, 6, "seq", "10", true))
	require.NoError(t, incCommit(t, s, 7, "seq", "8", true))
	field, mark, _ = mustMark(t, s)
	assert.Equal(t, [2]string{"seq", "10"}, [2]string{field, mark})
}

func (c incContract) supersededPromotesNothing(t *testing.T) {
	s := c.open(t)
	require.NoError(t, incCommit(t, s, 4, "updated_at", "2026-03-01T00:00:00Z", false))
	// Generation 2 of the same task (4 % 2 == 2 % 2) started earlier.
	err := incCommit(t, s, 2, "updated_at", "2026-09-01T00:00:00Z", true)
	require.ErrorIs(t, err, sink.ErrSuperseded)
	_, _, ok := mustMark(t, s)
	assert.False(t, ok)
}

func (c incContract) deletesMark(t *testing.T) {
	s := c.open(t)
	c.run(t, s, 1, true, sink.DeletesMark, []string{"a", "b"}, []string{"c"})
	c.run(t, s, 2, true, sink.DeletesMark, []string{"a"}, []string{})
	stored, marked := c.present(t, s, "a", "b", "c")
	assert.Equal(t, []string{"a", "b", "c"}, stored)
	assert.Equal(t, []string{"b", "c"}, marked)
	c.run(t, s, 3, true, sink.DeletesMark, []string{"c", "a"})
	_, marked = c.present(t, s, "a", "b", "c")
	assert.Equal(t, []string{"b"}, marked, "c reappeared")
}

func (c incContract) deletesDelete(t *testing.T) {
	s := c.open(t)
	c.run(t, s, 1, true, sink.DeletesDelete, []string{"a", "b"}, []string{"c"})
	c.run(t, s, 2, true, sink.DeletesDelete, []string{"c"}, []string{"a"})
	stored, marked := c.present(t, s, "a", "b", "c")
	assert.Equal(t, []string{"a", "c"}, stored)
	assert.Empty(t, marked)
}

func (c incContract) deletesConfirmed(t *testing.T) {
	s := c.open(t)
	c.run(t, s, 1, true, sink.DeletesDeleteConfirmed, []string{"a", "b", "c", "d"})
	last := c.run(t, s, 2, true, sink.DeletesDeleteConfirmed, []string{"a", "d"}) // b, c missed once
	// The completing page committed again (an overtaken attempt) does not
	// confirm the run's own marks.
	require.NoError(t, s.Commit(t.Context(), last, MakePage("d", 1, "g2")))
	stored, marked := c.present(t, s, "a", "b", "c", "d")
	assert.Equal(t, []string{"a", "b", "c", "d"}, stored)
	assert.Equal(t, []string{"b", "c"}, marked)
	c.run(t, s, 3, false, sink.DeletesDeleteConfirmed, []string{"c"}) // an unfinished run saw c
	c.run(t, s, 4, true, sink.DeletesDeleteConfirmed, []string{"a"})  // b missed twice; c, d once since seen
	stored, marked = c.present(t, s, "a", "b", "c", "d")
	assert.Equal(t, []string{"a", "c", "d"}, stored)
	assert.Equal(t, []string{"c", "d"}, marked)
}

func (c incContract) deletesOnlyCompletedFull(t *testing.T) {
	s := c.open(t)
	c.run(t, s, 1, true, sink.DeletesDelete, []string{"a", "b"})
	c.run(t, s, 2, false, sink.DeletesDelete, []string{"a"}) // not completed
	stored, _ := c.present(t, s, "a", "b")
	assert.Equal(t, []string{"a", "b"}, stored)
	// An incremental or filtered run, or one of an unknown start.
	for _, cp := range []sink.Checkpoint{
		{Incremental: "updated_at"},
		{Position: task.Position{Window: task.Window{From: "5"}}},
		{Position: task.Position{GenerationStarted: time.Time{}}},
	} {
		cp.TaskID, cp.DatasetID, cp.Deletes, cp.State = "task-x", "things", sink.DeletesDelete, task.Completed
		if cp.Incremental != "" || cp.Window.From != "" {
			cp.GenerationStarted = incStart.Add(10 * time.Hour)
		}
		cp.Generation, cp.Pages, cp.Done = cp.Window.From+cp.Incremental+"g", 1, true
		require.NoError(t, s.Commit(t.Context(), cp, MakePage("a", 1, "z")))
		stored, _ = c.present(t, s, "a", "b")
		assert.Equal(t, []string{"a", "b"}, stored, "%+v", cp)
	}
}

func (c incContract) reset(t *testing.T) {
	s := c.open(t)
	ctx := t.Context()
	require.NoError(t, incCommit(t, s, 1, "updated_at", "2026-03-01T00:00:00Z", true))
	other := sink.Checkpoint{TaskID: "other", DatasetID: "e", Incremental: "n", State: task.Completed,
		Position: task.Position{Generation: "g", Pages: 1, Done: true, Window: task.Window{To: "3"}}}
	require.NoError(t, s.Commit(ctx, other, MakePage("e", 2, "x")))
	require.NoError(t, s.Reset(ctx, "d", false))
	_, ok, err := s.Load(ctx, "task-1")
	require.NoError(t, err)
	assert.False(t, ok, "checkpoint left")
	_, _, ok = mustMark(t, s)
	assert.False(t, ok, "mark left")
	assert.Equal(t, int64(1), MustCount(t, s, "d"), "records deleted without records=true")
	require.NoError(t, s.Reset(ctx, "d", true))
	assert.Equal(t, int64(0), MustCount(t, s, "d"))
	// Another dataset is untouched.
	mustLoad(t, s, "other")
	st, ok, err := s.Incremental(ctx, "e")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "3", st.Mark)
	assert.Equal(t, int64(2), MustCount(t, s, "e"))
}

// CheckMigratedVersion2 checks a sink opened on a database of schema
// version 2 that held task-1's checkpoint and the record orders/k-0 (as
// CheckMigratedVersion1's): the checkpoint has an empty window, the dataset
// no mark, the record no deletion mark; a completed full run with deletes:
// mark that does not see k-0 marks it.
func CheckMigratedVersion2(t *testing.T, s sink.Sink, marked MarkReader) {
	t.Helper()
	cp := mustLoad(t, s, "task-1")
	assert.Equal(t, task.Window{}, cp.Window)
	_, ok, err := s.Incremental(t.Context(), "orders")
	require.NoError(t, err)
	assert.False(t, ok)
	m, ok, err := marked(t.Context(), s, "orders", "k-0")
	require.NoError(t, err)
	require.True(t, ok)
	assert.False(t, m)

	done := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", State: task.Completed, Deletes: sink.DeletesMark,
		Position: task.Position{Generation: "g2", GenerationStarted: MigratedStart, Pages: 1, Done: true}}
	require.NoError(t, s.Commit(t.Context(), done, MakePage("new", 1, "g2")))
	m, _, err = marked(t.Context(), s, "orders", "k-0")
	require.NoError(t, err)
	assert.True(t, m, "the old record, not seen by the completed run, is marked")
}
