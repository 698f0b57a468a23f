package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooktail/hooktail/aggregator"
)

// Why a Push was not acknowledged: the values of the reason label of
// hooktail_ingest_failures_total.
const (
	reasonUnauthenticated  = "unauthenticated"
	reasonPermissionDenied = "permission_denied"
	reasonTooLarge         = "too_large"
	reasonInvalidEntry     = "invalid_entry"
	reasonDiskFull         = "disk_full"
	reasonIOError          = "io_error"
	reasonStoreError       = "store_error"
	reasonCanceled         = "canceled"
	reasonDeadline         = "deadline_exceeded"
)

var failureReasons = []string{
	reasonUnauthenticated, reasonPermissionDenied, reasonTooLarge, reasonInvalidEntry,
	reasonDiskFull, reasonIOError, reasonStoreError, reasonCanceled, reasonDeadline,
}

// metrics are the ingest server's Prometheus metrics.
type metrics struct {
	batches         prometheus.Counter
	entries         prometheus.Counter
	duplicates      prometheus.Counter
	rejectedEntries prometheus.Counter
	failures        *prometheus.CounterVec
	duration        prometheus.Histogram
	inFlight        prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooktail_ingest_batches_total",
			Help: "Batches stored and acknowledged (including batches of duplicates only).",
		}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooktail_ingest_entries_total",
			Help: "Records newly stored (entries and webhook_summary records).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooktail_ingest_duplicates_total",
			Help: "Records ignored because they were stored already (a re-sent batch, or the second copy of a record).",
		}),
		rejectedEntries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hooktail_ingest_rejected_entries_total",
			Help: "Entries refused as never storable (InvalidArgument naming the entry); the agent sends their batch again without them.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooktail_ingest_failures_total",
			Help: "Pushes not acknowledged, by reason; disk_full, io_error and store_error are retried by the agent.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hooktail_ingest_duration_seconds",
			Help:    "Time to store one batch durably, failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms … 8 s
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hooktail_ingest_in_flight_batches",
			Help: "Batches being stored right now.",
		}),
	}
	for _, r := range failureReasons {
		m.failures.WithLabelValues(r) // every reason shows, at 0
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.batches, m.entries, m.duplicates, m.rejectedEntries, m.failures, m.duration, m.inFlight}
}

func (m *metrics) stored(res aggregator.IngestResult) {
	m.batches.Inc()
	m.entries.Add(float64(res.Stored))
	m.duplicates.Add(float64(res.Duplicates))
}

func (m *metrics) failed(reason string) {
	m.failures.WithLabelValues(reason).Inc()
}

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.metrics.collectors() {
		c.Collect(ch)
	}
}
