package integration_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/internal/metrics"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// After a real sync, the worker's metrics endpoint shows syncflow's series
// with the sync's counts.
func TestMetricsAfterASync(t *testing.T) {
	e := newEnv(t)
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	e.startWorker(workerOptions{observer: m})
	src := newScriptedSource(t, 47, 10)
	src.script(2, fault{status: http.StatusServiceUnavailable})
	ds := src.dataset("measured", source.PaginationCursor)
	_, err := e.result(e.start("task-measured", ds, workflows.SyncOptions{}))
	require.NoError(t, err)

	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + metrics.MetricsPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(body)
	require.Contains(t, text, `syncflow_records_synced_total{dataset="measured"} 47`)
	require.Contains(t, text, `syncflow_pages_synced_total{dataset="measured"} 5`)
	require.Contains(t, text, `syncflow_requests_total{dataset="measured",outcome="ok"} 5`)
	require.Contains(t, text, `syncflow_requests_total{dataset="measured",outcome="transient"} 1`)
}
