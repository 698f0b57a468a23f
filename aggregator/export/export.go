// Package export runs the export jobs of SPEC §5.4 (seed 001): a request
// names an interval and filters, a background job writes one row per
// delivery to a CSV or JSON Lines file under the data directory, and the
// file is served until it expires.
//
// The package holds the domain of exports (Request, Filter, Job, the
// columns of a row) and the Runner that executes jobs. It does no SQL and
// no HTTP: jobs and deliveries are kept by a Store (implemented by
// aggregator/sqlite) and served by aggregator/httpapi.
//
// Jobs are persisted before they are acknowledged, so they survive a
// restart: a job still processing when the aggregator stops is run again
// from scratch when it starts. Deliveries are read in pages, each page in
// its own short read transaction (keyset pagination on the delivery's
// receive time and hook_id), so an export of any size never holds a read
// transaction for long nor blocks ingest. The export is therefore not one
// snapshot: a delivery is written as it was when its page was read.
package export

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// Errors of the Runner; match them with errors.Is.
var (
	// ErrConflict: the export ID is taken by a job with another request.
	ErrConflict = errors.New("export id already used by another request")
	// ErrBusy: too many jobs are processing; retry later.
	ErrBusy = errors.New("too many exports in progress")
	// ErrNotReady: the job is still processing, its file is not written.
	ErrNotReady = errors.New("export still processing")
	// ErrFailed: the job failed, it has no file.
	ErrFailed = errors.New("export failed")
	// ErrExpired: the job's file expired and was deleted.
	ErrExpired = errors.New("export expired")
	// ErrClosed: the Runner is closed.
	ErrClosed = errors.New("export runner closed")
)

// Format is the file format of an export.
type Format string

// The export formats.
const (
	FormatCSV   Format = "csv"
	FormatJSONL Format = "jsonl"
)

// ContentType is the media type of the format's files.
func (f Format) ContentType() string {
	if f == FormatJSONL {
		return "application/x-ndjson"
	}
	return "text/csv; charset=utf-8"
}

// Ext is the format's file name extension, with its dot.
func (f Format) Ext() string {
	if f == FormatJSONL {
		return ".jsonl"
	}
	return ".csv"
}

// Status is a job's status.
type Status string

// The statuses of a job. Expired is beyond seed 001's three: a completed
// job whose file was deleted after the TTL.
const (
	StatusProcessing Status = "processing"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusExpired    Status = "expired"
)

// ResultState is seed 001's OperationLogStatus: how a delivery ended.
type ResultState string

// The result states (SPEC §4 table).
const (
	ResultCompleted  ResultState = "completed"
	ResultFailed     ResultState = "failed"
	ResultProcessing ResultState = "processing"
)

// ResultStateOf maps a delivery state to seed 001's OperationLogStatus
// (SPEC §4): pending and processing are processing, timeout is failed.
func ResultStateOf(s aggregator.State) ResultState {
	switch s {
	case aggregator.StateCompleted:
		return ResultCompleted
	case aggregator.StateFailed, aggregator.StateTimeout:
		return ResultFailed
	default:
		return ResultProcessing
	}
}

// States returns the delivery states that r stands for.
func (r ResultState) States() []aggregator.State {
	switch r {
	case ResultCompleted:
		return []aggregator.State{aggregator.StateCompleted}
	case ResultFailed:
		return []aggregator.State{aggregator.StateFailed, aggregator.StateTimeout}
	case ResultProcessing:
		return []aggregator.State{aggregator.StatePending, aggregator.StateProcessing}
	}
	return nil
}

// Scope is what the requester may see: every endpoint (All), or only the
// endpoints (source names) listed. The zero Scope sees nothing, so a
// request whose scope was never set exports nothing rather than too much.
type Scope struct {
	All       bool     `json:"all,omitempty"`
	Endpoints []string `json:"endpoints,omitempty"`
}

// Contains reports whether the scope includes the endpoint.
func (s Scope) Contains(endpoint string) bool {
	return s.All || slices.Contains(s.Endpoints, endpoint)
}

// Covers reports whether s sees everything o sees.
func (s Scope) Covers(o Scope) bool {
	if s.All {
		return true
	}
	if o.All {
		return false
	}
	for _, e := range o.Endpoints {
		if !slices.Contains(s.Endpoints, e) {
			return false
		}
	}
	return true
}

// Filter selects the deliveries of an export. Every field narrows.
type Filter struct {
	// Since (inclusive) and Till (exclusive) bound the delivery's
	// receive time; a delivery whose receive time is unknown is in no
	// interval.
	Since time.Time `json:"since"`
	Till  time.Time `json:"till"`
	// ResultState, when set, is the delivery's OperationLogStatus.
	ResultState ResultState `json:"resultState,omitempty"`
	// HasErrors, when set, is the delivery's has_errors.
	HasErrors *bool `json:"hasErrors,omitempty"`
	// Endpoint, when set, is the delivery's source name.
	Endpoint string `json:"endpoint,omitempty"`
	// Operations, when set, lists the event types to include.
	Operations []string `json:"operations,omitempty"`
	// Scope is what the requester may see.
	Scope Scope `json:"scope"`
}

