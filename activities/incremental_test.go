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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// seqSource serves records 1..total with seq = id, 10 a page, keeping those
// with seq >= since; it logs the since values asked for.
type seqSource struct {
	total int
	mu    sync.Mutex
	since []string
}

func (s *seqSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.since = append(s.since, q.Get("since"))
	s.mu.Unlock()
	since, _ := strconv.Atoi(q.Get("since"))
	after, _ := strconv.Atoi(q.Get("after"))
	fmt.Fprint(w, `{"data":[`)
	n, last := 0, 0
	for id := max(after+1, since); id <= s.total && n < 10; id++ {
		if n > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, `{"id":%d,"seq":%d}`, id, id)
		n, last = n+1, id
	}
	fmt.Fprint(w, `]`)
	if n == 10 {
		fmt.Fprintf(w, `,"next":"%d"`, last)
	}
	fmt.Fprint(w, `}`)
}

// The activity fixes an incremental run's window when its generation
// starts (no page committed): from the initial value, later from the
// dataset's mark less the lookback; an execution of a run that has
// committed pages keeps its window, whatever the mark is meanwhile.
func TestSyncPagesIncrementalWindow(t *testing.T) {
	src := &seqSource{total: 25}
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	s, err := engine.OpenSink(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	a := &activities.Activities{Source: source.NewClient(), Sink: s, Limits: ratelimit.NewRegistry(ratelimit.Options{})}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	ds := config.Dataset{ID: "seqs", RateLimit: config.RateLimit{RPS: 1000, Burst: 10},
		Incremental: &config.Incremental{Field: "seq", Param: "since", Initial: "3", Lookback: "2"},
		Source: source.Config{URL: srv.URL, Records: "data", Key: "id",
			Pagination: source.Pagination{Type: source.PaginationCursor, Param: "after", Next: "next"}}}
	run := func(pos task.Position, maxPages int) activities.SyncPagesResult {
		v, err := env.ExecuteActivity(a.SyncPages, activities.SyncPagesInput{TaskID: "t", Dataset: ds, Position: pos, MaxPages: maxPages})
		require.NoError(t, err)
		var r activities.SyncPagesResult
		require.NoError(t, v.Get(&r))
		return r
	}
	g1 := task.Position{Generation: "g1"}
	r := run(g1, 1)
	assert.Equal(t, task.Window{From: "3", To: "12"}, r.Window)
	// Meanwhile another run of the dataset completes with a higher mark.
	require.NoError(t, s.Commit(context.Background(), sink.Checkpoint{TaskID: "other", DatasetID: "seqs", Incremental: "seq",
		State: task.Completed, Position: task.Position{Generation: "x", Pages: 1, Done: true, Window: task.Window{To: "20"}}}, nil))
	r = run(r.Position, 10)
	require.True(t, r.Done)
	assert.Equal(t, task.Window{From: "3", To: "25"}, r.Window, "the run keeps its window")
	st, ok, err := s.Incremental(context.Background(), "seqs")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "25", st.Mark, "the completing commit promoted the run's highest value")
	r = run(task.Position{Generation: "g2"}, 10)
	assert.Equal(t, task.Window{From: "23", To: "25"}, r.Window, "a new run starts from the mark less the lookback")
	assert.Equal(t, []string{"3", "3", "3", "23"}, src.since)
}
