package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/ship"
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Ready answers /readyz: nil is 200 "ok", an error 503 with its text.
	Ready func(ctx context.Context) error
	// Logger receives errors of /metrics; nil means slog.Default().
	Logger *slog.Logger
}

// NewHandler returns the handler of GET /metrics, /healthz (200 "ok" while
// the process serves) and /readyz.
func NewHandler(opts HandlerOptions) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := opts.Ready(r.Context()); err != nil {
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, body)
}

// Checker is the aggregator client as readiness sees it; *ship.Client is
// one.
type Checker interface {
	Stats() ship.Stats
	Check(ctx context.Context) error
}

// Default settings of Readiness.
const (
	DefaultReadyMaxAge  = 30 * time.Second
	DefaultCheckTimeout = 5 * time.Second
)

// Readiness decides /readyz: the agent is ready when its pipeline runs and
// the aggregator acknowledged the last exchange with it (a push attempt or
// a health check). When that exchange is older than MaxAge (an idle agent
// pushes nothing), a health check is made first, at most one at a time.
type Readiness struct {
	Pipeline interface{ Stats() pipeline.Stats }
	Shipper  Checker
	// MaxAge is how old the last exchange may be (default
	// DefaultReadyMaxAge); CheckTimeout bounds a health check (default
	// DefaultCheckTimeout).
	MaxAge       time.Duration
	CheckTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu sync.Mutex // one health check at a time
}

// Ready returns nil when the agent is ready, else the reason it is not.
func (r *Readiness) Ready(ctx context.Context) error {
	if !r.Pipeline.Stats().Running {
		return errors.New("not ready: the pipeline is not running")
	}
	maxAge := cmpOr(r.MaxAge, DefaultReadyMaxAge)
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	lc := r.Shipper.Stats().LastContact
	if lc == nil || now().Sub(lc.At) > maxAge {
		r.mu.Lock()
		// Another request may have checked meanwhile.
		lc = r.Shipper.Stats().LastContact
		if lc == nil || now().Sub(lc.At) > maxAge {
			cctx, cancel := context.WithTimeout(ctx, cmpOr(r.CheckTimeout, DefaultCheckTimeout))
			err := r.Shipper.Check(cctx)
			cancel()
			r.mu.Unlock()
			if err != nil {
				return fmt.Errorf("not ready: aggregator unreachable: %w", err)
			}
			return nil
		}
		r.mu.Unlock()
	}
	if lc.Err != nil {
		return fmt.Errorf("not ready: the last push to aggregator %s, %s ago, failed: %w",
			lc.Address, now().Sub(lc.At).Round(time.Second), lc.Err)
	}
	return nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
