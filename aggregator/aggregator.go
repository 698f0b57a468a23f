// Package aggregator is the aggregator's domain: the entries agents ship, the
// deliveries and steps derived from them, and the Store that keeps them. The
// SQLite implementation lives in aggregator/sqlite, the HTTP API in
// aggregator/httpapi and the gRPC ingest server in aggregator/ingest.
package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNotFound is returned by a Store when the thing asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalidEntry matches (errors.Is) every InvalidEntryError: a batch that
// no store can ever accept as it is, so that retrying it cannot help.
var ErrInvalidEntry = errors.New("invalid entry")

// ErrStorageFull matches (errors.Is) a Store error caused by a full disk or
// a database at its size limit. Nothing of the failed call was stored, reads
// keep working, and the same call succeeds once space is freed: retrying is
// right, but it needs an operator (or retention) to free space.
var ErrStorageFull = errors.New("storage full")

// ErrStorageIO matches (errors.Is) a Store error caused by an I/O error of
// the storage underneath. Nothing of the failed call was stored; retrying
// may succeed.
var ErrStorageIO = errors.New("storage i/o error")

// InvalidEntryError is returned by Store.Ingest when an entry of the batch
// cannot be stored, deterministically (an encoding error, a value out of
// range): the same batch fails the same way every time. Every other Ingest
// error is worth retrying.
type InvalidEntryError struct {
	// Index is the entry's position in Batch.Entries; when the failure
	// belongs to a delivery derived from several entries, the position of
	// the batch's first entry of that delivery. -1 when unknown.
	Index int
	Err   error
}

func (e *InvalidEntryError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("invalid entry in batch: %v", e.Err)
	}
	return fmt.Sprintf("invalid entry %d of batch: %v", e.Index, e.Err)
}

func (e *InvalidEntryError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidEntry) hold.
func (e *InvalidEntryError) Is(target error) bool { return target == ErrInvalidEntry }

// Entry is one stored log record (SPEC §4).
type Entry struct {
	// ID is assigned by the store.
	ID int64

	// Identity: unique per record ever read.
	Source      string
	Fingerprint uint64
	Offset      int64
	File        string
	AgentID     string

	// Timestamp is UTC with microsecond precision; zero if unknown.
	Timestamp    time.Time
	TimestampRaw string

	Level      string
	LoggerName string
	Message    string
	HookID     string
	EventType  string
	Repository string
	// PRNumber is 0 when unknown.
	PRNumber   int64
	GithubUser string
	TaskID     string
	TaskType   string
	TaskStatus string
	TokenSpend *int64
	Step       string
	ExcInfo    string
	// Attempt is the delivery attempt the entry belongs to (1-based); 0 for
	// entries without a hook_id. Assigned by the store.
	Attempt int

	ParseError bool
	Truncated  bool
	Details    json.RawMessage

	// Summary marks a record that only describes a delivery (the JSONL
	// webhook_summary): it feeds the delivery and is not stored as an entry.
	Summary    bool
	Completion *Completion
	DedupeKey  uint64
}

// Completion describes how a delivery attempt ended, as a record reported it.
type Completion struct {
	// Status is success, partial or failed (upstream's words).
	Status             string
	DurationMS         *int64
	PRNumber           int64
	TokenSpend         *int64
	Steps              []Step
	Action             string
	Sender             string
	RepositoryFullName string
	PRTitle            string
	APIUser            string
	StartedAt          time.Time
	CompletedAt        time.Time
	Error              *ErrorInfo
}

// ErrorInfo is an error with its traceback.
type ErrorInfo struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
}

// Batch is what one agent pushes at once.
type Batch struct {
	AgentID string
	Entries []Entry
}

// IngestResult counts what a batch did.
type IngestResult struct {
	Stored     int
	Duplicates int
}

// State is a delivery's state (SPEC §4).
type State string

const (
	StatePending    State = "pending"
	StateProcessing State = "processing"
	StateCompleted  State = "completed"
	StateFailed     State = "failed"
	StateTimeout    State = "timeout"
)

// StepSource tells where a step's facts came from, most trusted first.
type StepSource int

const (
	StepFromSummaryText StepSource = iota + 1 // the text "[SUCCESS] Webhook completed" line
	StepFromMarkers                           // legacy [task_*] markers
	StepFromSummaryJSON                       // JSONL webhook_summary
)

// Step is one workflow step of a delivery attempt.
type Step struct {
	Name string
	// Status is started, processing, completed, failed or skipped.
	Status string
	// StartedAt is zero when unknown (text summary steps carry durations only).
	StartedAt  time.Time
	DurationMS *int64
	Error      *ErrorInfo
	Details    json.RawMessage
	Source     StepSource
	// Order is the step's position in its attempt (insertion order upstream).
	Order int
}

// Delivery is one attempt at processing one webhook delivery (hook_id).
type Delivery struct {
	HookID  string
	Attempt int
	Service string
	State   State
	// Status is upstream's success|partial|failed, empty until completion.
	Status             string
	EventType          string
	Action             string
	Repository         string
	RepositoryFullName string
	PRNumber           int64
	PRTitle            string
	Sender             string
	APIUser            string
	HasErrors          bool
	Error              *ErrorInfo
	ReceivedAt         time.Time
	CompletedAt        time.Time
	DurationMS         *int64
	TokenSpend         *int64
	// FirstEntryAt and LastEntryAt bound the attempt's entries.
	FirstEntryAt time.Time
	LastEntryAt  time.Time
	EntryCount   int64
	ErrorCount   int64
	Steps        []Step
	// Attempts lists every attempt of the hook_id, oldest first (without
	// their steps); filled by Store.Delivery.
	Attempts []AttemptSummary
}

