package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// Limits of the generic logs API (seed 003).
const (
	logsDefaultLimit = 50
	logsMaxLimit     = 1000
)

// knownLevels are the level filter values /logs accepts (upper-cased),
// with the stored levels each one matches (SPEC §4 aliases).
var knownLevels = map[string][]string{
	"TRACE":    {"TRACE"},
	"DEBUG":    {"DEBUG"},
	"INFO":     {"INFO"},
	"SUCCESS":  {"SUCCESS"},
	"STEP":     {"STEP"},
	"WARN":     {"WARNING", "WARN"},
	"WARNING":  {"WARNING", "WARN"},
	"ERROR":    {"ERROR"},
	"CRITICAL": {"CRITICAL", "FATAL"},
	"FATAL":    {"CRITICAL", "FATAL"},
}

// genericLog is one log of seed 003.
type genericLog struct {
	Timestamp *string    `json:"timestamp"`
	Level     *string    `json:"level"`
	Service   string     `json:"service"`
	Message   string     `json:"message"`
	Details   logDetails `json:"details"`
}

// logDetails is seed 003's details: every field of the entry beyond the
// envelope's, the unknown ones left out.
type logDetails struct {
	ID         int64           `json:"id"`
	HookID     string          `json:"hook_id,omitempty"`
	EventType  string          `json:"event_type,omitempty"`
	Repository string          `json:"repository,omitempty"`
	PRNumber   int64           `json:"pr_number,omitempty"`
	Step       string          `json:"step,omitempty"`
	LoggerName string          `json:"logger_name,omitempty"`
	GithubUser string          `json:"github_user,omitempty"`
	TaskID     string          `json:"task_id,omitempty"`
	TaskType   string          `json:"task_type,omitempty"`
	TaskStatus string          `json:"task_status,omitempty"`
	TokenSpend *int64          `json:"token_spend,omitempty"`
	Attempt    int             `json:"attempt,omitempty"`
	ExcInfo    string          `json:"exc_info,omitempty"`
	AgentID    string          `json:"agent_id,omitempty"`
	File       string          `json:"file,omitempty"`
	Offset     int64           `json:"offset"`
	ParseError bool            `json:"parse_error,omitempty"`
	Truncated  bool            `json:"truncated,omitempty"`
	Fields     json.RawMessage `json:"fields,omitempty"`
}

func newGenericLog(e *aggregator.Entry) genericLog {
	return genericLog{
		Timestamp: rfc3339OrNil(e.Timestamp),
		Level:     strOrNil(e.Level),
		Service:   e.Source,
		Message:   e.Message,
		Details: logDetails{
			ID:         e.ID,
			HookID:     e.HookID,
			EventType:  e.EventType,
			Repository: e.Repository,
			PRNumber:   e.PRNumber,
			Step:       e.Step,
			LoggerName: e.LoggerName,
			GithubUser: e.GithubUser,
			TaskID:     e.TaskID,
			TaskType:   e.TaskType,
			TaskStatus: e.TaskStatus,
			TokenSpend: e.TokenSpend,
			Attempt:    e.Attempt,
			ExcInfo:    e.ExcInfo,
			AgentID:    e.AgentID,
			File:       e.File,
			Offset:     e.Offset,
			ParseError: e.ParseError,
			Truncated:  e.Truncated,
			Fields:     rawOrNil(e.Details),
		},
	}
}

// logsPagination is seed 003's pagination object.
type logsPagination struct {
	Total      int64  `json:"total"`
	Limit      int64  `json:"limit"`
	Offset     int64  `json:"offset"`
	NextOffset *int64 `json:"nextOffset"`
}

// logsBadRequest answers 400 in seed 003's envelope.
func logsBadRequest(w http.ResponseWriter, msg string) {
	writeError(w, familyLogs, http.StatusBadRequest, msg)
}

// invalidDateMessage is seed 003's 400 message for a bad date.
func invalidDateMessage(name string) string {
	return fmt.Sprintf("Invalid date format for '%s'. Please use ISO 8601 format (YYYY-MM-DDTHH:MM:SSZ).", name)
}

