package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

// logExportStore is a store of n entries one second apart, ids 1..n.
func logExportStore(n int) *memStore {
	m := &memStore{deliveries: map[string]*aggregator.Delivery{}}
	base := ts("2026-07-31T00:00:00Z")
	for i := 1; i <= n; i++ {
		m.entries = append(m.entries, aggregator.Entry{ID: int64(i), Timestamp: base.Add(time.Duration(i) * time.Second),
			Level: "INFO", Message: fmt.Sprintf("entry %d", i), Source: "webhook-server", Repository: "repo"})
	}
	return m
}

type logExportDoc struct {
	Meta struct {
		GeneratedAt    string         `json:"generated_at"`
		FiltersApplied map[string]any `json:"filters_applied"`
		TotalEntries   int            `json:"total_entries"`
		ExportFormat   string         `json:"export_format"`
	} `json:"export_metadata"`
	Entries []struct {
		ID      int64  `json:"id"`
		Message string `json:"message"`
	} `json:"log_entries"`
}

func TestLogExportStreamsEveryPage(t *testing.T) {
	m := logExportStore(2500)
	s, _ := testServer(t, m, func(o *httpapi.Options) {
		o.Now = func() time.Time { return ts("2026-08-01T12:34:56Z") }
	})
	tests := []struct {
		query string
		want  int
		pages int
	}{
		{"", 2500, 3},
		{"format_type=json&limit=1500&repository=repo", 1500, 2},
		{"limit=1000", 1000, 1},
		{"limit=7&level=INFO", 7, 1},
		{"search=nothing-matches", 0, 1},
	}
	for _, tc := range tests {
		m.queries = nil
		w := get(s, "/logs/api/export?"+tc.query)
		if w.Code != 200 {
			t.Fatalf("%q: status %d: %.300s", tc.query, w.Code, w.Body)
		}
		if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="webhook_logs_20260801_123456.json"` {
			t.Errorf("%q: Content-Disposition %q", tc.query, cd)
		}
		var doc logExportDoc
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		if len(doc.Entries) != tc.want || doc.Meta.TotalEntries != tc.want || doc.Meta.ExportFormat != "json" ||
			doc.Meta.GeneratedAt != "2026-08-01T12:34:56+00:00" {
			t.Errorf("%q: %d entries, metadata %+v; want %d", tc.query, len(doc.Entries), doc.Meta, tc.want)
		}
		for i, e := range doc.Entries {
			if want := int64(2500 - i); e.ID != want {
				t.Errorf("%q: entry %d has id %d, want %d (newest first, no gap or repeat)", tc.query, i, e.ID, want)
				break
			}
		}
		if len(m.queries) != tc.pages {
			t.Errorf("%q: %d store pages, want %d", tc.query, len(m.queries), tc.pages)
		}
		for _, q := range m.queries {
			if q.Limit > 1000 {
				t.Errorf("%q: store page of %d entries, want at most 1000", tc.query, q.Limit)
			}
		}
	}
	var doc logExportDoc
	_ = json.Unmarshal(get(s, "/logs/api/export?hook_id=h&pr_number=5&start_time=2026-07-31T00:00:00").Body.Bytes(), &doc)
	want := map[string]any{"hook_id": "h", "pr_number": 5.0, "repository": nil, "event_type": nil, "github_user": nil,
		"level": nil, "start_time": "2026-07-31T00:00:00+00:00", "end_time": nil, "search": nil, "limit": 10000.0}
	if diff := cmp.Diff(want, doc.Meta.FiltersApplied); diff != "" {
		t.Errorf("filters_applied (-want +got):\n%s", diff)
	}
}

func TestLogExportErrors(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil)
	tests := []struct {
		query string
		code  int
		body  string
	}{
		{"limit=50001", 413, `{"detail":"Result set too large (max 50000 entries)"}`},
		{"limit=100000", 413, `{"detail":"Result set too large (max 50000 entries)"}`},
		{"start_time=soon", 400, `{"detail":"Invalid start_time format: soon. Expected ISO 8601 format (e.g. 2026-07-31T10:15:02Z)"}`},
	}
	for _, tc := range tests {
		w := get(s, "/logs/api/export?"+tc.query)
		if w.Code != tc.code {
			t.Errorf("%q: status %d, want %d", tc.query, w.Code, tc.code)
		}
		if diff := cmp.Diff(jsonOf(t, tc.body), decode(t, w)); diff != "" {
			t.Errorf("%q: body (-want +got):\n%s", tc.query, diff)
		}
	}
	for _, q := range []string{"format_type=csv", "limit=0", "limit=100001", "pr_number=x"} {
		w := get(s, "/logs/api/export?"+q)
		if w.Code != 422 || !strings.Contains(w.Body.String(), `"loc":["query"`) {
			t.Errorf("%q: status %d body %s, want FastAPI's 422", q, w.Code, w.Body)
		}
	}
}

func prFlowStore() *memStore {
	mk := func(hook string, pr int64, service string, state aggregator.State, at string, ms int64, action string) *aggregator.Delivery {
		d := &aggregator.Delivery{HookID: hook, Attempt: 1, Service: service, State: state, PRNumber: pr,
			EventType: "pull_request", Action: action, ReceivedAt: ts(at), DurationMS: ptr(ms)}
		if state == aggregator.StateFailed {
			d.Error = &aggregator.ErrorInfo{Type: "GitHubException", Message: "rate limited"}
		}
		return d
	}
	m := deliveryStore(
		mk("h2", 7, "webhook-server", aggregator.StateFailed, "2026-07-31T10:05:00Z", 2000, "synchronize"),
		mk("h1", 7, "webhook-server", aggregator.StateCompleted, "2026-07-31T10:00:00Z", 1000, "opened"),
		mk("h3", 7, "other", aggregator.StateCompleted, "2026-07-31T10:10:00Z", 1000, "closed"),
		mk("h4", 8, "webhook-server", aggregator.StateProcessing, "2026-07-31T11:00:00Z", 1000, ""),
	)
	m.deliveries["h1"].Steps = []aggregator.Step{
		{Name: "clone", Status: "completed", StartedAt: ts("2026-07-31T10:00:00.5Z"), DurationMS: ptr(int64(300))},
		{Name: "route", Status: "completed", StartedAt: ts("2026-07-31T10:00:00.1Z"), DurationMS: ptr(int64(800))},
	}
	return m
}

func TestPRFlow(t *testing.T) {
	s, _ := testServer(t, prFlowStore(), func(o *httpapi.Options) {
		o.APIKeys = []httpapi.APIKey{apiKeyOf("ws", "t", httpapi.RoleViewer, "webhook-server")}
	})
	prFlow7 := `{"identifier":%q,"stages":[
		{"name":"pull_request.opened","timestamp":"2026-07-31T10:00:00+00:00","duration_ms":1000,"status":"responded","hook_id":"h1"},
		{"name":"pull_request.synchronize","timestamp":"2026-07-31T10:05:00+00:00","duration_ms":2000,"status":"error",
		 "hook_id":"h2","error":"rate limited"}],
		"total_duration_ms":302000,"success":false,"error":"rate limited"}`
	tests := []struct {
		id   string
		code int
		body string
	}{
		{"pr-7", 200, fmt.Sprintf(prFlow7, "pr-7")},
		{"7", 200, fmt.Sprintf(prFlow7, "7")},
		{"hook-h1", 200, `{"identifier":"hook-h1","stages":[
			{"name":"route","timestamp":"2026-07-31T10:00:00.100000+00:00","duration_ms":800,"status":"completed"},
			{"name":"clone","timestamp":"2026-07-31T10:00:00.500000+00:00","duration_ms":300,"status":"completed"}],
			"total_duration_ms":1000,"success":true}`},
		{"h1", 200, `{"identifier":"h1","stages":[
			{"name":"route","timestamp":"2026-07-31T10:00:00.100000+00:00","duration_ms":800,"status":"completed"},
			{"name":"clone","timestamp":"2026-07-31T10:00:00.500000+00:00","duration_ms":300,"status":"completed"}],
			"total_duration_ms":1000,"success":true}`},
		{"pr-8", 200, `{"identifier":"pr-8","stages":[
			{"name":"pull_request","timestamp":"2026-07-31T11:00:00+00:00","duration_ms":1000,"status":"forwarding","hook_id":"h4"}],
			"total_duration_ms":1000,"success":null}`},
		{"hook-h3", 404, `{"detail":"No data found for hook_id: hook-h3"}`}, // another endpoint's
		{"pr-9", 404, `{"detail":"No data found for hook_id: pr-9"}`},
		{"hook-", 404, `{"detail":"No data found for hook_id: hook-"}`},
		{"nope", 404, `{"detail":"No data found for hook_id: nope"}`},
		{"pr-abc", 400, `{"detail":"Invalid PR number in identifier: pr-abc"}`},
		{"pr-0", 400, `{"detail":"Invalid PR number in identifier: pr-0"}`},
	}
	for _, tc := range tests {
		w := get(s, "/logs/api/pr-flow/"+tc.id, func(r *http.Request) { r.Header.Set("Authorization", "Bearer t") })
		if w.Code != tc.code {
			t.Errorf("%s: status %d, want %d; body %s", tc.id, w.Code, tc.code, w.Body)
		}
		if diff := cmp.Diff(jsonOf(t, tc.body), decode(t, w)); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", tc.id, diff)
		}
	}
	w := get(s, "/logs/api/pr-flow/"+strings.Repeat("x", 101), func(r *http.Request) { r.Header.Set("Authorization", "Bearer t") })
	if w.Code != 422 {
		t.Errorf("101 characters: status %d, want 422", w.Code)
	}
}
