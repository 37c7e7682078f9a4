package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// paginations are the two shapes the acceptance tests read: page numbers
// and a keyset cursor.
var paginations = []string{source.PaginationPage, source.PaginationCursor}

// minusSecond is an RFC 3339 time one second (the tests' lookback) earlier.
func minusSecond(t *testing.T, ts string) string {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, ts)
	require.NoError(t, err)
	return v.Add(-time.Second).UTC().Format(time.RFC3339Nano)
}

// syncOnce runs one sync of ds as the task ID a starter gives it, to
// completion, and returns its result and the queries of its requests.
func (e *env) syncOnce(ds config.Dataset, src *changingSource) (workflows.SyncResult, []url.Values) {
	e.t.Helper()
	before := src.requestCount()
	res, err := e.result(e.start(syncclient.DefaultTaskID(ds.ID), ds, workflows.SyncOptions{}))
	require.NoError(e.t, err)
	require.Equal(e.t, task.Completed, res.State)
	return res, src.requestsSince(before)
}

// mark is the dataset's stored incremental mark ("" when none).
func (e *env) mark(dataset string) string {
	e.t.Helper()
	st, ok, err := e.sink.Incremental(context.Background(), dataset)
	require.NoError(e.t, err)
	if !ok {
		return ""
	}
	return st.Mark
}

// An incremental dataset whose source changes between runs (updates and
// inserts), page-numbered and cursor-paginated, on SQLite and PostgreSQL:
// the first run reads everything, each later one sends updated_since = the
// last run's highest updated_at minus the lookback and reads only what
// changed; after each run the destination equals the source, and the
// result shows the run's window.
func TestIncrementalRunsFollowAChangingSource(t *testing.T) {
	for _, driver := range destinations(t) {
		for _, mode := range paginations {
			t.Run(driver+"/"+mode, func(t *testing.T) {
				e, d := newDestEnv(t, driver)
				e.startWorker(workerOptions{})
				src := newChangingSource(t, mode, 40)
				ds := src.dataset("tickets", byUpdatedAt(), "")

				res, reqs := e.syncOnce(ds, src)
				require.False(t, reqs[0].Has("updated_since"), "the first run has no mark: no filter")
				assert.Equal(t, task.Window{To: src.highest()}, res.Window)
				requireMirror(t, d, "tickets", src)
				assert.Equal(t, src.highest(), e.mark("tickets"))
				full := len(reqs)

				for round := range 3 {
					mark := src.highest()
					src.update(3+round, 17, 40)
					src.insert(2)
					res, reqs = e.syncOnce(ds, src)
					for _, q := range reqs {
						require.Equal(t, minusSecond(t, mark), q.Get("updated_since"), "every page of the run carries the filter")
					}
					assert.Equal(t, task.Window{From: minusSecond(t, mark), To: src.highest()}, res.Window)
					assert.Less(t, len(reqs), full/2, "an incremental run reads what changed (%d requests, the full run %d)", len(reqs), full)
					requireMirror(t, d, "tickets", src)
					assert.Equal(t, src.highest(), e.mark("tickets"))
				}
				// Nothing changed: the run re-reads only the lookback (page
				// numbers end on an empty page: one request more).
				mark := src.highest()
				res, reqs = e.syncOnce(ds, src)
				assert.LessOrEqual(t, len(reqs), 2)
				assert.Equal(t, task.Window{From: minusSecond(t, mark), To: mark}, res.Window)
				requireMirror(t, d, "tickets", src)
			})
		}
	}
}

// Full runs with deletes, on a source that updates, inserts and deletes
// between runs: with a cursor, delete removes what a completed run did not
// see at once; with page numbers, which cannot vouch for a complete read,
// the first completed run that misses a record marks it and the second
// removes it; mark sets deleted_at, cleared when the record comes back.
func TestFullRunDeletes(t *testing.T) {
	for _, driver := range destinations(t) {
		for _, mode := range paginations {
			for _, deletes := range []string{config.DeletesDelete, config.DeletesMark} {
				t.Run(driver+"/"+mode+"/"+deletes, func(t *testing.T) {
					e, d := newDestEnv(t, driver)
					e.startWorker(workerOptions{})
					src := newChangingSource(t, mode, 30)
					ds := src.dataset("things", nil, deletes)
					e.syncOnce(ds, src)
					requireMirror(t, d, "things", src)

					src.remove(4, 11, 30)
					src.update(5, 12)
					src.insert(3)
					e.syncOnce(ds, src)
					confirmNext := deletes == config.DeletesMark || mode == source.PaginationPage
					if confirmNext {
						requireMirror(t, d, "things", src, 4, 11, 30)
					} else {
						requireMirror(t, d, "things", src)
					}

					src.update(11) // comes back
					src.remove(7)
					e.syncOnce(ds, src)
					switch {
					case deletes == config.DeletesMark:
						requireMirror(t, d, "things", src, 4, 7, 30)
					case mode == source.PaginationPage:
						requireMirror(t, d, "things", src, 7) // 4 and 30 missed twice: removed
					default:
						requireMirror(t, d, "things", src)
					}
				})
			}
		}
	}
}