// wantsHTML reports whether the client prefers an HTML page to JSON (a
// browser): it names text/html with a quality above zero, and at least as
// high as what it gives JSON (application/json, else application/*, else
// */*).
func wantsHTML(r *http.Request) bool {
	html, json, jsonSpecific := -1.0, -1.0, 0
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		// How specifically each range names JSON: the most specific wins.
		specific := map[string]int{"application/json": 3, "application/*": 2, "*/*": 1}[mt]
		switch {
		case mt == "text/html":
			html = max(html, q)
		case specific > jsonSpecific:
			json, jsonSpecific = q, specific
		case specific > 0 && specific == jsonSpecific:
			json = max(json, q)
		}
	}
	return html > 0 && html >= json
}

// handleLogs serves GET /logs (seed 003): one page of entries, newest
// first, in the generic envelope. A browser gets Options.WebPage instead
// when there is one (routed before this handler).
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	if s.webPage != nil {
		// The same URL answers a browser with the page.
		w.Header().Set("Vary", "Accept")
	}
	q := newQueryParams(r)
	limit, ok := logsInt(w, q, "limit", logsDefaultLimit, 1, logsMaxLimit)
	if !ok {
		return
	}
	offset, ok := logsInt(w, q, "offset", 0, 0, math.MaxInt64)
	if !ok {
		return
	}
	f := aggregator.EntryFilter{
		HookID:     q.str("hook_id"),
		Step:       q.str("step"),
		Repository: q.str("repository"),
		Search:     q.str("search"),
	}
	if lv := strings.TrimSpace(q.str("level")); lv != "" {
		levels, known := knownLevels[strings.ToUpper(lv)]
		if !known {
			logsBadRequest(w, fmt.Sprintf("Invalid level '%s'. Possible values: DEBUG, INFO, WARN, ERROR, FATAL.", lv))
			return
		}
		f.Levels = levels
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"startDate", &f.Since}, {"endDate", &f.Until}} {
		raw := q.str(p.name)
		if raw == "" {
			continue
		}
		t, valid := parseISOTime(raw)
		if !valid {
			logsBadRequest(w, invalidDateMessage(p.name))
			return
		}
		*p.dst = t
	}
	services, none := scopeOf(r)
	f.Services = services
	if svc := q.str("service"); svc != "" {
		if !visible(r, svc) {
			none = true
		}
		f.Services = []string{svc}
	}

	var page aggregator.EntryPage
	if !none {
		var err error
		page, err = s.store.Entries(r.Context(), aggregator.EntryQuery{
			Filter: f, Limit: int(limit), Offset: toInt(offset), Order: aggregator.NewestFirst,
		})
		if err != nil {
			s.logStoreError(r, "entries", err)
			writeError(w, familyLogs, http.StatusInternalServerError, detailInternal)
			return
		}
	}
	pg := logsPagination{Total: page.Total, Limit: limit, Offset: offset}
	if next := offset + int64(len(page.Entries)); len(page.Entries) > 0 && next < page.Total {
		pg.NextOffset = &next
	}

	w.WriteHeader(http.StatusOK)
	js := newJSONStream(w)
	js.raw(`{"status":"success","data":{"logs":[`)
	for i := range page.Entries {
		if i > 0 {
			js.raw(",")
		}
		js.value(newGenericLog(&page.Entries[i]))
	}
	js.raw("]")
	js.field("pagination", pg, false)
	js.raw("}}\n")
	if err := js.finish(); err != nil {
		s.log.DebugContext(r.Context(), "write response", logKeyPath, r.URL.Path, logKeyError, err)
	}
}

// logsInt reads an optional integer parameter within [lo, hi]; ok=false
// after answering 400 in seed 003's envelope.
func logsInt(w http.ResponseWriter, q *queryParams, name string, def, lo, hi int64) (int64, bool) {
	raw, set := q.lookup(name)
	if !set {
		return def, true
	}
	v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || v < lo || v > hi {
		msg := fmt.Sprintf("Invalid value for '%s'. It must be an integer between %d and %d.", name, lo, hi)
		if hi == math.MaxInt64 {
			msg = fmt.Sprintf("Invalid value for '%s'. It must be an integer of at least %d.", name, lo)
		}
		logsBadRequest(w, msg)
		return 0, false
	}
	return v, true
}
