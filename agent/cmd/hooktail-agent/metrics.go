package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooktail/hooktail/agent/metrics"
	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/ship"
)

// metricsShutdownTimeout bounds the graceful stop of the metrics server
// once the pipeline has stopped.
const metricsShutdownTimeout = 5 * time.Second

// reloadMetrics count configuration reloads.
type reloadMetrics struct {
	reloads     *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newReloadMetrics() *reloadMetrics {
	m := &reloadMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hooktail_agent_config_reloads_total",
			Help: "Configuration reloads (SIGHUP), by result: success, or failure (the running configuration was kept).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hooktail_agent_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, at start or by a reload (Unix time).",
		}),
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.lastSuccess.SetToCurrentTime()
	return m
}

func (m *reloadMetrics) result(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.lastSuccess.SetToCurrentTime()
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
}

// newRegistry returns a registry with the agent's metrics, the Go and
// process collectors, build information and the reload counters.
func newRegistry(p *pipeline.Pipeline, client *ship.Client, red *redact.Redactor, store *positions.Store, reloads *reloadMetrics) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.Register(reg, metrics.Options{Pipeline: p, Shipper: client, Redactor: red, Checkpoints: store}); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hooktail_agent_build_info",
		Help: "Always 1; the labels tell the agent's version and Go version.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(version, runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{info, reloads.reloads, reloads.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return reg, nil
}

// metricsServer serves /metrics, /healthz and /readyz.
type metricsServer struct {
	srv    *http.Server
	addr   net.Addr
	served chan struct{}
	logger *slog.Logger
}

// startMetricsServer listens on listen (a port of 0 picks a free one) and
// serves h in the background. Failing to listen is an error: the operator
// asked for the endpoint.
func startMetricsServer(listen string, h http.Handler, logger *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %q: %w", listen, err)
	}
	s := &metricsServer{
		srv:    &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)},
		addr:   ln.Addr(),
		served: make(chan struct{}),
		logger: logger,
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "address", s.addr.String(), "error", err)
		}
	}()
	logger.Info("metrics server listening", "address", s.addr.String())
	return s, nil
}

// shutdown stops the server gracefully: requests under way finish, within
// metricsShutdownTimeout.
func (s *metricsServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.logger.Warn("metrics server did not stop gracefully", "error", err)
		_ = s.srv.Close()
	}
	<-s.served
}
