// Package httpapi serves the aggregator's HTTP APIs on top of an
// aggregator.Store (SPEC §5): health probes, the drop-in replacement for
// myk-org/github-webhook-server's log viewer API (/logs/api/*), the generic
// logs API (/logs, seed 003) and the deliveries API (/api/logs,
// /api/endpoints, seed 002), behind the access rules of SPEC §5.5: trusted
// networks without API keys, bearer keys scoped to endpoints with them.
// Handlers read the admitted principal with PrincipalFrom.
//
// It is the only package of the module that imports gorilla/mux. Every
// response is JSON, including 404, 405 and recovered panics, in the error
// shape of the route's family; bad input never yields a 500.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooktail/hooktail/aggregator"
)

// Log attribute keys.
const (
	logKeyMethod   = "method"
	logKeyPath     = "path"
	logKeyStatus   = "status"
	logKeyDuration = "duration"
	logKeyRemote   = "remote"
	logKeyError    = "error"
	logKeyStack    = "stack"
)

// Options configures a Server.
type Options struct {
	// Store answers every data route. Required.
	Store aggregator.Store
	// TrustedNetworks may call the data routes (SPEC §5.5: without API
	// keys, every route but /healthz and /readyz is for trusted networks
	// only). nil means loopback only (127.0.0.0/8 and ::1), the safe
	// default for a library; the aggregator passes trusted_networks, whose
	// default (config.DefaultTrustedNetworks) adds the private ranges. An
	// empty non-nil slice trusts nobody.
	TrustedNetworks []netip.Prefix
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Logger receives request logs (Debug) and errors; slog.Default() if nil.
	Logger *slog.Logger
	// Now is the clock used for request timing; time.Now if nil.
	Now func() time.Time
	// Ready reports readiness for /readyz, given the request's context;
	// nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics serves GET /metrics, to trusted networks only (SPEC §5.5);
	// nil leaves the route out (404).
	Metrics http.Handler
	// APIKeys are the api_key blocks. None: every data route is for
	// trusted networks only; some: every data route needs one of them
	// (SPEC §5.5).
	APIKeys []APIKey
	// WebPage, when set, serves the web page: GET / and /ui/..., and GET
	// /logs for a browser (Accept: text/html); nil answers the JSON API to
	// everyone at /logs and leaves the others out. The page is static and
	// holds no data, so it is served before the access check: it reads
	// everything through the data routes, which check access as usual.
	WebPage http.Handler
	// Exports runs the export jobs of /api/exports* (SPEC §5.4); nil
	// leaves those routes out.
	Exports ExportJobs
	// StreamHeartbeat is how often /logs/api/stream writes a comment to
	// an idle stream; zero means DefaultStreamHeartbeat.
	StreamHeartbeat time.Duration
	// StreamPoll is how often an open stream looks for new entries
	// without a signal from the store (Store.Changed); zero means
	// DefaultStreamPoll.
	StreamPoll time.Duration
	// MaxStreams bounds the live tails open at once; one more is a 503.
	// Zero means DefaultMaxStreams.
	MaxStreams int
}

// loopbackNetworks is what a nil Options.TrustedNetworks trusts.
func loopbackNetworks() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Server is the aggregator's HTTP handler. It is safe for concurrent use.
// It is a prometheus.Collector of its request metrics: register it with
// the registry that serves them.
type Server struct {
	store  aggregator.Store
	access atomic.Pointer[accessPolicy]
	// accessMu serialises the writers of access.
	accessMu sync.Mutex
	webPage  http.Handler
	log      *slog.Logger
	now      func() time.Time
	ready    func(context.Context) error
	metrics  http.Handler
	exports  ExportJobs
	router   *mux.Router
	// requests is hooktail_http_request_duration_seconds{route, code}.
	requests *prometheus.HistogramVec
	// streams ends the open /logs/api/stream answers (CloseStreams).
	streams *streamSet
	// streamsOpen is hooktail_http_streams_open.
	streamsOpen prometheus.GaugeFunc
}

var (
	_ http.Handler         = (*Server)(nil)
	_ prometheus.Collector = (*Server)(nil)
)

