package config_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/config"
)

const baseAggregator = `
data_dir = "/var/lib/hooktail"
listen {
  http = "127.0.0.1:7401"
  grpc = "127.0.0.1:7400"
}
ingest_tokens    = ["a", "b"]
retention        = "720h"
delivery_timeout = "15m"
trusted_networks = ["10.0.0.0/8", "127.0.0.0/8"]
`

func loadAggregator(t *testing.T, body string) *config.Aggregator {
	t.Helper()
	cfg, diags := testLoader(nil).LoadAggregator(writeConfig(t, "aggregator.hcl", body))
	if diags.HasErrors() {
		t.Fatalf("LoadAggregator: %v", diags)
	}
	return cfg
}

func TestAggregatorChanges(t *testing.T) {
	t.Parallel()
	testCases := map[string]struct {
		body string
		want []string
	}{
		"same, written elsewhere in another order": {body: `
trusted_networks = ["127.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8"]
ingest_tokens = ["b", "a"]

data_dir = "/var/lib/hooktail"
delivery_timeout = "15m"
listen {
  grpc = "127.0.0.1:7400"
  http = "127.0.0.1:7401"
}
`},
		"live settings": {body: `
data_dir = "/var/lib/hooktail"
listen {
  http = "127.0.0.1:7401"
  grpc = "127.0.0.1:7400"
}
ingest_tokens    = ["a"]
retention        = "24h"
max_db_bytes     = 1000000
delivery_timeout = "5m"
export_ttl       = "1h"
trusted_networks = ["10.0.0.0/8"]
trusted_proxies  = ["10.1.1.1"]
`, want: []string{"ingest_tokens", "retention", "max_db_bytes", "delivery_timeout", "export_ttl", "trusted_networks", "trusted_proxies"}},
		"restart settings": {body: `
data_dir = "/srv/hooktail"
listen {
  http = "0.0.0.0:7401"
  grpc = "0.0.0.0:7400"
  tls {
    cert_file = "/etc/tls/c.pem"
    key_file  = "/etc/tls/k.pem"
  }
}
ingest_tokens    = ["a", "b"]
delivery_timeout = "15m"
trusted_networks = ["10.0.0.0/8", "127.0.0.0/8"]
`, want: []string{"data_dir", "listen.http", "listen.grpc", "listen.tls"}},
		"api keys": {body: baseAggregator + `
api_key "ops" {
  token = "t"
}
`, want: []string{"api_key"}},
		"defaults for everything": {body: "", want: []string{"ingest_tokens", "trusted_networks"}},
	}
	old := loadAggregator(t, baseAggregator)
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cur := loadAggregator(t, tc.body)
			if diff := cmp.Diff(tc.want, config.AggregatorChanges(old, cur)); diff != "" {
				t.Errorf("AggregatorChanges (-want +got):\n%s", diff)
			}
			if got := config.AggregatorChanges(cur, cur); len(got) != 0 {
				t.Errorf("AggregatorChanges(cfg, cfg) = %v, want none", got)
			}
		})
	}
}

func TestAggregatorChangesTLSAndKeys(t *testing.T) {
	t.Parallel()
	tlsBody := func(cert string) string {
		return `listen {
  tls {
    cert_file = "` + cert + `"
    key_file  = "/k.pem"
  }
}
api_key "ops" {
  token = "t"
  role  = "owner"
}
`
	}
	a := loadAggregator(t, tlsBody("/c.pem"))
	b := loadAggregator(t, tlsBody("/c.pem"))
	if got := config.AggregatorChanges(a, b); len(got) != 0 {
		t.Errorf("same tls and keys from two files: changes %v, want none", got)
	}
	c := loadAggregator(t, tlsBody("/other.pem"))
	if got, want := config.AggregatorChanges(a, c), []string{"listen.tls"}; !slices.Equal(got, want) {
		t.Errorf("another cert_file: changes %v, want %v", got, want)
	}
	d := *a
	d.APIKeys = slices.Clone(a.APIKeys)
	d.APIKeys[0].Role = config.RoleViewer
	if got, want := config.AggregatorChanges(a, &d), []string{"api_key"}; !slices.Equal(got, want) {
		t.Errorf("another role: changes %v, want %v", got, want)
	}
}

// TestAggregatorChangesCoversEveryField fails when config.Aggregator gains
// a field: AggregatorChanges must then compare it (or say why not here).
func TestAggregatorChangesCoversEveryField(t *testing.T) {
	t.Parallel()
	covered := []string{"DataDir", "Listen", "IngestTokens", "Retention", "MaxDBBytes", "DeliveryTimeout",
		"ExportTTL", "TrustedNetworks", "TrustedProxies", "APIKeys",
		"Files", // where the settings were read, not a setting
	}
	var fields []string
	typ := reflect.TypeFor[config.Aggregator]()
	for i := range typ.NumField() {
		fields = append(fields, typ.Field(i).Name)
	}
	slices.Sort(fields)
	slices.Sort(covered)
	if diff := cmp.Diff(covered, fields); diff != "" {
		t.Errorf("config.Aggregator fields (-covered by AggregatorChanges +declared):\n%s", diff)
	}
}
