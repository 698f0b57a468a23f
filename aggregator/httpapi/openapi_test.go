package httpapi

// White-box: the drift test walks the Server's mux router, which is not
// exported.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/export"
)

// openAPIUnrouted are documented operations that Server does not route
// (none: every documented operation is routed).
var openAPIUnrouted = map[string]bool{}

// openAPIExportJobs answers the export routes: job "done" is completed with
// a two-line file, job "busy" is processing, any other is unknown.
type openAPIExportJobs struct{}

func (openAPIExportJobs) Submit(_ context.Context, req export.Request, owner string) (export.Job, bool, error) {
	return export.Job{ID: "new", Request: req, Owner: owner, Status: export.StatusProcessing,
		CreatedAt: time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)}, true, nil
}

func (j openAPIExportJobs) Job(_ context.Context, id string) (export.Job, error) {
	at := time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)
	switch id {
	case "done":
		return export.Job{ID: id, Status: export.StatusCompleted, RowCount: 1, File: "done.csv",
			CreatedAt: at, CompletedAt: at.Add(time.Second), ExpiresAt: at.Add(24 * time.Hour)}, nil
	case "busy":
		return export.Job{ID: id, Status: export.StatusProcessing, CreatedAt: at}, nil
	}
	return export.Job{}, aggregator.ErrNotFound
}

func (j openAPIExportJobs) Open(ctx context.Context, id string) (*export.File, error) {
	job, err := j.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if job.Status != export.StatusCompleted {
		return nil, export.ErrNotReady
	}
	const content = "OperationLogTransactionId\r\nh1\r\n"
	return &export.File{Job: job, Content: nopReadSeekCloser{strings.NewReader(content)}, Size: int64(len(content))}, nil
}

type nopReadSeekCloser struct{ io.ReadSeeker }

func (nopReadSeekCloser) Close() error { return nil }

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIAccess are the values of the x-hooktail-access extension.
var openAPIAccess = []string{"open", "trusted-networks", "data", "trusted-networks-and-key", "owner"}

// openAPITestStore fails the test loudly (a recovered panic, answered 500)
// if a handler reaches the store: these tests never get that far.
type openAPITestStore struct{ aggregator.Store }

