// Package sinktest is the contract every sink.Sink driver must meet,
// written once: each driver's tests call Run with a way to open it and to
// read a stored record back.
package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// Reader reads one stored record of s back (its data as JSON text; ok is
// false when the record is not stored), so that the contract can check
// what was written. Each driver's tests provide one, since only the driver
// knows its tables' types.
type Reader func(ctx context.Context, s sink.Sink, datasetID, key string) (data string, ok bool, err error)

// Opener returns a new Sink on the database of test t (registering its
// Close with t.Cleanup): calling it twice in one test opens the same
// database again, and different tests get different databases.
type Opener func(t *testing.T) sink.Sink

// contract runs the subtests of Run against one driver.
type contract struct {
	open Opener
	read Reader
}

// MakePage returns n records with keys prefix-0 ... prefix-(n-1); their
// data carries tag so that an update can be told from the original.
func MakePage(prefix string, n int, tag string) []source.Record {
	recs := make([]source.Record, n)
	for i := range recs {
		key := fmt.Sprintf("%s-%d", prefix, i)
		recs[i] = source.Record{Key: key, Data: json.RawMessage(fmt.Sprintf(`{"id":%q,"n":%d,"tag":%q}`, key, i, tag))}
	}
	return recs
}

// assertStored checks the stored data of a record against want (JSON).
func (c contract) assertStored(t *testing.T, s sink.Sink, datasetID, key, want string) {
	t.Helper()
	got, found, err := c.read(context.Background(), s, datasetID, key)
	require.NoError(t, err)
	require.True(t, found, "record %s/%s not stored", datasetID, key)
	assert.JSONEq(t, want, got)
}

// assertAbsent checks that a record is not stored.
func (c contract) assertAbsent(t *testing.T, s sink.Sink, datasetID, key string) {
	t.Helper()
	_, found, err := c.read(context.Background(), s, datasetID, key)
	require.NoError(t, err)
	assert.False(t, found, "record %s/%s stored", datasetID, key)
}

// mustLoad loads a checkpoint that must exist.
func mustLoad(t *testing.T, s sink.Sink, taskID string) sink.Checkpoint {
	t.Helper()
	cp, ok, err := s.Load(t.Context(), taskID)
	require.NoError(t, err)
	require.True(t, ok, "no checkpoint for task %s", taskID)
	return cp
}

// assertCheckpoint compares what the sink stored with what was committed
// (the sink sets State when empty, Message and UpdatedAt).
func assertCheckpoint(t *testing.T, want, got sink.Checkpoint) {
	t.Helper()
	assert.False(t, got.UpdatedAt.IsZero(), "UpdatedAt not set")
	if want.State == "" {
		want.State = task.Running
	}
	want.UpdatedAt = got.UpdatedAt
	assert.Equal(t, want, got)
}

// MustCount returns the record count of a dataset, failing t on an error.
func MustCount(t testing.TB, s sink.Sink, datasetID string) int64 {
	t.Helper()
	n, err := s.Count(t.Context(), datasetID)
	require.NoError(t, err)
	return n
}

// Run runs the Sink contract against a driver: open opens it, read reads a
// stored record back.
func Run(t *testing.T, open Opener, read Reader) {
	c := contract{open: open, read: read}
	t.Run("commit then load", c.commitThenLoad)
	t.Run("recommitting a page leaves no duplicate", c.recommit)
	t.Run("upsert replaces data and the last record of a key wins", c.upsert)
	t.Run("a failed commit writes neither records nor checkpoint", c.failedCommit)
	t.Run("concurrent tasks of one dataset", c.concurrentTasks)
	t.Run("stale checkpoint", c.staleCheckpoint)
	t.Run("an older generation cannot overwrite a newer one", c.supersededGeneration)
	t.Run("set state", c.setState)
	t.Run("invalid checkpoints are refused", c.invalidCheckpoints)
	t.Run("opening the same database twice", c.openTwice)
	t.Run("reopening keeps data", c.reopen)
	t.Run("NUL characters in keys and data are stored as text", c.nulCharacters)
	t.Run("reset forgets a dataset's checkpoints, and its records if asked", c.reset)
	t.Run("the last commit counts the distinct keys of the generation", c.distinctCount)
}

