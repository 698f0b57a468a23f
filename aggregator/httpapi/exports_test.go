package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/gorilla/mux"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/export"
	"github.com/hooktail/hooktail/aggregator/export/exporttest"
	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

var expSince = time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)

// expBody is a POST body for the hour from expSince; extra fields are
// appended as given (`"format": "jsonl"`).
func expBody(id string, extra ...string) string {
	fields := []string{`"sinceDateTimeUtc": "2026-07-31 10:00"`, `"tillDateTimeUtc": "2026-07-31 11:00"`}
	if id != "" {
		b, _ := json.Marshal(id) // a string always marshals
		fields = append(fields, `"exportId": `+string(b))
	}
	return "{" + strings.Join(append(fields, extra...), ", ") + "}"
}

// expGate holds every export page until opened.
type expGate struct {
	export.Store
	open chan struct{}
}

func (g *expGate) ExportPage(ctx context.Context, q export.PageQuery) (export.Page, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return export.Page{}, ctx.Err()
	}
	return g.Store.ExportPage(ctx, q)
}

// expEnv is a real store with deliveries of two endpoints (svc-a: a1 a2
// a3, svc-b: b1 b2 in the hour from expSince), a runner and a router.
type expEnv struct {
	store  *sqlite.Store
	runner *export.Runner
	clock  *exporttest.Clock
	gate   *expGate
	srv    *httpapi.Server
	router *mux.Router
}

func newExpEnv(t testing.TB, exportOpts func(*httpapi.ExportOptions, *httpapi.Server), serverOpts func(*httpapi.Options)) *expEnv {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hooktail.db"),
		sqlite.Options{Logger: logger, DeliveryTimeout: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	at := func(m int) time.Time { return expSince.Add(time.Duration(m) * time.Minute) }
	entries := exporttest.NewBuilder().Entries(
		exporttest.Delivery{HookID: "a1", Source: "svc-a", EventType: "pull_request", Action: "opened", Repository: "r", At: at(1), Background: true, Outcome: "success"},
		exporttest.Delivery{HookID: "b1", Source: "svc-b", EventType: "push", Repository: "r", At: at(2), Background: true, Outcome: "failed",
			Error: "Crashed, \"badly\"\nTraceback (most recent call last):\n  File \"app.py\", line 9\nKeyError: 'sha'"},
		exporttest.Delivery{HookID: "a2", Source: "svc-a", EventType: "push", Repository: "r", At: at(3), Background: true},
		exporttest.Delivery{HookID: "b2", Source: "svc-b", EventType: "push", Repository: "r", At: at(4), Outcome: "success"},
		exporttest.Delivery{HookID: "a3", Source: "svc-a", EventType: "check_run", Repository: "r", At: at(5), Outcome: "partial"},
		exporttest.Delivery{HookID: "a4", Source: "svc-a", EventType: "push", Repository: "r", At: at(61), Outcome: "success"},
	)
	if _, err := store.Ingest(t.Context(), &aggregator.Batch{AgentID: "agent-1", Entries: entries}); err != nil {
		t.Fatal(err)
	}
	env := &expEnv{store: store, clock: exporttest.NewClock(time.Date(2026, 8, 1, 8, 0, 0, 0, time.UTC))}
	env.gate = &expGate{Store: store, open: make(chan struct{})}
	close(env.gate.open)
	env.runner, err = export.Open(t.Context(), export.Options{Store: env.gate, Dir: filepath.Join(t.TempDir(), "exports"),
		TTL: time.Hour, Retain: time.Hour, JanitorInterval: -1, MaxQueued: 1000, Now: env.clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.runner.Close(context.Background()) })
	opts := httpapi.Options{Store: store, Logger: logger}
	if serverOpts != nil {
		serverOpts(&opts)
	}
	env.srv, err = httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	eo := httpapi.ExportOptions{Jobs: env.runner}
	if exportOpts != nil {
		exportOpts(&eo, env.srv)
	}
	// As the Server's own router: an unclean path is not redirected.
	env.router = mux.NewRouter().SkipClean(true)
	if err := env.srv.RegisterExports(env.router, eo); err != nil {
		t.Fatal(err)
	}
	return env
}

// do sends a request from a loopback peer unless mod changes it.
func (e *expEnv) do(method, target, body string, mod ...func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	for _, m := range mod {
		m(r)
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, r)
	return w
}

func (e *expEnv) wait(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := e.runner.Wait(ctx, id); err != nil {
		t.Fatalf("Wait(%q): %v", id, err)
	}
}

// expJSON decodes a JSON object answer.
func expJSON(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json (body %q)", ct, w.Body.String())
	}
	var v map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", w.Body.String(), err)
	}
	return v
}