// newOpenAPITestServer builds a Server with every optional route on
// (/metrics) and the given API keys.
func newOpenAPITestServer(t *testing.T, keys []APIKey) *Server {
	t.Helper()
	s, err := New(Options{
		Store:   openAPITestStore{},
		Logger:  slog.New(slog.DiscardHandler),
		APIKeys: keys,
		Exports: openAPIExportJobs{},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = io.WriteString(w, "# no metrics\n")
		}),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// openAPIDoc is the part of an OpenAPI document these tests read.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Info       map[string]any                        `json:"info"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

// openAPIOperation is one operation of a path item.
type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Parameters  []json.RawMessage          `json:"parameters"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    []map[string][]string      `json:"security"`
	Access      string                     `json:"x-hooktail-access"`
}

type openAPIParameter struct {
	Ref      string          `json:"$ref"`
	Name     string          `json:"name"`
	In       string          `json:"in"`
	Required bool            `json:"required"`
	Schema   json.RawMessage `json:"schema"`
}

func parseOpenAPIDoc(t *testing.T) *openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	dec := json.NewDecoder(strings.NewReader(string(openAPIDocument)))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("openapi.json: data after the document (%v)", err)
	}
	return &doc
}

// operations returns every operation of the document keyed "METHOD path".
func (d *openAPIDoc) operations(t *testing.T) map[string]openAPIOperation {
	t.Helper()
	out := map[string]openAPIOperation{}
	for path, item := range d.Paths {
		for _, m := range openAPIMethods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", m, path, err)
			}
			out[strings.ToUpper(m)+" "+path] = op
		}
	}
	return out
}

// resolve follows a local "#/components/<kind>/<name>" reference.
func (d *openAPIDoc) resolve(ref string) (json.RawMessage, bool) {
	rest, ok := strings.CutPrefix(ref, "#/components/")
	if !ok {
		return nil, false
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, false
	}
	v, ok := d.Components[kind][name]
	return v, ok
}

// parameter resolves a parameter object.
func (d *openAPIDoc) parameter(t *testing.T, raw json.RawMessage) openAPIParameter {
	t.Helper()
	var p openAPIParameter
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("parameter %s: %v", raw, err)
	}
	if p.Ref == "" {
		return p
	}
	target, ok := d.resolve(p.Ref)
	if !ok {
		t.Fatalf("parameter $ref %q does not resolve", p.Ref)
	}
	return d.parameter(t, target)
}

// statusCode is a response key of an operation (no "default", no "2XX").
var statusCode = regexp.MustCompile(`^[1-5][0-9][0-9]$`)

// templateParams are the {name} segments of a path template.
var templateParams = regexp.MustCompile(`\{([^{}/]+)\}`)

// muxTemplate turns a mux path template into an OpenAPI one: a variable
// with a pattern, {name:pattern}, becomes {name}.
func muxTemplate(tpl string) string {
	var b strings.Builder
	depth := 0
	skipping := false
	for _, c := range tpl {
		switch {
		case c == '{':
			depth++
			if depth > 1 && skipping {
				continue
			}
		case c == '}':
			depth--
			if depth > 0 && skipping {
				continue
			}
			skipping = false
		case c == ':' && depth == 1:
			skipping = true
			continue
		case skipping:
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func TestMuxTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/healthz":                  "/healthz",
		"/api/logs/{id}":            "/api/logs/{id}",
		"/a/{id:[0-9]+}/b":          "/a/{id}/b",
		"/a/{id:[a-z]{2,4}}/{x}":    "/a/{id}/{x}",
		"/{hook_id}/{step_name:.+}": "/{hook_id}/{step_name}",
	} {
		if got := muxTemplate(in); got != want {
			t.Errorf("muxTemplate(%q)=%q, want %q", in, got, want)
		}
	}
}

// routedOperations walks the server's router: "METHOD template" for every
// route with methods, and the templates of routes without (which match
// every method: method-not-allowed fallbacks).
func routedOperations(t *testing.T, s *Server) (ops map[string]bool, anyMethod map[string]bool) {
	t.Helper()
	ops, anyMethod = map[string]bool{}, map[string]bool{}
	err := s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return fmt.Errorf("route without a path template: %w", err)
		}
		path := muxTemplate(tpl)
		methods, err := route.GetMethods()
		if err != nil {
			anyMethod[path] = true
			return nil
		}
		for _, m := range methods {
			ops[strings.ToUpper(m)+" "+path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk router: %v", err)
	}
	return ops, anyMethod
}

// TestOpenAPIMatchesRouter fails when a route is not documented or a
// documented operation is not routed.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc := parseOpenAPIDoc(t)
	documented := doc.operations(t)
	routed, anyMethod := routedOperations(t, newOpenAPITestServer(t, nil))

	for _, key := range slices.Sorted(maps.Keys(routed)) {
		if _, ok := documented[key]; !ok {
			t.Errorf("route %s is not in openapi.json", key)
		}
		if openAPIUnrouted[key] {
			t.Errorf("%s is routed now: remove it from openAPIUnrouted", key)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(anyMethod)) {
		if _, ok := doc.Paths[path]; !ok {
			t.Errorf("route %s (any method) is not in openapi.json", path)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(documented)) {
		if !routed[key] && !openAPIUnrouted[key] {
			t.Errorf("openapi.json documents %s, which is not routed", key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(openAPIUnrouted)) {
		if _, ok := documented[key]; !ok {
			t.Errorf("openAPIUnrouted lists %s, which openapi.json does not document", key)
		}
	}
}

// TestOpenAPIDocumentValid checks the document's structure: what an
// OpenAPI 3.x document needs, resolvable references, and path parameters
// that match the templates.
func TestOpenAPIDocumentValid(t *testing.T) {
	doc := parseOpenAPIDoc(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") && !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi=%q, want 3.0.x or 3.1.x", doc.OpenAPI)
	}
	for _, k := range []string{"title", "version"} {
		if s, _ := doc.Info[k].(string); s == "" {
			t.Errorf("info.%s is missing", k)
		}
	}
	if len(doc.Paths) == 0 {
		t.Fatal("no paths")
	}

	// Every $ref anywhere resolves.
	var all any
	if err := json.Unmarshal(openAPIDocument, &all); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, found := doc.resolve(ref); !found {
					t.Errorf("%s: $ref %q does not resolve", at, ref)
				}
			}
			for k, e := range x {
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(all, "#")

	schemes := doc.Components["securitySchemes"]
	ids := map[string]string{}
	ops := doc.operations(t)
	for _, key := range slices.Sorted(maps.Keys(ops)) {
		op := ops[key]
		method, path, _ := strings.Cut(key, " ")
		if op.OperationID == "" {
			t.Errorf("%s: no operationId", key)
		} else if prev, dup := ids[op.OperationID]; dup {
			t.Errorf("%s: operationId %q is also %s's", key, op.OperationID, prev)
		}
		ids[op.OperationID] = key
		if !slices.Contains(openAPIAccess, op.Access) {
			t.Errorf("%s: x-hooktail-access=%q, want one of %q", key, op.Access, openAPIAccess)
		}
		if op.Security == nil {
			t.Errorf("%s: no security requirement (use [] for none)", key)
		}
		for _, req := range op.Security {
			for name := range req {
				if _, ok := schemes[name]; !ok {
					t.Errorf("%s: security scheme %q is not declared", key, name)
				}
			}
		}
		if len(op.Responses) == 0 {
			t.Errorf("%s: no responses", key)
		}
		for code, raw := range op.Responses {
			if !statusCode.MatchString(code) {
				t.Errorf("%s: response %q is not a status code", key, code)
			}
			var r struct {
				Ref         string `json:"$ref"`
				Description string `json:"description"`
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("%s %s: %v", key, code, err)
			}
			if r.Ref != "" {
				target, _ := doc.resolve(r.Ref)
				_ = json.Unmarshal(target, &r)
			}
			if r.Description == "" {
				t.Errorf("%s %s: response without a description", key, code)
			}
		}

		// Path parameters: exactly the template's, required.
		declared := map[string]bool{}
		var params []json.RawMessage
		if raw, ok := doc.Paths[path]["parameters"]; ok {
			if err := json.Unmarshal(raw, &params); err != nil {
				t.Fatalf("%s parameters: %v", path, err)
			}
		}
		params = append(params, op.Parameters...)
		seen := map[string]bool{}
		for _, raw := range params {
			p := doc.parameter(t, raw)
			if p.Name == "" || p.In == "" || len(p.Schema) == 0 {
				t.Errorf("%s: parameter %s lacks name, in or schema", key, raw)
			}
			if id := p.In + " " + p.Name; seen[id] {
				t.Errorf("%s: parameter %s declared twice", key, id)
			} else {
				seen[id] = true
			}
			if p.In == "path" {
				declared[p.Name] = true
				if !p.Required {
					t.Errorf("%s: path parameter %q is not required", key, p.Name)
				}
			}
		}
		inTemplate := map[string]bool{}
		for _, m := range templateParams.FindAllStringSubmatch(path, -1) {
			inTemplate[m[1]] = true
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
			}
		}
		for name := range declared {
			if !inTemplate[name] {
				t.Errorf("%s: path parameter %q is not in the template", key, name)
			}
		}

		// HEAD answers what GET answers.
		if method == http.MethodHead {
			get, ok := ops["GET "+path]
			if !ok {
				t.Errorf("%s without GET", key)
				continue
			}
			if g, h := slices.Sorted(maps.Keys(get.Responses)), slices.Sorted(maps.Keys(op.Responses)); !slices.Equal(g, h) {
				t.Errorf("%s answers %v, GET answers %v", key, h, g)
			}
			if get.Access != op.Access {
				t.Errorf("%s access %q, GET's %q", key, op.Access, get.Access)
			}
		}
	}
}

// TestOpenAPIAccessAsDocumented sends every routed operation requests the
// access check must refuse, or let through, according to the operation's
// x-hooktail-access, and checks that each status met is documented.
func TestOpenAPIAccessAsDocumented(t *testing.T) {
	const (
		trusted   = "127.0.0.1:40000"
		untrusted = "192.0.2.1:40000"
		token     = "openapi-test-token"
	)
	keys := func(role Role) []APIKey {
		return []APIKey{{Name: "k", TokenSHA256: sha256.Sum256([]byte(token)), Role: role, Endpoints: []string{AllEndpoints}}}
	}
	// want is the status the access check answers, 0 for "let through"
	// (anything but 401 and 403), by scenario and access.
	scenarios := []struct {
		name   string
		keys   []APIKey
		remote string
		bearer bool
		want   map[string]int
	}{
		{"no keys, untrusted", nil, untrusted, false, map[string]int{
			"open": 0, "trusted-networks": 403, "data": 403, "trusted-networks-and-key": 403, "owner": 403}},
		{"keys, trusted, no token", keys(RoleViewer), trusted, false, map[string]int{
			"open": 0, "trusted-networks": 0, "data": 401, "trusted-networks-and-key": 401, "owner": 401}},
		{"keys, untrusted, no token", keys(RoleViewer), untrusted, false, map[string]int{
			"open": 0, "trusted-networks": 403, "data": 401, "trusted-networks-and-key": 403, "owner": 401}},
		{"viewer key, trusted", keys(RoleViewer), trusted, true, map[string]int{"owner": 403}},
	}
	ops := parseOpenAPIDoc(t).operations(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := newOpenAPITestServer(t, sc.keys)
			routed, _ := routedOperations(t, s)
			for _, key := range slices.Sorted(maps.Keys(ops)) {
				op := ops[key]
				want, tested := sc.want[op.Access]
				if !tested || !routed[key] {
					continue
				}
				method, path, _ := strings.Cut(key, " ")
				path = templateParams.ReplaceAllString(path, "x")
				r := httptest.NewRequest(method, path, nil)
				r.RemoteAddr = sc.remote
				if sc.bearer {
					r.Header.Set("Authorization", "Bearer "+token)
				}
				w := httptest.NewRecorder()
				s.ServeHTTP(w, r)
				switch {
				case want != 0 && w.Code != want:
					t.Errorf("%s (%s): status=%d, want %d; body=%s", key, op.Access, w.Code, want, w.Body)
				case want == 0 && (w.Code == http.StatusUnauthorized || w.Code == http.StatusForbidden):
					t.Errorf("%s (%s): refused with %d; body=%s", key, op.Access, w.Code, w.Body)
				}
				if _, ok := op.Responses[fmt.Sprint(w.Code)]; !ok {
					t.Errorf("%s answered %d, which openapi.json does not document", key, w.Code)
				}
			}
		})
	}
}

// TestOpenAPIRoute checks GET /openapi.json: the document, as JSON, to
// trusted networks only, whatever the API keys.
func TestOpenAPIRoute(t *testing.T) {
	viewer := []APIKey{{Name: "v", TokenSHA256: sha256.Sum256([]byte("t")), Role: RoleViewer, Endpoints: []string{AllEndpoints}}}
	tests := map[string]struct {
		keys   []APIKey
		method string
		remote string
		status int
		body   string
	}{
		"trusted":                      {nil, http.MethodGet, "127.0.0.1:1", http.StatusOK, string(openAPIDocument)},
		"trusted IPv6":                 {nil, http.MethodGet, "[::1]:1", http.StatusOK, string(openAPIDocument)},
		"trusted HEAD":                 {nil, http.MethodHead, "127.0.0.1:1", http.StatusOK, ""},
		"trusted without key, keys on": {viewer, http.MethodGet, "127.0.0.1:1", http.StatusOK, string(openAPIDocument)},
		"untrusted":                    {nil, http.MethodGet, "192.0.2.1:1", http.StatusForbidden, `{"detail":"` + detailForbidden + `"}` + "\n"},
		"untrusted, keys on":           {viewer, http.MethodGet, "192.0.2.1:1", http.StatusForbidden, `{"detail":"` + detailForbidden + `"}` + "\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newOpenAPITestServer(t, tc.keys)
			r := httptest.NewRequest(tc.method, "/openapi.json", nil)
			r.RemoteAddr = tc.remote
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status=%d, want %d; body=%.200s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("Content-Type"); got != contentTypeJSON {
				t.Errorf("Content-Type=%q, want %q", got, contentTypeJSON)
			}
			if got := w.Body.String(); got != tc.body {
				t.Errorf("body=%.200q, want %.200q", got, tc.body)
			}
		})
	}
}

func TestOpenAPIRouteConditional(t *testing.T) {
	s := newOpenAPITestServer(t, nil)
	get := func(h http.Header) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
		r.RemoteAddr = "127.0.0.1:1"
		maps.Copy(r.Header, h)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	first := get(nil)
	etag := first.Header().Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Fatalf("ETag=%q, want a strong hex validator", etag)
	}
	if w := get(http.Header{"If-None-Match": {etag}}); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match %s: status=%d, body %d bytes; want 304 without a body", etag, w.Code, w.Body.Len())
	}
	if w := get(http.Header{"If-None-Match": {`"other"`}}); w.Code != http.StatusOK || w.Body.Len() != len(openAPIDocument) {
		t.Errorf("If-None-Match of another version: status=%d, body %d bytes; want 200 with the document", w.Code, w.Body.Len())
	}
}

// openAPIShapeStore answers every store call with fixed data: one full and
// one nearly empty entry, and one failed delivery "h1" of endpoint
// "webhook-server" with a failed step.
type openAPIShapeStore struct{ aggregator.Store }

func openAPIShapeDelivery() *aggregator.Delivery {
	at := time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC)
	ms := int64(1500)
	spend := int64(3)
	boom := &aggregator.ErrorInfo{Type: "GitHubException", Message: "API rate limit exceeded", Traceback: "Traceback …"}
	return &aggregator.Delivery{
		HookID: "h1", Attempt: 2, Service: "webhook-server", State: aggregator.StateFailed,
		EventType: "pull_request", Action: "synchronize", Repository: "repo", RepositoryFullName: "org/repo",
		PRNumber: 5, PRTitle: "Fix", Sender: "alice", HasErrors: true, Error: boom,
		ReceivedAt: at, CompletedAt: at.Add(2 * time.Second), DurationMS: &ms, TokenSpend: &spend,
		FirstEntryAt: at, LastEntryAt: at.Add(2 * time.Second),
		Steps: []aggregator.Step{
			{Name: "clone_repository", Status: "completed", StartedAt: at, DurationMS: &ms, Details: json.RawMessage(`{"branch":"main"}`), Order: 1},
			{Name: "assign_reviewers", Status: "failed", Error: boom, Order: 2},
		},
		Attempts: []aggregator.AttemptSummary{
			{Attempt: 1, State: aggregator.StateCompleted, ReceivedAt: at.Add(-time.Hour), CompletedAt: at.Add(-time.Hour + time.Second)},
			{Attempt: 2, State: aggregator.StateFailed, ReceivedAt: at},
		},
	}
}

func (openAPIShapeStore) Entries(_ context.Context, q aggregator.EntryQuery) (aggregator.EntryPage, error) {
	at := time.Date(2026, 7, 31, 10, 15, 2, 0, time.UTC)
	spend := int64(7)
	all := []aggregator.Entry{
		{ID: 1, Source: "webhook-server", Offset: 10, File: "/data/logs/webhook-server.log", AgentID: "a1",
			Timestamp: at, Level: "ERROR", LoggerName: "GithubWebhook", Message: "Failed to assign reviewers",
			HookID: "h1", EventType: "pull_request", Repository: "repo", PRNumber: 5, GithubUser: "bot",
			TaskID: "assign_reviewers", TaskType: "assign_reviewers", TaskStatus: "failed", TokenSpend: &spend,
			Step: "assign_reviewers", ExcInfo: "Traceback …", Attempt: 2, Details: json.RawMessage(`{"k":"v"}`)},
		{ID: 2, Source: "webhook-server", Message: "a line without a header", ParseError: true, Truncated: true},
	}
	page := aggregator.EntryPage{Total: int64(len(all))}
	page.Entries = all[min(q.Offset, len(all)):]
	if q.Limit > 0 {
		page.Entries = page.Entries[:min(q.Limit, len(page.Entries))]
	}
	return page, nil
}

func (openAPIShapeStore) Delivery(_ context.Context, hookID string) (*aggregator.Delivery, error) {
	if hookID != "h1" {
		return nil, aggregator.ErrNotFound
	}
	return openAPIShapeDelivery(), nil
}

func (openAPIShapeStore) Deliveries(_ context.Context, q aggregator.DeliveryQuery) (aggregator.DeliveryPage, error) {
	page := aggregator.DeliveryPage{Total: 1}
	if q.Offset == 0 {
		d := openAPIShapeDelivery()
		d.Attempts = nil
		page.Deliveries = []aggregator.Delivery{*d}
	}
	return page, nil
}

func (openAPIShapeStore) Services(context.Context) ([]string, error) {
	return []string{"webhook-server"}, nil
}

// Tail answers the entries of Entries past AfterID, by ID.
func (st openAPIShapeStore) Tail(ctx context.Context, q aggregator.TailQuery) (aggregator.TailPage, error) {
	all, _ := st.Entries(ctx, aggregator.EntryQuery{})
	page := aggregator.TailPage{LastID: 2}
	for _, e := range all.Entries {
		if e.ID > q.AfterID {
			page.Entries = append(page.Entries, e)
		}
	}
	return page, nil
}

func (openAPIShapeStore) LastID(context.Context) (int64, error) { return 2, nil }

func (openAPIShapeStore) Changed() <-chan struct{} { return nil }
func (openAPIShapeStore) Filled() <-chan struct{}  { return nil }

// cancelOnReady records an answer and, once an event stream has written
// its ready event, cancels the request, which ends the stream.
type cancelOnReady struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (c cancelOnReady) Write(b []byte) (int, error) {
	n, err := c.ResponseRecorder.Write(b)
	if strings.HasPrefix(c.Header().Get("Content-Type"), contentTypeEventStream) &&
		strings.Contains(c.Body.String(), "\nevent: ready\n") {
		c.cancel()
	}
	return n, err
}

// TestOpenAPIResponsesAsDocumented sends requests that succeed or fail in
// each documented way and checks every answer against the document: its
// status is documented, its media type too, and a JSON body matches the
// schema (objects strictly: an undocumented key is an error).
func TestOpenAPIResponsesAsDocumented(t *testing.T) {
	doc := parseOpenAPIDoc(t)
	ops := doc.operations(t)
	s, err := New(Options{
		Store:   openAPIShapeStore{},
		Logger:  slog.New(slog.DiscardHandler),
		Exports: openAPIExportJobs{},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = io.WriteString(w, "# no metrics\n")
		}),
		Ready: func(ctx context.Context) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		op, target string
		status     int
	}{
		{"GET /healthz", "/healthz", 200},
		{"GET /readyz", "/readyz", 200},
		{"GET /metrics", "/metrics", 200},
		{"GET /openapi.json", "/openapi.json", 200},
		{"GET /logs/api/entries", "/logs/api/entries?level=ERROR&start_time=2026-07-31T00:00:00", 200},
		{"GET /logs/api/entries", "/logs/api/entries?start_time=yesterday", 400},
		{"GET /logs/api/entries", "/logs/api/entries?limit=0&offset=-1&pr_number=abc", 422},
		{"GET /logs/api/export", "/logs/api/export?format_type=json&hook_id=h1", 200},
		{"GET /logs/api/export", "/logs/api/export?limit=60000", 413},
		{"GET /logs/api/export", "/logs/api/export?format_type=csv", 422},
		{"GET /logs/api/workflow-steps/{hook_id}", "/logs/api/workflow-steps/h1", 200},
		{"GET /logs/api/workflow-steps/{hook_id}", "/logs/api/workflow-steps/nope", 404},
		{"GET /logs/api/workflow-steps/{hook_id}", "/logs/api/workflow-steps/" + strings.Repeat("h", 101), 422},
		{"GET /logs/api/step-logs/{hook_id}/{step_name}", "/logs/api/step-logs/h1/clone_repository", 200},
		{"GET /logs/api/step-logs/{hook_id}/{step_name}", "/logs/api/step-logs/h1/assign_reviewers?limit=1&offset=1", 200},
		{"GET /logs/api/step-logs/{hook_id}/{step_name}", "/logs/api/step-logs/h1/nope", 404},
		{"GET /logs/api/step-logs/{hook_id}/{step_name}", "/logs/api/step-logs/h1/x?limit=10001", 422},
		{"GET /logs/api/pr-flow/{identifier}", "/logs/api/pr-flow/hook-h1", 200},
		{"GET /logs/api/pr-flow/{identifier}", "/logs/api/pr-flow/pr-5", 200},
		{"GET /logs/api/pr-flow/{identifier}", "/logs/api/pr-flow/pr-x", 400},
		{"GET /logs/api/pr-flow/{identifier}", "/logs/api/pr-flow/nope", 404},
		{"GET /logs/api/stream", "/logs/api/stream?after=0&level=WARN&step=assign_reviewers", 200},
		{"GET /logs/api/stream", "/logs/api/stream?backlog=2", 200},
		{"GET /logs/api/stream", "/logs/api/stream?backlog=1001&after=-1", 422},
		{"GET /logs", "/logs?level=warn&service=webhook-server&startDate=2026-07-31T00:00:00Z", 200},
		{"GET /logs", "/logs?limit=1", 200},
		{"GET /logs", "/logs?startDate=nope", 400},
		{"GET /api/logs", "/api/logs?status=error&has_errors=true&since=2026-07-31", 200},
		{"GET /api/logs", "/api/logs?limit=101", 400},
		{"GET /api/logs/{id}", "/api/logs/h1", 200},
		{"GET /api/logs/{id}", "/api/logs/nope", 404},
		{"GET /api/endpoints", "/api/endpoints", 200},
		{"GET /api/exports/{exportId}", "/api/exports/done", 200},
		{"GET /api/exports/{exportId}", "/api/exports/nope", 404},
		{"GET /api/exports/{exportId}/file", "/api/exports/done/file", 200},
		{"GET /api/exports/{exportId}/file", "/api/exports/busy/file", 409},
		{"GET /api/exports/{exportId}/file", "/api/exports/nope/file", 404},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			op, ok := ops[tc.op]
			if !ok {
				t.Fatalf("%s is not documented", tc.op)
			}
			covered[tc.op] = true
			// An event stream ends once it is ready (cancelOnReady).
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, tc.target, nil)
			r.RemoteAddr = "127.0.0.1:1"
			w := httptest.NewRecorder()
			s.ServeHTTP(cancelOnReady{w, cancel}, r)
			if w.Code != tc.status {
				t.Fatalf("status=%d, want %d; body=%.300s", w.Code, tc.status, w.Body)
			}
			doc.checkResponse(t, op, w)
		})
	}
	for key := range ops {
		if strings.HasPrefix(key, "GET ") && !covered[key] && !openAPIUnrouted[key] {
			t.Errorf("no request checks the answers of %s", key)
		}
	}
}

// checkResponse checks a recorded answer against op's documented ones.
func (d *openAPIDoc) checkResponse(t *testing.T, op openAPIOperation, w *httptest.ResponseRecorder) {
	t.Helper()
	raw, ok := op.Responses[fmt.Sprint(w.Code)]
	if !ok {
		t.Fatalf("status %d is not documented", w.Code)
	}
	var resp struct {
		Ref     string `json:"$ref"`
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
			// Events are the data schemas of an event stream's events,
			// by event name.
			Events map[string]json.RawMessage `json:"x-hooktail-events"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Ref != "" {
		target, _ := d.resolve(resp.Ref)
		if err := json.Unmarshal(target, &resp); err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ := strings.Cut(w.Header().Get("Content-Type"), ";")
	var (
		schema json.RawMessage
		events map[string]json.RawMessage
	)
	for mt, c := range resp.Content {
		if mt, _, _ = strings.Cut(mt, ";"); strings.TrimSpace(mt) == got {
			schema, events = c.Schema, c.Events
		}
	}
	if schema == nil {
		t.Fatalf("answered %s, not a documented media type of %d (%v)", got, w.Code, slices.Collect(maps.Keys(resp.Content)))
	}
	if got == contentTypeEventStream {
		d.checkEvents(t, events, w.Body.String())
		return
	}
	if got != contentTypeJSON {
		return
	}
	var body, sch any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := json.Unmarshal(schema, &sch); err != nil {
		t.Fatal(err)
	}
	for _, e := range d.validate(sch, body, "body") {
		t.Error(e)
	}
}

// checkEvents checks an event stream: every event's name is documented
// (x-hooktail-events of the media type) and its data is JSON matching the
// event's schema; a stream that sent no event at all fails.
func (d *openAPIDoc) checkEvents(t *testing.T, documented map[string]json.RawMessage, body string) {
	t.Helper()
	n := 0
	for block := range strings.SplitSeq(body, "\n\n") {
		name, data := "message", ""
		for line := range strings.SplitSeq(block, "\n") {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				name = value
			case "data":
				data = value
			}
		}
		if data == "" {
			continue
		}
		n++
		raw, ok := documented[name]
		if !ok {
			t.Errorf("event %q is not documented", name)
			continue
		}
		var body, sch any
		if err := json.Unmarshal([]byte(data), &body); err != nil {
			t.Errorf("event %q: data %q is not JSON: %v", name, data, err)
			continue
		}
		if err := json.Unmarshal(raw, &sch); err != nil {
			t.Fatal(err)
		}
		for _, e := range d.validate(sch, body, "event "+name) {
			t.Error(e)
		}
	}
	if n == 0 {
		t.Errorf("the stream sent no event: %q", body)
	}
}