// distinctCount: two pages that overlap by five keys, the second ending
// the task, leave a checkpoint counting 15 records, not 20; a record an
// earlier generation of the task wrote (and this one did not) is not
// counted. While another task of the dataset commits, the sum is kept.
func (c contract) distinctCount(t *testing.T) {
	s := c.open(t)
	ctx := t.Context()
	old := sink.Checkpoint{TaskID: "task-1", DatasetID: "shift", State: task.Completed,
		Position: task.Position{Generation: "g0", GenerationStarted: time.Unix(100, 0), Done: true, Pages: 1, Records: 1}}
	require.NoError(t, s.Commit(ctx, old, []source.Record{{Key: "gone", Data: json.RawMessage(`{"id":"gone"}`)}}))
	start := time.Unix(200, 0)
	cp1 := sink.Checkpoint{TaskID: "task-1", DatasetID: "shift",
		Position: task.Position{Generation: "g1", GenerationStarted: start, Cursor: "10", Pages: 1, Records: 10}}
	require.NoError(t, s.Commit(ctx, cp1, MakePage("k", 10, "v1")))
	page2 := MakePage("k", 15, "v2")[5:]
	done := sink.Checkpoint{TaskID: "task-1", DatasetID: "shift", State: task.Completed,
		Position: task.Position{Generation: "g1", GenerationStarted: start, Done: true, Pages: 2, Records: 20}}
	require.NoError(t, s.Commit(ctx, done, page2))
	assert.Equal(t, int64(15), mustLoad(t, s, "task-1").Records)
	assert.Equal(t, int64(16), MustCount(t, s, "shift"))
	// An unknown start (an older history) keeps the summed count.
	unknown := sink.Checkpoint{TaskID: "task-2", DatasetID: "shift2", State: task.Completed,
		Position: task.Position{Generation: "g2", Done: true, Pages: 1, Records: 4}}
	require.NoError(t, s.Commit(ctx, unknown, MakePage("k", 2, "v1")))
	assert.Equal(t, int64(4), mustLoad(t, s, "task-2").Records)
	// Two tasks of one dataset at once: the later one's upserts take over
	// keys, so neither final count is taken from the records.
	now := time.Now()
	for i, id := range []string{"task-a", "task-b"} {
		cp := sink.Checkpoint{TaskID: id, DatasetID: "both",
			Position: task.Position{Generation: id, GenerationStarted: now.Add(time.Duration(i) * time.Millisecond), Cursor: "1", Pages: 1, Records: 10}}
		require.NoError(t, s.Commit(ctx, cp, MakePage("k", 10, id)))
	}
	doneA := sink.Checkpoint{TaskID: "task-a", DatasetID: "both", State: task.Completed,
		Position: task.Position{Generation: "task-a", GenerationStarted: now, Done: true, Pages: 2, Records: 10}}
	require.NoError(t, s.Commit(ctx, doneA, nil))
	assert.Equal(t, int64(10), mustLoad(t, s, "task-a").Records, "task-b took over the keys; the sum is kept")
}

