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

// deliveryStore answers Delivery from a fixed map and nothing else.
func deliveryStore(ds ...*aggregator.Delivery) *memStore {
	m := &memStore{deliveries: map[string]*aggregator.Delivery{}}
	for _, d := range ds {
		m.deliveries[d.HookID] = d
	}
	return m
}

// partialDelivery is the reference's 6143a030 webhook_summary, with steps
// deliberately stored out of order.
func partialDelivery() *aggregator.Delivery {
	return &aggregator.Delivery{
		HookID: "6143a030-bbd7-11f0-95bd-b07354b8711c", Attempt: 1, Service: "webhook-server",
		State: aggregator.StateCompleted, Status: "partial", EventType: "pull_request", Action: "synchronize",
		Repository: "github-webhook-server", RepositoryFullName: "myk-org/github-webhook-server",
		PRNumber: 890, PRTitle: "fix: handle missing labels", Sender: "myakove", APIUser: "myakove-bot",
		ReceivedAt: ts("2026-07-31T10:15:02.114233Z"), CompletedAt: ts("2026-07-31T10:15:09.826511Z"),
		DurationMS: ptr(int64(7712)), TokenSpend: ptr(int64(23)),
		Steps: []aggregator.Step{
			{Name: "check_merge_eligibility", Status: "completed", StartedAt: ts("2026-07-31T10:15:08.337001Z"),
				DurationMS: ptr(int64(1087)), Order: 4, Source: aggregator.StepFromSummaryJSON,
				Details: json.RawMessage(`{"can_merge":false,"reason":"Missing approved from approvers: myakove\n"}`)},
			{Name: "repo_clone", Status: "completed", StartedAt: ts("2026-07-31T10:15:03.914551Z"),
				DurationMS: ptr(int64(1203)), Order: 2, Details: json.RawMessage(`{"checkout_ref":"main"}`)},
			{Name: "webhook_routing", Status: "completed", StartedAt: ts("2026-07-31T10:15:03.910012Z"),
				DurationMS: ptr(int64(5880)), Order: 1, Details: json.RawMessage(`{"event_type":"pull_request"}`)},
			{Name: "pr_handler", Status: "completed", StartedAt: ts("2026-07-31T10:15:05.119870Z"),
				DurationMS: ptr(int64(4611)), Order: 3, Details: json.RawMessage(`{"action":"synchronize","status":"ignored"}`)},
		},
		Attempts: []aggregator.AttemptSummary{{Attempt: 1, State: aggregator.StateCompleted,
			ReceivedAt: ts("2026-07-31T10:15:02.114233Z"), CompletedAt: ts("2026-07-31T10:15:09.826511Z")}},
	}
}