// validate checks v against the part of JSON Schema the document uses:
// $ref, allOf, oneOf, type, const, enum, properties, required,
// additionalProperties and items. Stricter than JSON Schema, an object key
// that is not in properties is an error unless additionalProperties is
// given: an undocumented key is drift.
func (d *openAPIDoc) validate(schema, v any, at string) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: schema %v is not an object", at, schema)}
	}
	if ref, ok := s["$ref"].(string); ok {
		raw, found := d.resolve(ref)
		var target any
		if !found || json.Unmarshal(raw, &target) != nil {
			return []string{fmt.Sprintf("%s: bad $ref %q", at, ref)}
		}
		return d.validate(target, v, at)
	}
	var errs []string
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			errs = append(errs, d.validate(sub, v, at)...)
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		var matched int
		var why []string
		for _, sub := range one {
			e := d.validate(sub, v, at)
			if len(e) == 0 {
				matched++
			}
			why = append(why, e...)
		}
		if matched != 1 {
			errs = append(errs, fmt.Sprintf("%s: %d of oneOf match %v: %v", at, matched, v, why))
		}
	}
	if typ, ok := s["type"]; ok {
		var types []string
		switch x := typ.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, e := range x {
				types = append(types, fmt.Sprint(e))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return append(errs, fmt.Sprintf("%s: %s %v, want %v", at, jsonType(v), v, types))
		}
	}
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		errs = append(errs, fmt.Sprintf("%s: %v, want const %v", at, v, c))
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		errs = append(errs, fmt.Sprintf("%s: %v not in enum %v", at, v, enum))
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, req := range asSlice(s["required"]) {
			if _, ok := x[fmt.Sprint(req)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required key %q missing", at, req))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if p, ok := props[k]; ok {
				errs = append(errs, d.validate(p, x[k], at+"."+k)...)
				continue
			}
			switch extra := s["additionalProperties"].(type) {
			case map[string]any:
				errs = append(errs, d.validate(extra, x[k], at+"."+k)...)
			case bool:
				if !extra {
					errs = append(errs, fmt.Sprintf("%s: key %q not allowed", at, k))
				}
			case nil:
				if props != nil || s["type"] != nil {
					errs = append(errs, fmt.Sprintf("%s: key %q is not documented", at, k))
				}
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range x {
				errs = append(errs, d.validate(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// jsonType is the JSON Schema type of a decoded JSON value.
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// TestOpenAPIExportIDAsValidated checks that the documented exportId
// (pattern and maxLength) accepts exactly what export.ValidateID does.
func TestOpenAPIExportIDAsValidated(t *testing.T) {
	doc := parseOpenAPIDoc(t)
	var p struct {
		Schema struct {
			Pattern   string `json:"pattern"`
			MaxLength int    `json:"maxLength"`
		} `json:"schema"`
	}
	if err := json.Unmarshal(doc.Components["parameters"]["ExportIDPath"], &p); err != nil {
		t.Fatal(err)
	}
	re, err := regexp.Compile(p.Schema.Pattern)
	if err != nil {
		t.Fatalf("pattern %q: %v", p.Schema.Pattern, err)
	}
	ids := []string{"nightly-2026-07-31", "A~!\"$&'()*+,-.:;<=>@[]^_`{|}", "x", strings.Repeat("a", export.MaxIDLen),
		strings.Repeat("a", export.MaxIDLen+1), "", "a/b", `a\b`, "a?b", "a#b", "a%b", "a b", "é", "a\tb", "a\x7f"}
	for c := byte(0); c < 0x80; c++ {
		ids = append(ids, "id"+string(c))
	}
	for _, id := range ids {
		documented := re.MatchString(id) && utf8.RuneCountInString(id) <= p.Schema.MaxLength
		if valid := export.ValidateID(id) == nil; documented != valid {
			t.Errorf("exportId %q: documented valid=%v, ValidateID valid=%v", id, documented, valid)
		}
	}
}