// expError checks a {"error": …} answer and returns the message.
func expError(t *testing.T, w *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d (body %q)", w.Code, status, w.Body.String())
	}
	v := expJSON(t, w)
	msg, ok := v["error"].(string)
	if !ok || len(v) != 1 || msg == "" {
		t.Fatalf("body %q, want {\"error\": <message>}", w.Body.String())
	}
	return msg
}

func TestExportCreateRules(t *testing.T) {
	env := newExpEnv(t, nil, nil)
	bad := map[string]struct {
		body   string
		status int
		want   string // in the message
	}{
		"empty body":        {``, 400, "empty"},
		"not json":          {`since=today`, 400, "invalid JSON"},
		"array":             {`[]`, 400, "JSON object"},
		"no since":          {`{"tillDateTimeUtc": "2026-07-31 11:00"}`, 400, "sinceDateTimeUtc: is required"},
		"no till":           {`{"sinceDateTimeUtc": "2026-07-31 11:00"}`, 400, "tillDateTimeUtc: is required"},
		"bad date":          {`{"sinceDateTimeUtc": "yesterday", "tillDateTimeUtc": "2026-07-31 11:00"}`, 400, "sinceDateTimeUtc: invalid date"},
		"bad hour":          {`{"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31 24:30"}`, 400, "tillDateTimeUtc: invalid date"},
		"since = till":      {`{"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31 10:00"}`, 400, "must be before tillDateTimeUtc"},
		"since > till":      {`{"sinceDateTimeUtc": "2026-07-31 12:00", "tillDateTimeUtc": "2026-07-31 10:00"}`, 400, "must be before"},
		"bad resultState":   {expBody("", `"resultState": "done"`), 400, "resultState: must be completed, failed or processing"},
		"bad hasErrors":     {expBody("", `"hasErrors": "maybe"`), 400, "hasErrors"},
		"bad format":        {expBody("", `"format": "pdf"`), 400, "format: must be csv or jsonl"},
		"unknown field":     {expBody("", `"page": 1`), 400, `unknown field "page"`},
		"no externalId":     {expBody("", `"endpoint": {"ids": {}}`), 400, "endpoint.ids.externalId"},
		"no systemName":     {expBody("", `"operations": [{"ids": {}}]`), 400, "operations[0].ids.systemName"},
		"bad exportId":      {expBody("a/b"), 400, "exportId"},
		"trailing garbage":  {expBody("") + `}`, 400, "after the JSON object"},
		"body over 64 KiB":  {expBody("", `"x": "`+strings.Repeat("x", 70<<10)+`"`), 413, "too large"},
		"wrong type of var": {`{"sinceDateTimeUtc": ["2026-07-31 10:00"], "tillDateTimeUtc": "2026-07-31 11:00"}`, 400, "sinceDateTimeUtc: must be a string"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			msg := expError(t, env.do(http.MethodPost, "/api/exports", tc.body), tc.status)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		w := env.do(http.MethodPost, "/api/exports", expBody(""))
		if w.Code != http.StatusAccepted {
			t.Fatalf("status %d, want 202: %s", w.Code, w.Body)
		}
		v := expJSON(t, w)
		id, _ := v["exportId"].(string)
		if len(v) != 2 || v["status"] != "processing" || len(id) != 36 {
			t.Fatalf("body %v, want {exportId: <uuid>, status: processing}", v)
		}
		if got, want := w.Header().Get("Location"), "/api/exports/"+id; got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
		env.wait(t, id)
		job, err := env.runner.Job(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		want := export.Request{ID: id, Format: export.FormatCSV, Filter: export.Filter{
			Since: expSince, Till: expSince.Add(time.Hour), Scope: export.Scope{All: true}}}
		if diff := gocmp.Diff(want, job.Request); diff != "" {
			t.Errorf("stored request (-want +got):\n%s", diff)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		body := expBody("idem-1", `"resultState": "failed"`, `"operations": [{"ids": {"systemName": "push"}}]`)
		if w := env.do(http.MethodPost, "/api/exports", body); w.Code != http.StatusAccepted {
			t.Fatalf("first POST: %d %s", w.Code, w.Body)
		}
		// The same request, written differently: the same job, 200 with
		// its status.
		same := `{"operations": [{"ids": {"systemName": "push"}}], "resultState": "FAILED", "exportId": "idem-1",
			"tillDateTimeUtc": "2026-07-31T11:00:00Z", "sinceDateTimeUtc": "2026-07-31T12:00:00+02:00", "format": "csv"}`
		w := env.do(http.MethodPost, "/api/exports", same)
		if w.Code != http.StatusOK {
			t.Fatalf("same POST: %d %s, want 200", w.Code, w.Body)
		}
		if v := expJSON(t, w); v["exportId"] != "idem-1" || v["status"] == nil || len(v) != 8 {
			t.Errorf("same POST body %v, want the job's status", v)
		}
		// Another request with the ID.
		msg := expError(t, env.do(http.MethodPost, "/api/exports", expBody("idem-1", `"resultState": "completed"`)), http.StatusConflict)
		if !strings.Contains(msg, `"idem-1"`) {
			t.Errorf("conflict message %q does not name the exportId", msg)
		}
	})

	t.Run("methods", func(t *testing.T) {
		w := env.do(http.MethodGet, "/api/exports", "")
		expError(t, w, http.StatusMethodNotAllowed)
		if got := w.Header().Get("Allow"); got != "POST" {
			t.Errorf("Allow %q, want POST", got)
		}
		expError(t, env.do(http.MethodDelete, "/api/exports/x", ""), http.StatusMethodNotAllowed)
		expError(t, env.do(http.MethodPost, "/api/exports/x/file", ""), http.StatusMethodNotAllowed)
	})
}

func TestExportLifecycle(t *testing.T) {
	env := newExpEnv(t, nil, nil)
	env.gate.open = make(chan struct{})

	w := env.do(http.MethodPost, "/api/exports", expBody("life"))
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	created := env.clock.Now()
	w = env.do(http.MethodGet, "/api/exports/life", "")
	if w.Code != http.StatusOK {
		t.Fatalf("status: %d %s", w.Code, w.Body)
	}
	wantDoc := map[string]any{"exportId": "life", "status": "processing", "rowCount": 0.0,
		"createdAt": created.Format(time.RFC3339), "completedAt": nil, "expiresAt": nil, "url": nil, "error": nil}
	if diff := gocmp.Diff(wantDoc, expJSON(t, w)); diff != "" {
		t.Errorf("processing status (-want +got):\n%s", diff)
	}
	w = env.do(http.MethodGet, "/api/exports/life/file", "")
	expError(t, w, http.StatusConflict)
	if w.Header().Get("Retry-After") == "" {
		t.Error("409 while processing without Retry-After")
	}

	env.clock.Advance(2 * time.Second)
	close(env.gate.open)
	env.wait(t, "life")
	done := env.clock.Now()
	wantDoc = map[string]any{"exportId": "life", "status": "completed", "rowCount": 5.0,
		"createdAt": created.Format(time.RFC3339), "completedAt": done.Format(time.RFC3339),
		"expiresAt": done.Add(time.Hour).Format(time.RFC3339), "url": "/api/exports/life/file", "error": nil}
	if diff := gocmp.Diff(wantDoc, expJSON(t, env.do(http.MethodGet, "/api/exports/life", ""))); diff != "" {
		t.Errorf("completed status (-want +got):\n%s", diff)
	}

	w = env.do(http.MethodGet, "/api/exports/life/file", "")
	if w.Code != http.StatusOK {
		t.Fatalf("file: %d %s", w.Code, w.Body)
	}
	for h, want := range map[string]string{
		"Content-Type":        "text/csv; charset=utf-8",
		"Content-Disposition": "attachment; filename=export-life.csv",
		"Cache-Control":       "private, no-store",
	} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s %q, want %q", h, got, want)
		}
	}
	recs, err := csv.NewReader(bytes.NewReader(w.Body.Bytes())).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	if diff := gocmp.Diff(export.Columns, recs[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	var ids []string
	for _, rec := range recs[1:] {
		ids = append(ids, rec[0])
	}
	if diff := gocmp.Diff([]string{"a1", "b1", "a2", "b2", "a3"}, ids); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if got := recs[2][8]; !strings.Contains(got, "Crashed, \"badly\"\nTraceback") {
		t.Errorf("b1's error text %q lost its traceback", got)
	}
	full := w.Body.Bytes()
	// HEAD and ranges.
	if h := env.do(http.MethodHead, "/api/exports/life/file", ""); h.Code != http.StatusOK || h.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes", h.Code, h.Body.Len())
	}
	rng := env.do(http.MethodGet, "/api/exports/life/file", "", func(r *http.Request) { r.Header.Set("Range", "bytes=0-24") })
	if rng.Code != http.StatusPartialContent || !bytes.Equal(rng.Body.Bytes(), full[:25]) {
		t.Errorf("range: %d %q", rng.Code, rng.Body)
	}

	// Expired: the status says so at once, the file is gone (410).
	env.clock.Advance(time.Hour)
	if v := expJSON(t, env.do(http.MethodGet, "/api/exports/life", "")); v["status"] != "expired" || v["url"] != nil {
		t.Errorf("status past the TTL %v, want expired without url", v)
	}
	expError(t, env.do(http.MethodGet, "/api/exports/life/file", ""), http.StatusGone)
	if _, err := env.runner.Expire(t.Context()); err != nil {
		t.Fatal(err)
	}
	expError(t, env.do(http.MethodGet, "/api/exports/life/file", ""), http.StatusGone)
	env.clock.Advance(time.Hour)
	if _, err := env.runner.Expire(t.Context()); err != nil {
		t.Fatal(err)
	}
	if msg := expError(t, env.do(http.MethodGet, "/api/exports/life", ""), http.StatusNotFound); msg != "Export not found" {
		t.Errorf("404 message %q", msg)
	}
	expError(t, env.do(http.MethodGet, "/api/exports/life/file", ""), http.StatusNotFound)
}

func TestExportJSONLFile(t *testing.T) {
	env := newExpEnv(t, nil, nil)
	body := expBody("jl", `"format": "jsonl"`, `"endpoint": {"ids": {"externalId": "svc-b"}}`, `"hasErrors": true`)
	if w := env.do(http.MethodPost, "/api/exports", body); w.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	env.wait(t, "jl")
	w := env.do(http.MethodGet, "/api/exports/jl/file", "")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/x-ndjson" ||
		w.Header().Get("Content-Disposition") != "attachment; filename=export-jl.jsonl" {
		t.Fatalf("file: %d %v", w.Code, w.Header())
	}
	lines := strings.Split(strings.TrimSuffix(w.Body.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want b1 only: %q", len(lines), w.Body)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	if row["OperationLogTransactionId"] != "b1" || row["OperationLogStatus"] != "failed" || row["OperationLogHasErrors"] != true ||
		row["OperationLogDevice"] != nil {
		t.Errorf("row %v", row)
	}
}

func TestExportUnknownAndOddIDs(t *testing.T) {
	env := newExpEnv(t, nil, nil)
	for _, path := range []string{
		"/api/exports/nope", "/api/exports/nope/file", "/api/exports/" + strings.Repeat("x", 200),
		"/api/exports/%00", "/api/exports/a%20b/file", "/api/exports/%2e%2e",
	} {
		w := env.do(http.MethodGet, path, "")
		if msg := expError(t, w, http.StatusNotFound); msg != "Export not found" {
			t.Errorf("GET %s: %q", path, msg)
		}
	}
}

func TestExportTrustedNetworksWithoutKeys(t *testing.T) {
	env := newExpEnv(t, nil, func(o *httpapi.Options) {
		o.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	from := func(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }
	msg := expError(t, env.do(http.MethodPost, "/api/exports", expBody("t"), from("203.0.113.7:5000")), http.StatusForbidden)
	if !strings.Contains(msg, "trusted networks") {
		t.Errorf("403 message %q", msg)
	}
	// Nothing was created: the check comes first.
	if _, err := env.runner.Job(t.Context(), "t"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("job created by an outsider: %v", err)
	}
	expError(t, env.do(http.MethodPost, "/api/exports", "{", from("203.0.113.7:5000")), http.StatusForbidden)
	if w := env.do(http.MethodPost, "/api/exports", expBody("t"), from("10.1.2.3:5000")); w.Code != http.StatusAccepted {
		t.Fatalf("trusted POST: %d %s", w.Code, w.Body)
	}
	expError(t, env.do(http.MethodGet, "/api/exports/t", "", from("203.0.113.7:5000")), http.StatusForbidden)
	expError(t, env.do(http.MethodGet, "/api/exports/t/file", "", from("203.0.113.7:5000")), http.StatusForbidden)
}

// expKey is a test principal.
type expKey struct {
	name      string
	owner     bool
	endpoints []string // nil: all
}

func (k expKey) Name() string         { return k.name }
func (k expKey) Owner() bool          { return k.owner }
func (k expKey) CanSee(e string) bool { return k.endpoints == nil || slices.Contains(k.endpoints, e) }
func (k expKey) Services() ([]string, bool) {
	return k.endpoints, k.endpoints == nil
}

type expKeyCtx struct{}

// expKeys is a guard and principal function over X-Key: a name of keys.
func expKeys(keys map[string]expKey) (func(http.HandlerFunc) http.HandlerFunc, func(*http.Request) (httpapi.ExportPrincipal, bool)) {
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			k, ok := keys[r.Header.Get("X-Key")]
			if !ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":"Missing or invalid Authorization header"}`)
				return
			}
			if r.Header.Get("X-No-Principal") != "" {
				h(w, r)
				return
			}
			h(w, r.WithContext(context.WithValue(r.Context(), expKeyCtx{}, k)))
		}
	}
	principal := func(r *http.Request) (httpapi.ExportPrincipal, bool) {
		k, ok := r.Context().Value(expKeyCtx{}).(expKey)
		return k, ok
	}
	return guard, principal
}

func TestExportKeysScopeJobs(t *testing.T) {
	guard, principal := expKeys(map[string]expKey{
		"root":   {name: "root", owner: true},
		"a":      {name: "a", owner: true, endpoints: []string{"svc-a"}},
		"b":      {name: "b", owner: true, endpoints: []string{"svc-b"}},
		"ab":     {name: "ab", owner: true, endpoints: []string{"svc-a", "svc-b"}},
		"viewer": {name: "viewer", endpoints: nil},
	})
	env := newExpEnv(t, func(o *httpapi.ExportOptions, _ *httpapi.Server) { o.Guard, o.Principal = guard, principal }, nil)
	as := func(key string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("X-Key", key) } }

	expError(t, env.do(http.MethodPost, "/api/exports", expBody("x"), as("nobody")), http.StatusUnauthorized)
	if msg := expError(t, env.do(http.MethodPost, "/api/exports", expBody("x"), as("viewer")), http.StatusForbidden); !strings.Contains(msg, "owner") {
		t.Errorf("viewer's 403 %q does not mention the owner role", msg)
	}
	expError(t, env.do(http.MethodPost, "/api/exports", expBody("x"), as("a"),
		func(r *http.Request) { r.Header.Set("X-No-Principal", "1") }), http.StatusForbidden)
	if msg := expError(t, env.do(http.MethodPost, "/api/exports", expBody("x", `"endpoint": {"ids": {"externalId": "svc-b"}}`), as("a")),
		http.StatusForbidden); !strings.Contains(msg, `"svc-b"`) {
		t.Errorf("403 for another endpoint: %q", msg)
	}

	// Key a exports only svc-a, even without an endpoint in the request.
	if w := env.do(http.MethodPost, "/api/exports", expBody("by-a"), as("a")); w.Code != http.StatusAccepted {
		t.Fatalf("POST as a: %d %s", w.Code, w.Body)
	}
	env.wait(t, "by-a")
	w := env.do(http.MethodGet, "/api/exports/by-a/file", "", as("a"))
	if w.Code != http.StatusOK {
		t.Fatalf("file as a: %d %s", w.Code, w.Body)
	}
	if body := w.Body.String(); strings.Contains(body, "svc-b") || !strings.Contains(body, "a3,") {
		t.Errorf("key a's export %q: want svc-a's rows only", body)
	}
	job, err := env.runner.Job(t.Context(), "by-a")
	if err != nil || job.Owner != "a" {
		t.Fatalf("job %+v, %v: want owner a", job, err)
	}

	// Who sees which job.
	if w := env.do(http.MethodPost, "/api/exports", expBody("by-root"), as("root")); w.Code != http.StatusAccepted {
		t.Fatalf("POST as root: %d", w.Code)
	}
	env.wait(t, "by-root")
	for _, tc := range []struct {
		key, id string
		want    int
	}{
		{"a", "by-a", 200}, {"ab", "by-a", 200}, {"root", "by-a", 200}, {"b", "by-a", 404},
		{"root", "by-root", 200}, {"a", "by-root", 404}, {"ab", "by-root", 404},
	} {
		for _, suffix := range []string{"", "/file"} {
			if w := env.do(http.MethodGet, "/api/exports/"+tc.id+suffix, "", as(tc.key)); w.Code != tc.want {
				t.Errorf("GET %s%s as %s: %d, want %d", tc.id, suffix, tc.key, w.Code, tc.want)
			}
		}
	}
	// Re-posting another key's job: the same body means another scope, so
	// the ID is taken; the owner gets its job back.
	expError(t, env.do(http.MethodPost, "/api/exports", expBody("by-root"), as("a")), http.StatusConflict)
	expError(t, env.do(http.MethodPost, "/api/exports", expBody("by-a"), as("root")), http.StatusConflict)
	if w := env.do(http.MethodPost, "/api/exports", expBody("by-a"), as("a")); w.Code != http.StatusOK {
		t.Errorf("re-POST by the creator: %d %s", w.Code, w.Body)
	}
}

func TestRegisterExportsOptions(t *testing.T) {
	srv, err := httpapi.New(httpapi.Options{Store: &funcStore{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterExports(mux.NewRouter(), httpapi.ExportOptions{}); err == nil {
		t.Error("RegisterExports without jobs succeeded")
	}
	guard, _ := expKeys(nil)
	if err := srv.RegisterExports(mux.NewRouter(), httpapi.ExportOptions{Jobs: &export.Runner{}, Guard: guard}); err == nil {
		t.Error("RegisterExports with a guard and no principal function succeeded")
	}
}

// TestExportNoBadInputIs500 throws odd requests at every export route:
// none is answered 500, and every error is {"error": …}.
func TestExportNoBadInputIs500(t *testing.T) {
	env := newExpEnv(t, nil, nil)
	if w := env.do(http.MethodPost, "/api/exports", expBody("known")); w.Code != http.StatusAccepted {
		t.Fatal(w.Code)
	}
	env.wait(t, "known")
	bodies := []string{
		``, ` `, `null`, `true`, `0`, `"s"`, `[]`, `{}`, `{"a":`, "\x00", "\xff\xfe{", `{"sinceDateTimeUtc": null}`,
		`{"sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "9999-12-31 23:59"}`,
		`{"sinceDateTimeUtc": "0001-01-01 00:00", "tillDateTimeUtc": "0001-01-01 00:01"}`,
		`{"sinceDateTimeUtc": "2026-07-31T10:00:00-23:59", "tillDateTimeUtc": "9999-12-31T23:59:59-23:59"}`,
		`{"sinceDateTimeUtc": "2026-02-30 10:00", "tillDateTimeUtc": "2026-07-31 11:00"}`,
		`{"sinceDateTimeUtc": 1e400, "tillDateTimeUtc": {}}`,
		expBody("", `"hasErrors": [true]`), expBody("", `"hasErrors": {"a": 1}`), expBody("", `"hasErrors": 1e999`),
		expBody("", `"operations": null`), expBody("", `"operations": [null]`), expBody("", `"operations": [1]`),
		expBody("", `"operations": [{"ids": null}]`), expBody("", `"operations": [{"ids": {"systemName": 5}}]`),
		expBody("", `"endpoint": {"ids": null}`), expBody("", `"endpoint": []`), expBody("", `"resultState": 7`),
		expBody("", `"format": null`), expBody("\u00e9t\u00e9"), expBody(strings.Repeat("z", 128)), expBody("known"),
		expBody("", `"endpoint": {"ids": {"externalId": "\u0000\ud800"}}`),
		`{"exportId": "x", "exportId": "y", "sinceDateTimeUtc": "2026-07-31 10:00", "tillDateTimeUtc": "2026-07-31 11:00"}`,
		strings.Repeat("[", 100000), `{"sinceDateTimeUtc": "` + strings.Repeat("9", 60000) + `"}`,
	}
	for _, b := range bodies {
		w := env.do(http.MethodPost, "/api/exports", b)
		if w.Code >= 500 {
			t.Errorf("POST %.60q: %d %s", b, w.Code, w.Body)
		}
		if w.Code >= 400 {
			expError(t, w, w.Code)
		}
	}
	for _, path := range []string{"/api/exports/known", "/api/exports/known/file", "/api/exports/%ff", "/api/exports/" + strings.Repeat("%41", 1000) + "/file"} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodOptions} {
			w := env.do(method, path, "{}", func(r *http.Request) {
				r.Header.Set("Range", "bytes=999999-")
				r.Header.Set("If-Modified-Since", "garbage")
			})
			if w.Code >= 500 {
				t.Errorf("%s %s: %d %s", method, path, w.Code, w.Body)
			}
		}
	}
}

// FuzzExportCreate: no body makes POST /api/exports answer 500 (503,
// too many jobs, is the only 5xx, and it says when to retry).
func FuzzExportCreate(f *testing.F) {
	for _, s := range []string{expBody("f"), expBody("", `"format": "jsonl"`, `"hasErrors": "true"`), `{`, `[]`} {
		f.Add(s)
	}
	env := newExpEnv(f, nil, nil)
	f.Fuzz(func(t *testing.T, body string) {
		w := env.do(http.MethodPost, "/api/exports", body)
		if w.Code >= 500 && (w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "") {
			t.Fatalf("POST %q: %d %s", body, w.Code, w.Body)
		}
	})
}

// TestExportsBehindServerKeys mounts the routes as the Server does, behind
// its own access check (OwnerOnly) and principal (PrincipalFrom), with API
// keys.
func TestExportsBehindServerKeys(t *testing.T) {
	key := func(name, token string, role httpapi.Role, endpoints ...string) httpapi.APIKey {
		return httpapi.APIKey{Name: name, TokenSHA256: sha256.Sum256([]byte(token)), Role: role, Endpoints: endpoints}
	}
	env := newExpEnv(t, func(o *httpapi.ExportOptions, s *httpapi.Server) {
		o.Guard = s.OwnerOnly
		o.Principal = func(r *http.Request) (httpapi.ExportPrincipal, bool) {
			p, ok := httpapi.PrincipalFrom(r)
			return p, ok
		}
	}, func(o *httpapi.Options) {
		o.APIKeys = []httpapi.APIKey{
			key("ops", "ops-token", httpapi.RoleOwner, httpapi.AllEndpoints),
			key("a-owner", "a-token", httpapi.RoleOwner, "svc-a"),
			key("viewer", "viewer-token", httpapi.RoleViewer, httpapi.AllEndpoints),
		}
	})
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if msg := expError(t, env.do(http.MethodPost, "/api/exports", expBody("k")), http.StatusUnauthorized); msg != "Missing or invalid Authorization header" {
		t.Errorf("401 message %q", msg)
	}
	expError(t, env.do(http.MethodPost, "/api/exports", expBody("k"), bearer("viewer-token")), http.StatusForbidden)
	if w := env.do(http.MethodPost, "/api/exports", expBody("k"), bearer("a-token")); w.Code != http.StatusAccepted {
		t.Fatalf("POST as a-owner: %d %s", w.Code, w.Body)
	}
	env.wait(t, "k")
	w := env.do(http.MethodGet, "/api/exports/k/file", "", bearer("ops-token"))
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "svc-b") || !strings.Contains(w.Body.String(), "svc-a") {
		t.Fatalf("a-owner's export read by ops: %d %q, want svc-a's rows only", w.Code, w.Body)
	}
	if w := env.do(http.MethodPost, "/api/exports", expBody("all"), bearer("ops-token")); w.Code != http.StatusAccepted {
		t.Fatalf("POST as ops: %d", w.Code)
	}
	expError(t, env.do(http.MethodGet, "/api/exports/all", "", bearer("a-token")), http.StatusNotFound)
}
