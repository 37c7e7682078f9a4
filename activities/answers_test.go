package activities_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/ratelimit"
)

// faultyPages wraps a numberedSource: the first request of each page in
// fail gets fail[page] instead of its page (an HTTP status, or 0 for a
// connection cut before any answer).
type faultyPages struct {
	*numberedSource
	mu   sync.Mutex
	fail map[int]int
}

func (f *faultyPages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	f.mu.Lock()
	status, ok := f.fail[page]
	delete(f.fail, page)
	f.mu.Unlock()
	switch {
	case !ok:
		f.numberedSource.ServeHTTP(w, r)
	case status == 0:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	default:
		w.WriteHeader(status)
	}
}

// Every request the limiter let through is answered to it by the time
// SyncPages returns, whatever became of it: committed, failed with a
// server error or a cut connection while the key is in slow start, a
// rate-limit answer without a hint, pages fetched past the end and
// dropped. The limiter counts the requests in flight to tell echoes of a
// refusal from new ones; a request never answered counted as in flight
// for the life of the worker (ratelimit.Registry.Unanswered).
func TestEveryRequestIsAnsweredToTheLimiter(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rl          config.RateLimit
		concurrency int // 1: one fetch ahead, no window
	}{
		{"window, undeclared", config.RateLimit{}, 0},
		{"window, declared", config.RateLimit{RPS: 1000, Burst: 10}, 0},
		{"one fetch ahead, undeclared", config.RateLimit{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, env, a, ds := windowFixture(t, 95)
			src := &faultyPages{numberedSource: &numberedSource{total: 95, asked: map[int]int{}}, fail: map[int]int{3: 500, 5: 0, 7: 429, 9: 503}}
			srv := httptest.NewServer(src)
			t.Cleanup(srv.Close)
			ds.Source.URL, ds.RateLimit, ds.Source.Concurrency = srv.URL, tc.rl, tc.concurrency
			in := activities.SyncPagesInput{TaskID: "t", Dataset: ds, Position: posGen("g"), MaxPages: 20}
			reg := a.Limits.(*ratelimit.Registry)
			for range 10 { // an execution per failure, as the workflow's retries
				v, err := env.ExecuteActivity(a.SyncPages, in)
				st := reg.Status(ds.LimitKey())
				require.Zero(t, st.InFlight, "requests let through and never answered (%d let through, %d in flight)", st.Requests, st.InFlight)
				if err != nil {
					continue
				}
				var r activities.SyncPagesResult
				require.NoError(t, v.Get(&r))
				in.Position = r.Position
				if r.Done {
					break
				}
			}
			require.True(t, in.Position.Done, "the sync ends")
			require.EqualValues(t, 95, in.Position.Records)
		})
	}
}
