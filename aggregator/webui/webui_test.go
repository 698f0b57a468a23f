package webui_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hooktail/hooktail/aggregator/webui"
)

func newHandler(t *testing.T) *webui.Handler {
	t.Helper()
	h, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestServe(t *testing.T) {
	h := newHandler(t)
	tests := []struct {
		method, path string
		code         int
		contentType  string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="/ui/app.js"`},
		{"GET", "/logs", 200, "text/html; charset=utf-8", `id="tpl-deliveries"`},
		{"GET", "/ui/app.js", 200, "text/javascript; charset=utf-8", "/logs/api/stream"},
		{"GET", "/ui/app.css", 200, "text/css; charset=utf-8", "--bg"},
		{"GET", "/ui/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"HEAD", "/ui/app.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/ui/", 404, "text/plain; charset=utf-8", "not found"},
		{"GET", "/ui/missing.js", 404, "text/plain; charset=utf-8", "not found"},
		{"GET", "/ui/../webui.go", 404, "text/plain; charset=utf-8", "not found"},
		{"GET", "/index.html", 404, "text/plain; charset=utf-8", "not found"},
	}
	for _, tt := range tests {
		w := serve(h, tt.method, tt.path, nil)
		if w.Code != tt.code {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, w.Code, tt.code)
		}
		if got := w.Header().Get("Content-Type"); got != tt.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, got, tt.contentType)
		}
		if !strings.Contains(w.Body.String(), tt.contains) {
			t.Errorf("%s %s: body does not contain %q", tt.method, tt.path, tt.contains)
		}
		if tt.method == "HEAD" && w.Body.Len() != 0 {
			t.Errorf("HEAD %s: body of %d bytes", tt.path, w.Body.Len())
		}
		if tt.code == 200 {
			for _, k := range []string{"Content-Security-Policy", "X-Content-Type-Options", "ETag", "Cache-Control"} {
				if w.Header().Get(k) == "" {
					t.Errorf("%s %s: no %s header", tt.method, tt.path, k)
				}
			}
		}
	}
}

func TestNotModified(t *testing.T) {
	h := newHandler(t)
	etag := serve(h, "GET", "/ui/app.js", nil).Header().Get("ETag")
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		if w := serve(h, "GET", "/ui/app.js", map[string]string{"If-None-Match": inm}); w.Code != 304 || w.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: status %d, %d bytes; want 304 and none", inm, w.Code, w.Body.Len())
		}
	}
	if w := serve(h, "GET", "/ui/app.js", map[string]string{"If-None-Match": `"stale"`}); w.Code != 200 {
		t.Errorf("stale ETag: status %d, want 200", w.Code)
	}
}

// TestPageReferencesServedAssets fails when index.html names a file under
// /ui/ that is not embedded.
func TestPageReferencesServedAssets(t *testing.T) {
	h := newHandler(t)
	page := serve(h, "GET", "/", nil).Body.String()
	refs := regexp.MustCompile(`"(/ui/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references %d assets, want the script, the style sheet and the icon", len(refs))
	}
	for _, m := range refs {
		if w := serve(h, "GET", m[1], nil); w.Code != 200 {
			t.Errorf("index.html references %s: status %d", m[1], w.Code)
		}
	}
}

// TestScriptNeverParsesHTML guards the page's rule that data is only ever
// set as text: the script must not use the HTML-parsing DOM APIs (the
// Content-Security-Policy blocks inline script, not markup injection).
func TestScriptNeverParsesHTML(t *testing.T) {
	h := newHandler(t)
	js := serve(h, "GET", "/ui/app.js", nil).Body.String()
	for _, api := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, api) {
			t.Errorf("app.js uses %s", api)
		}
	}
}
