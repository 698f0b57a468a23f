package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

func TestLogsEnvelope(t *testing.T) {
	s, _ := testServer(t, authStore(), nil)
	w := get(s, "/logs?limit=2&level=error&service=webhook-server")
	want := jsonOf(t, `{"status":"success","data":{"logs":[
		{"timestamp":"2024-01-15T10:00:20.234567Z","level":"ERROR","service":"webhook-server",
		 "message":"Failed to assign reviewers: API rate limit exceeded",
		 "details":{"id":5,"hook_id":"`+seedHook+`","pr_number":123,"step":"assign_reviewers",
		            "logger_name":"OwnersFileHandler","attempt":1,"offset":0}}],
		"pagination":{"total":1,"limit":2,"offset":0,"nextOffset":null}}}`)
	if diff := cmp.Diff(want, decode(t, w)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestLogsPagination(t *testing.T) {
	s, _ := testServer(t, authStore(), nil)
	tests := []struct {
		query      string
		n          int
		total      int64
		nextOffset any
	}{
		{"limit=2", 2, 6, "2"},
		{"limit=2&offset=4", 2, 6, nil},
		{"limit=4&offset=4", 2, 6, nil},
		{"offset=10", 0, 6, nil},
		{"", 6, 6, nil},
		{"limit=1000", 6, 6, nil},
	}
	for _, tc := range tests {
		got := decode(t, get(s, "/logs?"+tc.query)).(map[string]any)["data"].(map[string]any)
		logs := got["logs"].([]any)
		pg := got["pagination"].(map[string]any)
		next := pg["nextOffset"]
		if n, ok := next.(interface{ String() string }); ok {
			next = n.String()
		}
		if len(logs) != tc.n || pg["total"].(interface{ String() string }).String() != "6" || next != tc.nextOffset {
			t.Errorf("%q: %d logs, pagination %v; want %d logs, nextOffset %v", tc.query, len(logs), pg, tc.n, tc.nextOffset)
		}
	}
}

func TestLogsFilters(t *testing.T) {
	var got aggregator.EntryQuery
	calls := 0
	s, _ := testServer(t, captureEntries(&got, &calls, aggregator.EntryPage{}), nil)
	tests := map[string]aggregator.EntryQuery{
		"": {Limit: 50},
		"level=WARN&limit=1000&offset=5": {Limit: 1000, Offset: 5,
			Filter: aggregator.EntryFilter{Levels: []string{"WARNING", "WARN"}}},
		"level=fatal": {Limit: 50, Filter: aggregator.EntryFilter{Levels: []string{"CRITICAL", "FATAL"}}},
		"level=CRITICAL&service=s&search=merge&hook_id=h&step=clone&repository=r&startDate=2023-10-27T09:00:00Z&endDate=2023-10-27T12:00:00%2B02:00": {
			Limit: 50, Filter: aggregator.EntryFilter{
				Levels: []string{"CRITICAL", "FATAL"}, Services: []string{"s"}, Search: "merge", HookID: "h", Step: "clone",
				Repository: "r", Since: ts("2023-10-27T09:00:00Z"), Until: ts("2023-10-27T10:00:00Z"),
			}},
	}
	for q, want := range tests {
		calls = 0
		w := get(s, "/logs?"+q)
		if w.Code != 200 || calls != 1 {
			t.Errorf("%q: status %d, %d calls; body %s", q, w.Code, calls, w.Body)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: query (-want +got):\n%s", q, diff)
		}
	}
}

func TestLogsBadRequest(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil)
	dateMsg := func(name string) string {
		return "Invalid date format for '" + name + "'. Please use ISO 8601 format (YYYY-MM-DDTHH:MM:SSZ)."
	}
	tests := map[string]string{
		"startDate=yesterday":     dateMsg("startDate"),
		"endDate=2023-13-01":      dateMsg("endDate"),
		"startDate=2023-10-27T25": dateMsg("startDate"),
		"limit=0":                 "Invalid value for 'limit'. It must be an integer between 1 and 1000.",
		"limit=1001":              "Invalid value for 'limit'. It must be an integer between 1 and 1000.",
		"limit=ten":               "Invalid value for 'limit'. It must be an integer between 1 and 1000.",
		"offset=-1":               "Invalid value for 'offset'. It must be an integer of at least 0.",
		"level=LOUD":              "Invalid level 'LOUD'. Possible values: DEBUG, INFO, WARN, ERROR, FATAL.",
	}
	for q, msg := range tests {
		w := get(s, "/logs?"+q)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", q, w.Code)
		}
		want := jsonOf(t, `{"status":"error","message":`+quote(msg)+`}`)
		if diff := cmp.Diff(want, decode(t, w)); diff != "" {
			t.Errorf("%q: body (-want +got):\n%s", q, diff)
		}
	}
}

