package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/config"
)

func prefixes(cidrs ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

// dataRoutes are the routes restricted to trusted networks (SPEC §5.5),
// with a path each that answers 200 from seedStore.
var dataRoutes = []string{
	"/logs/api/entries",
	"/logs/api/workflow-steps/f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f",
	"/logs/api/step-logs/f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f/clone_repository",
}

func TestDataRoutesAccess(t *testing.T) {
	tests := map[string]struct {
		peer     string
		xff      []string
		networks []netip.Prefix // nil: config's default trusted_networks
		proxies  []netip.Prefix
		want     int
	}{
		"loopback v4":                {peer: "127.0.0.1:1234", want: 200},
		"private 10/8":               {peer: "10.1.2.3:1234", want: 200},
		"private 172.16/12":          {peer: "172.31.255.1:1234", want: 200},
		"outside 172.16/12":          {peer: "172.32.0.1:1234", want: 403},
		"private 192.168/16":         {peer: "192.168.1.1:1234", want: 200},
		"link-local v4":              {peer: "169.254.10.10:1234", want: 200},
		"public v4":                  {peer: "8.8.8.8:1234", want: 403},
		"loopback v6":                {peer: "[::1]:1234", want: 200},
		"ULA v6":                     {peer: "[fd00::1]:1234", want: 200},
		"link-local v6 with zone":    {peer: "[fe80::1%eth0]:1234", want: 200},
		"public v6":                  {peer: "[2001:db8::1]:1234", want: 403},
		"v4-mapped private":          {peer: "[::ffff:10.0.0.1]:1234", want: 200},
		"v4-mapped public":           {peer: "[::ffff:8.8.8.8]:1234", want: 403},
		"unparseable peer":           {peer: "@pipe", want: 403},
		"no trusted networks at all": {peer: "127.0.0.1:1234", networks: []netip.Prefix{}, want: 403},
		"custom networks":            {peer: "8.8.8.8:1234", networks: prefixes("8.8.8.0/24"), want: 200},
		"XFF ignored without trusted proxies": {
			peer: "8.8.8.8:1234", xff: []string{"10.0.0.5"}, want: 403,
		},
		"XFF from untrusted peer cannot lower trust": {
			peer: "10.0.0.5:1234", xff: []string{"8.8.8.8"}, want: 200,
		},
		"trusted proxy forwards a private client": {
			peer: "192.0.2.10:443", xff: []string{"10.0.0.5"}, proxies: prefixes("192.0.2.0/24"), want: 200,
		},
		"trusted proxy forwards a public client": {
			peer: "192.0.2.10:443", xff: []string{"8.8.8.8"}, proxies: prefixes("192.0.2.0/24"), want: 403,
		},
		"loopback proxy forwards a public client": {
			peer: "127.0.0.1:443", xff: []string{"8.8.8.8"}, proxies: prefixes("127.0.0.1/32"), want: 403,
		},
		"spoofed private hop left of the real client": {
			peer: "192.0.2.10:443", xff: []string{"10.0.0.5, 8.8.8.8"}, proxies: prefixes("192.0.2.0/24"), want: 403,
		},
		"chain of trusted proxies, public client": {
			peer: "192.0.2.10:443", xff: []string{"8.8.8.8, 192.0.2.11"}, proxies: prefixes("192.0.2.0/24"), want: 403,
		},
		"chain of trusted proxies, private client": {
			peer: "192.0.2.10:443", xff: []string{"10.0.0.5, 192.0.2.11"}, proxies: prefixes("192.0.2.0/24"), want: 200,
		},
		"every hop a proxy: leftmost hop": {
			peer: "192.0.2.10:443", xff: []string{"192.0.2.11"}, proxies: prefixes("192.0.2.0/24"), want: 403,
		},
		"every hop a trusted-network proxy": {
			peer: "10.0.0.1:443", xff: []string{"10.0.0.2"}, proxies: prefixes("10.0.0.0/8"), want: 200,
		},
		"several XFF headers are one list": {
			peer: "192.0.2.10:443", xff: []string{"8.8.8.8", "10.0.0.5"}, proxies: prefixes("192.0.2.0/24"), want: 200,
		},
		"hop with port": {
			peer: "192.0.2.10:443", xff: []string{"10.0.0.5:4711"}, proxies: prefixes("192.0.2.0/24"), want: 200,
		},
		"bracketed v6 hop with port": {
			peer: "192.0.2.10:443", xff: []string{"[2001:db8::1]:80"}, proxies: prefixes("192.0.2.0/24"), want: 403,
		},
		"bracketed v6 hop": {
			peer: "192.0.2.10:443", xff: []string{"[fd00::5]"}, proxies: prefixes("192.0.2.0/24"), want: 200,
		},
		"garbage hop": {
			peer: "192.0.2.10:443", xff: []string{"unknown"}, proxies: prefixes("192.0.2.0/24"), want: 403,
		},
		"empty XFF: the proxy itself": {
			peer: "192.0.2.10:443", xff: []string{" , "}, proxies: prefixes("192.0.2.0/24"), want: 403,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			networks := tc.networks
			if networks == nil {
				networks = config.DefaultTrustedNetworks()
			}
			s, _ := testServer(t, seedStore(), func(o *httpapi.Options) {
				o.TrustedNetworks = networks
				o.TrustedProxies = tc.proxies
			})
			for _, path := range dataRoutes {
				w := get(s, path, func(r *http.Request) {
					r.RemoteAddr = tc.peer
					for _, v := range tc.xff {
						r.Header.Add("X-Forwarded-For", v)
					}
				})
				checkAccess(t, path, w, tc.want)
			}
		})
	}
}