// A full run with deletes: delete on page numbers, while the source
// deletes records of the first page and inserts new ones as the run reads
// the second: the records that shifted from page 2 to page 1 under the
// run are missed by it but not deleted (they are marked); the next
// completed run sees them again and removes only what the source deleted.
// The same with a cursor, which does not shift.
func TestDeleteIsSafeWhilePagesShift(t *testing.T) {
	for _, driver := range destinations(t) {
		for _, mode := range paginations {
			t.Run(driver+"/"+mode, func(t *testing.T) {
				e, d := newDestEnv(t, driver)
				e.startWorker(workerOptions{})
				src := newChangingSource(t, mode, 30)
				ds := src.dataset("shifty", nil, config.DeletesDelete)
				e.syncOnce(ds, src)

				start := src.requestCount()
				src.hook = func(n int, q url.Values) int {
					if n == start+2 { // the run's second page
						src.remove(1, 2, 3)
						src.insert(2)
					}
					return 0
				}
				e.syncOnce(ds, src)
				src.hook = nil
				rows := d.rows(t, "shifty")
				for k := range src.snapshot() {
					if k == "31" || k == "32" {
						continue // inserted during the run: may or may not have been read
					}
					require.Contains(t, rows, k, "record %s exists at the source but was deleted", k)
				}
				if mode == source.PaginationPage {
					for _, k := range []string{"8", "9", "10"} {
						assert.True(t, rows[k].Marked, "record %s shifted under the run, which missed it (marked, kept)", k)
					}
				}
				// Records 1-3 were read by that run before the source deleted
				// them: the next run is the first to miss them.
				e.syncOnce(ds, src)
				if mode == source.PaginationPage {
					requireMirror(t, d, "shifty", src, 1, 2, 3)
					e.syncOnce(ds, src)
				}
				requireMirror(t, d, "shifty", src)
			})
		}
	}
}

