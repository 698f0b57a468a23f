package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// newRegistry returns the registry /metrics serves, with the Go runtime and
// process collectors, and the handler that serves it. Components register
// their own collectors on it.
func newRegistry(logger *slog.Logger) (*prometheus.Registry, http.Handler) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	})
	return reg, h
}

// usageSource is what storeCollector reads; *sqlite.Store is one.
type usageSource interface {
	Usage(ctx context.Context) (sqlite.Usage, error)
}

// storeCollector turns the store's Usage snapshot into metrics at each
// scrape, so that the store knows nothing of Prometheus.
type storeCollector struct {
	store    usageSource
	fileSize *prometheus.Desc
	used     *prometheus.Desc
	passes   *prometheus.Desc
	failures *prometheus.Desc
	deleted  *prometheus.Desc
}

var _ prometheus.Collector = (*storeCollector)(nil)

func newStoreCollector(store usageSource) *storeCollector {
	return &storeCollector{
		store: store,
		fileSize: prometheus.NewDesc("hooktail_store_file_size_bytes",
			"Size on disk of the SQLite database file (file=\"db\") and of its write-ahead log (file=\"wal\").",
			[]string{"file"}, nil),
		used: prometheus.NewDesc("hooktail_store_used_bytes",
			"Bytes of the database's pages in use, what max_db_bytes caps; the file keeps freed pages for reuse.",
			nil, nil),
		passes: prometheus.NewDesc("hooktail_retention_passes_total",
			"Retention passes run.", nil, nil),
		failures: prometheus.NewDesc("hooktail_retention_failures_total",
			"Retention passes that failed (the next one carries on).", nil, nil),
		deleted: prometheus.NewDesc("hooktail_retention_deleted_rows_total",
			"Rows deleted by retention (retention and max_db_bytes), by table.", []string{"table"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.fileSize, c.used, c.passes, c.failures, c.deleted} {
		ch <- d
	}
}

// scrapeTimeout bounds the read of the store's usage in a scrape.
const scrapeTimeout = 5 * time.Second

// Collect implements prometheus.Collector.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	u, err := c.store.Usage(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.used, err)
		return
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.fileSize, u.FileBytes, "db")
	gauge(c.fileSize, u.WALBytes, "wal")
	gauge(c.used, u.UsedBytes)
	r := u.Retention
	counter(c.passes, r.Passes)
	counter(c.failures, r.Failures)
	counter(c.deleted, r.Deleted.Entries, "entries")
	counter(c.deleted, r.Deleted.Summaries, "summaries")
	counter(c.deleted, r.Deleted.Deliveries, "deliveries")
	counter(c.deleted, r.Deleted.Hooks, "hooks")
	counter(c.deleted, r.Deleted.Files, "files")
}
