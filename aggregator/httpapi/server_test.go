package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

func TestHealth(t *testing.T) {
	tests := map[string]struct {
		path   string
		ready  func(context.Context) error
		status int
		want   string
	}{
		"healthz":              {"/healthz", nil, 200, `{"status":"ok"}`},
		"healthz when unready": {"/healthz", func(context.Context) error { return errors.New("db closed") }, 200, `{"status":"ok"}`},
		"readyz default":       {"/readyz", nil, 200, `{"status":"ready"}`},
		"readyz ready":         {"/readyz", func(context.Context) error { return nil }, 200, `{"status":"ready"}`},
		"readyz unready":       {"/readyz", func(context.Context) error { return errors.New("db closed") }, 503, `{"status":"unavailable"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, logs := testServer(t, &funcStore{}, func(o *httpapi.Options) { o.Ready = tc.ready })
			w := get(s, tc.path)
			if w.Code != tc.status {
				t.Fatalf("status=%d, want %d", w.Code, tc.status)
			}
			if diff := cmp.Diff(jsonOf(t, tc.want), decode(t, w)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if tc.status == 503 && !strings.Contains(logs.String(), "db closed") {
				t.Errorf("readiness failure not logged: %s", logs)
			}
		})
	}
}

// TestReadyGetsRequestContext checks that the readiness probe runs under
// the request's context, so a client that goes away cancels it.
func TestReadyGetsRequestContext(t *testing.T) {
	type key struct{}
	var got any
	s, _ := testServer(t, &funcStore{}, func(o *httpapi.Options) {
		o.Ready = func(ctx context.Context) error {
			got = ctx.Value(key{})
			return ctx.Err()
		}
	})
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "request"))
	if w := get(s, "/readyz", func(r *http.Request) { *r = *r.WithContext(ctx) }); w.Code != http.StatusOK {
		t.Fatalf("status=%d, want 200", w.Code)
	}
	if got != "request" {
		t.Errorf("Ready got context value %v, want the request's context", got)
	}
	cancel()
	if w := get(s, "/readyz", func(r *http.Request) { *r = *r.WithContext(ctx) }); w.Code != http.StatusServiceUnavailable {
		t.Errorf("status=%d with a cancelled request, want 503", w.Code)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	tests := map[string]struct {
		method, path string
		status       int
		want         string
	}{
		"unknown route":         {"GET", "/nope", 404, `{"detail":"Not Found"}`},
		"root":                  {"GET", "/", 404, `{"detail":"Not Found"}`},
		"trailing slash":        {"GET", "/logs/api/entries/", 404, `{"detail":"Not Found"}`},
		"unclean path":          {"GET", "/logs//api/entries", 404, `{"detail":"Not Found"}`},
		"empty step segment":    {"GET", "/logs/api/step-logs/h/", 404, `{"detail":"Not Found"}`},
		"empty hook segment":    {"GET", "/logs/api/step-logs//s", 404, `{"detail":"Not Found"}`},
		"extra segment":         {"GET", "/logs/api/workflow-steps/a/b", 404, `{"detail":"Not Found"}`},
		"POST entries":          {"POST", "/logs/api/entries", 405, `{"detail":"Method Not Allowed"}`},
		"DELETE workflow-steps": {"DELETE", "/logs/api/workflow-steps/h", 405, `{"detail":"Method Not Allowed"}`},
		"PUT healthz":           {"PUT", "/healthz", 405, `{"detail":"Method Not Allowed"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := testServer(t, &funcStore{}, nil)
			r := httptest.NewRequest(tc.method, "/", nil)
			r.URL.Path = tc.path
			r.RemoteAddr = "127.0.0.1:1"
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status=%d, want %d; body=%s", w.Code, tc.status, w.Body)
			}
			if diff := cmp.Diff(jsonOf(t, tc.want), decode(t, w)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if tc.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow=%q", w.Header().Get("Allow"))
			}
		})
	}
}

func TestHeadIsServed(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil)
	r := httptest.NewRequest(http.MethodHead, "/healthz", nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("HEAD /healthz status=%d", w.Code)
	}
}

func TestPanicRecovered(t *testing.T) {
	store := &funcStore{EntriesFunc: func(context.Context, aggregator.EntryQuery) (aggregator.EntryPage, error) {
		panic("nil map in store")
	}}
	s, logs := testServer(t, store, nil)
	w := get(s, "/logs/api/entries")
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status=%d", w.Code)
	}
	if diff := cmp.Diff(jsonOf(t, `{"detail":"Internal server error"}`), decode(t, w)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if strings.Contains(w.Body.String(), "nil map") || strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("body leaks the panic: %s", w.Body)
	}
	if !strings.Contains(logs.String(), "nil map in store") {
		t.Errorf("panic not logged: %s", logs)
	}
}

func TestAbortHandlerPanicPropagates(t *testing.T) {
	store := &funcStore{EntriesFunc: func(context.Context, aggregator.EntryQuery) (aggregator.EntryPage, error) {
		panic(http.ErrAbortHandler)
	}}
	s, _ := testServer(t, store, nil)
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	get(s, "/logs/api/entries")
}

func TestRequestLoggedAtDebug(t *testing.T) {
	now := time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)
	s, logs := testServer(t, &funcStore{}, func(o *httpapi.Options) {
		o.Now = func() time.Time { now = now.Add(250 * time.Millisecond); return now }
	})
	get(s, "/nope")
	out := logs.String()
	for _, want := range []string{"level=DEBUG", `msg="http request"`, "method=GET", "path=/nope", "status=404", "duration=250ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
}
