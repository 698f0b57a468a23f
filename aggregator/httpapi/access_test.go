package httpapi_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

func prefixes(cidrs ...string) []netip.Prefix {
	out := []netip.Prefix{}
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

func TestStepLogsAccess(t *testing.T) {
	tests := map[string]struct {
		peer     string
		xff      []string
		networks []netip.Prefix // nil: defaults
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
			s, _ := testServer(t, seedStore(), func(o *httpapi.Options) {
				o.TrustedNetworks = tc.networks
				o.TrustedProxies = tc.proxies
			})
			w := get(s, "/logs/api/step-logs/f4b3c2d1-a9b8-4c5d-9e8f-1a2b3c4d5e6f/clone_repository", func(r *http.Request) {
				r.RemoteAddr = tc.peer
				for _, v := range tc.xff {
					r.Header.Add("X-Forwarded-For", v)
				}
			})
			if w.Code != tc.want {
				t.Fatalf("status=%d, want %d; body=%s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusForbidden {
				want := jsonOf(t, `{"detail":"Access denied: this endpoint is restricted to trusted networks"}`)
				if diff := cmp.Diff(want, decode(t, w)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAccessCheckedBeforeValidation(t *testing.T) {
	s, _ := testServer(t, &funcStore{}, nil)
	w := get(s, "/logs/api/step-logs/h/s?limit=0", func(r *http.Request) { r.RemoteAddr = "8.8.8.8:1" })
	if w.Code != http.StatusForbidden {
		t.Errorf("status=%d, want 403", w.Code)
	}
}

func TestOtherRoutesOpenToAnyNetwork(t *testing.T) {
	store := windowStore()
	s, _ := testServer(t, store, nil)
	for _, path := range []string{"/logs/api/entries", "/logs/api/workflow-steps/H", "/healthz", "/readyz"} {
		w := get(s, path, func(r *http.Request) { r.RemoteAddr = "8.8.8.8:1" })
		if w.Code != http.StatusOK {
			t.Errorf("%s: status=%d, want 200", path, w.Code)
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

func TestDefaultTrustedNetworks(t *testing.T) {
	var got []string
	for _, p := range httpapi.DefaultTrustedNetworks() {
		got = append(got, p.String())
	}
	want := []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
		"169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}