// nulCharacters: PostgreSQL refuses NUL in TEXT and \u0000 in JSONB; every
// driver stores a NUL as the text `\u0000` instead (sink/nul.go), and
// leaves an escaped backslash followed by u0000 alone.
func (c contract) nulCharacters(t *testing.T) {
	s := c.open(t)
	recs := []source.Record{
		{Key: "a\x00b", Data: json.RawMessage(`{"id":"a\u0000b","v":"x\u0000y\\u0000z","n":[1,"\u0000"]}`)},
		{Key: "plain", Data: json.RawMessage(`{"id":"plain","path":"C:\\u0000"}`)},
	}
	cp := sink.Checkpoint{TaskID: "task-nul", DatasetID: "nul", Position: task.Position{Generation: "g1", Cursor: "c1", Pages: 1, Records: 2}}
	require.NoError(t, s.Commit(t.Context(), cp, recs))
	assert.Equal(t, int64(2), MustCount(t, s, "nul"))
	c.assertStored(t, s, "nul", `a\u0000b`, `{"id":"a\\u0000b","v":"x\\u0000y\\u0000z","n":[1,"\\u0000"]}`)
	c.assertStored(t, s, "nul", "plain", `{"id":"plain","path":"C:\\u0000"}`)
	assert.Equal(t, "a\x00b", recs[0].Key, "the caller's page is not modified")
	// Recommitting the page upserts the same records.
	require.NoError(t, s.Commit(t.Context(), cp, recs))
	assert.Equal(t, int64(2), MustCount(t, s, "nul"))
}

func (c contract) commitThenLoad(t *testing.T) {
	s := c.open(t)
	ctx := t.Context()
	_, ok, err := s.Load(ctx, "task-1")
	require.NoError(t, err)
	assert.False(t, ok, "checkpoint before any commit")

	cp := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c1", Pages: 1, Records: 3}}
	require.NoError(t, s.Commit(ctx, cp, MakePage("k", 3, "v1")))

	assertCheckpoint(t, cp, mustLoad(t, s, "task-1"))
	assert.Equal(t, int64(3), MustCount(t, s, "orders"))
	assert.Equal(t, int64(0), MustCount(t, s, "customers"))
	c.assertStored(t, s, "orders", "k-2", `{"id":"k-2","n":2,"tag":"v1"}`)

	done := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Done: true, Pages: 2, Records: 3}, State: task.Completed}
	require.NoError(t, s.Commit(ctx, done, nil))
	assertCheckpoint(t, done, mustLoad(t, s, "task-1"))
}

func (c contract) recommit(t *testing.T) {
	s := c.open(t)
	ctx := t.Context()
	cp1 := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c1", Pages: 1, Records: 10}}
	cp2 := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c2", Pages: 2, Records: 20}}
	require.NoError(t, s.Commit(ctx, cp1, MakePage("a", 10, "v1")))
	require.NoError(t, s.Commit(ctx, cp2, MakePage("b", 10, "v1")))
	// The worker crashed after the commit, before Temporal heard of it:
	// the retried attempt commits page 2 again.
	require.NoError(t, s.Commit(ctx, cp2, MakePage("b", 10, "v1")))
	assert.Equal(t, int64(20), MustCount(t, s, "orders"))
	assertCheckpoint(t, cp2, mustLoad(t, s, "task-1"))
}

func (c contract) upsert(t *testing.T) {
	s := c.open(t)
	ctx := t.Context()
	require.NoError(t, s.Commit(ctx, sink.Checkpoint{TaskID: "t", DatasetID: "d", Position: task.Position{Pages: 1}}, MakePage("k", 2, "v1")))
	page := append(MakePage("k", 2, "v2"), source.Record{Key: "k-0", Data: json.RawMessage(`{"id":"k-0","tag":"v3"}`)})
	require.NoError(t, s.Commit(ctx, sink.Checkpoint{TaskID: "t", DatasetID: "d", Position: task.Position{Pages: 2}}, page))
	assert.Equal(t, int64(2), MustCount(t, s, "d"))
	c.assertStored(t, s, "d", "k-0", `{"id":"k-0","tag":"v3"}`)
	c.assertStored(t, s, "d", "k-1", `{"id":"k-1","n":1,"tag":"v2"}`)
	// The same key in another dataset is another record.
	require.NoError(t, s.Commit(ctx, sink.Checkpoint{TaskID: "t2", DatasetID: "other", Position: task.Position{Pages: 1}}, MakePage("k", 1, "x")))
	assert.Equal(t, int64(2), MustCount(t, s, "d"))
	assert.Equal(t, int64(1), MustCount(t, s, "other"))
}

