package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/hooktail/hooktail/aggregator/httpapi"
)

// FuzzRoutes sends arbitrary path segments and query strings to every route
// and checks that bad input never yields a 500 and every answer is JSON.
func FuzzRoutes(f *testing.F) {
	seeds := []struct {
		route      uint8
		seg1, seg2 string
		query      string
	}{
		{0, "", "", "limit=0&offset=-1&pr_number=abc"},
		{0, "", "", "start_time=2026-07-31T10:15:02+00:00&end_time=2026-02-30"},
		{0, "", "", "level=WARN&search=%ff%fe&limit=99999999999999999999999"},
		{0, "", "", "offset=9223372036854775807&limit=10000"},
		{0, "", "", "start_time=2026-07-31T10:15:02.%2B&hook_id=H"},
		{1, "H", "", ""},
		{1, "6143a030-bbd7-11f0-95bd-b07354b8711c", "", "x=1"},
		{2, "H", "marked", "limit=1&offset=1"},
		{2, "H", "nostart", "offset=18446744073709551616"},
		{2, "H", "open", "limit=10000&offset=9223372036854775807"},
		{2, "H", "exact", "limit=%20%2B3.000"},
		{3, "healthz", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.seg1, s.seg2, s.query)
	}
	s, err := httpapi.New(httpapi.Options{
		Store:  windowStore(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, seg1, seg2, query string) {
		var path string
		switch route % 4 {
		case 0:
			path = "/logs/api/entries"
		case 1:
			path = "/logs/api/workflow-steps/" + seg1
		case 2:
			path = "/logs/api/step-logs/" + seg1 + "/" + seg2
		default:
			path = "/" + seg1
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL = &url.URL{Path: path, RawQuery: query}
		r.RemoteAddr = "127.0.0.1:1"
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("GET %q ?%q: status %d body %s", path, query, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %q ?%q: Content-Type %q", path, query, ct)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("GET %q ?%q: invalid JSON %q", path, query, w.Body)
		}
	})
}
