package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

const seedHook = "f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f"

// Tokens of authStore's keys.
const (
	ownerToken  = "owner-secret"
	viewerToken = "viewer-secret"
	otherToken  = "other-secret"
)

func apiKeyOf(name, token string, role httpapi.Role, endpoints ...string) httpapi.APIKey {
	return httpapi.APIKey{Name: name, TokenSHA256: sha256.Sum256([]byte(token)), Role: role, Endpoints: endpoints}
}

// authKeys: an owner of everything, a viewer of webhook-server and a
// viewer of another endpoint.
func authKeys() []httpapi.APIKey {
	return []httpapi.APIKey{
		apiKeyOf("ops", ownerToken, httpapi.RoleOwner, httpapi.AllEndpoints),
		apiKeyOf("viewer", viewerToken, httpapi.RoleViewer, "webhook-server"),
		apiKeyOf("other", otherToken, httpapi.RoleViewer, "other"),
	}
}

// authStore is seedStore (endpoint webhook-server) plus one delivery and
// one entry of the endpoint "other".
func authStore() *memStore {
	m := seedStore()
	for _, d := range m.deliveries {
		d.Service = "webhook-server"
		d.PRNumber = 123
	}
	m.deliveries["O1"] = &aggregator.Delivery{HookID: "O1", Attempt: 1, Service: "other", State: aggregator.StateCompleted,
		ReceivedAt: ts("2024-01-16T10:00:00Z")}
	m.entries = append(m.entries, aggregator.Entry{ID: 99, HookID: "O1", Attempt: 1, Timestamp: ts("2024-01-16T10:00:00Z"),
		Level: "INFO", Message: "other endpoint's secret", Source: "other"})
	return m
}

// errFamily is the error shape of a route family.
type errFamily int

const (
	errFamDetail errFamily = iota // {"detail": …}
	errFamLogs                    // {"status":"error","message": …}
	errFamAPI                     // {"error": …}
)

// authRoute is one data route with its family; perHook routes name the
// seed delivery, which the "other" key may not see.
type authRoute struct {
	path    string
	fam     errFamily
	perHook bool
	// stepLogs also needs a trusted network with keys.
	stepLogs bool
}

var authRoutes = []authRoute{
	{path: "/logs/api/entries", fam: errFamDetail},
	{path: "/logs/api/export", fam: errFamDetail},
	{path: "/logs/api/workflow-steps/" + seedHook, fam: errFamDetail, perHook: true},
	{path: "/logs/api/step-logs/" + seedHook + "/clone_repository", fam: errFamDetail, perHook: true, stepLogs: true},
	{path: "/logs/api/pr-flow/hook-" + seedHook, fam: errFamDetail, perHook: true},
	{path: "/logs/api/pr-flow/pr-123", fam: errFamDetail, perHook: true},
	{path: "/logs", fam: errFamLogs},
	{path: "/api/logs", fam: errFamAPI},
	{path: "/api/logs/" + seedHook, fam: errFamAPI, perHook: true},
	{path: "/api/endpoints", fam: errFamAPI},
}

// checkFamilyError checks that body is the family's error shape.
func checkFamilyError(t *testing.T, what string, fam errFamily, w *httptest.ResponseRecorder) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Errorf("%s: body %q is not a JSON object: %v", what, w.Body, err)
		return
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := map[errFamily][]string{errFamDetail: {"detail"}, errFamLogs: {"message", "status"}, errFamAPI: {"error"}}[fam]
	if !slices.Equal(keys, want) {
		t.Errorf("%s: error body keys %v, want %v (body %s)", what, keys, want, w.Body)
	}
	if fam == errFamLogs && m["status"] != "error" {
		t.Errorf("%s: status=%v, want error", what, m["status"])
	}
}

