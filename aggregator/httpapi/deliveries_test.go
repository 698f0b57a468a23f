package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

func TestEndpointIDAndSlug(t *testing.T) {
	// Expected ids from Python: uuid.uuid5(uuid.NAMESPACE_URL, "hooktail:endpoint:" + name).
	tests := []struct{ name, id, slug string }{
		{"webhook-server", "5e695169-7307-5628-8154-e01003b5dc7f", "webhook-server"},
		{"ops", "9223d920-a324-5faa-8928-27e459e65770", "ops"},
		{"", "3974ff78-4886-52e3-915f-1bf2396e791b", ""},
	}
	for _, tc := range tests {
		if got := httpapi.EndpointID(tc.name); got != tc.id {
			t.Errorf("EndpointID(%q) = %s, want %s", tc.name, got, tc.id)
		}
		if got := httpapi.EndpointSlug(tc.name); got != tc.slug {
			t.Errorf("EndpointSlug(%q) = %q, want %q", tc.name, got, tc.slug)
		}
	}
	for in, want := range map[string]string{
		"My Webhook__Server": "my-webhook-server", "Prod/EU 1": "prod-eu-1", "_x_": "-x-", "Ünïcode": "-n-code",
	} {
		if got := httpapi.EndpointSlug(in); got != want {
			t.Errorf("EndpointSlug(%q) = %q, want %q", in, got, want)
		}
	}
}

// fullDelivery is a failed delivery with every field the logs can carry.
func fullDelivery() *aggregator.Delivery {
	return &aggregator.Delivery{
		HookID: "d-1", Attempt: 2, Service: "webhook-server", State: aggregator.StateFailed, Status: "failed",
		EventType: "pull_request", Action: "synchronize", Repository: "hooktail", RepositoryFullName: "org/hooktail",
		PRNumber: 42, HasErrors: true,
		Error:      &aggregator.ErrorInfo{Type: "GitHubException", Message: "rate limited", Traceback: "tb"},
		ReceivedAt: ts("2026-02-12T10:00:00Z"), CompletedAt: ts("2026-02-12T10:00:01.5Z"), DurationMS: ptr(int64(1500)),
		Steps: []aggregator.Step{
			{Name: "b", Status: "failed", StartedAt: ts("2026-02-12T10:00:01Z"), DurationMS: ptr(int64(400)),
				Error: &aggregator.ErrorInfo{Type: "E", Message: "boom", Traceback: "t"}},
			{Name: "a", Status: "completed", StartedAt: ts("2026-02-12T10:00:00.25Z"), DurationMS: ptr(int64(100))},
		},
		Attempts: []aggregator.AttemptSummary{
			{Attempt: 1, State: aggregator.StateTimeout, ReceivedAt: ts("2026-02-12T09:00:00Z")},
			{Attempt: 2, State: aggregator.StateFailed, ReceivedAt: ts("2026-02-12T10:00:00Z"), CompletedAt: ts("2026-02-12T10:00:01.5Z")},
		},
	}
}

const fullDeliveryJSON = `{
	"id": "d-1", "endpoint_id": "5e695169-7307-5628-8154-e01003b5dc7f",
	"endpoint_name": "webhook-server", "endpoint_slug": "webhook-server", "status": "error",
	"request_method": null, "request_url": null,
	"request_headers": {"x-github-delivery": "d-1", "x-github-event": "pull_request"},
	"request_body": null, "response_status": null, "response_headers": null, "response_body": null,
	"error_message": "rate limited",
	"received_at": "2026-02-12T10:00:00Z", "responded_at": "2026-02-12T10:00:01.5Z", "duration_ms": 1500,
	"event_type": "pull_request", "repository": "org/hooktail", "pr_number": 42, "attempt": 2, "has_errors": true,
	"steps": [
		{"name": "a", "status": "completed", "started_at": "2026-02-12T10:00:00.25Z", "duration_ms": 100, "error": null},
		{"name": "b", "status": "failed", "started_at": "2026-02-12T10:00:01Z", "duration_ms": 400,
		 "error": {"message": "boom", "type": "E", "traceback": "t"}}
	]%s
}`

