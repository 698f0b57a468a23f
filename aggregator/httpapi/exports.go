package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/export"
)

// The export job routes (SPEC §5.4, seed 001):
//
//	POST /api/exports                    create a job (202), or find it again (200)
//	GET  /api/exports/{exportId}         the job's status
//	GET  /api/exports/{exportId}/file    the file (409 processing, 410 expired)
//
// Access (SPEC §5.5): without API keys, trusted networks only; with keys,
// an owner key (403 for a viewer). The access check itself is
// ExportOptions.Guard. Who a request is served for decides what it sees:
// a job exports only the endpoints its creator may see (its scope is
// recorded in the job), and a key sees a job only if it may see every
// endpoint the job exports: an unrestricted job is seen only by keys that
// see every endpoint. A job a key may not see is "not found". Without
// keys every trusted client sees every job.

// maxExportBody bounds the body of POST /api/exports.
const maxExportBody = 64 << 10

// Messages of the export routes ({"error": …}).
const (
	exportNotFound         = "Export not found"
	exportForbiddenNetwork = "Access denied: this endpoint is restricted to trusted networks"
	exportForbiddenOwner   = "Forbidden: exports need an owner API key"
	exportInternal         = "Internal server error"
)

// ExportPrincipal is who an export request is served for: the API key
// the access check admitted, or, without keys, a trusted-network client
// (an owner that sees every endpoint). Principal of this package
// satisfies it.
type ExportPrincipal interface {
	// Name is the API key's name ("" without keys), recorded as the
	// job's owner.
	Name() string
	// Owner reports whether the principal may export.
	Owner() bool
	// CanSee reports whether the principal may see the endpoint (source
	// name).
	CanSee(endpoint string) bool
	// Services lists the endpoints the principal may see, or all=true
	// for every endpoint.
	Services() (endpoints []string, all bool)
}

// ExportJobs runs export jobs; *export.Runner implements it.
type ExportJobs interface {
	Submit(ctx context.Context, req export.Request, owner string) (export.Job, bool, error)
	Job(ctx context.Context, id string) (export.Job, error)
	Open(ctx context.Context, id string) (*export.File, error)
}

var _ ExportJobs = (*export.Runner)(nil)

// ExportOptions configure the export routes.
type ExportOptions struct {
	// Jobs runs the jobs. Required.
	Jobs ExportJobs
	// Guard wraps each export handler with the access check of
	// /api/exports* (SPEC §5.5), answering 401/403 itself. nil admits
	// trusted networks only (the rule without API keys) and serves every
	// request as an owner that sees every endpoint.
	Guard func(http.HandlerFunc) http.HandlerFunc
	// Principal returns who Guard admitted the request for. Required
	// with a Guard; a request it returns no principal for is refused
	// (403).
	Principal func(r *http.Request) (ExportPrincipal, bool)
}

// RegisterExports adds the export job routes to r.
func (s *Server) RegisterExports(r *mux.Router, opts ExportOptions) error {
	if opts.Jobs == nil {
		return errors.New("register export routes: jobs are required")
	}
	if opts.Guard != nil && opts.Principal == nil {
		return errors.New("register export routes: a guard needs a principal function")
	}
	h := &exportHandlers{s: s, jobs: opts.Jobs, principal: opts.Principal}
	guard := opts.Guard
	if guard == nil {
		guard = s.exportsTrustedOnly
		h.principal = func(*http.Request) (ExportPrincipal, bool) { return exportAllSeeingOwner{}, true }
	}
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/api/exports", guard(h.create)).Methods(http.MethodPost)
	r.HandleFunc("/api/exports", exportMethodNotAllowed("POST"))
	r.HandleFunc("/api/exports/{exportId}", guard(h.status)).Methods(get...)
	r.HandleFunc("/api/exports/{exportId}", exportMethodNotAllowed("GET, HEAD"))
	r.HandleFunc("/api/exports/{exportId}/file", guard(h.file)).Methods(get...)
	r.HandleFunc("/api/exports/{exportId}/file", exportMethodNotAllowed("GET, HEAD"))
	return nil
}

// exportsTrustedOnly admits trusted networks only, answering 403 in the
// family's shape.
func (s *Server) exportsTrustedOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.access.Load().trusted(r) {
			writeExportError(w, http.StatusForbidden, exportForbiddenNetwork)
			return
		}
		h(w, r)
	}
}

func exportMethodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		writeExportError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

// exportAllSeeingOwner is the principal of a trusted-network client without
// API keys.
type exportAllSeeingOwner struct{}

func (exportAllSeeingOwner) Name() string               { return "" }
func (exportAllSeeingOwner) Owner() bool                { return true }
func (exportAllSeeingOwner) CanSee(string) bool         { return true }
func (exportAllSeeingOwner) Services() ([]string, bool) { return nil, true }

func writeExportError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, exportError{Error: msg})
}

// exportError is the export routes' error body.
type exportError struct {
	Error string `json:"error"`
}

type exportHandlers struct {
	s         *Server
	jobs      ExportJobs
	principal func(r *http.Request) (ExportPrincipal, bool)
}

// exportScopeOf is what p may see.
func exportScopeOf(p ExportPrincipal) export.Scope {
	endpoints, all := p.Services()
	if all {
		return export.Scope{All: true}
	}
	return export.Scope{Endpoints: append([]string{}, endpoints...)}
}

// visible reports whether p may see job: every endpoint it exports.
func exportVisible(p ExportPrincipal, job *export.Job) bool {
	f := job.Request.Filter
	exported := f.Scope
	if f.Endpoint != "" {
		exported = export.Scope{Endpoints: []string{f.Endpoint}}
	}
	return exportScopeOf(p).Covers(exported)
}

// who returns the request's principal, answering 403 when there is none
// or it may not export.
func (h *exportHandlers) who(w http.ResponseWriter, r *http.Request) (ExportPrincipal, bool) {
	p, ok := h.principal(r)
	if !ok || p == nil || !p.Owner() {
		writeExportError(w, http.StatusForbidden, exportForbiddenOwner)
		return nil, false
	}
	return p, true
}

// exportJobJSON is a job as seed 001's status answer: times RFC 3339 UTC,
// null until known; url (relative) only while the file can be fetched.
type exportJobJSON struct {
	ExportID    string  `json:"exportId"`
	Status      string  `json:"status"`
	RowCount    int64   `json:"rowCount"`
	CreatedAt   *string `json:"createdAt"`
	CompletedAt *string `json:"completedAt"`
	ExpiresAt   *string `json:"expiresAt"`
	URL         *string `json:"url"`
	Error       *string `json:"error"`
}

// exportTime is a job time as the export routes write it; null if zero.
func exportTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := export.FormatTime(t)
	return &v
}

func newExportJobJSON(j *export.Job) exportJobJSON {
	out := exportJobJSON{
		ExportID:    j.ID,
		Status:      string(j.Status),
		RowCount:    j.RowCount,
		CreatedAt:   exportTime(j.CreatedAt),
		CompletedAt: exportTime(j.CompletedAt),
		ExpiresAt:   exportTime(j.ExpiresAt),
		Error:       strOrNil(j.Error),
	}
	if j.Status == export.StatusCompleted {
		u := exportFileURL(j.ID)
		out.URL = &u
	}
	return out
}

func exportFileURL(id string) string {
	return "/api/exports/" + url.PathEscape(id) + "/file"
}

// create answers POST /api/exports: 202 {exportId, status} for a new job,
// 200 and the job's status for a request that repeats an existing job's
// (same exportId, same request), 409 for another request with a taken
// exportId, 400 for a bad body, 413 for a body over 64 KiB, 403 for an
// endpoint the key may not see, 503 when too many jobs are processing.
func (h *exportHandlers) create(w http.ResponseWriter, r *http.Request) {
	p, ok := h.who(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxExportBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeExportError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("Request body too large: at most %d bytes", maxExportBody))
			return
		}
		writeExportError(w, http.StatusBadRequest, "Could not read the request body")
		return
	}
	req, err := export.ParseRequest(body)
	if err != nil {
		writeExportError(w, http.StatusBadRequest, err.Error())
		return
	}
	if ep := req.Filter.Endpoint; ep != "" && !p.CanSee(ep) {
		writeExportError(w, http.StatusForbidden, fmt.Sprintf("This API key may not export endpoint %q", ep))
		return
	}
	req.Filter.Scope = exportScopeOf(p)
	job, created, err := h.jobs.Submit(r.Context(), req, p.Name())
	var reqErr *export.RequestError
	switch {
	case err == nil:
	case errors.As(err, &reqErr):
		writeExportError(w, http.StatusBadRequest, reqErr.Error())
		return
	case errors.Is(err, export.ErrConflict):
		writeExportError(w, http.StatusConflict, exportConflictMessage(req.ID))
		return
	case errors.Is(err, export.ErrBusy), errors.Is(err, export.ErrClosed):
		w.Header().Set("Retry-After", "60")
		writeExportError(w, http.StatusServiceUnavailable, "Too many exports in progress; retry later")
		return
	default:
		h.internal(w, r, "submit export", err)
		return
	}
	if !created && !exportVisible(p, &job) {
		writeExportError(w, http.StatusConflict, exportConflictMessage(job.ID))
		return
	}
	if created {
		w.Header().Set("Location", "/api/exports/"+url.PathEscape(job.ID))
		writeJSON(w, http.StatusAccepted, struct {
			ExportID string `json:"exportId"`
			Status   string `json:"status"`
		}{job.ID, string(job.Status)})
		return
	}
	writeJSON(w, http.StatusOK, newExportJobJSON(&job))
}