// An incremental run cancelled, failed or killed (terminated) mid-way,
// after committing pages with newer values: the dataset's mark stays the
// last completed run's, the next run starts from it (less the lookback)
// and the destination ends equal to the source, nothing missed, nothing
// twice. The progress query and the current details show the open run's
// window.
func TestIncrementalInterruptedRunKeepsTheMark(t *testing.T) {
	for _, driver := range destinations(t) {
		for _, how := range []string{"cancelled", "failed", "killed"} {
			t.Run(driver+"/"+how, func(t *testing.T) {
				e, d := newDestEnv(t, driver)
				e.startWorker(workerOptions{})
				src := newChangingSource(t, source.PaginationPage, 30)
				ds := src.dataset("orders", byUpdatedAt(), "")
				e.syncOnce(ds, src)
				mark := e.mark("orders")
				require.Equal(t, src.highest(), mark)

				src.update(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
				e.interruptedRun(ds, src, how, mark)
				cp := e.checkpoint(syncclient.DefaultTaskID("orders"))
				c, err := task.CompareMarks(cp.Window.To, mark)
				require.NoError(t, err)
				require.Positive(t, c, "the interrupted run committed newer values (%s)", cp.Window.To)
				assert.Equal(t, mark, e.mark("orders"), "an interrupted run moved the mark")

				src.update(20, 25)
				res, reqs := e.syncOnce(ds, src)
				assert.Equal(t, minusSecond(t, mark), reqs[0].Get("updated_since"), "the next run starts from the last completed run's mark")
				assert.Equal(t, minusSecond(t, mark), res.Window.From)
				requireMirror(t, d, "orders", src)
				assert.Equal(t, src.highest(), e.mark("orders"))
			})
		}
	}
}

// interruptedRun starts a run of ds whose third request is answered 400
// (failed), or blocks until the run is cancelled or terminated (killed).
func (e *env) interruptedRun(ds config.Dataset, src *changingSource, how, mark string) {
	t := e.t
	start := src.requestCount()
	blocked, release := make(chan struct{}), make(chan struct{})
	src.hook = func(n int, q url.Values) int {
		if n != start+3 {
			return 0
		}
		if how == "failed" {
			return http.StatusBadRequest
		}
		close(blocked)
		<-release
		return http.StatusServiceUnavailable
	}
	defer func() { src.hook = nil }()
	id := syncclient.DefaultTaskID(ds.ID)
	// One page per activity (not the default 20): the interruption comes
	// between executions too, with the run's window carried over.
	run := e.start(id, ds, workflows.SyncOptions{PagesPerActivity: 1})
	if how != "failed" {
		waitFor(t, blocked, "the run's third request")
		require.Eventually(t, func() bool { return e.checkpoint(id).Pages >= 2 }, time.Minute, 20*time.Millisecond)
		p := e.awaitPages(id, 2)
		assert.Equal(t, task.Window{From: minusSecond(t, mark), To: e.checkpoint(id).Window.To}, p.Window)
		assert.Contains(t, e.currentDetails(id), "incremental window from "+minusSecond(t, mark))
		if how == "cancelled" {
			require.NoError(t, e.c.CancelWorkflow(context.Background(), id, ""))
		} else {
			require.NoError(t, e.c.TerminateWorkflow(context.Background(), id, "", "killed by the test"))
		}
	}
	_, err := e.result(run)
	require.Error(t, err)
	if how == "cancelled" {
		var ce *temporal.CanceledError
		require.ErrorAs(t, err, &ce)
	}
	if how != "failed" {
		close(release)
	}
}

// currentDetails is a workflow's current details (the Web UI shows them).
func (e *env) currentDetails(id string) string {
	e.t.Helper()
	v, err := e.c.QueryWorkflow(context.Background(), id, "", queryWorkflowMetadata)
	require.NoError(e.t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(e.t, v.Get(&md))
	return md.GetCurrentDetails()
}

// A record of an incremental dataset without its cursor field, or with a
// value that is neither an RFC 3339 time nor a number: the task fails as
// invalid request naming the dataset, the record's key and the field,
// before anything of that page is committed (the pages before it are).
func TestIncrementalRecordWithoutItsField(t *testing.T) {
	for name, bad := range map[string]string{"missing": `{"id":"b-2"}`, "wrong type": `{"id":"b-2","updated_at":true}`} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.startWorker(workerOptions{})
			srv := fixedPages(t, []string{
				`{"data":[{"id":"a-1","updated_at":"2026-01-01T00:00:00Z"}],"next":"p2"}`,
				`{"data":[{"id":"b-1","updated_at":"2026-01-02T00:00:00Z"},` + bad + `],"next":"p3"}`,
				`{"data":[]}`,
			})
			ds := config.Dataset{ID: "badcursor", Incremental: byUpdatedAt(), Source: source.Config{URL: srv, Records: "data", Key: "id",
				Pagination: source.Pagination{Type: source.PaginationCursor, Param: "after", Next: "next"}}}
			_, err := e.result(e.start("task-bad", ds, workflows.SyncOptions{}))
			require.Error(t, err)
			class, _, _ := sferrors.ClassOf(err)
			assert.Equal(t, sferrors.InvalidRequest, class)
			for _, want := range []string{"dataset badcursor", `record "b-2"`, `incremental field "updated_at"`} {
				assert.Contains(t, err.Error(), want)
			}
			assert.ElementsMatch(t, []string{"a-1"}, e.storedKeys("badcursor"), "nothing of the bad page is committed")
		})
	}
}

// fixedPages serves bodies[i] for ?after=p(i+1) (the first without it).
func fixedPages(t *testing.T, bodies []string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := 0
		if a := r.URL.Query().Get("after"); a != "" {
			_, _ = fmt.Sscanf(strings.TrimPrefix(a, "p"), "%d", &i)
			i--
		}
		if i < 0 || i >= len(bodies) {
			http.Error(w, "no such page", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(bodies[i]))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/items"
}
