// Package plugins is the parser plugin SDK: the Parser interface every parser
// implements, the records it is handed and the entries it returns. Built-in
// parsers run in-process; external ones run over hashicorp/go-plugin gRPC
// with the same interface (SPEC §7).
//
// An external plugin's main is one call, plugins.Serve(myParser). The agent
// starts it from a plugin block (agent/pluginhost), checks the handshake
// (HandshakeConfig: magic cookie and ProtocolVersion), and talks to it
// through GRPCPlugin, which checks every answer where it enters the agent:
// one entry per record (else ErrContract), and an entry that cannot be
// shipped (CheckEntry) replaced by its record, raw (RawEntry). Package
// plugintest is the contract suite every parser passes, in-process and
// over gRPC.
package plugins

import (
	"context"
	"encoding/json"
	"time"
)

// ProtocolVersion is the parser plugin protocol spoken by this SDK. It is
// bumped on every breaking change of proto/hooktail/v1/parser.proto.
const ProtocolVersion = 1

// Record is one framed log record: a first line that matched the parser's
// start rule plus the continuation lines that followed it.
type Record struct {
	// Data is the record's lines joined by '\n', without the final newline.
	// Parsers must not retain it after Parse returns.
	Data []byte
	// File is the path the record was read from.
	File string
	// Offset is the byte offset of the record in File.
	Offset int64
}

// ParseRequest is one batch of records of one source.
type ParseRequest struct {
	Records []Record
	// Location applies to timestamps written without an offset.
	Location *time.Location
}

// Kind tells an ordinary log entry from a record that only describes a
// delivery.
type Kind int

const (
	// KindLog is a log record, stored as an entry.
	KindLog Kind = iota
	// KindDeliverySummary feeds a delivery and its steps but is not stored
	// as an entry (the JSONL webhook_summary).
	KindDeliverySummary
)

// Entry is what a parser makes of one record. Identity (source,
// fingerprint, offset) is added by the agent.
type Entry struct {
	// TimestampUS is the event time in Unix microseconds, UTC; 0 if unknown.
	TimestampUS int64
	// TimestampRaw is the timestamp exactly as written.
	TimestampRaw string

	Level      string
	LoggerName string
	// Message is ANSI stripped with the webhook prefix removed; continuation
	// and traceback lines are kept.
	Message    string
	HookID     string
	EventType  string
	Repository string
	// PRNumber is 0 when the record names no pull request.
	PRNumber int64
	// GithubUser is the API user of the webhook prefix.
	GithubUser string
	TaskID     string
	TaskType   string
	TaskStatus string
	// TokenSpend is nil when the record carries none.
	TokenSpend *int64
	// Step is set only from an explicit step marker.
	Step string
	// ExcInfo is a traceback carried apart from the message.
	ExcInfo string

	// ParseError marks a record that could not be parsed; Message holds it
	// as read.
	ParseError bool
	// Truncated marks a record cut at the source's max_record_bytes.
	Truncated bool
	// Details holds any other structured fields as a JSON object.
	Details json.RawMessage

	Kind Kind
	// Completion is set when the record reports the end of a delivery.
	Completion *Completion
	// DedupeKey identifies the text and JSONL copies of one record; see
	// DedupeKey.
	DedupeKey uint64
}

// Completion describes how a delivery ended.
type Completion struct {
	// Status is success, partial or failed.
	Status     string
	DurationMS *int64
	PRNumber   int64
	TokenSpend *int64
	Steps      []Step

	// Fields only the JSONL summary carries.
	Action             string
	Sender             string
	RepositoryFullName string
	PRTitle            string
	APIUser            string
	StartedAtUS        int64
	CompletedAtUS      int64
	Error              *ErrorInfo
}

// Step is one workflow step of a delivery.
type Step struct {
	Name string
	// Status is started, processing, completed, failed or skipped.
	Status string
	// StartedAtUS is 0 when unknown.
	StartedAtUS int64
	DurationMS  *int64
	Error       *ErrorInfo
	Details     json.RawMessage
}

// ErrorInfo is an error with its traceback.
type ErrorInfo struct {
	Type      string
	Message   string
	Traceback string
}

// Description is what a parser says about itself.
type Description struct {
	Name string
	// StartPattern is an RE2 pattern that a record's first line matches.
	// Empty means every line is a record of its own.
	StartPattern string
	// LinePerRecordFiles are base-name globs (path.Match syntax, e.g.
	// "webhooks_*.json") of files in which every line is one record, JSON
	// lines typically, whatever StartPattern says. A source may tail such
	// files next to multi-line text logs, and a line of JSON inside a
	// traceback must never start a record of the text log.
	LinePerRecordFiles []string
}

// Severity of a Diagnostic.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem with a parser's configuration.
type Diagnostic struct {
	Severity Severity
	Summary  string
	Detail   string
	// Attribute names the config key the diagnostic is about, if any.
	Attribute string
}

// Diagnostics is a list of Diagnostic.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Parser turns framed records into entries. Implementations must be safe for
// concurrent use once configured.
type Parser interface {
	// Describe names the parser and its record start rule.
	Describe(ctx context.Context) (Description, error)
	// ValidateConfig checks a configuration (a JSON object) without applying it.
	ValidateConfig(ctx context.Context, config json.RawMessage) (Diagnostics, error)
	// Configure applies a configuration (a JSON object). It is called once,
	// before the first Parse.
	Configure(ctx context.Context, config json.RawMessage) (Diagnostics, error)
	// Parse appends exactly one entry per record of req, in order, to dst and
	// returns the extended slice. A record that cannot be parsed yields an
	// entry with ParseError set, never an error: the error return is for a
	// parser that cannot work at all.
	Parse(ctx context.Context, req *ParseRequest, dst []Entry) ([]Entry, error)
}

// RecordStarter is implemented by in-process parsers that tell a record's
// first line faster than their StartPattern would.
type RecordStarter interface {
	IsRecordStart(line []byte) bool
}
