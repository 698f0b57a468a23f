package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// logEntry is upstream's LogEntry.to_dict() — its 13 keys always present,
// null when unknown — followed by hooktail's own keys (SPEC §5.1).
type logEntry struct {
	Timestamp  *string `json:"timestamp"`
	Level      *string `json:"level"`
	LoggerName *string `json:"logger_name"`
	Message    string  `json:"message"`
	HookID     *string `json:"hook_id"`
	EventType  *string `json:"event_type"`
	Repository *string `json:"repository"`
	PRNumber   *int64  `json:"pr_number"`
	GithubUser *string `json:"github_user"`
	TaskID     *string `json:"task_id"`
	TaskType   *string `json:"task_type"`
	TaskStatus *string `json:"task_status"`
	TokenSpend *int64  `json:"token_spend"`

	Step       *string         `json:"step"`
	Service    *string         `json:"service"`
	Attempt    *int            `json:"attempt"`
	ExcInfo    *string         `json:"exc_info"`
	File       *string         `json:"file"`
	Offset     int64           `json:"offset"`
	ParseError bool            `json:"parse_error"`
	Truncated  bool            `json:"truncated"`
	Details    json.RawMessage `json:"details"`
	ID         int64           `json:"id"`
}

// newLogEntry converts a stored entry to its wire form.
func newLogEntry(e *aggregator.Entry) logEntry {
	out := logEntry{
		Timestamp:  isoOrNil(e.Timestamp),
		Level:      strOrNil(e.Level),
		LoggerName: strOrNil(e.LoggerName),
		Message:    e.Message,
		HookID:     strOrNil(e.HookID),
		EventType:  strOrNil(e.EventType),
		Repository: strOrNil(e.Repository),
		GithubUser: strOrNil(e.GithubUser),
		TaskID:     strOrNil(e.TaskID),
		TaskType:   strOrNil(e.TaskType),
		TaskStatus: strOrNil(e.TaskStatus),
		TokenSpend: e.TokenSpend,
		Step:       strOrNil(e.Step),
		Service:    strOrNil(e.Source),
		ExcInfo:    strOrNil(e.ExcInfo),
		File:       strOrNil(e.File),
		Offset:     e.Offset,
		ParseError: e.ParseError,
		Truncated:  e.Truncated,
		Details:    rawOrNil(e.Details),
		ID:         e.ID,
	}
	if e.PRNumber != 0 {
		pr := e.PRNumber
		out.PRNumber = &pr
	}
	if e.Attempt != 0 {
		a := e.Attempt
		out.Attempt = &a
	}
	return out
}

// rawOrNil returns valid JSON as is, nothing as null, and anything else as
// a JSON string, so one bad record cannot break a whole response.
func rawOrNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

// levelsFor expands a level filter with its aliases; levels are matched
// exactly as written.
func levelsFor(level string) []string {
	switch level {
	case "":
		return nil
	case "WARN", "WARNING":
		return []string{"WARNING", "WARN"}
	case "FATAL", "CRITICAL":
		return []string{"CRITICAL", "FATAL"}
	default:
		return []string{level}
	}
}

// viewerFilter is the entry filter of the webhook-server family's query
// parameters (hook_id pr_number repository event_type github_user level
// search; pr is pr_number, read by the caller with its other integers),
// scoped to the endpoints the request's principal may see. none is true
// when nothing can match: a key without endpoints, or a PR number of 0, a
// negative one or one beyond int64 (stored entries have positive PR
// numbers or none).
func viewerFilter(r *http.Request, q *queryParams, pr intParam) (f aggregator.EntryFilter, none bool) {
	f = aggregator.EntryFilter{
		HookID:     q.str("hook_id"),
		Repository: q.str("repository"),
		EventType:  q.str("event_type"),
		GithubUser: q.str("github_user"),
		Levels:     levelsFor(q.str("level")),
		Search:     q.str("search"),
		PRNumber:   pr.value,
	}
	f.Services, none = scopeOf(r)
	return f, none || (pr.set && (pr.value <= 0 || pr.huge))
}

// handleEntries serves GET /logs/api/entries: one page of entries, newest
// first, with upstream's metadata keys and the exact total.
func (s *Server) handleEntries(w http.ResponseWriter, r *http.Request) {
	q := newQueryParams(r)
	// Upstream's FastAPI signature: pr_number: int | None, limit 1..10000
	// (default 100), offset >= 0.
	pr := q.integer("pr_number", intRule{})
	limit := q.integer("limit", intRule{def: 100, min: 1, max: maxLimit, hasMin: true, hasMax: true})
	offset := q.integer("offset", offsetRule())
	if len(q.errs) > 0 {
		writeValidation(w, q.errs)
		return
	}
	filter, none := viewerFilter(r, q, pr)
	var ok bool
	if filter.Since, ok = timeParam(w, q, "start_time"); !ok {
		return
	}
	if filter.Until, ok = timeParam(w, q, "end_time"); !ok {
		return
	}

	var page aggregator.EntryPage
	if !none {
		var err error
		page, err = s.store.Entries(r.Context(), aggregator.EntryQuery{
			Filter: filter,
			Limit:  toInt(limit.value),
			Offset: toInt(offset.value),
			Order:  aggregator.NewestFirst,
		})
		if err != nil {
			s.storeError(w, r, "entries", err)
			return
		}
	}

	s.writeEntriesPage(w, r, page, limit.value, offset.value)
}

// writeEntriesPage streams the entries answer: upstream's keys, then total.
func (s *Server) writeEntriesPage(w http.ResponseWriter, r *http.Request, page aggregator.EntryPage, limit, offset int64) {
	w.WriteHeader(http.StatusOK)
	js := newJSONStream(w)
	js.raw(`{"entries":[`)
	for i := range page.Entries {
		if i > 0 {
			js.raw(",")
		}
		js.value(newLogEntry(&page.Entries[i]))
	}
	js.raw("]")
	// Every matching entry is counted: the scan is never partial.
	js.field("entries_processed", page.Total, false)
	js.field("filtered_count_min", offset+int64(len(page.Entries)), false)
	js.field("total_log_count_estimate", countEstimate(page.Total), false)
	js.field("limit", limit, false)
	js.field("offset", offset, false)
	js.field("is_partial_scan", false, false)
	js.field("total", page.Total, false)
	js.raw("}\n")
	if err := js.finish(); err != nil {
		s.log.DebugContext(r.Context(), "write response", logKeyPath, r.URL.Path, logKeyError, err)
	}
}

// timeParam reads an optional ISO 8601 time parameter; on a bad value it
// answers 400 and returns false. Absent or empty means no bound.
func timeParam(w http.ResponseWriter, q *queryParams, name string) (time.Time, bool) {
	v := q.str(name)
	if v == "" {
		return time.Time{}, true
	}
	t, ok := parseISOTime(v)
	if !ok {
		writeDetail(w, http.StatusBadRequest, invalidTimeDetail(name, v))
		return time.Time{}, false
	}
	return t, true
}

// scopeOf is the Services filter of the request's principal, and none=true
// when it may see nothing. A request without a principal sees nothing.
func scopeOf(r *http.Request) (services []string, none bool) {
	p, ok := PrincipalFrom(r)
	if !ok {
		return nil, true
	}
	return p.scope()
}

// visible reports whether the request's principal may see service.
func visible(r *http.Request, service string) bool {
	p, ok := PrincipalFrom(r)
	return ok && p.CanSee(service)
}