func TestDeliveryDetail(t *testing.T) {
	s, _ := testServer(t, deliveryStore(fullDelivery()), nil)
	w := get(s, "/api/logs/d-1")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	attempts := `, "attempts": [
		{"attempt": 1, "status": "timeout", "received_at": "2026-02-12T09:00:00Z", "responded_at": null},
		{"attempt": 2, "status": "error", "received_at": "2026-02-12T10:00:00Z", "responded_at": "2026-02-12T10:00:01.5Z"}]`
	want := jsonOf(t, `{"data": `+sprintf(fullDeliveryJSON, attempts)+`}`)
	if diff := cmp.Diff(want, decode(t, w)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	w = get(s, "/api/logs/missing")
	if diff := cmp.Diff(jsonOf(t, `{"error":"Log not found"}`), decode(t, w)); diff != "" || w.Code != 404 {
		t.Errorf("missing: status %d, body diff:\n%s", w.Code, diff)
	}
}

func TestDeliveryStatusMapping(t *testing.T) {
	for state, want := range map[aggregator.State]string{
		aggregator.StatePending: "pending", aggregator.StateProcessing: "forwarding", aggregator.StateCompleted: "responded",
		aggregator.StateFailed: "error", aggregator.StateTimeout: "timeout",
	} {
		d := &aggregator.Delivery{HookID: "h", Service: "s", State: state}
		s, _ := testServer(t, deliveryStore(d), nil)
		got := decode(t, get(s, "/api/logs/h")).(map[string]any)["data"].(map[string]any)
		if got["status"] != want {
			t.Errorf("%s: status %v, want %s", state, got["status"], want)
		}
		// Unknown facts are null, never invented.
		for _, k := range []string{"received_at", "responded_at", "duration_ms", "error_message", "event_type", "pr_number", "repository"} {
			if got[k] != nil {
				t.Errorf("%s: %s=%v, want null", state, k, got[k])
			}
		}
	}
}

func TestDeliveriesList(t *testing.T) {
	var got aggregator.DeliveryQuery
	calls := 0
	store := &funcStore{
		DeliveriesFunc: func(_ context.Context, q aggregator.DeliveryQuery) (aggregator.DeliveryPage, error) {
			got, calls = q, calls+1
			return aggregator.DeliveryPage{Deliveries: []aggregator.Delivery{*fullDelivery()}, Total: 142}, nil
		},
		ServicesFunc: func(context.Context) ([]string, error) { return []string{"ops", "webhook-server"}, nil },
	}
	s, _ := testServer(t, store, nil)
	tests := map[string]struct {
		query string
		want  aggregator.DeliveryQuery
	}{
		"defaults":     {"", aggregator.DeliveryQuery{Limit: 50}},
		"page 3 of 20": {"page=3&limit=20", aggregator.DeliveryQuery{Limit: 20, Offset: 40}},
		"limit 100":    {"limit=100", aggregator.DeliveryQuery{Limit: 100}},
		"endpoint": {"endpoint_id=5E695169-7307-5628-8154-E01003B5DC7F",
			aggregator.DeliveryQuery{Limit: 50, Filter: aggregator.DeliveryFilter{Services: []string{"webhook-server"}}}},
		"filters": {"repository=org/x&event_type=push,pull_request&status=responded,error,responded&has_errors=false" +
			"&pr_number=7&since=2026-02-12T10:00:00Z&until=2026-02-13&search=merge",
			aggregator.DeliveryQuery{Limit: 50, Filter: aggregator.DeliveryFilter{
				Repository: "org/x", EventTypes: []string{"push", "pull_request"},
				States:    []aggregator.State{aggregator.StateCompleted, aggregator.StateFailed},
				HasErrors: ptr(false), PRNumber: 7, Since: ts("2026-02-12T10:00:00Z"), Until: ts("2026-02-13T00:00:00Z"),
				Search: "merge",
			}}},
	}
	for name, tc := range tests {
		calls = 0
		w := get(s, "/api/logs?"+tc.query)
		if w.Code != 200 || calls != 1 {
			t.Errorf("%s: status %d, %d store calls; body %s", name, w.Code, calls, w.Body)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: query (-want +got):\n%s", name, diff)
		}
	}
	want := jsonOf(t, `{"data": [`+sprintf(fullDeliveryJSON, "")+`], "total": 142}`)
	if diff := cmp.Diff(want, decode(t, get(s, "/api/logs"))); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	// An endpoint nobody knows: empty, no query.
	calls = 0
	w := get(s, "/api/logs?endpoint_id=00000000-0000-0000-0000-000000000000")
	if diff := cmp.Diff(jsonOf(t, `{"data":[],"total":0}`), decode(t, w)); diff != "" || calls != 0 {
		t.Errorf("unknown endpoint: %d calls, body diff:\n%s", calls, diff)
	}
}

func TestDeliveriesBadParams(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil)
	for _, q := range []string{
		"page=0", "page=-1", "page=x", "page=99999999999", "limit=0", "limit=101", "limit=1.5", "limit=",
		"endpoint_id=nope", "endpoint_id=5e695169-7307-5628-8154-e01003b5dc7", "status=done", "has_errors=maybe",
		"pr_number=abc", "pr_number=0", "since=yesterday", "until=2026-02-30",
	} {
		w := get(s, "/api/logs?"+q)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400; body %s", q, w.Code, w.Body)
			continue
		}
		m, ok := decode(t, w).(map[string]any)
		if _, has := m["error"]; !ok || !has || len(m) != 1 {
			t.Errorf("%s: body %s, want {\"error\": …}", q, w.Body)
		}
	}
}

func TestEndpoints(t *testing.T) {
	s, _ := testServer(t, &funcStore{ServicesFunc: func(context.Context) ([]string, error) {
		return []string{"Prod EU", "webhook-server"}, nil
	}}, nil)
	want := jsonOf(t, `{"data":[
		{"id":"`+httpapi.EndpointID("Prod EU")+`","name":"Prod EU","slug":"prod-eu"},
		{"id":"5e695169-7307-5628-8154-e01003b5dc7f","name":"webhook-server","slug":"webhook-server"}]}`)
	if diff := cmp.Diff(want, decode(t, get(s, "/api/endpoints"))); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	failing, _ := testServer(t, &funcStore{}, nil)
	w := get(failing, "/api/endpoints")
	if diff := cmp.Diff(jsonOf(t, `{"error":"Internal server error"}`), decode(t, w)); diff != "" || w.Code != 500 {
		t.Errorf("store failure: status %d, body diff:\n%s", w.Code, diff)
	}
}
