package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// timerBuckets are the histogram buckets of SDK timers, in seconds: from
// sub-millisecond RPCs to schedule-to-start latencies of minutes.
var timerBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

type metricKind int

const (
	kindCounter metricKind = iota
	kindGauge
	kindTimer
)

// sdkCollector holds the SDK's metrics. The SDK names a metric and attaches
// whatever tags it has at hand, so one metric name can be emitted with
// different tag sets; Prometheus needs one label set per family. At scrape
// time every series of a family is given the union of the family's labels,
// a missing tag as "" (which Prometheus treats as absent).
//
// Counters are exported as <name>_total, timers as <name>_seconds
// histograms, gauges under their own name.
type sdkCollector struct {
	mu       sync.Mutex
	families map[string]*family
}

type family struct {
	name   string
	kind   metricKind
	series map[string]*series // by labelKey
}

type series struct {
	labels  map[string]string
	value   float64  // counter, gauge
	buckets []uint64 // timer: non-cumulative counts per bucket (last: +Inf)
	count   uint64
	sum     float64
}

func newSDKCollector() *sdkCollector {
	return &sdkCollector{families: map[string]*family{}}
}

// series returns the series of name and tags, creating it on first use.
func (c *sdkCollector) series(kind metricKind, name string, tags map[string]string) *series {
	name = sanitize(name)
	switch kind {
	case kindCounter:
		if !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
	case kindTimer:
		if !strings.HasSuffix(name, "_seconds") {
			name += "_seconds"
		}
	}
	labels := make(map[string]string, len(tags))
	for k, v := range tags {
		labels[sanitize(k)] = v
	}
	key := labelKey(labels)

	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.families[name]
	if f == nil {
		f = &family{name: name, kind: kind, series: map[string]*series{}}
		c.families[name] = f
	}
	if f.kind != kind {
		// The same exported name for two kinds: keep the first, drop the other.
		return &series{labels: labels, buckets: make([]uint64, len(timerBuckets)+1)}
	}
	s := f.series[key]
	if s == nil {
		s = &series{labels: labels}
		if kind == kindTimer {
			s.buckets = make([]uint64, len(timerBuckets)+1)
		}
		f.series[key] = s
	}
	return s
}

func (c *sdkCollector) add(s *series, d float64) {
	c.mu.Lock()
	s.value += d
	c.mu.Unlock()
}

func (c *sdkCollector) set(s *series, v float64) {
	c.mu.Lock()
	s.value = v
	c.mu.Unlock()
}

func (c *sdkCollector) observe(s *series, seconds float64) {
	i, _ := slices.BinarySearch(timerBuckets, seconds) // first bucket with bound >= seconds
	c.mu.Lock()
	s.buckets[i]++
	s.count++
	s.sum += seconds
	c.mu.Unlock()
}

// Describe sends nothing: the collector is unchecked, its families are only
// known once the SDK has emitted them.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect emits every series with its family's union of labels.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.families {
		union := map[string]struct{}{}
		for _, s := range f.series {
			for k := range s.labels {
				union[k] = struct{}{}
			}
		}
		names := slices.Sorted(maps.Keys(union))
		desc := prometheus.NewDesc(f.name, "Temporal SDK metric "+f.name+".", names, nil)
		for _, s := range f.series {
			values := make([]string, len(names))
			for i, n := range names {
				values[i] = s.labels[n]
			}
			var m prometheus.Metric
			var err error
			switch f.kind {
			case kindCounter:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, s.value, values...)
			case kindGauge:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, s.value, values...)
			case kindTimer:
				cum := make(map[float64]uint64, len(timerBuckets))
				var n uint64
				for i, b := range timerBuckets {
					n += s.buckets[i]
					cum[b] = n
				}
				m, err = prometheus.NewConstHistogram(desc, s.count, s.sum, cum, values...)
			}
			if err != nil {
				ch <- prometheus.NewInvalidMetric(desc, err)
				continue
			}
			ch <- m
		}
	}
}

// sdkHandler is the client.MetricsHandler over an sdkCollector.
type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

var _ client.MetricsHandler = (*sdkHandler)(nil)

// WithTags returns a handler whose metrics carry h's tags and tags (which win).
func (h *sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	maps.Copy(merged, h.tags)
	maps.Copy(merged, tags)
	return &sdkHandler{c: h.c, tags: merged}
}

// Counter returns the counter name with h's tags.
func (h *sdkHandler) Counter(name string) client.MetricsCounter {
	s := h.c.series(kindCounter, name, h.tags)
	return counterFunc(func(d int64) {
		if d > 0 {
			h.c.add(s, float64(d))
		}
	})
}

// Gauge returns the gauge name with h's tags.
func (h *sdkHandler) Gauge(name string) client.MetricsGauge {
	s := h.c.series(kindGauge, name, h.tags)
	return gaugeFn(func(v float64) { h.c.set(s, v) })
}

// Timer returns the timer name with h's tags.
func (h *sdkHandler) Timer(name string) client.MetricsTimer {
	s := h.c.series(kindTimer, name, h.tags)
	return timerFunc(func(d time.Duration) { h.c.observe(s, d.Seconds()) })
}

// labelKey encodes labels in a canonical order, as a map key.
func labelKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	return b.String()
}

// sanitize makes s a valid Prometheus metric or label name.
func sanitize(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, r := range b {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// counterFunc, gaugeFn and timerFunc adapt functions to the SDK's metric
// interfaces.
type (
	counterFunc func(int64)
	gaugeFn     func(float64)
	timerFunc   func(time.Duration)
)

func (f counterFunc) Inc(d int64)          { f(d) }
func (f gaugeFn) Update(v float64)         { f(v) }
func (f timerFunc) Record(d time.Duration) { f(d) }