func TestAuthMatrix(t *testing.T) {
	const (
		trusted = "127.0.0.1:1"
		public  = "8.8.8.8:1"
	)
	tests := map[string]struct {
		keys   bool
		header string
		peer   string
		// want gives the status for a route.
		want func(authRoute) int
	}{
		"no keys, trusted network": {peer: trusted, want: func(authRoute) int { return 200 }},
		"no keys, public network":  {peer: public, want: func(authRoute) int { return 403 }},
		"no keys, public network, a token does not help": {peer: public, header: "Bearer " + ownerToken,
			want: func(authRoute) int { return 403 }},
		"keys, no header, trusted network": {keys: true, peer: trusted, want: func(authRoute) int { return 401 }},
		"keys, no header, public network": {keys: true, peer: public, want: func(r authRoute) int {
			if r.stepLogs {
				return 403
			}
			return 401
		}},
		"keys, wrong key":            {keys: true, peer: trusted, header: "Bearer nope", want: func(authRoute) int { return 401 }},
		"keys, empty bearer":         {keys: true, peer: trusted, header: "Bearer ", want: func(authRoute) int { return 401 }},
		"keys, basic scheme":         {keys: true, peer: trusted, header: "Basic " + ownerToken, want: func(authRoute) int { return 401 }},
		"keys, token without scheme": {keys: true, peer: trusted, header: ownerToken, want: func(authRoute) int { return 401 }},
		"keys, owner, trusted":       {keys: true, peer: trusted, header: "Bearer " + ownerToken, want: func(authRoute) int { return 200 }},
		"keys, owner, lower-case scheme": {keys: true, peer: trusted, header: "bearer " + ownerToken,
			want: func(authRoute) int { return 200 }},
		"keys, owner, public": {keys: true, peer: public, header: "Bearer " + ownerToken, want: func(r authRoute) int {
			if r.stepLogs {
				return 403
			}
			return 200
		}},
		"keys, viewer, public": {keys: true, peer: public, header: "Bearer " + viewerToken, want: func(r authRoute) int {
			if r.stepLogs {
				return 403
			}
			return 200
		}},
		"keys, viewer, trusted": {keys: true, peer: trusted, header: "Bearer " + viewerToken, want: func(authRoute) int { return 200 }},
		"keys, other endpoint's key": {keys: true, peer: trusted, header: "Bearer " + otherToken, want: func(r authRoute) int {
			if r.perHook {
				return 404
			}
			return 200
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := testServer(t, authStore(), func(o *httpapi.Options) {
				if tc.keys {
					o.APIKeys = authKeys()
				}
			})
			for _, rt := range authRoutes {
				w := get(s, rt.path, func(r *http.Request) {
					r.RemoteAddr = tc.peer
					if tc.header != "" {
						r.Header.Set("Authorization", tc.header)
					}
				})
				want := tc.want(rt)
				if w.Code != want {
					t.Errorf("%s: status %d, want %d; body %s", rt.path, w.Code, want, w.Body)
					continue
				}
				if want >= 400 {
					checkFamilyError(t, rt.path, rt.fam, w)
				}
				if want == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", rt.path)
				}
				if strings.Contains(w.Body.String(), "other endpoint's secret") && strings.HasSuffix(tc.header, viewerToken) {
					t.Errorf("%s: body leaks another endpoint's entry: %s", rt.path, w.Body)
				}
			}
		})
	}
}

