package activities_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// pagedSource serves total records, 10 a page, with cursor pagination; a
// page listed in status answers that status instead (with Retry-After for
// 429). It logs the cursors it was asked for.
type pagedSource struct {
	total  int
	status map[int]int
	mu     sync.Mutex
	asked  []int
}

func (p *pagedSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	p.mu.Lock()
	p.asked = append(p.asked, page)
	p.mu.Unlock()
	if st := p.status[page]; st != 0 {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "120")
		}
		w.WriteHeader(st)
		_, _ = fmt.Fprintf(w, `{"error":"status %d"}`, st)
		return
	}
	fmt.Fprint(w, `{"data":[`)
	for i := page * 10; i < min(page*10+10, p.total); i++ {
		if i > page*10 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, `{"id":"k%d"}`, i)
	}
	fmt.Fprint(w, `]`)
	if (page+1)*10 < p.total {
		fmt.Fprintf(w, `,"next":"%d"`, page+1)
	}
	fmt.Fprint(w, `}`)
}

func (p *pagedSource) pagesAsked() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.asked...)
}

type fixture struct {
	src  *pagedSource
	sink sink.Sink
	acts *activities.Activities
	env  *testsuite.TestActivityEnvironment
	ds   config.Dataset
}

func newFixture(t *testing.T, total int, status map[int]int) *fixture {
	src := &pagedSource{total: total, status: status}
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	s, err := engine.OpenSink(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	a := &activities.Activities{Source: source.NewClient(), Sink: s, Limits: ratelimit.NewRegistry(ratelimit.Options{})}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	ds := config.Dataset{ID: "ds", Source: source.Config{
		URL: srv.URL, Records: "data", Key: "id",
		Pagination: source.Pagination{Type: source.PaginationCursor, Param: "cursor", Next: "next"},
	}, RateLimit: config.RateLimit{RPS: 1000, Burst: 10}}
	return &fixture{src: src, sink: s, acts: a, env: env, ds: ds}
}

func (f *fixture) syncPages(in activities.SyncPagesInput) (activities.SyncPagesResult, error) {
	in.TaskID, in.Dataset = "task", f.ds
	if in.Generation == "" {
		in.Generation = "gen-1"
	}
	v, err := f.env.ExecuteActivity(f.acts.SyncPages, in)
	if err != nil {
		return activities.SyncPagesResult{}, err
	}
	var r activities.SyncPagesResult
	return r, v.Get(&r)
}

func TestSyncPagesCommitsUpToMaxPagesThenResumes(t *testing.T) {
	f := newFixture(t, 45, nil)
	r, err := f.syncPages(activities.SyncPagesInput{MaxPages: 2})
	require.NoError(t, err)
	require.Equal(t, 2, r.PagesFetched)
	require.EqualValues(t, 20, r.Records)
	require.False(t, r.Done)
	cp, ok, err := f.sink.Load(context.Background(), "task")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, r.Cursor, cp.Cursor, "the checkpoint holds the cursor of the next page")

	r, err = f.syncPages(activities.SyncPagesInput{Position: task.Position{Cursor: r.Cursor, Pages: r.Pages, Records: r.Records}, MaxPages: 10})
	require.NoError(t, err)
	require.True(t, r.Done)
	require.EqualValues(t, 45, r.Records)
	n, err := f.sink.Count(context.Background(), "ds")
	require.NoError(t, err)
	require.EqualValues(t, 45, n)
	require.Equal(t, []int{0, 1, 2, 3, 4}, f.src.pagesAsked(), "no page fetched twice")
}

// A retry whose input lags behind the checkpoint (the previous attempt
// committed, then its worker died) resumes from the checkpoint.
func TestSyncPagesResumesFromTheCheckpointAheadOfItsInput(t *testing.T) {
	f := newFixture(t, 45, nil)
	_, err := f.syncPages(activities.SyncPagesInput{MaxPages: 3})
	require.NoError(t, err)
	r, err := f.syncPages(activities.SyncPagesInput{MaxPages: 10}) // input says: from the start
	require.NoError(t, err)
	require.True(t, r.Done)
	require.EqualValues(t, 5, r.Pages)
	require.Equal(t, []int{0, 1, 2, 3, 4}, f.src.pagesAsked())

	// Another generation (a new sync run of the task) starts over.
	r, err = f.syncPages(activities.SyncPagesInput{Position: task.Position{Generation: "gen-2"}, MaxPages: 1})
	require.NoError(t, err)
	require.EqualValues(t, 1, r.Pages)
	require.Equal(t, 0, f.src.pagesAsked()[5])
}

func TestSyncPagesHandsLongRateLimitWaitsToTheWorkflow(t *testing.T) {
	f := newFixture(t, 45, map[int]int{1: http.StatusTooManyRequests})
	r, err := f.syncPages(activities.SyncPagesInput{MaxPages: 5, MaxWait: time.Second})
	require.NoError(t, err)
	require.EqualValues(t, 1, r.Pages, "the page before the 429 is committed")
	require.Equal(t, 1, r.RateLimitWaits)
	require.Greater(t, r.RateLimitedFor, time.Minute, "Retry-After: 120 asks for two minutes")
	require.Contains(t, r.RateLimitMessage, "429")
	require.False(t, f.acts.Limits.Status("ds").FrozenUntil.IsZero(), "the key is frozen on this worker")
}

func TestSyncPagesClassifiesFailures(t *testing.T) {
	for _, tc := range []struct {
		status       int
		wantType     string
		nonRetryable bool
	}{
		{http.StatusBadRequest, sferrors.TypeInvalidRequest, true},
		{http.StatusUnprocessableEntity, sferrors.TypeInvalidRequest, true},
		{http.StatusUnauthorized, sferrors.TypeUnrecoverable, true},
		{http.StatusServiceUnavailable, sferrors.TypeTransient, false},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			f := newFixture(t, 45, map[int]int{2: tc.status})
			_, err := f.syncPages(activities.SyncPagesInput{MaxPages: 5})
			var app *temporal.ApplicationError
			require.True(t, errors.As(err, &app), "%v", err)
			require.Equal(t, tc.wantType, app.Type())
			require.Equal(t, tc.nonRetryable, app.NonRetryable())
			cp, _, err := f.sink.Load(context.Background(), "task")
			require.NoError(t, err)
			require.EqualValues(t, 2, cp.Pages, "pages before the failure stay committed")
		})
	}
}

func TestRecordStateWritesTheFinalState(t *testing.T) {
	f := newFixture(t, 5, nil)
	_, err := f.env.ExecuteActivity(f.acts.RecordState, activities.RecordStateInput{
		TaskID: "task", DatasetID: "ds", State: task.Cancelled, Message: "cancelled by request",
	})
	require.NoError(t, err)
	cp, ok, err := f.sink.Load(context.Background(), "task")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, task.Cancelled, cp.State)
}