func TestWorkflowStepsShape(t *testing.T) {
	s, _ := testServer(t, deliveryStore(partialDelivery()), nil)
	w := get(s, "/logs/api/workflow-steps/6143a030-bbd7-11f0-95bd-b07354b8711c")
	if w.Code != http.StatusOK {
		t.Fatalf("status=%d body=%s", w.Code, w.Body)
	}
	common := `"repository":"github-webhook-server","event_type":"pull_request","pr_number":890,"error":null`
	want := jsonOf(t, `{
	  "hook_id":"6143a030-bbd7-11f0-95bd-b07354b8711c",
	  "start_time":"2026-07-31T10:15:02.114233+00:00",
	  "total_duration_ms":7712,
	  "step_count":4,
	  "steps":[
	    {"timestamp":"2026-07-31T10:15:03.910012+00:00","step_name":"webhook_routing",
	     "message":"webhook_routing: completed (5880ms)","level":"INFO",`+common+`,
	     "task_id":"webhook_routing","task_type":"webhook_routing","task_status":"completed","duration_ms":5880,
	     "step_details":{"timestamp":"2026-07-31T10:15:03.910012+00:00","status":"completed","error":null,
	       "event_type":"pull_request","duration_ms":5880},
	     "relative_time_ms":1795},
	    {"timestamp":"2026-07-31T10:15:03.914551+00:00","step_name":"repo_clone",
	     "message":"repo_clone: completed (1203ms)","level":"INFO",`+common+`,
	     "task_id":"repo_clone","task_type":"repo_clone","task_status":"completed","duration_ms":1203,
	     "step_details":{"timestamp":"2026-07-31T10:15:03.914551+00:00","status":"completed","error":null,
	       "checkout_ref":"main","duration_ms":1203},
	     "relative_time_ms":1800},
	    {"timestamp":"2026-07-31T10:15:05.119870+00:00","step_name":"pr_handler",
	     "message":"pr_handler: completed (4611ms)","level":"INFO",`+common+`,
	     "task_id":"pr_handler","task_type":"pr_handler","task_status":"completed","duration_ms":4611,
	     "step_details":{"timestamp":"2026-07-31T10:15:05.119870+00:00","status":"completed","error":null,
	       "action":"synchronize","duration_ms":4611},
	     "relative_time_ms":3005},
	    {"timestamp":"2026-07-31T10:15:08.337001+00:00","step_name":"check_merge_eligibility",
	     "message":"check_merge_eligibility: completed (1087ms)","level":"INFO",`+common+`,
	     "task_id":"check_merge_eligibility","task_type":"check_merge_eligibility","task_status":"completed",
	     "duration_ms":1087,
	     "step_details":{"timestamp":"2026-07-31T10:15:08.337001+00:00","status":"completed","error":null,
	       "can_merge":false,"reason":"Missing approved from approvers: myakove\n","duration_ms":1087},
	     "relative_time_ms":6222}
	  ],
	  "token_spend":23,
	  "event_type":"pull_request",
	  "action":"synchronize",
	  "repository":"github-webhook-server",
	  "sender":"myakove",
	  "pr":{"number":890,"title":"fix: handle missing labels","author":null},
	  "success":true,
	  "error":null,
	  "state":"completed",
	  "attempt":1,
	  "attempts":[{"attempt":1,"state":"completed","received_at":"2026-07-31T10:15:02.114233+00:00",
	    "completed_at":"2026-07-31T10:15:09.826511+00:00"}]
	}`)
	if diff := cmp.Diff(want, decode(t, w)); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}