// TestLogsWebPageByAccept checks which Accept headers get the page at
// /logs: a browser's, not an API client's, with quality values weighed.
func TestLogsWebPageByAccept(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html>page</html>"))
	})
	s, _ := testServer(t, authStore(), func(o *httpapi.Options) { o.WebPage = page })
	tests := map[string]bool{
		"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8": true, // Chromium
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8":            true, // Firefox
		"text/html":                            true,
		"text/html, */*":                       true,
		"application/json, text/html;q=0.1":    false,
		"text/html;q=0.5, application/json":    false,
		"application/*;q=0.2, text/html":       true,
		"text/html;q=0":                        false,
		"text/html;q=abc":                      false,
		"*/*":                                  false,
		"":                                     false,
		"application/json":                     false,
		"text/plain, text/html;q=0.9, */*;q=1": false,
	}
	for accept, wantPage := range tests {
		w := get(s, "/logs", func(r *http.Request) { r.Header.Set("Accept", accept) })
		gotPage := strings.Contains(w.Body.String(), "<html>")
		if gotPage != wantPage {
			t.Errorf("Accept %q: page %v, want %v (body %.60s)", accept, gotPage, wantPage, w.Body)
		}
		if !gotPage && w.Header().Get("Vary") != "Accept" {
			t.Errorf("Accept %q: JSON answer without Vary: Accept", accept)
		}
	}
}

func TestLogsWebPageHook(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html>page</html>"))
	})
	with, _ := testServer(t, authStore(), func(o *httpapi.Options) { o.WebPage = page })
	without, _ := testServer(t, authStore(), nil)
	browser := func(r *http.Request) { r.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8") }
	if w := get(with, "/logs", browser); !strings.Contains(w.Body.String(), "<html>") {
		t.Errorf("browser with a web page: %s", w.Body)
	}
	if w := get(with, "/logs"); !strings.HasPrefix(w.Body.String(), `{"status":"success"`) {
		t.Errorf("API client with a web page: %s", w.Body)
	}
	if w := get(without, "/logs", browser); !strings.HasPrefix(w.Body.String(), `{"status":"success"`) {
		t.Errorf("browser without a web page: %s", w.Body)
	}
	// The page holds no data: it is served to any network, and its data
	// routes check access as usual.
	public := func(r *http.Request) { r.RemoteAddr = "8.8.8.8:1" }
	if w := get(with, "/logs", browser, public); w.Code != 200 || !strings.Contains(w.Body.String(), "<html>") {
		t.Errorf("browser from a public network: status %d, body %s", w.Code, w.Body)
	}
	if w := get(with, "/logs", public); w.Code != 403 {
		t.Errorf("API client from a public network: status %d, want 403", w.Code)
	}
	for _, path := range []string{"/", "/ui/app.js"} {
		if w := get(with, path, public); w.Code != 200 || !strings.Contains(w.Body.String(), "<html>") {
			t.Errorf("%s with a web page: status %d, body %s", path, w.Code, w.Body)
		}
		if w := get(without, path); w.Code != 404 {
			t.Errorf("%s without a web page: status %d, want 404", path, w.Code)
		}
	}
}
