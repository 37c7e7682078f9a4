package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// repeatingSource serves pages from a fixed table of cursors: pages maps
// the cursor query value ("" for the first request) to the page's record
// keys and the next cursor. It ignores every other query parameter.
func repeatingSource(t *testing.T, param string, pages map[string]repeatPage) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := pages[r.URL.Query().Get(param)]
		if !ok {
			p = pages[""]
		}
		recs := make([]map[string]string, len(p.keys))
		for i, k := range p.keys {
			recs[i] = map[string]string{"id": k}
		}
		body := map[string]any{"data": recs, "total": p.total}
		if p.next != "" {
			body["next"] = p.next
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type repeatPage struct {
	keys  []string
	next  string
	total int
}

func keysFrom(from, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("k-%03d", from+i)
	}
	return ks
}

// A page source that ignores its page parameter serves page 1 for every
// page number; with a reported total of 50 it used to "complete" with 50
// records counted and 10 stored. It now fails as an invalid request
// naming the parameter, after one repeated page, which is not committed.
func TestPageSourceIgnoringItsParameterFails(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	srv := repeatingSource(t, "none", map[string]repeatPage{"": {keys: keysFrom(0, 10), total: 50}})
	ds := config.Dataset{ID: "ignores-page", Source: source.Config{
		URL: srv.URL + "/records", Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationPage, Param: "pg", Total: "total"},
	}}
	_, err := e.result(e.start("task-ignores-page", ds, workflows.SyncOptions{}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Contains(t, err.Error(), `page 2 has the same 10 record keys as page 1`)
	require.Contains(t, err.Error(), `seems to ignore the query parameter "pg"`)
	cp := e.checkpoint("task-ignores-page")
	require.EqualValues(t, 10, cp.Records, "only the first page is counted")
	require.Len(t, e.storedKeys(ds.ID), 10)
}

// The same for an offset source.
func TestOffsetSourceIgnoringItsParameterFails(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	srv := repeatingSource(t, "none", map[string]repeatPage{"": {keys: keysFrom(0, 10), total: 1000}})
	ds := config.Dataset{ID: "ignores-offset", Source: source.Config{
		URL: srv.URL + "/records", Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationOffset, Total: "total"},
	}}
	_, err := e.result(e.start("task-ignores-offset", ds, workflows.SyncOptions{}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Contains(t, err.Error(), `seems to ignore the query parameter "offset"`)
	require.Len(t, e.storedKeys(ds.ID), 10)
}

// A cursor source whose cursors cycle A→B→A used to loop for ever. The
// task now fails when page B names A again, before committing B's
// pointer back.
func TestCursorCycleFails(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	srv := repeatingSource(t, "after", map[string]repeatPage{
		"":  {keys: keysFrom(0, 10), next: "a"},
		"a": {keys: keysFrom(10, 10), next: "b"},
		"b": {keys: keysFrom(20, 10), next: "a"},
	})
	ds := config.Dataset{ID: "cycle", Source: source.Config{
		URL: srv.URL + "/records", Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationCursor, Param: "after", Next: "next"},
	}}
	_, err := e.result(e.start("task-cycle", ds, workflows.SyncOptions{}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Contains(t, err.Error(), `the next cursor of page 3 names page 2 again`)
	require.Contains(t, err.Error(), `the query parameter "after"`)
	require.Len(t, e.storedKeys(ds.ID), 20)
}

// Resuming is not a repeat: with a transient failure on every third page,
// each retry resumes from the checkpoint (and one page per activity
// resumes every execution from it) and the task completes exactly.
func TestResumedPagesAreNotRepeats(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 60, 10)
	for p := 2; p <= 6; p += 2 {
		src.script(p, fault{status: http.StatusInternalServerError})
	}
	ds := src.dataset("resumed-offset", source.PaginationOffset)
	// One page per activity: every retry resumes in a new execution, whose
	// pages must not count as repeats of the earlier ones.
	res, err := e.result(e.start("task-resumed-offset", ds, workflows.SyncOptions{PagesPerActivity: 1}))
	require.NoError(t, err)
	require.EqualValues(t, 60, res.Records)
	e.requireExact(ds.ID, src)
}

// An offset source whose rows shift while it is read (five rows inserted
// ahead of the reader after its first page) serves five records twice.
// The result used to count 35 records for 30 stored; it now counts the
// distinct keys the run wrote.
func TestOverlappingPagesCountDistinctRecords(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	first := repeatPage{keys: keysFrom(0, 10)}
	srv := repeatingSource(t, "offset", map[string]repeatPage{
		"": first, "0": first,
		"10": {keys: keysFrom(5, 10)},
		"20": {keys: keysFrom(15, 10)},
		"30": {keys: keysFrom(25, 5)},
		"35": {}, // the end: an empty page
	})
	ds := config.Dataset{ID: "shifting-offset", Source: source.Config{
		URL: srv.URL + "/records", Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationOffset, PageSize: 10, SizeParam: "limit"},
	}}
	res, err := e.result(e.start("task-shifting-offset", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	require.Len(t, e.storedKeys(ds.ID), 30)
	require.EqualValues(t, 30, res.Records, "the result counts distinct keys")
	require.EqualValues(t, 5, res.Pages)
	require.EqualValues(t, 30, e.checkpoint("task-shifting-offset").Records)
}

// One page per activity execution (what a global_rps key runs): the
// repeat check remembers the pages earlier executions committed, so a
// page source ignoring its parameter and a cursor cycle A→B→A fail too.
func TestRepeatsAcrossOnePageExecutionsFail(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	srv := repeatingSource(t, "none", map[string]repeatPage{"": {keys: keysFrom(0, 10), total: 50}})
	ds := config.Dataset{ID: "ignores-page-1", Source: source.Config{
		URL: srv.URL + "/records", Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationPage, Param: "pg", Total: "total"},
	}}
	_, err := e.result(e.start("task-ignores-page-1", ds, workflows.SyncOptions{PagesPerActivity: 1}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Contains(t, err.Error(), `page 2 has the same 10 record keys as page 1`)
	require.Len(t, e.storedKeys(ds.ID), 10)

	cyc := repeatingSource(t, "after", map[string]repeatPage{
		"":  {keys: keysFrom(0, 10), next: "a"},
		"a": {keys: keysFrom(10, 10), next: "b"},
		"b": {keys: keysFrom(20, 10), next: "a"},
	})
	ds = config.Dataset{ID: "cycle-1", Source: source.Config{
		URL: cyc.URL + "/records", Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationCursor, Param: "after", Next: "next"},
	}}
	_, err = e.result(e.start("task-cycle-1", ds, workflows.SyncOptions{PagesPerActivity: 1}))
	requireFailureType(t, err, sferrors.TypeInvalidRequest)
	require.Contains(t, err.Error(), `the next cursor of page 3 names page 2 again`)
	require.Len(t, e.storedKeys(ds.ID), 20)
}