func TestWorkflowStepsFailedAndOpenSteps(t *testing.T) {
	d := &aggregator.Delivery{
		HookID: "96d21c70-65df-11f0-89ca-d82effeb540d", Attempt: 3, State: aggregator.StateFailed,
		Status: "failed", EventType: "check_run", FirstEntryAt: ts("2026-07-31T10:20:10.502113Z"),
		Error: &aggregator.ErrorInfo{Type: "RuntimeError", Message: "Failed to fetch PR 825 ref", Traceback: "Traceback …"},
		Steps: []aggregator.Step{
			{Name: "webhook_routing", Status: "started", StartedAt: ts("2026-07-31T10:20:10.600000Z"), Order: 1},
			{Name: "repo_clone", Status: "failed", StartedAt: ts("2026-07-31T10:20:10.601000Z"), Order: 2,
				DurationMS: ptr(int64(812)),
				Error:      &aggregator.ErrorInfo{Type: "RuntimeError", Message: "Clone failed", Traceback: "Traceback (most recent call last):\n…"}},
			{Name: "cleanup", Status: "failed", StartedAt: ts("2026-07-31T10:20:11.5Z"), Order: 3, DurationMS: ptr(int64(3))},
		},
	}
	s, _ := testServer(t, deliveryStore(d), nil)
	body := decode(t, get(s, "/logs/api/workflow-steps/"+d.HookID)).(map[string]any)
	type row struct{ Message, Level, Status string }
	var got []row
	for _, st := range body["steps"].([]any) {
		m := st.(map[string]any)
		got = append(got, row{m["message"].(string), m["level"].(string), m["task_status"].(string)})
	}
	want := []row{
		{"webhook_routing: started", "DEBUG", "started"},
		{"repo_clone: failed - Clone failed", "ERROR", "failed"},
		{"cleanup: failed (3ms)", "ERROR", "failed"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	checks := map[string]any{
		"success":           false,
		"start_time":        "2026-07-31T10:20:10.502113+00:00",
		"total_duration_ms": nil,
		"pr":                nil,
		"token_spend":       nil,
		"action":            nil,
		"state":             "failed",
		"attempt":           json.Number("3"),
		"attempts":          []any{},
		"error":             map[string]any{"message": "Failed to fetch PR 825 ref", "type": "RuntimeError", "traceback": "Traceback …"},
	}
	for k, v := range checks {
		if diff := cmp.Diff(v, body[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	step1 := body["steps"].([]any)[1].(map[string]any)
	wantErr := map[string]any{"message": "Clone failed", "type": "RuntimeError", "traceback": "Traceback (most recent call last):\n…"}
	if diff := cmp.Diff(any(wantErr), step1["error"]); diff != "" {
		t.Errorf("step error (-want +got):\n%s", diff)
	}
	if got, want := step1["relative_time_ms"], json.Number("98"); got != want {
		t.Errorf("relative_time_ms=%v, want %v", got, want)
	}
	step0 := body["steps"].([]any)[0].(map[string]any)
	if step0["duration_ms"] != nil {
		t.Errorf("started step duration_ms=%v, want null", step0["duration_ms"])
	}
}

func TestWorkflowStepsSuccessByState(t *testing.T) {
	tests := map[aggregator.State]any{
		aggregator.StatePending:    nil,
		aggregator.StateProcessing: nil,
		aggregator.StateCompleted:  true,
		aggregator.StateFailed:     false,
		aggregator.StateTimeout:    false,
	}
	for state, want := range tests {
		d := &aggregator.Delivery{HookID: "h", Attempt: 1, State: state}
		s, _ := testServer(t, deliveryStore(d), nil)
		w := get(s, "/logs/api/workflow-steps/h")
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status=%d", state, w.Code)
		}
		body := decode(t, w).(map[string]any)
		if body["success"] != want {
			t.Errorf("%s: success=%v, want %v", state, body["success"], want)
		}
		if body["state"] != string(state) {
			t.Errorf("%s: state=%v", state, body["state"])
		}
		if steps, ok := body["steps"].([]any); !ok || len(steps) != 0 || body["step_count"] != json.Number("0") {
			t.Errorf("%s: steps=%v step_count=%v, want [] and 0", state, body["steps"], body["step_count"])
		}
	}
}

func TestWorkflowStepsTextSummarySteps(t *testing.T) {
	// Text summary steps carry durations only: attempt order, null times.
	d := &aggregator.Delivery{
		HookID: "h", Attempt: 1, State: aggregator.StateCompleted, ReceivedAt: ts("2026-07-31T10:00:00Z"),
		Steps: []aggregator.Step{
			{Name: "repo_clone", Status: "completed", DurationMS: ptr(int64(1203)), Order: 2, Source: aggregator.StepFromSummaryText},
			{Name: "webhook_routing", Status: "completed", DurationMS: ptr(int64(5880)), Order: 1, Source: aggregator.StepFromSummaryText},
			{Name: "pr_handler", Status: "started", Order: 3, Source: aggregator.StepFromSummaryText},
		},
	}
	s, _ := testServer(t, deliveryStore(d), nil)
	body := decode(t, get(s, "/logs/api/workflow-steps/h")).(map[string]any)
	var names []string
	for _, st := range body["steps"].([]any) {
		m := st.(map[string]any)
		names = append(names, m["step_name"].(string))
		if m["timestamp"] != nil || m["relative_time_ms"] != nil {
			t.Errorf("%s: timestamp=%v relative=%v, want nulls", m["step_name"], m["timestamp"], m["relative_time_ms"])
		}
	}
	if diff := cmp.Diff([]string{"webhook_routing", "repo_clone", "pr_handler"}, names); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestWorkflowStepsErrors(t *testing.T) {
	long := strings.Repeat("a", 101)
	tests := map[string]struct {
		path   string
		store  *funcStore
		status int
		want   string
	}{
		"unknown hook": {
			"/logs/api/workflow-steps/nope", &funcStore{DeliveryFunc: notFoundDelivery}, 404,
			`{"detail":"No data found for hook ID: nope"}`,
		},
		"hook_id over 100 chars": {
			"/logs/api/workflow-steps/" + long, &funcStore{}, 422,
			`{"detail":[{"type":"string_too_long","loc":["path","hook_id"],"msg":"String should have at most 100 characters",
			  "input":"` + long + `","ctx":{"max_length":100}}]}`,
		},
		"100 multibyte chars are fine": {
			"/logs/api/workflow-steps/" + strings.Repeat("é", 100), &funcStore{DeliveryFunc: notFoundDelivery}, 404,
			`{"detail":"No data found for hook ID: ` + strings.Repeat("é", 100) + `"}`,
		},
		"store error": {
			"/logs/api/workflow-steps/h", &funcStore{DeliveryFunc: func(context.Context, string) (*aggregator.Delivery, error) {
				return nil, errors.New("database is locked")
			}}, 500, `{"detail":"Internal server error"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := testServer(t, tc.store, nil)
			w := get(s, tc.path)
			if w.Code != tc.status {
				t.Fatalf("status=%d, want %d; body=%s", w.Code, tc.status, w.Body)
			}
			if diff := cmp.Diff(jsonOf(t, tc.want), decode(t, w)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func notFoundDelivery(_ context.Context, id string) (*aggregator.Delivery, error) {
	return nil, errors.Join(errors.New("no row for "+id), aggregator.ErrNotFound)
}

// seedStore holds seed 000's delivery: the two example steps and their
// logs. The last log line of each step lies a fraction of a millisecond
// past start+duration in the seed, so it is marked with its step, as an
// explicit marker would.
func seedStore() *memStore {
	const hook = "f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f"
	m := deliveryStore(&aggregator.Delivery{
		HookID: hook, Attempt: 1, State: aggregator.StateFailed,
		ReceivedAt: ts("2024-01-15T10:00:00Z"), LastEntryAt: ts("2024-01-15T10:00:20.234567Z"),
		Steps: []aggregator.Step{
			{Name: "clone_repository", Status: "completed", StartedAt: ts("2024-01-15T10:00:05.123456Z"), DurationMS: ptr(int64(14444))},
			{Name: "assign_reviewers", Status: "failed", StartedAt: ts("2024-01-15T10:00:20.123456Z"), DurationMS: ptr(int64(111)),
				Error: &aggregator.ErrorInfo{Type: "GitHubException", Message: "API rate limit exceeded",
					Traceback: "Traceback (most recent call last):\n  File \"webhook_server/libs/handlers/owners_files_handler.py\", line 442..."}},
		},
	})
	e := func(id int64, at, level, logger, msg, step string, pr int64, event, repo string) aggregator.Entry {
		return aggregator.Entry{ID: id, HookID: hook, Attempt: 1, Timestamp: ts(at), Level: level, LoggerName: logger,
			Message: msg, Step: step, PRNumber: pr, EventType: event, Repository: repo, Source: "webhook-server"}
	}
	m.entries = []aggregator.Entry{
		e(1, "2024-01-15T10:00:05.123456Z", "INFO", "GithubWebhook", "Starting repository clone for myk-org/github-webhook-server", "", 0, "pull_request", "myk-org/github-webhook-server"),
		e(2, "2024-01-15T10:00:05.234567Z", "DEBUG", "GithubWebhook", "Cloning branch: main, commit: abc123def456", "", 0, "", "myk-org/github-webhook-server"),
		e(3, "2024-01-15T10:00:19.567890Z", "INFO", "GithubWebhook", "Repository cloned successfully (15.2 MB)", "clone_repository", 0, "", "myk-org/github-webhook-server"),
		e(4, "2024-01-15T10:00:20.123456Z", "INFO", "OwnersFileHandler", "Assigning reviewers based on OWNERS file", "", 123, "", ""),
		e(5, "2024-01-15T10:00:20.234567Z", "ERROR", "OwnersFileHandler", "Failed to assign reviewers: API rate limit exceeded", "assign_reviewers", 123, "", ""),
	}
	return m
}

// pick keeps only the given keys of each log object.
func pick(logs []any, keys ...string) []any {
	out := make([]any, 0, len(logs))
	for _, l := range logs {
		m := map[string]any{}
		for _, k := range keys {
			m[k] = l.(map[string]any)[k]
		}
		out = append(out, m)
	}
	return out
}

func TestStepLogsSeed000(t *testing.T) {
	s, _ := testServer(t, seedStore(), nil)
	const base = "/logs/api/step-logs/f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f/"
	keys := []string{"timestamp", "level", "logger_name", "message", "hook_id", "event_type", "repository", "pr_number"}

	w := get(s, base+"clone_repository")
	if w.Code != http.StatusOK {
		t.Fatalf("status=%d body=%s", w.Code, w.Body)
	}
	body := decode(t, w).(map[string]any)
	wantStep := jsonOf(t, `{"name":"clone_repository","status":"completed","timestamp":"2024-01-15T10:00:05.123456+00:00",
		"duration_ms":14444,"error":null}`)
	if diff := cmp.Diff(wantStep, body["step"]); diff != "" {
		t.Errorf("step (-want +got):\n%s", diff)
	}
	wantLogs := jsonOf(t, `[
	  {"timestamp":"2024-01-15T10:00:05.123456+00:00","level":"INFO","logger_name":"GithubWebhook",
	   "message":"Starting repository clone for myk-org/github-webhook-server","hook_id":"f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f",
	   "event_type":"pull_request","repository":"myk-org/github-webhook-server","pr_number":null},
	  {"timestamp":"2024-01-15T10:00:05.234567+00:00","level":"DEBUG","logger_name":"GithubWebhook",
	   "message":"Cloning branch: main, commit: abc123def456","hook_id":"f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f",
	   "event_type":null,"repository":"myk-org/github-webhook-server","pr_number":null},
	  {"timestamp":"2024-01-15T10:00:19.567890+00:00","level":"INFO","logger_name":"GithubWebhook",
	   "message":"Repository cloned successfully (15.2 MB)","hook_id":"f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f",
	   "event_type":null,"repository":"myk-org/github-webhook-server","pr_number":null}
	]`).([]any)
	if diff := cmp.Diff(wantLogs, pick(body["logs"].([]any), keys...)); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	if got := body["log_count"]; got != json.Number("3") {
		t.Errorf("log_count=%v, want 3", got)
	}
	wantWindow := jsonOf(t, `{"start":"2024-01-15T10:00:05.123456+00:00","end":"2024-01-15T10:00:19.568455+00:00","exact":true}`)
	if diff := cmp.Diff(wantWindow, body["window"]); diff != "" {
		t.Errorf("window (-want +got):\n%s", diff)
	}
	// Seed key order: step, logs, log_count.
	raw := w.Body.String()
	if !(strings.Index(raw, `"step"`) < strings.Index(raw, `"logs"`) && strings.Index(raw, `"logs"`) < strings.Index(raw, `"log_count"`)) {
		t.Errorf("key order: %s", raw)
	}

	body = decode(t, get(s, base+"assign_reviewers")).(map[string]any)
	wantStep = jsonOf(t, `{"name":"assign_reviewers","status":"failed","timestamp":"2024-01-15T10:00:20.123456+00:00",
		"duration_ms":111,"error":{"message":"API rate limit exceeded","type":"GitHubException",
		"traceback":"Traceback (most recent call last):\n  File \"webhook_server/libs/handlers/owners_files_handler.py\", line 442..."}}`)
	if diff := cmp.Diff(wantStep, body["step"]); diff != "" {
		t.Errorf("failed step (-want +got):\n%s", diff)
	}
	msgs := pick(body["logs"].([]any), "message", "pr_number", "level")
	wantMsgs := jsonOf(t, `[{"message":"Assigning reviewers based on OWNERS file","pr_number":123,"level":"INFO"},
		{"message":"Failed to assign reviewers: API rate limit exceeded","pr_number":123,"level":"ERROR"}]`)
	if diff := cmp.Diff(wantMsgs, any(msgs)); diff != "" {
		t.Errorf("failed step logs (-want +got):\n%s", diff)
	}
	if got := body["log_count"]; got != json.Number("2") {
		t.Errorf("log_count=%v, want 2", got)
	}
}

func TestStepLogsErrors(t *testing.T) {
	const hook = "f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f"
	long := strings.Repeat("s", 101)
	tests := map[string]struct {
		path   string
		status int
		want   string
	}{
		"unknown hook": {"/logs/api/step-logs/f4b3c2d1.../clone_repository", 404, `{"detail":"Hook ID not found: f4b3c2d1..."}`},
		"unknown step": {"/logs/api/step-logs/" + hook + "/invalid_step", 404,
			`{"detail":"Step 'invalid_step' not found for hook_id: ` + hook + `"}`},
		"step_name too long": {"/logs/api/step-logs/" + hook + "/" + long, 422,
			`{"detail":[{"type":"string_too_long","loc":["path","step_name"],"msg":"String should have at most 100 characters",
			"input":"` + long + `","ctx":{"max_length":100}}]}`},
		"both too long, with bad limit": {"/logs/api/step-logs/" + long + "/" + long + "?limit=0", 422,
			`{"detail":[
			{"type":"string_too_long","loc":["path","hook_id"],"msg":"String should have at most 100 characters","input":"` + long + `","ctx":{"max_length":100}},
			{"type":"string_too_long","loc":["path","step_name"],"msg":"String should have at most 100 characters","input":"` + long + `","ctx":{"max_length":100}},
			{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}`},
		"limit=abc": {"/logs/api/step-logs/" + hook + "/clone_repository?limit=abc", 422,
			`{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}`},
		"limit=10001": {"/logs/api/step-logs/" + hook + "/clone_repository?limit=10001", 422,
			`{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 10000","input":"10001","ctx":{"le":10000}}]}`},
		"offset=-1": {"/logs/api/step-logs/" + hook + "/clone_repository?offset=-1", 422,
			`{"detail":[{"type":"greater_than_equal","loc":["query","offset"],"msg":"Input should be greater than or equal to 0","input":"-1","ctx":{"ge":0}}]}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := testServer(t, seedStore(), nil)
			w := get(s, tc.path)
			if w.Code != tc.status {
				t.Fatalf("status=%d, want %d; body=%s", w.Code, tc.status, w.Body)
			}
			if diff := cmp.Diff(jsonOf(t, tc.want), decode(t, w)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepLogsStoreErrors(t *testing.T) {
	d := &aggregator.Delivery{HookID: "h", Attempt: 1, Steps: []aggregator.Step{{Name: "x", Status: "started"}}}
	stores := map[string]*funcStore{
		"delivery": {DeliveryFunc: func(context.Context, string) (*aggregator.Delivery, error) {
			return nil, errors.New("boom")
		}},
		"entries": {
			DeliveryFunc: func(context.Context, string) (*aggregator.Delivery, error) { return d, nil },
			EntriesFunc: func(context.Context, aggregator.EntryQuery) (aggregator.EntryPage, error) {
				return aggregator.EntryPage{}, errors.New("boom")
			},
		},
	}
	for name, store := range stores {
		s, logs := testServer(t, store, nil)
		w := get(s, "/logs/api/step-logs/h/x")
		if w.Code != http.StatusInternalServerError {
			t.Fatalf("%s: status=%d body=%s", name, w.Code, w.Body)
		}
		if diff := cmp.Diff(jsonOf(t, `{"detail":"Internal server error"}`), decode(t, w)); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", name, diff)
		}
		if !strings.Contains(logs.String(), "boom") {
			t.Errorf("%s: error not logged", name)
		}
	}
}

// windowStore is one attempt with steps of every window kind.
func windowStore() *memStore {
	const hook = "H"
	m := deliveryStore(&aggregator.Delivery{
		HookID: hook, Attempt: 2, State: aggregator.StateCompleted,
		ReceivedAt: ts("2026-07-31T10:00:00Z"), FirstEntryAt: ts("2026-07-31T10:00:00Z"),
		CompletedAt: ts("2026-07-31T10:00:30Z"), LastEntryAt: ts("2026-07-31T10:00:31Z"),
		Steps: []aggregator.Step{
			{Name: "exact", Status: "completed", StartedAt: ts("2026-07-31T10:00:10Z"), DurationMS: ptr(int64(5000))},
			{Name: "open", Status: "started", StartedAt: ts("2026-07-31T10:00:12Z")},
			{Name: "nostart", Status: "completed", DurationMS: ptr(int64(800)), Source: aggregator.StepFromSummaryText},
			{Name: "marked", Status: "completed", StartedAt: ts("2026-07-31T10:00:20Z"), DurationMS: ptr(int64(1000))},
		},
	})
	e := func(id int64, hookID string, attempt int, at, msg, step string) aggregator.Entry {
		var t time.Time
		if at != "" {
			t = ts(at)
		}
		return aggregator.Entry{ID: id, HookID: hookID, Attempt: attempt, Timestamp: t, Message: msg, Step: step}
	}
	m.entries = []aggregator.Entry{
		e(1, hook, 2, "2026-07-31T10:00:00Z", "request", ""),
		e(2, hook, 2, "2026-07-31T10:00:09.999999Z", "before exact", ""),
		e(3, hook, 2, "2026-07-31T10:00:10Z", "exact start", ""),
		e(4, hook, 2, "2026-07-31T10:00:12.5Z", "inside", ""),
		e(5, hook, 2, "2026-07-31T10:00:15Z", "exact end", ""),
		e(6, hook, 2, "2026-07-31T10:00:15.001Z", "after exact", ""),
		e(13, hook, 2, "2026-07-31T10:00:15.000999Z", "exact end, truncated ms", ""),
		e(7, hook, 2, "2026-07-31T10:00:05Z", "early marker", "marked"),
		e(8, hook, 2, "2026-07-31T10:00:20.5Z", "marked inside", "marked"),
		e(9, hook, 2, "2026-07-31T10:00:31Z", "summary", ""),
		e(10, hook, 1, "2026-07-31T10:00:12.5Z", "old attempt", ""),
		e(11, "OTHER", 2, "2026-07-31T10:00:12.5Z", "other hook", ""),
		e(12, hook, 2, "", "no timestamp", ""),
	}
	return m
}

func TestStepLogsWindows(t *testing.T) {
	tests := map[string]struct {
		target    string
		messages  []string
		count     int64
		window    string
		timestamp any
	}{
		"exact window, bounds inclusive": {
			"exact", []string{"exact start", "inside", "exact end", "exact end, truncated ms"}, 4,
			`{"start":"2026-07-31T10:00:10+00:00","end":"2026-07-31T10:00:15.000999+00:00","exact":true}`,
			"2026-07-31T10:00:10+00:00",
		},
		"open window runs to the attempt's last entry": {
			"open", []string{"inside", "exact end", "exact end, truncated ms", "after exact", "marked inside", "summary"}, 6,
			`{"start":"2026-07-31T10:00:12+00:00","end":"2026-07-31T10:00:31+00:00","exact":false}`,
			"2026-07-31T10:00:12+00:00",
		},
		"no start: the whole attempt": {
			"nostart", []string{"no timestamp", "request", "early marker", "before exact", "exact start", "inside",
				"exact end", "exact end, truncated ms", "after exact", "marked inside", "summary"}, 11,
			`{"start":"2026-07-31T10:00:00+00:00","end":"2026-07-31T10:00:31+00:00","exact":false}`,
			nil,
		},
		"explicit marker outside the window": {
			"marked", []string{"early marker", "marked inside"}, 2,
			`{"start":"2026-07-31T10:00:20+00:00","end":"2026-07-31T10:00:21.000999+00:00","exact":true}`,
			"2026-07-31T10:00:20+00:00",
		},
		"page of an exact window": {
			"exact?limit=2&offset=1", []string{"inside", "exact end"}, 4, "", "2026-07-31T10:00:10+00:00",
		},
		"page with a merged marker": {
			"marked?limit=1&offset=1", []string{"marked inside"}, 2, "", "2026-07-31T10:00:20+00:00",
		},
		"page of the whole attempt": {
			"nostart?limit=3&offset=8", []string{"after exact", "marked inside", "summary"}, 11, "", nil,
		},
		"offset past the end": {
			"marked?offset=5", []string{}, 2, "", "2026-07-31T10:00:20+00:00",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := testServer(t, windowStore(), nil)
			w := get(s, "/logs/api/step-logs/H/"+tc.target)
			if w.Code != http.StatusOK {
				t.Fatalf("status=%d body=%s", w.Code, w.Body)
			}
			body := decode(t, w).(map[string]any)
			got := []string{}
			for _, l := range body["logs"].([]any) {
				got = append(got, l.(map[string]any)["message"].(string))
			}
			if diff := cmp.Diff(tc.messages, got); diff != "" {
				t.Errorf("logs (-want +got):\n%s", diff)
			}
			if n, _ := body["log_count"].(json.Number).Int64(); n != tc.count {
				t.Errorf("log_count=%v, want %d", body["log_count"], tc.count)
			}
			if tc.window != "" {
				if diff := cmp.Diff(jsonOf(t, tc.window), body["window"]); diff != "" {
					t.Errorf("window (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.timestamp, body["step"].(map[string]any)["timestamp"]); diff != "" {
				t.Errorf("step.timestamp (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepLogsNoCap(t *testing.T) {
	// More entries than one store page and than upstream's 500 cap.
	const n = 10_500
	m := deliveryStore(&aggregator.Delivery{HookID: "H", Attempt: 1, Steps: []aggregator.Step{
		{Name: "big", Status: "completed", StartedAt: ts("2026-07-31T10:00:00Z"), DurationMS: ptr(int64(3_600_000))},
	}})
	start := ts("2026-07-31T10:00:00Z")
	for i := range n {
		m.entries = append(m.entries, aggregator.Entry{ID: int64(i + 1), HookID: "H", Attempt: 1,
			Timestamp: start.Add(time.Duration(i) * time.Millisecond), Message: "line"})
	}
	s, _ := testServer(t, m, nil)
	body := decode(t, get(s, "/logs/api/step-logs/H/big")).(map[string]any)
	if got := len(body["logs"].([]any)); got != n {
		t.Errorf("len(logs)=%d, want %d", got, n)
	}
	if got := body["log_count"]; got != json.Number("10500") {
		t.Errorf("log_count=%v", got)
	}
	first := body["logs"].([]any)[0].(map[string]any)["id"]
	last := body["logs"].([]any)[n-1].(map[string]any)["id"]
	if first != json.Number("1") || last != json.Number("10500") {
		t.Errorf("order: first id=%v last id=%v, want oldest first", first, last)
	}
}

// TestStepLogsFailedStepRunsOn checks that a failed step's lines include
// the failure's report, logged after the step ended by the code that
// caught it, up to the next step's start or the attempt's end.
func TestStepLogsFailedStepRunsOn(t *testing.T) {
	const hook = "F"
	m := deliveryStore(&aggregator.Delivery{
		HookID: hook, Attempt: 1, State: aggregator.StateFailed,
		ReceivedAt: ts("2026-07-31T10:00:00Z"), FirstEntryAt: ts("2026-07-31T10:00:00Z"),
		CompletedAt: ts("2026-07-31T10:00:09Z"), LastEntryAt: ts("2026-07-31T10:00:09Z"),
		Steps: []aggregator.Step{
			{Name: "routing", Status: "started", StartedAt: ts("2026-07-31T10:00:00Z")},
			{Name: "clone", Status: "failed", StartedAt: ts("2026-07-31T10:00:01Z"), DurationMS: ptr(int64(1000))},
			{Name: "late", Status: "completed", StartedAt: ts("2026-07-31T10:00:05Z"), DurationMS: ptr(int64(1000))},
			{Name: "last", Status: "failed", StartedAt: ts("2026-07-31T10:00:07Z"), DurationMS: ptr(int64(500))},
		},
	})
	e := func(id int64, at, msg string) aggregator.Entry {
		return aggregator.Entry{ID: id, HookID: hook, Attempt: 1, Timestamp: ts(at), Message: msg}
	}
	m.entries = []aggregator.Entry{
		e(1, "2026-07-31T10:00:00.5Z", "before"),
		e(2, "2026-07-31T10:00:01.5Z", "cloning"),
		e(3, "2026-07-31T10:00:02.004Z", "Unexpected error in background webhook processing"),
		e(4, "2026-07-31T10:00:04.999Z", "still reporting"),
		e(5, "2026-07-31T10:00:05Z", "late step"),
		e(6, "2026-07-31T10:00:07.2Z", "last step"),
		e(7, "2026-07-31T10:00:09Z", "[FAILED] Webhook completed"),
	}
	tests := map[string][]string{
		"clone": {"cloning", "Unexpected error in background webhook processing", "still reporting"},
		"late":  {"late step"},
		"last":  {"last step", "[FAILED] Webhook completed"},
	}
	for step, want := range tests {
		s, _ := testServer(t, m, nil)
		w := get(s, "/logs/api/step-logs/"+hook+"/"+step)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d body %s", step, w.Code, w.Body)
		}
		got := []string{}
		for _, l := range decode(t, w).(map[string]any)["logs"].([]any) {
			got = append(got, l.(map[string]any)["message"].(string))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: logs (-want +got):\n%s", step, diff)
		}
	}
}