func (c contract) failedCommit(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bad := func(data string) []source.Record {
		// Valid records first (one overwriting a stored key), the
		// offending one last: the failure comes midway.
		recs := append(MakePage("new", 5, "v2"), MakePage("old", 1, "v2")...)
		return append(recs, source.Record{Key: "bad", Data: json.RawMessage(data)})
	}
	tests := []struct {
		name    string
		ctx     context.Context
		records []source.Record
	}{
		{"invalid JSON", context.Background(), bad(`{"id": "bad", `)},
		{"empty data", context.Background(), bad(``)},
		{"not JSON at all", context.Background(), bad(`<html>oops</html>`)},
		{"cancelled context", cancelled, MakePage("new", 5, "v2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := c.open(t)
			before := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c1", Pages: 1, Records: 3}}
			require.NoError(t, s.Commit(t.Context(), before, MakePage("old", 3, "v1")))

			next := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c2", Pages: 2, Records: 9}}
			require.Error(t, s.Commit(tt.ctx, next, tt.records))

			assert.Equal(t, int64(3), MustCount(t, s, "orders"))
			assertCheckpoint(t, before, mustLoad(t, s, "task-1"))
			c.assertStored(t, s, "orders", "old-0", `{"id":"old-0","n":0,"tag":"v1"}`)
			c.assertAbsent(t, s, "orders", "new-0")

			// The sink is still usable: the retried attempt succeeds.
			require.NoError(t, s.Commit(t.Context(), next, MakePage("new", 5, "v2")))
			assert.Equal(t, int64(8), MustCount(t, s, "orders"))
		})
	}
}

