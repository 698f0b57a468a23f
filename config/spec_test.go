package config_test

import (
	"path/filepath"
	"testing"
)

// The examples of SPEC §3, verbatim except for one line: the contract's
// names must load.
const specAgent = `
agent_id = "webhook-prod-1"            # optional, informational; default: hostname
data_dir = "/var/lib/hooktail/agent"   # checkpoints
aggregator {
  address = "127.0.0.1:7400"           # gRPC ingest (addresses = [...] for failover is welcome)
  token   = env("HOOKTAIL_INGEST_TOKEN") # optional bearer for ingest
  tls { ca_file = "..." }              # optional
}
source "webhook-server" {              # label = source name = "service" = "endpoint"
  paths    = ["/data/logs/*.log*", "/data/logs/webhooks_*.json"]
  exclude  = ["/data/logs/logs_server.log*", "/data/logs/mcp_server.log*"]
  parser   = "github-webhook-server"   # a built-in name, or the label of a plugin block
  parser_config = { }                  # settings for the parser (json: keys; regex: pattern …)
  timezone = "UTC"                     # for timestamps written without an offset
  start_at = "beginning"               # or "end": where to start a file never seen before
  max_record_bytes = 1048576           # longer records are cut, marked and flagged
}
plugin "my-parser" {                   # an out-of-process parser (hashicorp/go-plugin)
  command = "./bin/my-parser"          # relative paths resolve against the config file's folder
  config  = { pattern = "..." }        # handed to the plugin as-is
  timeout = "10s"                      # per batch; a hung plugin is killed and restarted
}
redact { patterns = ["(?i)secret=\\S+"] } # added to the built-in rules (GitHub tokens, bearer, URL passwords)
metrics { listen = "127.0.0.1:7402" }  # optional: /metrics, /healthz, /readyz
`

const specAggregator = `
data_dir = "/var/lib/hooktail"         # SQLite database and export files live here
listen {
  http = "127.0.0.1:7401"
  grpc = "127.0.0.1:7400"
  tls {                                         # optional, for both
    cert_file = "..."
    key_file  = "..."
  }
}
ingest_tokens    = [env("HOOKTAIL_INGEST_TOKEN")]  # empty: ingest accepted from trusted networks only
retention        = "720h"              # and/or max_db_bytes
delivery_timeout = "15m"               # see §4
export_ttl       = "24h"
trusted_networks = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"]
trusted_proxies  = []                  # X-Forwarded-For is believed only from these
api_key "ops" {
  token     = env("HOOKTAIL_OPS_TOKEN")   # or token_sha256 = "<hex>"
  role      = "owner"                     # owner: read + export; viewer: read only
  endpoints = ["*"]                       # source names this key may see
}
`

func TestSpecExamples(t *testing.T) {
	env := map[string]string{"HOOKTAIL_INGEST_TOKEN": "i", "HOOKTAIL_OPS_TOKEN": "o"}
	path := writeConfig(t, "agent.hcl", specAgent)
	if a, diags := testLoader(env).LoadAgent(path); a == nil || len(diags) > 0 {
		t.Errorf("SPEC agent example: %v", diagLines(diags, filepath.Dir(path)))
	}
	path = writeConfig(t, "aggregator.hcl", specAggregator)
	if a, diags := testLoader(env).LoadAggregator(path); a == nil || len(diags) > 0 {
		t.Errorf("SPEC aggregator example: %v", diagLines(diags, filepath.Dir(path)))
	}

	// SPEC §3 writes the listen tls block on one line with two arguments,
	// which HCL's native syntax does not allow; the error says so.
	path = writeConfig(t, "aggregator.hcl", "listen {\n  tls { cert_file = \"...\"  key_file = \"...\" }\n}\n")
	_, diags := testLoader(env).LoadAggregator(path)
	want := "aggregator.hcl:2:28: error: Invalid single-argument block definition; " +
		"A single-line block definition must end with a closing brace immediately after its single argument definition."
	if got := diagLines(diags, filepath.Dir(path)); len(got) != 1 || got[0] != want {
		t.Errorf("one-line tls block: diagnostics %q, want [%q]", got, want)
	}
}
