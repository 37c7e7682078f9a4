// Package metrics exposes a worker's Prometheus metrics and health: syncflow's
// own series (fed through activities.Observer), the Temporal SDK's metrics
// (through the client.MetricsHandler of SDKHandler) and the Go runtime's,
// served with /healthz by Handler.
//
// syncflow's series:
//
//	syncflow_records_synced_total{dataset}          records committed to the sink
//	syncflow_pages_synced_total{dataset}            pages committed to the sink
//	syncflow_requests_total{dataset,outcome}        requests to sources by outcome:
//	                                                ok, transient, rate_limited,
//	                                                invalid_request, unrecoverable, cancelled
//	syncflow_rate_limit_waits_total{key}            rate-limit answers that made a key wait
//	syncflow_rate_limit_wait_seconds_total{key}     time those answers asked for
//	syncflow_limiter_rate{key}                      a key's current request rate (req/s)
//
// Labels carry dataset IDs and rate-limit keys only, never record data or
// secrets.
package metrics

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/ratelimit"
)

// Paths served by Handler.
const (
	MetricsPath = "/metrics"
	HealthPath  = "/healthz"
)

// Options configure New.
type Options struct {
	// LimiterRates returns each rate-limit key's current request rate; it is
	// called at scrape time for syncflow_limiter_rate. Optional; see
	// LimiterRates.
	LimiterRates func() map[string]float64
	// NoRuntimeMetrics leaves out the Go runtime and process collectors
	// (tests that compare whole scrapes).
	NoRuntimeMetrics bool
}

// Metrics is a worker's metrics registry and health flag. It implements
// activities.Observer; all methods are safe for concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	records     *prometheus.CounterVec
	pages       *prometheus.CounterVec
	requests    *prometheus.CounterVec
	waits       *prometheus.CounterVec
	waitSeconds *prometheus.CounterVec
	sdk         *sdkCollector
	healthy     atomic.Bool
}

// New returns a registry holding syncflow's series, an empty SDK collector
// and (unless disabled) the Go runtime collectors. It starts unhealthy.
func New(o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncflow_records_synced_total",
			Help: "Records committed to the sink, by dataset.",
		}, []string{"dataset"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncflow_pages_synced_total",
			Help: "Pages committed to the sink (each with its checkpoint), by dataset.",
		}, []string{"dataset"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncflow_requests_total",
			Help: "Requests to source APIs by dataset and outcome (ok, transient, rate_limited, invalid_request, unrecoverable, cancelled).",
		}, []string{"dataset", "outcome"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncflow_rate_limit_waits_total",
			Help: "Rate-limit answers that made a rate-limit key wait.",
		}, []string{"key"}),
		waitSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncflow_rate_limit_wait_seconds_total",
			Help: "Seconds of waiting that rate-limit answers asked for, by rate-limit key.",
		}, []string{"key"}),
		sdk: newSDKCollector(),
	}
	m.reg.MustRegister(m.records, m.pages, m.requests, m.waits, m.waitSeconds, m.sdk)
	if o.LimiterRates != nil {
		m.reg.MustRegister(&gaugeFunc{
			desc: prometheus.NewDesc("syncflow_limiter_rate",
				"Current request rate of a rate-limit key on this worker, in requests per second.",
				[]string{"key"}, nil),
			read: o.LimiterRates,
		})
	}
	if !o.NoRuntimeMetrics {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// LimiterRates reads the current rate of every key of r, for
// Options.LimiterRates.
func LimiterRates(r *ratelimit.Registry) func() map[string]float64 {
	return func() map[string]float64 {
		keys := r.Keys()
		rates := make(map[string]float64, len(keys))
		for _, k := range keys {
			rates[k] = r.Status(k).Rate
		}
		return rates
	}
}

// PageCommitted counts a committed page and its records.
func (m *Metrics) PageCommitted(dataset string, records int) {
	m.pages.WithLabelValues(dataset).Inc()
	if records > 0 {
		m.records.WithLabelValues(dataset).Add(float64(records))
	}
}

// Request counts a request to a source with its outcome class.
func (m *Metrics) Request(dataset, outcome string) {
	m.requests.WithLabelValues(dataset, outcome).Inc()
}

// RateLimitWait counts a rate-limit answer and the wait it asked for.
func (m *Metrics) RateLimitWait(key string, d time.Duration) {
	m.waits.WithLabelValues(key).Inc()
	if d > 0 {
		m.waitSeconds.WithLabelValues(key).Add(d.Seconds())
	}
}

// SDKHandler returns the client.MetricsHandler that records the Temporal
// SDK's metrics (temporal_*) in this registry; pass it to connect.Dial.
func (m *Metrics) SDKHandler() client.MetricsHandler {
	return &sdkHandler{c: m.sdk}
}

// Registry returns the underlying registry, to add collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetHealthy sets what /healthz answers: 200 while the worker runs, 503
// before it has started and once it is stopping.
func (m *Metrics) SetHealthy(ok bool) { m.healthy.Store(ok) }

// Handler serves MetricsPath (Prometheus text format) and HealthPath.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A broken series must not hide all the others.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !m.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not running\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// gaugeFunc is a gauge vector with one label whose values are read from a
// function at scrape time.
type gaugeFunc struct {
	desc *prometheus.Desc
	read func() map[string]float64
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	for label, v := range g.read() {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, label)
	}
}