func (c contract) concurrentTasks(t *testing.T) {
	s := c.open(t)
	const (
		tasks   = 6
		pages   = 8
		perPage = 25
		shared  = 5 // keys every page of every task writes: overlapping upserts
	)
	var wg sync.WaitGroup
	errs := make(chan error, tasks)
	for i := range tasks {
		wg.Go(func() {
			id := fmt.Sprintf("id-%d", i)
			for p := 1; p <= pages; p++ {
				recs := MakePage(fmt.Sprintf("%s-p%d", id, p), perPage-shared, id)
				recs = append(recs, MakePage("shared", shared, id)...)
				cp := sink.Checkpoint{TaskID: id, DatasetID: "orders", Position: task.Position{Generation: "g-" + id, Cursor: fmt.Sprintf("%s-c%d", id, p), Pages: int64(p), Records: int64(p * perPage)}}
				if err := s.Commit(context.Background(), cp, recs); err != nil {
					errs <- fmt.Errorf("%s page %d: %w", id, p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range tasks {
		id := fmt.Sprintf("id-%d", i)
		want := sink.Checkpoint{TaskID: id, DatasetID: "orders", Position: task.Position{Generation: "g-" + id, Cursor: fmt.Sprintf("%s-c%d", id, pages), Pages: pages, Records: pages * perPage}}
		assertCheckpoint(t, want, mustLoad(t, s, id))
	}
	assert.Equal(t, int64(tasks*pages*(perPage-shared)+shared), MustCount(t, s, "orders"))
}

func (c contract) staleCheckpoint(t *testing.T) {
	tests := []struct {
		name       string
		generation string
		pages      int64
		stale      bool
	}{
		{"same generation, fewer pages", "g1", 2, true},
		{"same generation, far behind", "g1", 0, true},
		{"same generation, same page (retry)", "g1", 3, false},
		{"same generation, next page", "g1", 4, false},
		{"new generation starts over", "g2", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := c.open(t)
			ctx := t.Context()
			var stored sink.Checkpoint
			for p := int64(1); p <= 3; p++ {
				stored = sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: fmt.Sprintf("c%d", p), Pages: p, Records: p * 2}}
				require.NoError(t, s.Commit(ctx, stored, MakePage(fmt.Sprintf("p%d", p), 2, "v1")))
			}
			cp := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: tt.generation, Cursor: "late", Pages: tt.pages, Records: 99}}
			err := s.Commit(ctx, cp, MakePage("late", 4, "late"))
			if !tt.stale {
				require.NoError(t, err)
				assertCheckpoint(t, cp, mustLoad(t, s, "task-1"))
				assert.Equal(t, int64(10), MustCount(t, s, "orders"))
				return
			}
			require.ErrorIs(t, err, sink.ErrStaleCheckpoint)
			assertCheckpoint(t, stored, mustLoad(t, s, "task-1"))
			assert.Equal(t, int64(6), MustCount(t, s, "orders"))
			c.assertAbsent(t, s, "orders", "late-0")
		})
	}
}

func (c contract) setState(t *testing.T) {
	s := c.open(t)
	ctx := t.Context()

	// Missing row: created with empty cursor and zero counters.
	require.NoError(t, s.SetState(ctx, "task-new", "orders", time.Time{}, task.Failed, "unrecoverable: 401 from source"))
	got := mustLoad(t, s, "task-new")
	assertCheckpoint(t, sink.Checkpoint{TaskID: "task-new", DatasetID: "orders", State: task.Failed,
		Message: "unrecoverable: 401 from source"}, got)

	// Existing row: state and message change, the rest stays.
	cp := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c2", Pages: 2, Records: 7}}
	require.NoError(t, s.Commit(ctx, cp, MakePage("k", 7, "v1")))
	require.NoError(t, s.SetState(ctx, "task-1", "orders", time.Time{}, task.Cancelled, "cancelled by operator"))
	want := cp
	want.State, want.Message = task.Cancelled, "cancelled by operator"
	assertCheckpoint(t, want, mustLoad(t, s, "task-1"))
	assert.Equal(t, int64(7), MustCount(t, s, "orders"))

	// A later commit runs again and clears the message.
	cp3 := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c3", Pages: 3, Records: 7}}
	require.NoError(t, s.Commit(ctx, cp3, nil))
	assertCheckpoint(t, cp3, mustLoad(t, s, "task-1"))

	require.Error(t, s.SetState(ctx, "task-1", "orders", time.Time{}, task.State("paused"), ""))
	require.Error(t, s.SetState(ctx, "", "orders", time.Time{}, task.Failed, ""))
}

func (c contract) invalidCheckpoints(t *testing.T) {
	s := c.open(t)
	tests := []struct {
		name string
		cp   sink.Checkpoint
	}{
		{"no task", sink.Checkpoint{DatasetID: "d", Position: task.Position{Pages: 1}}},
		{"no dataset", sink.Checkpoint{TaskID: "t", Position: task.Position{Pages: 1}}},
		{"negative pages", sink.Checkpoint{TaskID: "t", DatasetID: "d", Position: task.Position{Pages: -1}}},
		{"unknown state", sink.Checkpoint{TaskID: "t", DatasetID: "d", Position: task.Position{Pages: 1}, State: "paused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, s.Commit(t.Context(), tt.cp, MakePage("k", 1, "v")))
			assert.Equal(t, int64(0), MustCount(t, s, "d"))
		})
	}
}

func (c contract) openTwice(t *testing.T) {
	first := c.open(t)
	second := c.open(t) // the schema exists already
	ctx := t.Context()
	cp := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Pages: 1, Cursor: "c1", Records: 4}}
	require.NoError(t, first.Commit(ctx, cp, MakePage("k", 4, "v1")))
	assert.Equal(t, int64(4), MustCount(t, second, "orders"))
	assertCheckpoint(t, cp, mustLoad(t, second, "task-1"))
	cp2 := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Pages: 2, Cursor: "c2", Records: 8}}
	require.NoError(t, second.Commit(ctx, cp2, MakePage("j", 4, "v1")))
	assert.Equal(t, int64(8), MustCount(t, first, "orders"))
}