// AttemptSummary is a short form of one attempt.
type AttemptSummary struct {
	Attempt     int
	State       State
	ReceivedAt  time.Time
	CompletedAt time.Time
}

// Order of a list.
type Order int

const (
	NewestFirst Order = iota
	OldestFirst
)

// EntryFilter selects entries. Zero fields match everything.
type EntryFilter struct {
	HookID     string
	Attempt    int
	Repository string
	EventType  string
	GithubUser string
	Step       string
	// Levels matches any of them (aliases already expanded).
	Levels   []string
	PRNumber int64
	// Since and Until bound the timestamp, both inclusive.
	Since time.Time
	Until time.Time
	// Search matches words of the message: each unquoted word as the start
	// of a word (`merge` finds `merged`), "quoted words" as a phrase, case
	// and accents ignored, everything else a separator (see
	// aggregator/sqlite/search.go).
	Search string
	// Services restricts to these sources (nil: all).
	Services []string
}

// EntryQuery is one page of entries.
type EntryQuery struct {
	Filter EntryFilter
	Limit  int
	Offset int
	Order  Order
}

// EntryPage is the answer to an EntryQuery.
type EntryPage struct {
	Entries []Entry
	// Total counts every entry that matches the filter.
	Total int64
}

// DeliveryFilter selects deliveries: the latest attempt of each hook_id.
// Zero fields match everything.
type DeliveryFilter struct {
	// Services restricts to these sources (nil: all).
	Services   []string
	Repository string
	// EventTypes matches any of them.
	EventTypes []string
	// States matches any of them.
	States []State
	// HasErrors, when set, matches deliveries whose HasErrors equals it.
	HasErrors *bool
	PRNumber  int64
	// Since (inclusive) and Until (exclusive) bound ReceivedAt.
	Since time.Time
	Until time.Time
	// Search matches words of the delivery's entries' messages, as
	// EntryFilter.Search does.
	Search string
}

// DeliveryQuery is one page of deliveries, newest ReceivedAt first.
type DeliveryQuery struct {
	Filter DeliveryFilter
	Limit  int
	Offset int
}

// DeliveryPage is the answer to a DeliveryQuery.
type DeliveryPage struct {
	// Deliveries carry their steps; Attempts is left empty.
	Deliveries []Delivery
	// Total counts every delivery that matches the filter.
	Total int64
}

// Store keeps entries and the deliveries derived from them. Implementations
// must be safe for concurrent use.
type Store interface {
	// Ingest stores a batch atomically. An entry whose identity is already
	// stored is counted as a duplicate and changes nothing. A time outside
	// years 1..9999 UTC is stored as unknown (KnownTime). An error that
	// retrying the same batch cannot fix is an *InvalidEntryError.
	Ingest(ctx context.Context, b *Batch) (IngestResult, error)
	// Entries returns one page of entries.
	Entries(ctx context.Context, q EntryQuery) (EntryPage, error)
	// Delivery returns the latest attempt of hookID with its steps and the
	// list of attempts; ErrNotFound if the hook_id is unknown.
	Delivery(ctx context.Context, hookID string) (*Delivery, error)
	// Deliveries returns one page of deliveries.
	Deliveries(ctx context.Context, q DeliveryQuery) (DeliveryPage, error)
	// Services lists the source names (endpoints) that have stored
	// entries, sorted.
	Services(ctx context.Context) ([]string, error)
	// Tail returns the entries past q.AfterID in ID order (a live tail).
	// IDs grow in commit order, so a tail that always continues from the
	// previous page's LastID misses nothing and repeats nothing.
	Tail(ctx context.Context, q TailQuery) (TailPage, error)
	// LastID returns the largest stored entry ID; 0 when there is none.
	LastID(ctx context.Context) (int64, error)
	// Changed returns a channel that is closed once an Ingest that stored
	// or changed at least one entry has committed after the call. Take
	// it before reading, so that no change between the read and the wait
	// goes unnoticed.
	Changed() <-chan struct{}
	// Filled returns a channel that is closed once an Ingest has
	// committed after the call that completed a stored entry from its
	// copy (a text line getting its hook_id from its JSONL copy: the
	// entry keeps its ID, but may now match filters it did not). Take it
	// before reading, as Changed.
	Filled() <-chan struct{}
	// Close releases the store.
	Close() error
}

// TailQuery asks for the entries stored after a point, in ID order: the
// catch-up and the live part of a live tail.
type TailQuery struct {
	Filter EntryFilter
	// AfterID: only entries with a larger ID.
	AfterID int64
	// Limit bounds the entries of the page; zero or less means the
	// store's default.
	Limit int
	// Newest asks for the Limit matching entries with the largest IDs
	// (the backlog of a tail) rather than the smallest; they are still
	// returned in ascending ID order and More is false.
	Newest bool
}

// TailPage is the answer to a TailQuery.
type TailPage struct {
	// Entries match the filter, in ascending ID order.
	Entries []Entry
	// LastID is the AfterID of the next query: every matching entry with
	// AfterID < ID <= LastID is in Entries (except, with Newest, those
	// older than the page). It is smaller than AfterID only when the
	// store's largest ID went back (entries deleted): then it is that ID.
	LastID int64
	// More reports that entries past LastID may be stored already: ask
	// again at once rather than wait for Changed.
	More bool
}

// Broadcast wakes every waiter at once: Wait returns a channel that the
// next Notify closes. The zero value is ready to use; it is safe for
// concurrent use and costs one lock per call.
type Broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel closed by the next Notify.
func (b *Broadcast) Wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// Notify closes the channel every Wait since the previous Notify returned.
func (b *Broadcast) Notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
