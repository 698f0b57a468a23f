package config_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func aggFile(src string) map[string]string { return map[string]string{"aggregator.hcl": src} }

func TestLoadAggregatorErrors(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	cases := map[string]errorCase{
		"unknown attribute": {
			files: aggFile("retension = \"1h\"\n"),
			want:  []string{`aggregator.hcl:1:1: error: Unsupported argument; An argument named "retension" is not expected here. Did you mean "retention"?`},
		},
		"unknown listen attribute": {
			files: aggFile("listen {\n  https = \":443\"\n}\n"),
			want:  []string{`aggregator.hcl:2:3: error: Unsupported argument; An argument named "https" is not expected here. Did you mean "http"?`},
		},
		"bad duration": {
			files: aggFile("retention = \"abc\"\n"),
			want:  []string{`aggregator.hcl:1:13: error: Invalid duration; invalid duration "abc" for retention: time: invalid duration "abc"`},
		},
		"negative duration": {
			files: aggFile("export_ttl = \"-24h\"\n"),
			want:  []string{`aggregator.hcl:1:14: error: Invalid duration; invalid duration "-24h" for export_ttl: must not be negative`},
		},
		"duration is a number": {
			files: aggFile("delivery_timeout = 15\n"),
			want:  []string{`aggregator.hcl:1:20: error: Invalid duration; invalid duration "15" for delivery_timeout: time: missing unit in duration "15"`},
		},
		"bad CIDR": {
			files: aggFile("trusted_networks = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\ntrusted_proxies = [\"proxy\"]\n"),
			want: []string{
				`aggregator.hcl:1:35: error: Invalid CIDR; invalid CIDR "10.0.0.0/33" in trusted_networks: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`,
				`aggregator.hcl:2:20: error: Invalid CIDR; invalid CIDR "proxy" in trusted_proxies: netip.ParsePrefix("proxy"): no '/'`,
			},
		},
		"negative max_db_bytes": {
			files: aggFile("max_db_bytes = -1\n"),
			want:  []string{`aggregator.hcl:1:16: error: Invalid number; invalid value -1 for max_db_bytes: must be at least 0`},
		},
		"token and token_sha256": {
			files: aggFile("api_key \"k\" {\n  token        = \"t\"\n  token_sha256 = \"" + sum + "\"\n}\n"),
			want:  []string{`aggregator.hcl:3:3: error: Conflicting arguments; api_key "k" sets both token and token_sha256; set exactly one.`},
		},
		"neither token nor token_sha256": {
			files: aggFile("api_key \"k\" {\n  role = \"owner\"\n}\n"),
			want:  []string{`aggregator.hcl:1:1: error: Missing token; api_key "k" needs token or token_sha256.`},
		},
		"bad token_sha256": {
			files: aggFile("api_key \"a\" { token_sha256 = \"abc\" }\napi_key \"b\" { token_sha256 = \"" + strings.Repeat("zz", 32) + "\" }\n"),
			want: []string{
				`aggregator.hcl:1:30: error: Invalid token_sha256; invalid token_sha256 for api_key "a": encoding/hex: odd length hex string`,
				`aggregator.hcl:2:30: error: Invalid token_sha256; invalid token_sha256 for api_key "b": encoding/hex: invalid byte: U+007A 'z'`,
			},
		},
		"short token_sha256": {
			files: aggFile("api_key \"a\" { token_sha256 = \"abcd\" }\n"),
			want:  []string{`aggregator.hcl:1:30: error: Invalid token_sha256; invalid token_sha256 for api_key "a": want 64 hex digits, got 4`},
		},
		"empty token": {
			files: aggFile("api_key \"a\" { token = env(\"EMPTY\") }\n"),
			want:  []string{`aggregator.hcl:1:23: error: Invalid value; The token of api_key "a" must not be empty.`},
		},
		"bad role": {
			files: aggFile("api_key \"a\" {\n  token = \"t\"\n  role  = \"admin\"\n}\n"),
			want:  []string{`aggregator.hcl:3:11: error: Invalid role; invalid role "admin" for api_key "a": want "owner" or "viewer"`},
		},
		"duplicate api_key label": {
			files: aggFile("api_key \"a\" { token = \"t1\" }\napi_key \"a\" { token = \"t2\" }\n"),
			want:  []string{`aggregator.hcl:2:1: error: Duplicate api_key block; The api_key block labelled "a" was already declared at aggregator.hcl:1:1; labels must be unique.`},
		},
		"duplicate api_key token": {
			files: aggFile("api_key \"a\" { token = \"same\" }\napi_key \"b\" { token = \"same\" }\n"),
			want:  []string{`aggregator.hcl:2:1: error: Duplicate API key token; api_key "b" has the same token as the api_key declared at aggregator.hcl:1:1.`},
		},
		"tls without key_file": {
			files: aggFile("listen {\n  tls { cert_file = \"c.pem\" }\n}\n"),
			want:  []string{`aggregator.hcl:2:9: error: Missing required argument; The argument "key_file" is required, but no definition was found.`},
		},
		"duplicate listen": {
			files: aggFile("listen {}\nlisten {}\n"),
			want:  []string{`aggregator.hcl:2:1: error: Duplicate listen block; The listen block was already declared at aggregator.hcl:1:1; only one is allowed.`},
		},
		"wrong type": {
			files: aggFile("ingest_tokens = \"t\"\nlisten { http = 8080 }\n"),
			want: []string{
				`aggregator.hcl:1:17: error: Incorrect attribute value type; Inappropriate value for attribute "ingest_tokens": list of string required, but have string.`,
				`aggregator.hcl:2:17: error: Invalid address; invalid address "8080" for http: want host:port: address 8080: missing port in address`,
			},
		},
		"syntax error": {
			files: aggFile("listen {\n  http = \n}\n"),
			want:  []string{`aggregator.hcl:2:10: error: Invalid expression; Expected the start of an expression, but found an invalid expression token.`},
		},
		"unset env": {
			files: aggFile("ingest_tokens = [env(\"HOOKTAIL_NOT_SET\")]\n"),
			want:  []string{`aggregator.hcl:1:18: error: Error in function call; Call to function "env" failed: environment variable "HOOKTAIL_NOT_SET" is not set.`},
		},
	}
	for name, tc := range cases {
		if tc.path == "" {
			tc.path = "aggregator.hcl"
			cases[name] = tc
		}
	}
	runErrorCases(t, cases, func(path string) (any, hcl.Diagnostics) {
		a, diags := testLoader(map[string]string{"EMPTY": ""}).LoadAggregator(path)
		if a == nil {
			return nil, diags
		}
		return a, diags
	})
}
