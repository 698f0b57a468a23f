package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
)

// captureEntries returns a store that records the query and answers page.
func captureEntries(got *aggregator.EntryQuery, calls *int, page aggregator.EntryPage) *funcStore {
	return &funcStore{EntriesFunc: func(_ context.Context, q aggregator.EntryQuery) (aggregator.EntryPage, error) {
		*got = q
		*calls++
		return page, nil
	}}
}

func TestEntriesQueryParams(t *testing.T) {
	def := func(f aggregator.EntryFilter) aggregator.EntryQuery {
		return aggregator.EntryQuery{Filter: f, Limit: 100, Offset: 0, Order: aggregator.NewestFirst}
	}
	tests := map[string]struct {
		query string
		want  aggregator.EntryQuery
	}{
		"defaults":               {"", def(aggregator.EntryFilter{})},
		"unknown params ignored": {"foo=bar&format=x", def(aggregator.EntryFilter{})},
		"empty values mean no filter": {
			"hook_id=&level=&start_time=&search=", def(aggregator.EntryFilter{}),
		},
		"string filters": {
			"hook_id=h1&repository=github-webhook-server&event_type=pull_request&github_user=myakove-bot&search=Clone+ok",
			def(aggregator.EntryFilter{
				HookID: "h1", Repository: "github-webhook-server", EventType: "pull_request",
				GithubUser: "myakove-bot", Search: "Clone ok",
			}),
		},
		"pr_number":             {"pr_number=890", def(aggregator.EntryFilter{PRNumber: 890})},
		"pr_number whitespace":  {"pr_number=%20890%20", def(aggregator.EntryFilter{PRNumber: 890})},
		"pr_number zero frac":   {"pr_number=890.00", def(aggregator.EntryFilter{PRNumber: 890})},
		"limit min":             {"limit=1", aggregator.EntryQuery{Limit: 1, Order: aggregator.NewestFirst}},
		"limit max":             {"limit=10000", aggregator.EntryQuery{Limit: 10000, Order: aggregator.NewestFirst}},
		"limit plus sign":       {"limit=%2B5", aggregator.EntryQuery{Limit: 5, Order: aggregator.NewestFirst}},
		"offset":                {"offset=40&limit=20", aggregator.EntryQuery{Limit: 20, Offset: 40, Order: aggregator.NewestFirst}},
		"repeated: last wins":   {"limit=5&limit=7", aggregator.EntryQuery{Limit: 7, Order: aggregator.NewestFirst}},
		"level exact":           {"level=INFO", def(aggregator.EntryFilter{Levels: []string{"INFO"}})},
		"level case as written": {"level=warn", def(aggregator.EntryFilter{Levels: []string{"warn"}})},
		"level WARN alias":      {"level=WARN", def(aggregator.EntryFilter{Levels: []string{"WARNING", "WARN"}})},
		"level WARNING alias":   {"level=WARNING", def(aggregator.EntryFilter{Levels: []string{"WARNING", "WARN"}})},
		"level FATAL alias":     {"level=FATAL", def(aggregator.EntryFilter{Levels: []string{"CRITICAL", "FATAL"}})},
		"level CRITICAL alias":  {"level=CRITICAL", def(aggregator.EntryFilter{Levels: []string{"CRITICAL", "FATAL"}})},
		"level custom":          {"level=STEP", def(aggregator.EntryFilter{Levels: []string{"STEP"}})},
		"time Z": {
			"start_time=2026-07-31T10:15:02Z&end_time=2026-07-31T11:00:00Z",
			def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02Z"), Until: ts("2026-07-31T11:00:00Z")}),
		},
		"time lower z": {"start_time=2026-07-31t10:15:02z", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02Z")})},
		"time offset": {
			"start_time=2026-07-31T12:15:02%2B02:00", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02Z")}),
		},
		"time negative offset": {
			"start_time=2026-07-31T05:15:02-05:00", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02Z")}),
		},
		"time compact offset": {
			"start_time=2026-07-31T12:15:02%2B0200", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02Z")}),
		},
		"time plus decoded as space": {
			"start_time=2026-07-31T10:15:02.5+00:00", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02.5Z")}),
		},
		"time fraction micro": {
			"start_time=2026-07-31T10:15:02.101877%2B00:00", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02.101877Z")}),
		},
		"time fraction millis": {
			"start_time=2026-07-31T10:15:02.1Z", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02.1Z")}),
		},
		"time fraction nanos truncated": {
			"start_time=2026-07-31T10:15:02.123456789Z", def(aggregator.EntryFilter{Since: ts("2026-07-31T10:15:02.123456Z")}),
		},
		"naive time is UTC": {
			"start_time=2026-01-15T10:00:00", def(aggregator.EntryFilter{Since: ts("2026-01-15T10:00:00Z")}),
		},
		"naive with space separator": {
			"end_time=2026-01-15+10:00:00", def(aggregator.EntryFilter{Until: ts("2026-01-15T10:00:00Z")}),
		},
		"date only": {"start_time=2026-01-15", def(aggregator.EntryFilter{Since: ts("2026-01-15T00:00:00Z")})},
		"hour and minute": {
			"start_time=2026-01-15T10:30", def(aggregator.EntryFilter{Since: ts("2026-01-15T10:30:00Z")}),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got aggregator.EntryQuery
			var calls int
			s, _ := testServer(t, captureEntries(&got, &calls, aggregator.EntryPage{}), nil)
			w := get(s, "/logs/api/entries?"+tc.query)
			if w.Code != http.StatusOK {
				t.Fatalf("status=%d body=%s", w.Code, w.Body)
			}
			if calls != 1 {
				t.Fatalf("store calls=%d, want 1", calls)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("query mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntriesValidation(t *testing.T) {
	tests := map[string]struct {
		query string
		want  string
	}{
		"limit=0": {"limit=0", `{"detail":[{"type":"greater_than_equal","loc":["query","limit"],
			"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}`},
		"limit=abc": {"limit=abc", `{"detail":[{"type":"int_parsing","loc":["query","limit"],
			"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}`},
		"limit empty": {"limit=", `{"detail":[{"type":"int_parsing","loc":["query","limit"],
			"msg":"Input should be a valid integer, unable to parse string as an integer","input":""}]}`},
		"limit=1.5": {"limit=1.5", `{"detail":[{"type":"int_parsing","loc":["query","limit"],
			"msg":"Input should be a valid integer, unable to parse string as an integer","input":"1.5"}]}`},
		"limit=10001": {"limit=10001", `{"detail":[{"type":"less_than_equal","loc":["query","limit"],
			"msg":"Input should be less than or equal to 10000","input":"10001","ctx":{"le":10000}}]}`},
		"limit beyond int64": {"limit=99999999999999999999", `{"detail":[{"type":"less_than_equal","loc":["query","limit"],
			"msg":"Input should be less than or equal to 10000","input":"99999999999999999999","ctx":{"le":10000}}]}`},
		"limit=-5": {"limit=-5", `{"detail":[{"type":"greater_than_equal","loc":["query","limit"],
			"msg":"Input should be greater than or equal to 1","input":"-5","ctx":{"ge":1}}]}`},
		"offset=-1": {"offset=-1", `{"detail":[{"type":"greater_than_equal","loc":["query","offset"],
			"msg":"Input should be greater than or equal to 0","input":"-1","ctx":{"ge":0}}]}`},
		"offset hugely negative": {"offset=-99999999999999999999", `{"detail":[{"type":"greater_than_equal","loc":["query","offset"],
			"msg":"Input should be greater than or equal to 0","input":"-99999999999999999999","ctx":{"ge":0}}]}`},
		"pr_number=abc": {"pr_number=abc", `{"detail":[{"type":"int_parsing","loc":["query","pr_number"],
			"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}`},
		"all errors in declaration order": {"offset=x&limit=0&pr_number=1e3", `{"detail":[
			{"type":"int_parsing","loc":["query","pr_number"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"1e3"},
			{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}},
			{"type":"int_parsing","loc":["query","offset"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"x"}]}`},
		"422 wins over 400": {"limit=0&start_time=bad", `{"detail":[{"type":"greater_than_equal","loc":["query","limit"],
			"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := testServer(t, &funcStore{}, nil)
			w := get(s, "/logs/api/entries?"+tc.query)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status=%d, want 422; body=%s", w.Code, w.Body)
			}
			if diff := cmp.Diff(jsonOf(t, tc.want), decode(t, w)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntriesBadTime(t *testing.T) {
	tests := map[string]struct {
		query, param, value string
	}{
		"garbage":              {"start_time=yesterday", "start_time", "yesterday"},
		"bad month":            {"start_time=2026-13-01T00:00:00Z", "start_time", "2026-13-01T00:00:00Z"},
		"bad day":              {"end_time=2026-02-30T00:00:00", "end_time", "2026-02-30T00:00:00"},
		"bad hour":             {"end_time=2026-07-31T25:00:00Z", "end_time", "2026-07-31T25:00:00Z"},
		"trailing junk":        {"start_time=2026-07-31T10:00:00Zjunk", "start_time", "2026-07-31T10:00:00Zjunk"},
		"empty fraction":       {"start_time=2026-07-31T10:00:00.Z", "start_time", "2026-07-31T10:00:00.Z"},
		"bad offset":           {"start_time=2026-07-31T10:00:00%2B25:00", "start_time", "2026-07-31T10:00:00+25:00"},
		"year zero":            {"start_time=0000-01-01", "start_time", "0000-01-01"},
		"valid start, bad end": {"start_time=2026-07-31&end_time=nope", "end_time", "nope"},
		"start first":          {"start_time=x&end_time=y", "start_time", "x"},
		"unix seconds":         {"start_time=1722420902", "start_time", "1722420902"},
		"slashes":              {"end_time=2026/07/31", "end_time", "2026/07/31"},
		"separator missing":    {"end_time=2026-07-3110:00", "end_time", "2026-07-3110:00"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := testServer(t, &funcStore{}, nil)
			w := get(s, "/logs/api/entries?"+tc.query)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status=%d, want 400; body=%s", w.Code, w.Body)
			}
			want := map[string]any{"detail": "Invalid " + tc.param + " format: " + tc.value +
				". Expected ISO 8601 format (e.g. 2026-07-31T10:15:02Z)"}
			if diff := cmp.Diff(any(want), decode(t, w)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntriesResponseShape(t *testing.T) {
	full := aggregator.Entry{
		ID:          42,
		Source:      "webhook-server",
		File:        "/data/logs/webhook-server.log",
		Offset:      1234,
		Timestamp:   ts("2026-07-31T10:15:05.402871Z"),
		Level:       "DEBUG",
		LoggerName:  "GithubWebhook",
		Message:     "Changed files: ['uv.lock']",
		HookID:      "6143a030-bbd7-11f0-95bd-b07354b8711c",
		EventType:   "pull_request",
		Repository:  "github-webhook-server",
		PRNumber:    890,
		GithubUser:  "myakove-bot",
		TaskID:      "webhook_processing",
		TaskType:    "repo_clone",
		TaskStatus:  "completed",
		TokenSpend:  ptr(int64(23)),
		Step:        "repo_clone",
		ExcInfo:     "Traceback (most recent call last):\n  boom",
		Attempt:     2,
		ParseError:  true,
		Truncated:   true,
		Details:     json.RawMessage(`{"checkout_ref":"main"}`),
		AgentID:     "agent-1",
		Fingerprint: 7,
	}
	sparse := aggregator.Entry{ID: 7, Message: "raw line", Details: json.RawMessage(`{broken`)}
	page := aggregator.EntryPage{Entries: []aggregator.Entry{full, sparse}, Total: 34_512}
	var got aggregator.EntryQuery
	var calls int
	s, _ := testServer(t, captureEntries(&got, &calls, page), nil)
	w := get(s, "/logs/api/entries?offset=10&limit=2")
	if w.Code != http.StatusOK {
		t.Fatalf("status=%d body=%s", w.Code, w.Body)
	}
	want := jsonOf(t, `{
	  "entries": [
	    {"timestamp":"2026-07-31T10:15:05.402871+00:00","level":"DEBUG","logger_name":"GithubWebhook",
	     "message":"Changed files: ['uv.lock']","hook_id":"6143a030-bbd7-11f0-95bd-b07354b8711c",
	     "event_type":"pull_request","repository":"github-webhook-server","pr_number":890,
	     "github_user":"myakove-bot","task_id":"webhook_processing","task_type":"repo_clone",
	     "task_status":"completed","token_spend":23,
	     "step":"repo_clone","service":"webhook-server","attempt":2,
	     "exc_info":"Traceback (most recent call last):\n  boom","file":"/data/logs/webhook-server.log",
	     "offset":1234,"parse_error":true,"truncated":true,"details":{"checkout_ref":"main"},"id":42},
	    {"timestamp":null,"level":null,"logger_name":null,"message":"raw line","hook_id":null,
	     "event_type":null,"repository":null,"pr_number":null,"github_user":null,"task_id":null,
	     "task_type":null,"task_status":null,"token_spend":null,
	     "step":null,"service":null,"attempt":null,"exc_info":null,"file":null,"offset":0,
	     "parse_error":false,"truncated":false,"details":"{broken","id":7}
	  ],
	  "entries_processed": 34512,
	  "filtered_count_min": 12,
	  "total_log_count_estimate": "34.5K",
	  "limit": 2,
	  "offset": 10,
	  "is_partial_scan": false,
	  "total": 34512
	}`)
	if diff := cmp.Diff(want, decode(t, w)); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
	// Upstream's 13 keys come first, in to_dict() order.
	body := w.Body.String()
	keys := []string{`"timestamp"`, `"level"`, `"logger_name"`, `"message"`, `"hook_id"`, `"event_type"`,
		`"repository"`, `"pr_number"`, `"github_user"`, `"task_id"`, `"task_type"`, `"task_status"`, `"token_spend"`, `"step"`}
	last := -1
	for _, k := range keys {
		i := strings.Index(body, k)
		if i <= last {
			t.Fatalf("key %s out of order in %s", k, body)
		}
		last = i
	}
}

func TestEntriesTimestampIsoformat(t *testing.T) {
	tests := map[string]struct {
		in   time.Time
		want any
	}{
		"microseconds":           {ts("2026-07-31T10:15:02.101877Z"), "2026-07-31T10:15:02.101877+00:00"},
		"zero micros omitted":    {ts("2026-07-31T10:21:00Z"), "2026-07-31T10:21:00+00:00"},
		"leading zero micros":    {ts("2026-07-31T10:21:00.000500Z"), "2026-07-31T10:21:00.000500+00:00"},
		"millis padded":          {ts("2026-07-31T10:21:00.1Z"), "2026-07-31T10:21:00.100000+00:00"},
		"nanos truncated":        {ts("2026-07-31T10:21:00.123456789Z"), "2026-07-31T10:21:00.123456+00:00"},
		"sub-micro only is zero": {ts("2026-07-31T10:21:00.000000999Z"), "2026-07-31T10:21:00+00:00"},
		"non-UTC converted": {
			time.Date(2026, 7, 31, 13, 15, 2, 0, time.FixedZone("IDT", 3*3600)), "2026-07-31T10:15:02+00:00",
		},
		"unknown is null": {time.Time{}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got aggregator.EntryQuery
			var calls int
			page := aggregator.EntryPage{Entries: []aggregator.Entry{{Timestamp: tc.in}}, Total: 1}
			s, _ := testServer(t, captureEntries(&got, &calls, page), nil)
			body := decode(t, get(s, "/logs/api/entries")).(map[string]any)
			entry := body["entries"].([]any)[0].(map[string]any)
			if diff := cmp.Diff(tc.want, entry["timestamp"]); diff != "" {
				t.Errorf("timestamp (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntriesCountEstimate(t *testing.T) {
	tests := map[int64]string{
		0: "0", 1: "1", 123: "123", 999: "999", 1000: "1.0K", 1049: "1.0K", 34_500: "34.5K",
		999_000: "999.0K", 1_000_000: "1.0M", 1_234_567: "1.2M", 12_345_678: "12.3M",
	}
	for total, want := range tests {
		var got aggregator.EntryQuery
		var calls int
		s, _ := testServer(t, captureEntries(&got, &calls, aggregator.EntryPage{Total: total}), nil)
		body := decode(t, get(s, "/logs/api/entries")).(map[string]any)
		if body["total_log_count_estimate"] != want {
			t.Errorf("total=%d: estimate=%v, want %q", total, body["total_log_count_estimate"], want)
		}
		if n, _ := body["entries_processed"].(json.Number).Int64(); n != total {
			t.Errorf("total=%d: entries_processed=%v", total, body["entries_processed"])
		}
		if entries, ok := body["entries"].([]any); !ok || len(entries) != 0 {
			t.Errorf("entries=%v, want []", body["entries"])
		}
	}
}

func TestEntriesImpossiblePRNumber(t *testing.T) {
	for _, q := range []string{"pr_number=0", "pr_number=-3", "pr_number=99999999999999999999"} {
		s, _ := testServer(t, &funcStore{}, nil) // any store call fails
		w := get(s, "/logs/api/entries?"+q)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status=%d body=%s", q, w.Code, w.Body)
		}
		want := jsonOf(t, `{"entries":[],"entries_processed":0,"filtered_count_min":0,
			"total_log_count_estimate":"0","limit":100,"offset":0,"is_partial_scan":false,"total":0}`)
		if diff := cmp.Diff(want, decode(t, w)); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", q, diff)
		}
	}
}

func TestEntriesStoreError(t *testing.T) {
	store := &funcStore{EntriesFunc: func(context.Context, aggregator.EntryQuery) (aggregator.EntryPage, error) {
		return aggregator.EntryPage{}, errors.New("disk I/O error: secret path /var/lib/x")
	}}
	s, logs := testServer(t, store, nil)
	w := get(s, "/logs/api/entries")
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status=%d", w.Code)
	}
	if diff := cmp.Diff(jsonOf(t, `{"detail":"Internal server error"}`), decode(t, w)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if strings.Contains(w.Body.String(), "disk") {
		t.Errorf("body leaks the error: %s", w.Body)
	}
	if !strings.Contains(logs.String(), "disk I/O error") {
		t.Errorf("error not logged: %s", logs)
	}
}