// New builds a Server. It does no I/O.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("new http api: store is required")
	}
	s := &Server{
		store:    opts.Store,
		log:      opts.Logger,
		now:      opts.Now,
		ready:    opts.Ready,
		metrics:  opts.Metrics,
		webPage:  opts.WebPage,
		exports:  opts.Exports,
		requests: newRequestMetrics(),
		streams:  newStreamSet(opts.StreamHeartbeat, opts.StreamPoll, opts.MaxStreams),
	}
	s.streamsOpen = newStreamsOpen(func() float64 { return float64(s.streams.open.Load()) })
	networks := opts.TrustedNetworks
	if networks == nil {
		networks = loopbackNetworks()
	}
	access, err := newAccessPolicy(networks, opts.TrustedProxies, opts.APIKeys)
	if err != nil {
		return nil, fmt.Errorf("new http api: %w", err)
	}
	s.access.Store(&access)
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "httpapi")
	if s.now == nil {
		s.now = time.Now
	}
	s.router = s.routes()
	return s, nil
}

// SetAccess changes Options.TrustedNetworks and Options.TrustedProxies,
// with the same meaning (nil networks: loopback only), for every request
// from now on; open live tails end, and their clients reconnect under the
// new rules. An invalid prefix changes nothing. Safe for concurrent use.
func (s *Server) SetAccess(networks, proxies []netip.Prefix) error {
	if networks == nil {
		networks = loopbackNetworks()
	}
	s.accessMu.Lock()
	defer s.accessMu.Unlock()
	access, err := newAccessPolicy(networks, proxies, s.access.Load().keys)
	if err != nil {
		return err
	}
	s.access.Store(&access)
	s.streams.accessChanged.Notify()
	return nil
}

// SetAPIKeys replaces Options.APIKeys for every request from now on (a
// SIGHUP reload); open live tails end, and their clients reconnect under
// the new keys. Invalid keys (an unknown role, two keys with one token)
// change nothing. Safe for concurrent use.
func (s *Server) SetAPIKeys(keys []APIKey) error {
	s.accessMu.Lock()
	defer s.accessMu.Unlock()
	cur := s.access.Load()
	access, err := newAccessPolicy(cur.networks, cur.proxies, keys)
	if err != nil {
		return err
	}
	s.access.Store(&access)
	s.streams.accessChanged.Notify()
	return nil
}

// routes registers every route of this milestone.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	r.Use(recordRoute)
	// Cleaning would answer 301 with an empty body; an unclean path is
	// simply not found.
	r.SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)

	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/healthz", s.handleHealthz).Methods(get...)
	r.HandleFunc("/readyz", s.handleReadyz).Methods(get...)
	// Data routes (SPEC §5.5): trusted networks without API keys, a valid
	// key with them; step-logs needs both.
	viewer := guard{fam: familyViewer}
	r.HandleFunc("/logs/api/entries", s.protect(viewer, s.handleEntries)).Methods(get...)
	r.HandleFunc("/logs/api/export", s.protect(viewer, s.handleLogExport)).Methods(get...)
	r.HandleFunc("/logs/api/workflow-steps/{hook_id}", s.protect(viewer, s.handleWorkflowSteps)).Methods(get...)
	r.HandleFunc("/logs/api/step-logs/{hook_id}/{step_name}",
		s.protect(guard{fam: familyViewer, alwaysTrusted: true}, s.handleStepLogs)).Methods(get...)
	r.HandleFunc("/logs/api/pr-flow/{identifier}", s.protect(viewer, s.handlePRFlow)).Methods(get...)
	r.HandleFunc("/logs/api/stream", s.protect(viewer, s.handleStream)).Methods(get...)
	if s.webPage != nil {
		r.Handle("/", s.webPage).Methods(get...)
		r.PathPrefix("/ui/").Handler(s.webPage).Methods(get...)
		r.Handle("/logs", s.webPage).Methods(get...).MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool {
			return wantsHTML(r)
		})
	}
	r.HandleFunc("/logs", s.protect(guard{fam: familyLogs}, s.handleLogs)).Methods(get...)
	api := guard{fam: familyAPI}
	r.HandleFunc("/api/logs", s.protect(api, s.handleDeliveries)).Methods(get...)
	r.HandleFunc("/api/logs/{id}", s.protect(api, s.handleDelivery)).Methods(get...)
	r.HandleFunc("/api/endpoints", s.protect(api, s.handleEndpoints)).Methods(get...)
	if s.exports != nil {
		// Owner keys only; without keys, trusted networks only (SPEC §5.5).
		err := s.RegisterExports(r, ExportOptions{Jobs: s.exports, Guard: s.OwnerOnly,
			Principal: func(r *http.Request) (ExportPrincipal, bool) { return PrincipalFrom(r) }})
		if err != nil {
			panic("BUG: " + err.Error()) // only for nil Jobs or Principal
		}
	}
	if s.metrics != nil {
		r.Handle("/metrics", s.trustedOnly(s.metrics.ServeHTTP)).Methods(get...)
	}
	r.Handle("/openapi.json", s.trustedOnly(serveOpenAPI())).Methods(get...)
	return r
}

