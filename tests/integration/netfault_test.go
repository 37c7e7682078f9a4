package integration_test

import (
	"cmp"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/tests/faultproxy"
	"github.com/syncflow/syncflow/workflows"
)

// The network fault suite: the worker reaches the scripted source through a
// faultproxy, which breaks the TCP connections themselves. The source
// disables keep-alives, so every request has a connection of its own and a
// fault applied to the next N connections hits the next N requests (net/http
// neither reuses a connection across the fault nor retries a request on a
// fresh one).

// netFaultSource is a scripted source behind a fault proxy.
type netFaultSource struct {
	*scriptedSource
	proxy *faultproxy.Proxy
}

// newNetFaultSource starts a scripted source of total records (pages of 10)
// and a fault proxy in front of it.
func newNetFaultSource(t *testing.T, total int) *netFaultSource {
	t.Helper()
	src := newScriptedSource(t, total, 10)
	src.srv.Config.SetKeepAlivesEnabled(false)
	p, err := faultproxy.New(src.srv.Listener.Addr().String())
	require.NoError(t, err)
	// Registered after the source's cleanup, so it runs first: closing the
	// proxy ends the connections a stalled handler is waiting on.
	t.Cleanup(func() { _ = p.Close() })
	return &netFaultSource{scriptedSource: src, proxy: p}
}

// dataset is a cursor-paginated dataset whose URL points at the proxy.
func (s *netFaultSource) dataset(id string) config.Dataset {
	ds := s.scriptedSource.dataset(id, source.PaginationCursor)
	ds.Source.URL = "http://" + s.proxy.Addr() + strings.TrimPrefix(ds.Source.URL, s.srv.URL)
	return ds
}

// forT returns the env with t as its test, so that its assertions fail the
// subtest that makes them.
func (e *env) forT(t *testing.T) *env {
	cp := *e
	cp.t = t
	return &cp
}

// The per-request timeouts of the suite: netFaultTimeout where no timeout
// is meant to fire (a loaded machine does not delay a loopback answer that
// long), stallTimeout where one must (a stalled or starved connection).
const (
	netFaultTimeout = 30 * time.Second
	stallTimeout    = 3 * time.Second
)

// TestNetFault runs every case on one server and worker, in parallel.
func TestNetFault(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	t.Run("transient", func(t *testing.T) {
		t.Parallel()
		testNetFaultTransient(t, e)
	})
	t.Run("permanent", func(t *testing.T) {
		t.Parallel()
		testNetFaultPermanent(t, e)
	})
}