func (c contract) reopen(t *testing.T) {
	s := c.open(t)
	cp := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Cursor: "c1", Pages: 1, Records: 5}}
	require.NoError(t, s.Commit(t.Context(), cp, MakePage("k", 5, "v1")))
	require.NoError(t, s.SetState(t.Context(), "task-1", "orders", time.Time{}, task.Failed, "disk full"))
	require.NoError(t, s.Close())

	s = c.open(t)
	want := cp
	want.State, want.Message = task.Failed, "disk full"
	assertCheckpoint(t, want, mustLoad(t, s, "task-1"))
	assert.Equal(t, int64(5), MustCount(t, s, "orders"))
	c.assertStored(t, s, "orders", "k-4", `{"id":"k-4","n":4,"tag":"v1"}`)
}

// supersededGeneration: generations are ordered by their start. A commit
// of a generation that started before the stored checkpoint's (a zombie
// attempt of an older run, an older workflow reusing the task ID) writes
// neither its checkpoint nor its records and is refused as invalid
// request (sink.ErrSuperseded); an unknown (zero) start on either side,
// or equal starts, leave generations unordered, as before starts were
// stored. Within a generation pages still decide (ErrStaleCheckpoint).
func (c contract) supersededGeneration(t *testing.T) {
	t1 := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	t2 := t1.Add(time.Hour + time.Nanosecond)
	tests := []struct {
		name          string
		storedStart   time.Time
		gen           string
		start         time.Time
		pages         int64
		stale, refuse bool
	}{
		{"older generation refused", t2, "old", t1, 5, false, true},
		{"older generation refused even one nanosecond older", t2, "old", t2.Add(-time.Nanosecond), 9, false, true},
		{"newer generation takes over", t1, "newer", t2, 1, false, false},
		{"equal starts are not ordered", t2, "other", t2, 1, false, false},
		{"unknown start of the commit", t2, "old", time.Time{}, 1, false, false},
		{"unknown start of the stored checkpoint", time.Time{}, "old", t1, 1, false, false},
		{"same generation, fewer pages: stale", t2, "new", t2, 1, true, false},
		{"same generation, next page", t2, "new", t2, 3, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := c.open(t)
			ctx := t.Context()
			var stored sink.Checkpoint
			for p := int64(1); p <= 2; p++ {
				stored = sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{
					Generation: "new", GenerationStarted: tt.storedStart, Cursor: fmt.Sprintf("c%d", p), Pages: p, Records: p * 3}}
				require.NoError(t, s.Commit(ctx, stored, MakePage(fmt.Sprintf("p%d", p), 3, "new")))
			}
			assertCheckpoint(t, stored, mustLoad(t, s, "task-1"))
			cp := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{
				Generation: tt.gen, GenerationStarted: tt.start, Cursor: "late", Pages: tt.pages, Records: 99}}
			// The late page rewrites a stored key and adds one.
			late := []source.Record{{Key: "p1-0", Data: json.RawMessage(`{"id":"p1-0","tag":"late"}`)},
				{Key: "late-0", Data: json.RawMessage(`{"id":"late-0","tag":"late"}`)}}
			err := s.Commit(ctx, cp, late)
			switch {
			case tt.refuse:
				require.ErrorIs(t, err, sink.ErrSuperseded)
				assert.NotErrorIs(t, err, sink.ErrStaleCheckpoint)
				var se *sferrors.Error
				require.True(t, errors.As(err, &se), "unclassified: %v", err)
				assert.Equal(t, sferrors.InvalidRequest, se.Class, "retrying cannot succeed: %v", err)
				// Nor can the older run's cleanup relabel the checkpoint.
				err = s.SetState(ctx, "task-1", "orders", tt.start, task.Failed, "superseded")
				require.ErrorIs(t, err, sink.ErrSuperseded)
				require.True(t, errors.As(err, &se), "unclassified: %v", err)
				assert.Equal(t, sferrors.InvalidRequest, se.Class)
			case tt.stale:
				require.ErrorIs(t, err, sink.ErrStaleCheckpoint)
				assert.NotErrorIs(t, err, sink.ErrSuperseded)
			default:
				require.NoError(t, err)
				require.NoError(t, s.SetState(ctx, "task-1", "orders", tt.start, task.Running, ""))
				assertCheckpoint(t, cp, mustLoad(t, s, "task-1"))
				c.assertStored(t, s, "orders", "p1-0", `{"id":"p1-0","tag":"late"}`)
				assert.Equal(t, int64(7), MustCount(t, s, "orders"))
				return
			}
			assertCheckpoint(t, stored, mustLoad(t, s, "task-1"))
			c.assertStored(t, s, "orders", "p1-0", `{"id":"p1-0","n":0,"tag":"new"}`)
			c.assertAbsent(t, s, "orders", "late-0")
			assert.Equal(t, int64(6), MustCount(t, s, "orders"))
			// The newer generation goes on.
			next := stored
			next.Position = stored.Advance("c3", false, 1)
			require.NoError(t, s.Commit(ctx, next, MakePage("p3", 1, "new")))
			assertCheckpoint(t, next, mustLoad(t, s, "task-1"))
		})
	}
}

