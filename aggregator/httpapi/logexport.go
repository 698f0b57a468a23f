package httpapi

import (
	"net/http"
	"regexp"

	"github.com/hooktail/hooktail/aggregator"
)

// Limits of GET /logs/api/export (upstream's).
const (
	logExportDefaultLimit = 10000
	// logExportMaxLimit is FastAPI's le: beyond it, 422.
	logExportMaxLimit = 100000
	// logExportMaxEntries is upstream's cap: beyond it, 413.
	logExportMaxEntries = 50000
	// logExportPageSize is how many entries one store call reads.
	logExportPageSize = 1000
)

// logExportFormatType is upstream's pattern for format_type.
var logExportFormatType = regexp.MustCompile(`^json$`)

// logExportFilters is export_metadata.filters_applied, upstream's keys.
type logExportFilters struct {
	HookID     *string `json:"hook_id"`
	PRNumber   *int64  `json:"pr_number"`
	Repository *string `json:"repository"`
	EventType  *string `json:"event_type"`
	GithubUser *string `json:"github_user"`
	Level      *string `json:"level"`
	StartTime  *string `json:"start_time"`
	EndTime    *string `json:"end_time"`
	Search     *string `json:"search"`
	Limit      int64   `json:"limit"`
}

// logExportMetadata is the export's export_metadata.
type logExportMetadata struct {
	GeneratedAt    string           `json:"generated_at"`
	FiltersApplied logExportFilters `json:"filters_applied"`
	TotalEntries   int64            `json:"total_entries"`
	ExportFormat   string           `json:"export_format"`
}

// handleLogExport serves GET /logs/api/export: every matching entry (up to
// limit), newest first, as a JSON attachment written while the store is
// paged through, so no document-sized buffer is ever built.
func (s *Server) handleLogExport(w http.ResponseWriter, r *http.Request) {
	q := newQueryParams(r)
	if raw, set := q.lookup("format_type"); set && !logExportFormatType.MatchString(raw) {
		q.errs = append(q.errs, validationError{
			Type:  "string_pattern_mismatch",
			Loc:   []string{"query", "format_type"},
			Msg:   "String should match pattern '^json$'",
			Input: raw,
			Ctx:   map[string]any{"pattern": "^json$"},
		})
	}
	pr := q.integer("pr_number", intRule{})
	limit := q.integer("limit", intRule{def: logExportDefaultLimit, min: 1, max: logExportMaxLimit, hasMin: true, hasMax: true})
	if len(q.errs) > 0 {
		writeValidation(w, q.errs)
		return
	}
	if limit.value > logExportMaxEntries {
		writeDetail(w, http.StatusRequestEntityTooLarge, "Result set too large (max 50000 entries)")
		return
	}
	level := q.str("level")
	filter, none := viewerFilter(r, q, pr)
	var ok bool
	if filter.Since, ok = timeParam(w, q, "start_time"); !ok {
		return
	}
	if filter.Until, ok = timeParam(w, q, "end_time"); !ok {
		return
	}

	now := s.now().UTC()
	limitN := toInt(limit.value)
	var first aggregator.EntryPage
	if !none {
		var err error
		first, err = s.store.Entries(r.Context(), aggregator.EntryQuery{
			Filter: filter, Limit: min(logExportPageSize, limitN), Order: aggregator.NewestFirst,
		})
		if err != nil {
			s.storeError(w, r, "export entries", err)
			return
		}
	}
	meta := logExportMetadata{
		GeneratedAt: isoformat(now),
		FiltersApplied: logExportFilters{
			HookID:     strOrNil(filter.HookID),
			Repository: strOrNil(filter.Repository),
			EventType:  strOrNil(filter.EventType),
			GithubUser: strOrNil(filter.GithubUser),
			Level:      strOrNil(level),
			StartTime:  isoOrNil(filter.Since),
			EndTime:    isoOrNil(filter.Until),
			Search:     strOrNil(filter.Search),
			Limit:      limit.value,
		},
		TotalEntries: min(first.Total, limit.value),
		ExportFormat: "json",
	}
	if pr.set {
		meta.FiltersApplied.PRNumber = &pr.value
	}

	w.Header().Set("Content-Disposition",
		`attachment; filename="webhook_logs_`+now.Format("20060102_150405")+`.json"`)
	w.WriteHeader(http.StatusOK)
	js := newJSONStream(w)
	js.raw("{")
	js.field("export_metadata", meta, true)
	js.raw(`,"log_entries":[`)
	written := 0
	page := first
	for {
		for i := range page.Entries {
			if written > 0 {
				js.raw(",")
			}
			js.value(newLogEntry(&page.Entries[i]))
			written++
		}
		if js.err != nil || len(page.Entries) == 0 || written >= limitN || int64(written) >= page.Total {
			break
		}
		var err error
		page, err = s.store.Entries(r.Context(), aggregator.EntryQuery{
			Filter: filter, Limit: min(logExportPageSize, limitN-written), Offset: written, Order: aggregator.NewestFirst,
		})
		if err != nil {
			// The status is sent: cut the document so that the client
			// sees an invalid file rather than a silently short one.
			s.logStoreError(r, "export entries", err)
			_ = js.finish()
			panic(http.ErrAbortHandler)
		}
	}
	js.raw("]}\n")
	if err := js.finish(); err != nil {
		s.log.DebugContext(r.Context(), "write export", logKeyPath, r.URL.Path, logKeyError, err)
	}
}