// Transient network faults: the sync completes with exactly the source's
// records, and every failed request costs exactly one retry.
//
// The counts do not depend on how fast the machine is: a request times out
// only after netFaultTimeout (30 s) unless the case stalls it on purpose,
// and the one short timeout (stallTimeout, for the stalled connection)
// could also cut an unfaulted request on a loaded machine: so the
// assertions are that every failed request (a connection beyond the six
// pages') cost one retry, and that every injected fault was one of them.
func testNetFaultTransient(t *testing.T, e *env) {
	for _, tc := range []struct {
		name    string
		fault   faultproxy.Fault
		timeout time.Duration // per-request timeout; default netFaultTimeout
		retries int64         // failed requests, each one retry
		check   func(t *testing.T, s faultproxy.Stats)
	}{
		{name: "latency", fault: faultproxy.Fault{Latency: 20 * time.Millisecond}, check: func(t *testing.T, s faultproxy.Stats) {
			require.Equal(t, s.Connections, s.Faulted, "every connection slowed")
		}},
		{name: "reset at accept", fault: faultproxy.Fault{Reset: true, Times: 2}, retries: 2, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 2, s.Resets)
		}},
		{name: "reset in the body", fault: faultproxy.Fault{ResetAfter: 300, Times: 2}, retries: 2, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 2, s.Resets)
		}},
		// Cut inside a header name ("Content-Type" starts at byte 17,
		// "Content-Length" at byte 86 of net/http's answer).
		{name: "reset in the headers", fault: faultproxy.Fault{ResetAfter: 25, Times: 2}, retries: 2, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 2, s.Resets)
		}},
		{name: "truncated headers", fault: faultproxy.Fault{TruncateAfter: 95, Times: 2}, retries: 2, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 2, s.Truncations)
		}},
		{name: "stall past the timeout", fault: faultproxy.Fault{Stall: true, Times: 1}, timeout: stallTimeout, retries: 1, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 1, s.Stalls)
		}},
		{name: "truncated body", fault: faultproxy.Fault{TruncateAfter: 300, Times: 2}, retries: 2, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 2, s.Truncations)
		}},
		{name: "no answer", fault: faultproxy.Fault{Truncate: true, Times: 1}, retries: 1, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 1, s.Truncations)
		}},
		{name: "bandwidth limit", fault: faultproxy.Fault{BytesPerSecond: 8 << 10}, check: func(t *testing.T, s faultproxy.Stats) {
			require.Equal(t, s.Connections, s.Faulted, "every connection limited")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := e.forT(t)
			src := newNetFaultSource(t, 60)
			src.proxy.Set(tc.fault)
			id := "netfault-" + strings.ReplaceAll(tc.name, " ", "-")
			ds := src.dataset(id)
			ds.Source.Timeout = source.Duration(cmp.Or(tc.timeout, netFaultTimeout))

			res, err := e.result(e.start("task-"+id, ds, workflows.SyncOptions{}))
			require.NoError(t, err)
			e.requireExact(ds.ID, src.scriptedSource)
			require.EqualValues(t, 60, res.Records)
			st := src.proxy.Stats()
			require.Equal(t, st.Connections-6, res.Retries, "six pages, one connection per request, one retry per failed one")
			require.GreaterOrEqual(t, res.Retries, tc.retries, "every injected fault cost a retry")
			tc.check(t, st)
		})
	}

	// Resets on every connection until the test turns them off after two.
	t.Run("resets toggled off", func(t *testing.T) {
		t.Parallel()
		e := e.forT(t)
		src := newNetFaultSource(t, 60)
		resets := make(chan struct{}, 100)
		src.proxy.Observe(func(ev faultproxy.Event) {
			if ev.Kind == faultproxy.ResetSent {
				resets <- struct{}{}
			}
		})
		src.proxy.Set(faultproxy.Fault{Reset: true})
		ds := src.dataset("netfault-toggled")
		ds.Source.Timeout = source.Duration(netFaultTimeout)
		run := e.start("task-netfault-toggled", ds, workflows.SyncOptions{})
		<-resets
		<-resets
		src.proxy.Set(faultproxy.Pass)

		res, err := e.result(run)
		require.NoError(t, err)
		e.requireExact(ds.ID, src.scriptedSource)
		st := src.proxy.Stats()
		require.GreaterOrEqual(t, st.Resets, int64(2))
		require.Equal(t, st.Resets, res.Retries, "one retry per reset")
	})
}

