package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

// fuzzStore has both windowStore's and authStore's data, over two
// endpoints.
func fuzzStore() *memStore {
	m := authStore()
	w := windowStore()
	m.entries = append(m.entries, w.entries...)
	for k, d := range w.deliveries {
		d.Service = "webhook-server"
		m.deliveries[k] = d
	}
	return m
}

// fuzzFamily is the error shape a path answers in.
func fuzzFamily(path string) errFamily {
	switch {
	case path == "/api" || strings.HasPrefix(path, "/api/"):
		return errFamAPI
	case path == "/logs":
		return errFamLogs
	default:
		return errFamDetail
	}
}

// FuzzRoutes sends arbitrary path segments, query strings and credentials
// to every route, with and without API keys, and checks that bad input
// never yields a 500 and every answer is JSON in the route family's shape.
func FuzzRoutes(f *testing.F) {
	seeds := []struct {
		route, auth uint8
		seg1, seg2  string
		query       string
	}{
		{0, 0, "", "", "limit=0&offset=-1&pr_number=abc"},
		{0, 1, "", "", "start_time=2026-07-31T10:15:02+00:00&end_time=2026-02-30"},
		{0, 2, "", "", "level=WARN&search=%ff%fe&limit=99999999999999999999999"},
		{0, 0, "", "", "offset=9223372036854775807&limit=10000"},
		{0, 0, "", "", "start_time=2026-07-31T10:15:02.%2B&hook_id=H"},
		{1, 0, "H", "", ""},
		{1, 4, "6143a030-bbd7-11f0-95bd-b07354b8711c", "", "x=1"},
		{2, 0, "H", "marked", "limit=1&offset=1"},
		{2, 2, "H", "nostart", "offset=18446744073709551616"},
		{2, 0, "H", "open", "limit=10000&offset=9223372036854775807"},
		{2, 0, "H", "exact", "limit=%20%2B3.000"},
		{3, 0, "healthz", "", ""},
		{3, 0, "api/nothing", "", ""},
		{4, 0, "", "", "format_type=xml&limit=50001"},
		{4, 1, "", "", "limit=3&pr_number=-1&end_time=2026"},
		{5, 0, "pr-123", "", ""},
		{5, 2, "hook-H", "", ""},
		{5, 0, "pr-", "", ""},
		{5, 0, "99999999999999999999", "", ""},
		{6, 0, "", "", "limit=1001&offset=-5"},
		{6, 1, "", "", "level=warn&startDate=2023-10-27&endDate=x&service=other"},
		{6, 3, "", "Bearer x", "nextOffset=1"},
		{7, 0, "", "", "page=0&limit=101"},
		{7, 2, "", "", "endpoint_id=5e695169-7307-5628-8154-e01003b5dc7f&status=error,responded&has_errors=1"},
		{7, 0, "", "", "page=2147483648&limit=100&since=2026-01-01T00:00:00Z"},
		{8, 0, seedHook, "", ""},
		{8, 3, "O1", "Basic abc", ""},
		{9, 1, "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.auth, s.seg1, s.seg2, s.query)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open, err := httpapi.New(httpapi.Options{Store: fuzzStore(), Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	keyed, err := httpapi.New(httpapi.Options{Store: fuzzStore(), Logger: quiet, APIKeys: authKeys()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route, auth uint8, seg1, seg2, query string) {
		var path string
		switch route % 10 {
		case 0:
			path = "/logs/api/entries"
		case 1:
			path = "/logs/api/workflow-steps/" + seg1
		case 2:
			path = "/logs/api/step-logs/" + seg1 + "/" + seg2
		case 3:
			path = "/" + seg1
		case 4:
			path = "/logs/api/export"
		case 5:
			path = "/logs/api/pr-flow/" + seg1
		case 6:
			path = "/logs"
		case 7:
			path = "/api/logs"
		case 8:
			path = "/api/logs/" + seg1
		default:
			path = "/api/endpoints"
		}
		srv := open
		if auth&4 != 0 {
			srv = keyed
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL = &url.URL{Path: path, RawQuery: query}
		r.RemoteAddr = "127.0.0.1:1"
		switch auth % 4 {
		case 1:
			r.Header.Set("Authorization", "Bearer "+ownerToken)
		case 2:
			r.Header.Set("Authorization", "Bearer "+viewerToken)
		case 3:
			r.Header.Set("Authorization", seg2)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("GET %q ?%q: status %d body %s", path, query, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("GET %q ?%q: Content-Type %q", path, query, ct)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("GET %q ?%q: invalid JSON %q", path, query, w.Body)
		}
		if w.Code < 400 {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("GET %q ?%q: error body %q is not an object", path, query, w.Body)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := map[errFamily][]string{errFamDetail: {"detail"}, errFamLogs: {"message", "status"}, errFamAPI: {"error"}}[fuzzFamily(path)]
		if !slices.Equal(keys, want) {
			t.Fatalf("GET %q ?%q: status %d body %s, want keys %v", path, query, w.Code, w.Body, want)
		}
	})
}

var _ aggregator.Store = fuzzStore()