func exportConflictMessage(id string) string {
	return fmt.Sprintf("exportId %q is already used by an export with another request", id)
}

// job loads the path's job, answering 404 for an unknown one, one p may
// not see, or an ID that cannot be one.
func (h *exportHandlers) job(w http.ResponseWriter, r *http.Request, p ExportPrincipal) (export.Job, bool) {
	id := mux.Vars(r)["exportId"]
	if export.ValidateID(id) != nil {
		writeExportError(w, http.StatusNotFound, exportNotFound)
		return export.Job{}, false
	}
	job, err := h.jobs.Job(r.Context(), id)
	if errors.Is(err, aggregator.ErrNotFound) || (err == nil && !exportVisible(p, &job)) {
		writeExportError(w, http.StatusNotFound, exportNotFound)
		return export.Job{}, false
	}
	if err != nil {
		h.internal(w, r, "load export", err)
		return export.Job{}, false
	}
	return job, true
}

// status answers GET /api/exports/{exportId}.
func (h *exportHandlers) status(w http.ResponseWriter, r *http.Request) {
	p, ok := h.who(w, r)
	if !ok {
		return
	}
	job, ok := h.job(w, r, p)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, newExportJobJSON(&job))
}

// file answers GET /api/exports/{exportId}/file: the file as an
// attachment (ranges and conditional requests honoured), 409 while the
// job is processing or when it failed, 410 once it expired.
func (h *exportHandlers) file(w http.ResponseWriter, r *http.Request) {
	p, ok := h.who(w, r)
	if !ok {
		return
	}
	job, ok := h.job(w, r, p)
	if !ok {
		return
	}
	f, err := h.jobs.Open(r.Context(), job.ID)
	switch {
	case err == nil:
	case errors.Is(err, export.ErrNotReady):
		w.Header().Set("Retry-After", "5")
		writeExportError(w, http.StatusConflict, "Export is still processing")
		return
	case errors.Is(err, export.ErrFailed):
		writeExportError(w, http.StatusConflict, "Export failed and has no file")
		return
	case errors.Is(err, export.ErrExpired):
		writeExportError(w, http.StatusGone, "Export expired")
		return
	case errors.Is(err, aggregator.ErrNotFound):
		writeExportError(w, http.StatusNotFound, exportNotFound)
		return
	default:
		h.internal(w, r, "open export file", err)
		return
	}
	defer f.Content.Close()
	format := f.Job.Request.Format
	hdr := w.Header()
	hdr.Set("Content-Type", format.ContentType())
	hdr.Set("Content-Disposition", mime.FormatMediaType("attachment",
		map[string]string{"filename": "export-" + f.Job.ID + format.Ext()}))
	hdr.Set("Cache-Control", "private, no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Export-Row-Count", strconv.FormatInt(f.Job.RowCount, 10))
	http.ServeContent(w, r, "", f.Job.CompletedAt, f.Content)
}

// internal answers 500 for a failed call and logs it; the body never
// carries the error.
func (h *exportHandlers) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	level := slog.LevelError
	if r.Context().Err() != nil {
		// The client went away; nobody will read the answer.
		level = slog.LevelDebug
	}
	h.s.log.Log(r.Context(), level, "export call failed", "op", op, logKeyPath, r.URL.Path, logKeyError, err)
	writeExportError(w, http.StatusInternalServerError, exportInternal)
}