// Permanent network faults: the task fails as transient once the attempts
// run out; what was committed before the fault stays committed.
func testNetFaultPermanent(t *testing.T, e *env) {
	for _, tc := range []struct {
		name    string
		fault   faultproxy.Fault
		timeout time.Duration
		message string // in the failure
		check   func(t *testing.T, s faultproxy.Stats)
	}{
		{name: "resets", fault: faultproxy.Fault{Reset: true}, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 3, s.Resets, "one per attempt")
		}},
		{name: "stalls", fault: faultproxy.Fault{Stall: true}, timeout: stallTimeout, message: "timed out", check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 3, s.Stalls, "one per attempt")
		}},
		{name: "truncations", fault: faultproxy.Fault{TruncateAfter: 300}, check: func(t *testing.T, s faultproxy.Stats) {
			require.EqualValues(t, 3, s.Truncations, "one per attempt")
		}},
		// 50 bytes/s: an answer of about 700 bytes needs 14 s, past the 3 s.
		{name: "bandwidth too low for the timeout", fault: faultproxy.Fault{BytesPerSecond: 50, Direction: faultproxy.ToClient}, timeout: stallTimeout, message: "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := e.forT(t)
			src := newNetFaultSource(t, 60)
			// Two pages go through; from the third connection on, the
			// fault is permanent. Connections are sequential: the third is
			// opened after the second's response was read.
			src.proxy.Observe(func(ev faultproxy.Event) {
				if ev.Kind == faultproxy.Accepted && ev.Conn == 2 {
					src.proxy.Set(tc.fault)
				}
			})
			id := "netfault-permanent-" + strings.ReplaceAll(tc.name, " ", "-")
			ds := src.dataset(id)
			ds.Source.Timeout = source.Duration(cmp.Or(tc.timeout, netFaultTimeout))
			// Three tries (not the default ten) so that the task fails
			// soon; two pages per activity so that the failing page is
			// in an execution of its own.

			_, err := e.result(e.start("task-"+id, ds, workflows.SyncOptions{MaxAttempts: 3, PagesPerActivity: 2}))
			requireFailureType(t, err, sferrors.TypeTransient)
			if tc.message != "" {
				require.Contains(t, err.Error(), tc.message)
			}
			st := src.proxy.Stats()
			require.EqualValues(t, 2+3, st.Connections, "two pages, then three attempts at the third")
			if tc.check != nil {
				tc.check(t, st)
			}
			cp := e.checkpoint("task-" + id)
			require.Equal(t, task.Failed, cp.State)
			require.EqualValues(t, 2, cp.Pages, "pages before the fault stay committed")
			n, err := e.sink.Count(t.Context(), ds.ID)
			require.NoError(t, err)
			require.EqualValues(t, 20, n)
		})
	}
}

// A sync through faults, with the worker, the proxy and the source stopped
// afterwards, leaves none of syncflow's goroutines and no HTTP client
// connection behind. (goleak.VerifyNone cannot be used here: the in-process
// Temporal server keeps thousands of goroutines alive after Stop; package
// activities checks SyncPages with goleak itself.)
func TestNetFaultNoLeak(t *testing.T) {
	before := ownGoroutines()
	e := newEnv(t)
	w := e.startWorker(workerOptions{})
	src := newNetFaultSource(t, 60)
	src.proxy.Observe(func(ev faultproxy.Event) {
		if ev.Kind == faultproxy.Accepted && ev.Conn == 2 {
			src.proxy.Set(faultproxy.Fault{Stall: true, Times: 1}) // the third request
		}
	})
	src.proxy.Set(faultproxy.Fault{ResetAfter: 300, Times: 1})
	ds := src.dataset("netfault-leak")
	ds.Source.Timeout = source.Duration(stallTimeout)
	res, err := e.result(e.start("task-netfault-leak", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	e.requireExact(ds.ID, src.scriptedSource)
	st := src.proxy.Stats()
	require.Equal(t, st.Connections-6, res.Retries, "one retry per failed request")
	require.GreaterOrEqual(t, res.Retries, int64(2), "the reset and the stall")
	require.EqualValues(t, 1, st.Resets)
	require.EqualValues(t, 1, st.Stalls)

	w.Stop()
	require.NoError(t, src.proxy.Close())
	src.srv.Close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	gone := assert.Eventually(t, func() bool {
		return len(leakedSince(before)) == 0
	}, 10*time.Second, 20*time.Millisecond, "goroutines left behind")
	if !gone {
		t.Fatalf("goroutines left behind:\n%s", strings.Join(leakedSince(before), "\n\n"))
	}
}

// leakedSince returns the stacks of syncflow's goroutines that are not in
// before.
func leakedSince(before map[string]string) []string {
	var leaked []string
	for id, stack := range ownGoroutines() {
		if _, ok := before[id]; !ok {
			leaked = append(leaked, stack)
		}
	}
	return leaked
}

// ownGoroutines returns, by goroutine ID, the stacks of the goroutines that
// run syncflow's code (tests aside) or hold an HTTP client connection.
func ownGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	own := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		id, _, _ := strings.Cut(strings.TrimPrefix(header, "goroutine "), " ")
		switch {
		case strings.Contains(g, "testing.tRunner"), strings.Contains(g, "integration_test."):
		case strings.Contains(g, "github.com/syncflow/syncflow/"), strings.Contains(g, "net/http.(*persistConn)"):
			own[id] = g
		}
	}
	return own
}
