package activities_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// numberedSource serves total records, 10 a page, by 1-based page number,
// without a total: the first empty page ends the dataset. Each answer
// takes 10 ms, so that pages are in flight together.
type numberedSource struct {
	total int
	mu    sync.Mutex
	asked map[int]int
}

func (n *numberedSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	n.mu.Lock()
	n.asked[page]++
	n.mu.Unlock()
	time.Sleep(10 * time.Millisecond) // latency
	fmt.Fprint(w, `{"data":[`)
	for i := (page - 1) * 10; i < min(page*10, n.total); i++ {
		if i > (page-1)*10 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, `{"id":"k%d"}`, i)
	}
	fmt.Fprint(w, `]}`)
}

func (n *numberedSource) requests() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for _, c := range n.asked {
		total += c
	}
	return total
}

func windowFixture(t *testing.T, total int) (*numberedSource, *testsuite.TestActivityEnvironment, *activities.Activities, config.Dataset) {
	src := &numberedSource{total: total, asked: map[int]int{}}
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	s, err := engine.OpenSink(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	a := &activities.Activities{Source: source.NewClient(), Sink: s, Limits: ratelimit.NewRegistry(ratelimit.Options{})}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	ds := config.Dataset{ID: "pages", Source: source.Config{
		URL: srv.URL, Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationPage, Param: "page"},
	}, RateLimit: config.RateLimit{RPS: 1000, Burst: 10}}
	return src, env, a, ds
}

func runPages(t *testing.T, env *testsuite.TestActivityEnvironment, a *activities.Activities, in activities.SyncPagesInput) activities.SyncPagesResult {
	t.Helper()
	v, err := env.ExecuteActivity(a.SyncPages, in)
	require.NoError(t, err)
	var r activities.SyncPagesResult
	require.NoError(t, v.Get(&r))
	return r
}

// A page source without a total: the window runs past the end, and the
// pages fetched there are dropped; the records are exact and the pages
// counted are the ones committed (the empty last one included).
func TestWindowDropsPagesPastTheEnd(t *testing.T) {
	src, env, a, ds := windowFixture(t, 95)
	r := runPages(t, env, a, activities.SyncPagesInput{TaskID: "t", Dataset: ds, Position: posGen("g"), MaxPages: 20})
	require.True(t, r.Done)
	require.EqualValues(t, 95, r.Records)
	require.EqualValues(t, 11, r.Pages, "10 pages of records and the empty one that ends the dataset")
	n, err := a.Sink.Count(context.Background(), ds.ID)
	require.NoError(t, err)
	require.EqualValues(t, 95, n)
	require.LessOrEqual(t, src.requests(), 11+source.DefaultConcurrency, "at most a window past the end")
}

// MaxPages 1 stays one page: the window never fetches beyond the
// execution's budget.
func TestWindowKeepsToOnePagePerExecution(t *testing.T) {
	src, env, a, ds := windowFixture(t, 500)
	r := runPages(t, env, a, activities.SyncPagesInput{TaskID: "t", Dataset: ds, Position: posGen("g"), MaxPages: 1})
	require.EqualValues(t, 1, r.PagesFetched)
	require.Equal(t, 1, src.requests())
}

func posGen(g string) task.Position { return task.Position{Generation: g} }