func checkAccess(t *testing.T, path string, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Errorf("%s: status=%d, want %d; body=%s", path, w.Code, want, w.Body)
		return
	}
	if want == http.StatusForbidden {
		body := jsonOf(t, `{"detail":"Access denied: this endpoint is restricted to trusted networks"}`)
		if diff := cmp.Diff(body, decode(t, w)); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", path, diff)
		}
	}
}

func TestAccessCheckedBeforeValidation(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil)
	for _, path := range []string{"/logs/api/step-logs/h/s?limit=0", "/logs/api/entries?limit=0", "/logs/api/entries?start_time=bad",
		"/logs/api/workflow-steps/" + strings.Repeat("x", 101)} {
		w := get(s, path, func(r *http.Request) { r.RemoteAddr = "8.8.8.8:1" })
		checkAccess(t, path, w, http.StatusForbidden)
	}
}

// TestDataRoutesTrustedOnly is the regression test of /logs/api/entries and
// /logs/api/workflow-steps answering any network: without api_key blocks
// every data route is for trusted networks only (SPEC §5.5); the probes
// stay open.
func TestDataRoutesTrustedOnly(t *testing.T) {
	s, _ := testServer(t, seedStore(), func(o *httpapi.Options) { o.TrustedNetworks = config.DefaultTrustedNetworks() })
	for _, path := range dataRoutes {
		w := get(s, path, func(r *http.Request) { r.RemoteAddr = "8.8.8.8:1" })
		checkAccess(t, path, w, http.StatusForbidden)
		// Loopback is trusted by default (what the e2e tests call from).
		checkAccess(t, path, get(s, path), http.StatusOK)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		w := get(s, path, func(r *http.Request) { r.RemoteAddr = "8.8.8.8:1" })
		checkAccess(t, path, w, http.StatusOK)
	}
}

// TestNilTrustedNetworksIsLoopback checks the library default: nil trusts
// loopback only.
func TestNilTrustedNetworksIsLoopback(t *testing.T) {
	s, _ := testServer(t, seedStore(), nil)
	for peer, want := range map[string]int{
		"127.0.0.1:1": http.StatusOK, "127.8.9.10:1": http.StatusOK, "[::1]:1": http.StatusOK,
		"10.0.0.1:1": http.StatusForbidden, "192.168.1.1:1": http.StatusForbidden, "8.8.8.8:1": http.StatusForbidden,
	} {
		for _, path := range dataRoutes {
			w := get(s, path, func(r *http.Request) { r.RemoteAddr = peer })
			checkAccess(t, peer+" "+path, w, want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := map[string]httpapi.Options{
		"no store":        {},
		"invalid network": {Store: &memStore{}, TrustedNetworks: []netip.Prefix{{}}},
		"invalid proxy":   {Store: &memStore{}, TrustedProxies: []netip.Prefix{{}}},
	}
	for name, opts := range tests {
		if _, err := httpapi.New(opts); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
	var _ aggregator.Store = &memStore{}
}