// TestAuthErrorBodies pins the exact messages of each family (SPEC §5.2,
// §5.3, seeds 002 and 003).
func TestAuthErrorBodies(t *testing.T) {
	s, _ := testServer(t, authStore(), func(o *httpapi.Options) { o.APIKeys = authKeys() })
	open, _ := testServer(t, authStore(), nil)
	tests := []struct {
		name string
		srv  http.Handler
		path string
		peer string
		want string
		code int
	}{
		{"api 401", s, "/api/logs", "127.0.0.1:1", `{"error":"Missing or invalid Authorization header"}`, 401},
		{"logs 401", s, "/logs", "127.0.0.1:1",
			`{"status":"error","message":"Authentication required. Please provide a valid API key or token."}`, 401},
		{"logs 403", open, "/logs", "8.8.8.8:1",
			`{"status":"error","message":"You do not have permission to access API logs."}`, 403},
		{"viewer family 403", open, "/logs/api/entries", "8.8.8.8:1",
			`{"detail":"Access denied: this endpoint is restricted to trusted networks"}`, 403},
	}
	for _, tc := range tests {
		w := get(tc.srv, tc.path, func(r *http.Request) { r.RemoteAddr = tc.peer })
		if w.Code != tc.code {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.code)
		}
		if diff := cmp.Diff(jsonOf(t, tc.want), decode(t, w)); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestKeyScopesQueries checks that a key's endpoints restrict what the
// store is asked for.
func TestKeyScopesQueries(t *testing.T) {
	m := authStore()
	s, _ := testServer(t, m, func(o *httpapi.Options) { o.APIKeys = authKeys() })
	auth := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	get(s, "/logs/api/entries", auth(viewerToken))
	get(s, "/logs/api/entries", auth(ownerToken))
	get(s, "/logs?service=other", auth(viewerToken)) // not visible: no store call
	get(s, "/logs?service=other", auth(otherToken))
	var got [][]string
	for _, q := range m.queries {
		got = append(got, q.Filter.Services)
	}
	want := [][]string{{"webhook-server"}, nil, {"other"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Services of the store queries (-want +got):\n%s", diff)
	}
	w := get(s, "/api/endpoints", auth(otherToken))
	if diff := cmp.Diff(jsonOf(t, `{"data":[{"id":"`+httpapi.EndpointID("other")+`","name":"other","slug":"other"}]}`), decode(t, w)); diff != "" {
		t.Errorf("endpoints of the other key (-want +got):\n%s", diff)
	}
}

// TestNoEndpointsSeesNothing: a key with an empty endpoints list sees
// nothing, and the store is never asked an unscoped query.
func TestNoEndpointsSeesNothing(t *testing.T) {
	m := authStore()
	s, _ := testServer(t, m, func(o *httpapi.Options) {
		o.APIKeys = []httpapi.APIKey{apiKeyOf("none", "t", httpapi.RoleViewer)}
	})
	for _, rt := range authRoutes {
		w := get(s, rt.path, func(r *http.Request) { r.Header.Set("Authorization", "Bearer t") })
		want := 200
		if rt.perHook {
			want = 404
		}
		if w.Code != want {
			t.Errorf("%s: status %d, want %d; body %s", rt.path, w.Code, want, w.Body)
		}
		if strings.Contains(w.Body.String(), "webhook-server") || strings.Contains(w.Body.String(), "secret") {
			t.Errorf("%s: body shows data: %s", rt.path, w.Body)
		}
	}
	if len(m.queries) != 0 || len(m.dqueries) != 0 {
		t.Errorf("store asked %d entry and %d delivery queries, want none", len(m.queries), len(m.dqueries))
	}
}

func TestPrincipalFrom(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	probe := func(w http.ResponseWriter, r *http.Request) {
		p, ok := httpapi.PrincipalFrom(r)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, strings.Join([]string{
			p.Name(), boolStr(ok), "owner=" + boolStr(p.Owner()),
			"ws=" + boolStr(p.CanSee("webhook-server")), "other=" + boolStr(p.CanSee("other")),
		}, " "))
		w.WriteHeader(http.StatusAccepted)
	}
	keyed, _ := testServer(t, &memStore{}, func(o *httpapi.Options) { o.APIKeys = authKeys() })
	open, _ := testServer(t, &memStore{}, nil)
	tests := []struct {
		srv    *httpapi.Server
		header string
		peer   string
		code   int
		body   string
	}{
		{keyed, "Bearer " + ownerToken, "8.8.8.8:1", 202, ""},
		{keyed, "Bearer " + viewerToken, "127.0.0.1:1", 403, `{"error":"Forbidden: exports need an owner API key"}`},
		{keyed, "", "127.0.0.1:1", 401, `{"error":"Missing or invalid Authorization header"}`},
		{open, "", "127.0.0.1:1", 202, ""},
		{open, "", "8.8.8.8:1", 403, `{"error":"Access denied: this endpoint is restricted to trusted networks"}`},
	}
	h := keyed.OwnerOnly(probe)
	for i, tc := range tests {
		h := h
		if tc.srv == open {
			h = open.OwnerOnly(probe)
		}
		r := httptest.NewRequest(http.MethodPost, "/api/exports", nil)
		r.RemoteAddr = tc.peer
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		w := httptest.NewRecorder()
		h(w, r)
		if w.Code != tc.code {
			t.Errorf("case %d: status %d, want %d; body %s", i, w.Code, tc.code, w.Body)
		}
		if tc.body != "" {
			if diff := cmp.Diff(jsonOf(t, tc.body), decode(t, w)); diff != "" {
				t.Errorf("case %d: body (-want +got):\n%s", i, diff)
			}
		}
	}
	want := []string{"ops true owner=true ws=true other=true", " true owner=true ws=true other=true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("principals (-want +got):\n%s", diff)
	}
	if _, ok := httpapi.PrincipalFrom(httptest.NewRequest(http.MethodGet, "/", nil)); ok {
		t.Error("PrincipalFrom of an unchecked request: ok=true")
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestSetAPIKeys checks the SIGHUP path: keys appear, change and go.
func TestSetAPIKeys(t *testing.T) {
	s, _ := testServer(t, authStore(), nil)
	status := func(tok string) int {
		return get(s, "/api/endpoints", func(r *http.Request) {
			if tok != "" {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
		}).Code
	}
	steps := []struct {
		keys           []httpapi.APIKey
		wantErr        bool
		none, tok, old int
	}{
		{keys: nil, none: 200, tok: 200, old: 200},
		{keys: []httpapi.APIKey{apiKeyOf("a", "tok", httpapi.RoleViewer, "*")}, none: 401, tok: 200, old: 401},
		{keys: []httpapi.APIKey{apiKeyOf("b", "new", httpapi.RoleViewer, "*")}, none: 401, tok: 401, old: 200},
		{keys: []httpapi.APIKey{apiKeyOf("bad", "x", "admin")}, wantErr: true, none: 401, tok: 401, old: 200},
		{keys: []httpapi.APIKey{apiKeyOf("d1", "x", httpapi.RoleOwner), apiKeyOf("d2", "x", httpapi.RoleViewer)}, wantErr: true,
			none: 401, tok: 401, old: 200},
		{keys: []httpapi.APIKey{}, none: 200, tok: 200, old: 200},
	}
	for i, st := range steps {
		err := s.SetAPIKeys(st.keys)
		if (err != nil) != st.wantErr {
			t.Fatalf("step %d: SetAPIKeys error %v, want error %v", i, err, st.wantErr)
		}
		if got := [3]int{status(""), status("tok"), status("new")}; got != [3]int{st.none, st.tok, st.old} {
			t.Errorf("step %d: statuses (none, tok, new) = %v, want %v", i, got, [3]int{st.none, st.tok, st.old})
		}
	}
	// SetAccess keeps the keys.
	if err := s.SetAPIKeys([]httpapi.APIKey{apiKeyOf("a", "tok", httpapi.RoleViewer, "*")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAccess(prefixes("10.0.0.0/8"), nil); err != nil {
		t.Fatal(err)
	}
	if got := status(""); got != 401 {
		t.Errorf("after SetAccess: status without a token %d, want 401 (keys kept)", got)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for name, keys := range map[string][]httpapi.APIKey{
		"unknown role":    {apiKeyOf("a", "t", "root", "*")},
		"duplicate token": {apiKeyOf("a", "t", httpapi.RoleOwner, "*"), apiKeyOf("b", "t", httpapi.RoleViewer, "*")},
	} {
		if _, err := httpapi.New(httpapi.Options{Store: &memStore{}, APIKeys: keys}); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

// BenchmarkBearerAuth measures a request through the access check with n
// keys configured (every key's digest is compared on every request).
func BenchmarkBearerAuth(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(sprintf("keys=%d", n), func(b *testing.B) {
			keys := make([]httpapi.APIKey, n)
			for i := range keys {
				keys[i] = apiKeyOf(sprintf("k%d", i), sprintf("token-%d", i), httpapi.RoleViewer, "*")
			}
			store := &funcStore{ServicesFunc: func(context.Context) ([]string, error) { return []string{"webhook-server"}, nil }}
			s, _ := testServer(b, store, func(o *httpapi.Options) { o.APIKeys = keys })
			tok := sprintf("Bearer token-%d", n-1)
			b.ReportAllocs()
			for b.Loop() {
				if w := get(s, "/api/endpoints", func(r *http.Request) { r.Header.Set("Authorization", tok) }); w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