// ServeHTTP sets the JSON content type, recovers panics as a 500 JSON answer,
// logs the request at Debug, times it by route template and status, and
// dispatches to the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &statusRecorder{ResponseWriter: w}
	rec.Header().Set("Content-Type", contentTypeJSON)
	route := &matchedRoute{}
	r = r.WithContext(context.WithValue(r.Context(), matchedRouteKey{}, route))
	defer s.observe(route, rec, start) // after the recovery below
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request",
				logKeyMethod, r.Method, logKeyPath, r.URL.Path,
				logKeyError, fmt.Sprint(v), logKeyStack, string(debug.Stack()))
			if !rec.wroteHeader {
				writeDetail(rec, http.StatusInternalServerError, detailInternal)
			}
		}
		s.log.DebugContext(r.Context(), "http request",
			logKeyMethod, r.Method, logKeyPath, r.URL.Path,
			logKeyStatus, rec.status(), logKeyDuration, s.now().Sub(start),
			logKeyRemote, r.RemoteAddr)
	}()
	s.router.ServeHTTP(rec, r)
}

// handleHealthz answers liveness: the process serves HTTP.
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers readiness from Options.Ready. The reason of a failure
// is logged, not returned: the route is open to everyone.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			s.log.WarnContext(r.Context(), "not ready", logKeyError, err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// storeError answers 500 for a failed store call and logs the error; the
// body never carries the error text.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.logStoreError(r, op, err)
	writeDetail(w, http.StatusInternalServerError, detailInternal)
}

// logStoreError logs a failed store call: at Error, or at Debug when the
// client went away (nobody will read the answer).
func (s *Server) logStoreError(r *http.Request, op string, err error) {
	level := slog.LevelError
	if r.Context().Err() != nil {
		// The client went away; nobody will read the answer.
		level = slog.LevelDebug
	}
	s.log.Log(r.Context(), level, "store call failed",
		"op", op, logKeyPath, r.URL.Path, logKeyError, err)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, familyOfPath(r.URL.Path), http.StatusNotFound, "Not Found")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	// Every route of this package is GET (and HEAD).
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, familyOfPath(r.URL.Path), http.StatusMethodNotAllowed, "Method Not Allowed")
}

// familyOfPath is the error family of a path no route matched: /api/*
// answers as the deliveries API does, /logs as seed 003, the rest as
// upstream (FastAPI).
func familyOfPath(path string) family {
	switch {
	case path == "/api" || strings.HasPrefix(path, "/api/"):
		return familyAPI
	case path == "/logs":
		return familyLogs
	default:
		return familyViewer
	}
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code = code
		s.wroteHeader = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	if !s.wroteHeader {
		return http.StatusOK
	}
	return s.code
}

// OwnerOnly wraps an /api/exports* handler with that family's access rule
// (SPEC §5.5): trusted networks without API keys; an owner key with them
// (401 without a valid key, 403 for a viewer), errors as {"error": …}.
// The handler finds the principal with PrincipalFrom.
func (s *Server) OwnerOnly(h http.HandlerFunc) http.HandlerFunc {
	return s.protect(guard{fam: familyAPI, owner: true}, h)
}
