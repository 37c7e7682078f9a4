package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/goleak"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/tests/faultproxy"
)

// leakPages serves total records, 10 a page, with a cursor; keep-alives are
// off so that every request has a connection of its own (and meets the
// proxy's fault for it).
func leakPages(total int) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		type rec struct {
			ID string `json:"id"`
		}
		out := struct {
			Data []rec  `json:"data"`
			Next string `json:"next,omitempty"`
		}{Data: []rec{}}
		for i := from; i < min(from+10, total); i++ {
			out.Data = append(out.Data, rec{ID: fmt.Sprintf("r%04d", i)})
		}
		if from+10 < total {
			out.Next = strconv.Itoa(from + 10)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	return srv
}

// leakActivities are the activities of the leak test, fetching through tr
// into snk, registered in a test environment.
func leakActivities(tr *http.Transport, snk sink.Sink) (*activities.Activities, *testsuite.TestActivityEnvironment) {
	acts := &activities.Activities{
		Source:         source.NewClient(source.WithHTTPClient(&http.Client{Transport: tr})),
		Sink:           snk,
		Limits:         ratelimit.NewRegistry(ratelimit.Options{}),
		HeartbeatEvery: 50 * time.Millisecond,
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return acts, env
}

// leakInput is the SyncPages input of the leak test: the dataset behind the
// proxy at addr, with a short timeout.
func leakInput(addr string) activities.SyncPagesInput {
	return activities.SyncPagesInput{
		TaskID:   "leak",
		Position: task.Position{Generation: "g1"},
		MaxPages: 100,
		Dataset: config.Dataset{ID: "leak", Source: source.Config{
			URL:        "http://" + addr + "/records",
			Records:    "data",
			Key:        "id",
			Timeout:    source.Duration(300 * time.Millisecond),
			Pagination: source.Pagination{Type: source.PaginationCursor, Param: "cursor", Next: "next"},
		}},
	}
}

// requireTransientFaults runs SyncPages once under each network fault: every
// run must fail as transient.
func requireTransientFaults(t *testing.T, env *testsuite.TestActivityEnvironment, acts *activities.Activities, proxy *faultproxy.Proxy, in activities.SyncPagesInput) {
	t.Helper()
	for _, f := range []faultproxy.Fault{
		{ResetAfter: 200, Times: 1},
		{Reset: true, Times: 1},
		{Stall: true, Times: 1},
		{TruncateAfter: 200, Times: 1},
		{BytesPerSecond: 100, Direction: faultproxy.ToClient, Times: 1}, // too slow for the timeout
	} {
		proxy.Set(f)
		_, err := env.ExecuteActivity(acts.SyncPages, in)
		var app *temporal.ApplicationError
		require.Truef(t, errors.As(err, &app), "fault %s: want an application error, got %v", f, err)
		require.Equalf(t, sferrors.TypeTransient, app.Type(), "fault %s: %v", f, err)
	}
}

// SyncPages through a proxy that resets, stalls and truncates: each fault
// fails the execution as transient, a clean run resumes from the checkpoint
// and completes; afterwards, with the proxy, the source, the idle
// connections and the sink closed, no goroutine is left.
func TestLeakSyncPagesThroughNetworkFaults(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	srv := leakPages(50)
	proxy, err := faultproxy.New(srv.Listener.Addr().String())
	require.NoError(t, err)
	tr := &http.Transport{}
	snk, err := engine.OpenSink(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "leak.db"))
	require.NoError(t, err)
	closeAll := func() {
		_ = proxy.Close()
		srv.Close()
		tr.CloseIdleConnections()
		_ = snk.Close()
	}
	defer closeAll() // runs before VerifyNone; harmless after the explicit call

	acts, env := leakActivities(tr, snk)
	in := leakInput(proxy.Addr())
	requireTransientFaults(t, env, acts, proxy, in)
	// A fault after two good pages: the next run resumes after them.
	proxy.Observe(func(ev faultproxy.Event) {
		if ev.Kind == faultproxy.Accepted && ev.Conn == 7 { // five faulted runs, then pages 0 and 1
			proxy.Set(faultproxy.Fault{ResetAfter: 200, Times: 1})
		}
	})
	_, err = env.ExecuteActivity(acts.SyncPages, in)
	require.Error(t, err)
	cp, ok, err := snk.Load(context.Background(), "leak")
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 2, cp.Pages, "two pages committed before the fault")

	v, err := env.ExecuteActivity(acts.SyncPages, in)
	require.NoError(t, err)
	var res activities.SyncPagesResult
	require.NoError(t, v.Get(&res))
	require.True(t, res.Done)
	require.EqualValues(t, 50, res.Records)
	n, err := snk.Count(context.Background(), "leak")
	require.NoError(t, err)
	require.EqualValues(t, 50, n)
	st := proxy.Stats()
	require.EqualValues(t, 3, st.Resets)
	require.EqualValues(t, 1, st.Stalls)
	require.EqualValues(t, 1, st.Truncations)

	closeAll()
}
