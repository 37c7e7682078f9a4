package metrics_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/internal/metrics"
	"github.com/syncflow/syncflow/ratelimit"
)

var _ activities.Observer = (*metrics.Metrics)(nil)

// scrape GETs /metrics and returns each sample as `name{labels}` → value,
// labels as the exposition format prints them (sorted by name).
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + metrics.MetricsPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "malformed line %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		samples[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return samples
}

func TestObserverSeries(t *testing.T) {
	limits := ratelimit.NewRegistry(ratelimit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, limits.Wait(ctx, "orders", ratelimit.Limit{RPS: 2, Burst: 1}))

	m := metrics.New(metrics.Options{LimiterRates: metrics.LimiterRates(limits)})
	m.PageCommitted("orders", 10)
	m.PageCommitted("orders", 5)
	m.PageCommitted("orders", 0)
	m.PageCommitted("users", 7)
	for range 3 {
		m.Request("orders", "ok")
	}
	m.Request("orders", "rate_limited")
	m.Request("users", "transient")
	m.RateLimitWait("orders", 1500*time.Millisecond)
	m.RateLimitWait("orders", 500*time.Millisecond)

	got := scrape(t, m.Handler())
	want := map[string]float64{
		`syncflow_records_synced_total{dataset="orders"}`:                  15,
		`syncflow_records_synced_total{dataset="users"}`:                   7,
		`syncflow_pages_synced_total{dataset="orders"}`:                    3,
		`syncflow_pages_synced_total{dataset="users"}`:                     1,
		`syncflow_requests_total{dataset="orders",outcome="ok"}`:           3,
		`syncflow_requests_total{dataset="orders",outcome="rate_limited"}`: 1,
		`syncflow_requests_total{dataset="users",outcome="transient"}`:     1,
		`syncflow_rate_limit_waits_total{key="orders"}`:                    2,
		`syncflow_rate_limit_wait_seconds_total{key="orders"}`:             2,
		`syncflow_limiter_rate{key="orders"}`:                              2,
	}
	for series, v := range want {
		if assert.Contains(t, got, series) {
			assert.InDelta(t, v, got[series], 1e-9, series)
		}
	}
	assert.NotContains(t, got, `syncflow_requests_total{dataset="users",outcome="ok"}`)
	assert.Contains(t, got, "go_goroutines", "runtime metrics are registered")
}

func TestHealthz(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + metrics.HealthPath)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, _ := get()
	assert.Equal(t, http.StatusServiceUnavailable, code, "not healthy before the worker runs")
	m.SetHealthy(true)
	code, body := get()
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	m.SetHealthy(false)
	code, _ = get()
	assert.Equal(t, http.StatusServiceUnavailable, code)
}

func TestSDKHandlerMergesLabelSets(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	h := m.SDKHandler().WithTags(map[string]string{"namespace": "default"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "PollActivityTaskQueue"}).Counter("temporal_request").Inc(3)
	h.WithTags(map[string]string{"namespace": "other"}).Counter("temporal_request").Inc(1) // tag override
	h.Gauge("temporal_worker_task_slots_available").Update(7)
	h.Gauge("temporal_worker_task_slots_available").Update(4)
	timer := h.Timer("temporal_request_latency")
	timer.Record(20 * time.Millisecond)
	timer.Record(2 * time.Second)
	h.Counter("bad-name.here").Inc(1)

	got := scrape(t, m.Handler())
	want := map[string]float64{
		`temporal_request_total{namespace="default",operation=""}`:                      2,
		`temporal_request_total{namespace="default",operation="PollActivityTaskQueue"}`: 3,
		`temporal_request_total{namespace="other",operation=""}`:                        1,
		`temporal_worker_task_slots_available{namespace="default"}`:                     4,
		`temporal_request_latency_seconds_count{namespace="default"}`:                   2,
		`temporal_request_latency_seconds_bucket{namespace="default",le="0.025"}`:       1,
		`temporal_request_latency_seconds_bucket{namespace="default",le="2.5"}`:         2,
		`temporal_request_latency_seconds_bucket{namespace="default",le="+Inf"}`:        2,
		`bad_name_here_total{namespace="default"}`:                                      1,
	}
	for series, v := range want {
		if assert.Contains(t, got, series) {
			assert.InDelta(t, v, got[series], 1e-9, series)
		}
	}
	assert.InDelta(t, 2.02, got[`temporal_request_latency_seconds_sum{namespace="default"}`], 1e-9)
}

func TestSDKHandlerWithRealClient(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	c := ts.NewClientWithOptions(client.Options{MetricsHandler: m.SDKHandler()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ts.GetDefaultNamespace()})
	require.NoError(t, err)

	var requests float64
	for series, v := range scrape(t, m.Handler()) {
		if strings.HasPrefix(series, "temporal_request_total{") && strings.Contains(series, `operation="DescribeNamespace"`) {
			requests += v
		}
	}
	assert.GreaterOrEqual(t, requests, 1.0, "the SDK's request counter reached the registry")
}
