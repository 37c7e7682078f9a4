package integration_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// bodySource serves a scripted source's pages, the body of page `page`
// written by misbehave the first time it is asked for.
type bodySource struct {
	src  *scriptedSource
	srv  *httptest.Server
	page string // the cursor of the misbehaving page

	mu    sync.Mutex
	asked int
}

func newBodySource(t *testing.T, src *scriptedSource, page string, misbehave func(w http.ResponseWriter, r *http.Request, body []byte)) *bodySource {
	b := &bodySource{src: src, page: page}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") != page {
			src.serve(w, r)
			return
		}
		b.mu.Lock()
		b.asked++
		first := b.asked == 1
		b.mu.Unlock()
		if !first {
			src.serve(w, r)
			return
		}
		rec := httptest.NewRecorder()
		src.serve(rec, r)
		w.Header().Set("Content-Type", "application/json")
		misbehave(w, r, rec.Body.Bytes())
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bodySource) requests() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.asked
}

// dataset is the cursor dataset behind b with the given timeouts and no
// total of its own (the default, 2 minutes, applies).
func (b *bodySource) dataset(id string, t source.Timeouts) config.Dataset {
	ds := b.src.dataset(id, source.PaginationCursor)
	ds.Source.URL = b.srv.URL + "/cursor"
	ds.Source.Timeout = 0
	ds.Source.Timeouts = t
	return ds
}

// A body that stalls mid-way is cut by the idle timeout (transient): the
// page is tried again and the sync completes exactly. The idle timeout is
// 1 s instead of the default 30 s to keep the test short; the total is the
// default 2 minutes, so only the idle timeout can cut the stall in time.
func TestIdleTimeoutCutsMidBodyStall(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 40, 10)
	b := newBodySource(t, src, "2", func(w http.ResponseWriter, r *http.Request, body []byte) {
		_, _ = w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stalls until the client gives up
	})
	run := e.start("task-stall", b.dataset("stall", source.Timeouts{Idle: source.Duration(time.Second)}), workflows.SyncOptions{})
	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact("stall", src)
	require.Equal(t, 2, b.requests(), "the stalled page is asked again")
	require.EqualValues(t, 1, res.Retries, "the cut is one transient failure")
	require.Contains(t, e.logs.String(), "no byte for 1s (timeouts.idle)", "the worker says which timeout cut the request")
}

// A page that arrives slowly but steadily, over longer than the idle
// timeout in all, is not cut.
func TestIdleTimeoutSparesSlowSteadyBody(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	src := newScriptedSource(t, 40, 10)
	const idle = 500 * time.Millisecond
	b := newBodySource(t, src, "1", func(w http.ResponseWriter, r *http.Request, body []byte) {
		for chunk := range slices.Chunk(body, max(1, len(body)/30)) {
			_, _ = w.Write(chunk)
			w.(http.Flusher).Flush()
			time.Sleep(idle / 10) // the source's pace (about 1.5 s in all), not synchronisation
		}
	})
	run := e.start("task-steady", b.dataset("steady", source.Timeouts{Idle: source.Duration(idle)}), workflows.SyncOptions{})
	res, err := e.result(run)
	require.NoError(t, err)
	e.requireExact("steady", src)
	require.Equal(t, 1, b.requests(), "the slow page was read in one go")
	require.Zero(t, res.Retries)
}

// keyRecorder is the worker's real limiter, recording the key of every wait.
type keyRecorder struct {
	*ratelimit.Registry
	mu   sync.Mutex
	keys map[string]int // key → waits
}

func (k *keyRecorder) Wait(ctx context.Context, key string, l ratelimit.Limit) error {
	return k.WaitAtMost(ctx, key, l, 0)
}

// WaitAtMost is the bounded wait the activity calls.
func (k *keyRecorder) WaitAtMost(ctx context.Context, key string, l ratelimit.Limit, limit time.Duration) error {
	k.mu.Lock()
	k.keys[key]++
	k.mu.Unlock()
	return k.Registry.WaitAtMost(ctx, key, l, limit)
}

func (k *keyRecorder) waits() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]int{}
	for key, n := range k.keys {
		out[key] = n
	}
	return out
}

// Two datasets sending the same token to the same host wait on one
// rate-limit key, the one the progress query reports; a dataset with an
// explicit rate_limit.key keeps its own.
func TestSameTokenSharesBudget(t *testing.T) {
	e := newEnv(t)
	rec := &keyRecorder{Registry: ratelimit.NewRegistry(ratelimit.Options{}), keys: map[string]int{}}
	var _ activities.Limiter = rec
	res := secrets.New(secrets.Bindings{"SHOP_TOKEN": {"127.0.0.1"}}, func(k string) (string, bool) { return "tok", k == "SHOP_TOKEN" })
	e.startWorker(workerOptions{limits: rec, secrets: res})
	src := newScriptedSource(t, 30, 10)
	orders := src.dataset("orders", source.PaginationCursor)
	orders.Source.Headers = map[string]string{"Authorization": "Bearer ${SHOP_TOKEN}"}
	customers := src.dataset("customers", source.PaginationCursor)
	customers.Source.Auth = &source.Auth{Type: source.AuthBearer, Token: "${SHOP_TOKEN}"}
	own := src.dataset("own", source.PaginationCursor)
	own.Source.Auth = &source.Auth{Type: source.AuthBearer, Token: "${SHOP_TOKEN}"}
	own.RateLimit.Key = "own-budget"

	shared := orders.LimitKey()
	require.Equal(t, shared, customers.LimitKey())
	require.Regexp(t, `^127\.0\.0\.1-\d+\.SHOP_TOKEN$`, shared)
	for _, ds := range []config.Dataset{orders, customers, own} {
		run := e.start("task-"+ds.ID, ds, workflows.SyncOptions{})
		_, err := e.result(run)
		require.NoError(t, err, ds.ID)
		e.requireExact(ds.ID, src)
		p, err := e.queryProgress(run.GetID())
		require.NoError(t, err)
		require.Equal(t, ds.LimitKey(), p.RateLimitKey, "the progress (and starter status) shows the effective key")
	}
	waits := rec.waits()
	require.Equal(t, map[string]int{shared: waits[shared], "own-budget": waits["own-budget"]}, waits, "no key per dataset")
	require.Equal(t, 2*waits["own-budget"], waits[shared], "both datasets' requests waited on the shared key")
}
