package config_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/config"
)

func TestLoadAggregatorFull(t *testing.T) {
	viewerSum := sha256.Sum256([]byte("viewer-token"))
	path := writeConfig(t, "aggregator.hcl", `
data_dir = "db"
listen {
  http = "0.0.0.0:8080"
  grpc = ":7400"
  tls {
    cert_file = "tls/server.pem"
    key_file  = "/etc/tls/server.key"
  }
}
ingest_tokens    = [env("INGEST_TOKEN"), "second"]
retention        = "168h"
max_db_bytes     = 10737418240
delivery_timeout = "5m"
export_ttl       = "1h30m"
trusted_networks = ["10.0.0.0/8", "192.168.1.7", "2001:db8::1/32"]
trusted_proxies  = ["10.1.2.3/32"]

api_key "ops" {
  token     = env("OPS_TOKEN")
  role      = "owner"
  endpoints = ["webhook-server", "other"]
}
api_key "dash" {
  token_sha256 = "`+strings.ToUpper(hex.EncodeToString(viewerSum[:]))+`"
}
`)
	dir := filepath.Dir(path)
	got, diags := testLoader(map[string]string{"INGEST_TOKEN": "ingest", "OPS_TOKEN": "ops-token"}).LoadAggregator(path)
	if len(diags) > 0 {
		t.Fatalf("LoadAggregator: unexpected diagnostics: %v", diagLines(diags, dir))
	}
	want := &config.Aggregator{
		DataDir: filepath.Join(dir, "db"),
		Listen: config.Listen{
			HTTP: "0.0.0.0:8080",
			GRPC: ":7400",
			TLS:  &config.ServerTLS{CertFile: filepath.Join(dir, "tls/server.pem"), KeyFile: "/etc/tls/server.key"},
		},
		IngestTokens:    []string{"ingest", "second"},
		Retention:       168 * time.Hour,
		MaxDBBytes:      10737418240,
		DeliveryTimeout: 5 * time.Minute,
		ExportTTL:       90 * time.Minute,
		TrustedNetworks: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
		},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")},
		APIKeys: []config.APIKey{
			{
				Name:        "ops",
				Token:       "ops-token",
				TokenSHA256: sha256.Sum256([]byte("ops-token")),
				Role:        config.RoleOwner,
				Endpoints:   []string{"webhook-server", "other"},
			},
			{Name: "dash", TokenSHA256: viewerSum, Role: config.RoleViewer, Endpoints: []string{"*"}},
		},
		Files: []string{path},
	}
	if diff := cmp.Diff(want, got, cmpOpts()); diff != "" {
		t.Errorf("LoadAggregator mismatch (-want +got):\n%s", diff)
	}
	if got, want := got.Listen.HTTPRange.Start.Line, 4; got != want {
		t.Errorf("Listen.HTTPRange line = %d, want %d", got, want)
	}
	if got, want := got.APIKeys[1].DeclRange.Start.Line, 24; got != want {
		t.Errorf("APIKeys[1].DeclRange line = %d, want %d", got, want)
	}
}

func TestLoadAggregatorDefaults(t *testing.T) {
	for name, src := range map[string]string{
		"empty file":   "",
		"comment only": "# nothing to change\n",
		"empty listen": "listen {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, "aggregator.hcl", src)
			got, diags := testLoader(nil).LoadAggregator(path)
			if len(diags) > 0 {
				t.Fatalf("LoadAggregator: unexpected diagnostics: %v", diagLines(diags, filepath.Dir(path)))
			}
			want := &config.Aggregator{
				DataDir:         "/var/lib/hooktail",
				Listen:          config.Listen{HTTP: "127.0.0.1:7401", GRPC: "127.0.0.1:7400"},
				Retention:       720 * time.Hour,
				DeliveryTimeout: 15 * time.Minute,
				ExportTTL:       24 * time.Hour,
				TrustedNetworks: []netip.Prefix{
					netip.MustParsePrefix("127.0.0.0/8"),
					netip.MustParsePrefix("10.0.0.0/8"),
					netip.MustParsePrefix("172.16.0.0/12"),
					netip.MustParsePrefix("192.168.0.0/16"),
					netip.MustParsePrefix("169.254.0.0/16"),
					netip.MustParsePrefix("::1/128"),
					netip.MustParsePrefix("fc00::/7"),
					netip.MustParsePrefix("fe80::/10"),
				},
				Files: []string{path},
			}
			if diff := cmp.Diff(want, got, cmpOpts()); diff != "" {
				t.Errorf("LoadAggregator mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadAggregatorWarnings(t *testing.T) {
	path := writeConfig(t, "aggregator.hcl", `
ingest_tokens    = [env("EMPTY"), "x"]
trusted_networks = []
api_key "blind" {
  token     = "t"
  endpoints = []
}
`)
	got, diags := testLoader(map[string]string{"EMPTY": ""}).LoadAggregator(path)
	if got == nil {
		t.Fatalf("LoadAggregator returned nil for warnings only: %v", diagLines(diags, filepath.Dir(path)))
	}
	want := []string{
		`aggregator.hcl:2:21: warning: Empty ingest token ignored; An empty ingest token accepts nothing; it is ignored.`,
		`aggregator.hcl:6:15: warning: API key sees nothing; api_key "blind" has an empty endpoints list: it is valid but sees no data; use ["*"] for every endpoint.`,
	}
	if diff := cmp.Diff(want, diagLines(diags, filepath.Dir(path))); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"x"}, got.IngestTokens); diff != "" {
		t.Errorf("IngestTokens (-want +got):\n%s", diff)
	}
	if len(got.TrustedNetworks) != 0 {
		t.Errorf("explicit empty trusted_networks = %v, want none", got.TrustedNetworks)
	}
}