// Services returns the source names a delivery may have to match: nil
// for any, an empty non-nil slice for none.
func (f Filter) Services() []string {
	switch {
	case f.Endpoint != "":
		if f.Scope.Contains(f.Endpoint) {
			return []string{f.Endpoint}
		}
		return []string{}
	case f.Scope.All:
		return nil
	default:
		return append([]string{}, f.Scope.Endpoints...)
	}
}

// Match reports whether the filter selects d (its state and has_errors
// with the timeout rule applied). It is the reference semantics of every
// Store's ExportPage.
func (f Filter) Match(d *aggregator.Delivery) bool {
	if d.ReceivedAt.IsZero() || d.ReceivedAt.Before(f.Since) || !d.ReceivedAt.Before(f.Till) {
		return false
	}
	if f.ResultState != "" && ResultStateOf(d.State) != f.ResultState {
		return false
	}
	if f.HasErrors != nil && d.HasErrors != *f.HasErrors {
		return false
	}
	if len(f.Operations) > 0 && !slices.Contains(f.Operations, d.EventType) {
		return false
	}
	if svc := f.Services(); svc != nil && !slices.Contains(svc, d.Service) {
		return false
	}
	return true
}

// Request is a validated export request: the job's identity and what it
// exports. ParseRequest builds one from seed 001's JSON body.
type Request struct {
	// ID is the export ID; Runner.Submit generates a UUID when empty.
	ID     string `json:"exportId"`
	Format Format `json:"format"`
	Filter Filter `json:"filter"`
}

// Job is an export job.
type Job struct {
	ID      string
	Request Request
	// Hash identifies what the job exports (Request.Hash): a request that
	// reuses the ID with another hash is a conflict.
	Hash string
	// Owner is the name of the API key that created the job ("" without
	// keys); informational.
	Owner  string
	Status Status
	// RowCount is the number of rows written: all of them once completed,
	// so far while processing (Runner.Job).
	RowCount int64
	// File is the file's name in the Runner's directory, once completed.
	File      string
	CreatedAt time.Time
	// CompletedAt is when the job completed or failed; zero before.
	CompletedAt time.Time
	// ExpiresAt is when the file (or the failure) expires; zero before
	// completion.
	ExpiresAt time.Time
	// Error tells why a failed job failed; it names no path and no other
	// endpoint's data.
	Error string
}

// JobQuery selects jobs. Zero fields match every job.
type JobQuery struct {
	// Statuses matches any of them.
	Statuses []Status
	// ExpiresBy, when set, matches jobs with an ExpiresAt at or before it.
	ExpiresBy time.Time
	// Limit bounds the answer; zero or less is no limit.
	Limit int
}

// Cursor is a position in the export order of deliveries: by receive
// time, then hook_id. The zero Cursor is the start.
type Cursor struct {
	ReceivedAt time.Time
	HookID     string
}

// IsZero reports whether c is the start.
func (c Cursor) IsZero() bool { return c.ReceivedAt.IsZero() && c.HookID == "" }

// After reports whether c lies strictly after o in the export order.
func (c Cursor) After(o Cursor) bool {
	if o.IsZero() {
		return !c.IsZero()
	}
	if !c.ReceivedAt.Equal(o.ReceivedAt) {
		return c.ReceivedAt.After(o.ReceivedAt)
	}
	return c.HookID > o.HookID
}

// PageQuery asks a Store for the next page of an export.
type PageQuery struct {
	Filter Filter
	// After is where the previous page ended.
	After Cursor
	// Limit is the most deliveries the page examines (and so returns).
	Limit int
}

// Page is one page of an export.
type Page struct {
	// Rows are the matching deliveries, in export order.
	Rows []Row
	// Next is the position of the last delivery examined, matching or
	// not: the next page starts after it.
	Next Cursor
	// Done is set when no delivery is left after Next.
	Done bool
}

// Row is one delivery of an export.
type Row struct {
	// Delivery is the latest attempt of one hook_id, with the timeout
	// rule applied.
	Delivery aggregator.Delivery
	// LastError is the error of the attempt's latest ERROR or CRITICAL
	// entry, the fallback for OperationLogErrorMessages when the delivery
	// has errors but no error of its own (it completed).
	LastError *aggregator.ErrorInfo
}

// Store keeps jobs and reads the deliveries they export. Implementations
// must be safe for concurrent use.
type Store interface {
	// CreateExport stores j unless a job with its ID exists; it returns
	// the stored job and whether it was created.
	CreateExport(ctx context.Context, j Job) (Job, bool, error)
	// ExportJob returns one job; aggregator.ErrNotFound if unknown.
	ExportJob(ctx context.Context, id string) (Job, error)
	// ExportJobs returns the jobs q selects, oldest first.
	ExportJobs(ctx context.Context, q JobQuery) ([]Job, error)
	// UpdateExport stores j's status, row count, file, completion,
	// expiry and error, if the stored job's status is still from;
	// aggregator.ErrNotFound otherwise.
	UpdateExport(ctx context.Context, j Job, from Status) error
	// DeleteExports deletes the jobs q selects and returns their number.
	DeleteExports(ctx context.Context, q JobQuery) (int64, error)
	// ExportPage returns the next page of deliveries of an export, read in
	// one short read transaction: the latest attempt of each hook_id that
	// Filter.Match selects, in export order (Cursor), after q.After.
	ExportPage(ctx context.Context, q PageQuery) (Page, error)
}
