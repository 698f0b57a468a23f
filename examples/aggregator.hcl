# hooktail aggregator. Check it with:
#   bin/hooktail-aggregator validate -config examples/aggregator.hcl
# Relative paths resolve against this file's folder.

data_dir = "../.demo/aggregator-example"  # SQLite database; e.g. /var/lib/hooktail

listen {
  http = "127.0.0.1:7401"
  grpc = "127.0.0.1:7400"
  # tls {
  #   cert_file = "/etc/hooktail/tls.crt"
  #   key_file  = "/etc/hooktail/tls.key"
  # }
}

# ingest_tokens  = [env("HOOKTAIL_INGEST_TOKEN")]  # empty: trusted networks only
retention        = "720h"
delivery_timeout = "15m"
trusted_networks = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"]

# API keys (SPEC §5.5). Without any, every data route answers trusted_networks
# only; with at least one, every data route needs "Authorization: Bearer <token>"
# whatever the network (step-logs needs a trusted network as well), and a key
# sees only its endpoints (source names). SIGHUP reloads them.
# api_key "ops" {
#   token     = env("HOOKTAIL_OPS_TOKEN")   # or token_sha256 = "<64 hex digits>"
#   role      = "owner"                     # owner: read + export; viewer: read only
#   endpoints = ["*"]
# }
# api_key "dashboard" {
#   token_sha256 = "<sha256 of the token, hex>"  # printf %s "$TOKEN" | sha256sum
#   endpoints    = ["webhook-server"]
# }