// MigratedStart is the generation start CheckMigratedVersion1 commits with.
var MigratedStart = time.Date(2026, 12, 1, 12, 0, 0, 987654321, time.UTC)

// CheckMigratedVersion1 checks a sink opened on a database of schema
// version 1 that held task-1's checkpoint {generation g1, cursor c4, 4
// pages, 4 records, running} and the record orders/k-0 {"id":"k-0",
// "tag":"v1"}: both are still there, the checkpoint with an unknown
// generation start; a generation with a known start takes over (unknown
// starts are not ordered) and writes k-1 with MigratedStart; from then on
// an older one is refused.
func CheckMigratedVersion1(t *testing.T, s sink.Sink, read Reader) {
	t.Helper()
	c := contract{read: read}
	old := mustLoad(t, s, "task-1")
	assertCheckpoint(t, sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", State: task.Running,
		Position: task.Position{Generation: "g1", Cursor: "c4", Pages: 4, Records: 4}}, old)
	c.assertStored(t, s, "orders", "k-0", `{"id":"k-0","tag":"v1"}`)

	// A run that does not know its start may still record a state.
	require.NoError(t, s.SetState(t.Context(), "task-1", "orders", time.Time{}, task.Running, ""))
	// The old generation's own staleness rule still holds.
	stale := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{Generation: "g1", Pages: 3}}
	require.ErrorIs(t, s.Commit(t.Context(), stale, nil), sink.ErrStaleCheckpoint)

	next := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{
		Generation: "g2", GenerationStarted: MigratedStart, Cursor: "c1", Pages: 1, Records: 1}}
	require.NoError(t, s.Commit(t.Context(), next, MakePage("k", 2, "g2")[1:]))
	assertCheckpoint(t, next, mustLoad(t, s, "task-1"))

	older := sink.Checkpoint{TaskID: "task-1", DatasetID: "orders", Position: task.Position{
		Generation: "g0", GenerationStarted: MigratedStart.Add(-time.Minute), Cursor: "x", Pages: 7}}
	require.ErrorIs(t, s.Commit(t.Context(), older, MakePage("k", 1, "g0")), sink.ErrSuperseded)
	assertCheckpoint(t, next, mustLoad(t, s, "task-1"))
	c.assertStored(t, s, "orders", "k-0", `{"id":"k-0","tag":"v1"}`)
}
