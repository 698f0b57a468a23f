package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// unmatchedRoute is the route label of a request that matched no route
// (404, 405): the raw path would make a label value per request.
const unmatchedRoute = "unmatched"

func newRequestMetrics() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hooktail_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route template (\"unmatched\" for none) and status code.",
		// 250 µs … 16 s: indexed lookups answer in well under a millisecond.
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 17),
	}, []string{"route", "code"})
}

// matchedRoute receives the template of the route a request matched.
type matchedRoute struct{ template string }

type matchedRouteKey struct{}

// recordRoute is the router's middleware that tells ServeHTTP which route
// matched: mux hands the handler a request that the caller never sees.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m, ok := r.Context().Value(matchedRouteKey{}).(*matchedRoute); ok {
			if route := mux.CurrentRoute(r); route != nil {
				m.template, _ = route.GetPathTemplate()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// streamRoute is the live tail's route: its successful answers last as
// long as the client stays, so they are counted by streamsOpen, not timed.
const streamRoute = "/logs/api/stream"

func newStreamsOpen(open func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hooktail_http_streams_open",
		Help: "Live tails (/logs/api/stream) being served now.",
	}, open)
}

// observe records one request's duration.
func (s *Server) observe(route *matchedRoute, rec *statusRecorder, start time.Time) {
	label := route.template
	if label == "" {
		label = unmatchedRoute
	}
	code := rec.status()
	if label == streamRoute && code == 200 {
		return
	}
	s.requests.WithLabelValues(label, strconv.Itoa(code)).Observe(s.now().Sub(start).Seconds())
}

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	s.requests.Describe(ch)
	s.streamsOpen.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	s.requests.Collect(ch)
	s.streamsOpen.Collect(ch)
}
