# hooktail agent, next to a github-webhook-server (same host, container or pod).
# Check it with: bin/hooktail-agent validate -config examples/agent.hcl
# Relative paths resolve against this file's folder.

agent_id = "webhook-prod-1"          # default: the hostname
data_dir = "../.demo/agent-example"  # checkpoints; e.g. /var/lib/hooktail/agent

aggregator {
  address = "127.0.0.1:7400"         # the aggregator's gRPC listener
  # token = env("HOOKTAIL_INGEST_TOKEN")
  # tls {
  #   ca_file = "/etc/hooktail/ca.pem"
  # }
  batch_max_entries = 2000
  batch_max_wait    = "200ms"
}

# The server writes its text log to $WEBHOOK_SERVER_DATA_DIR/logs (default
# /home/podman/data/logs). Match the rotated names too (webhook-server.log.1 …):
# a file renamed by rotation is recognised by its identity, never read twice.
source "webhook-server" {
  paths    = ["logs/webhook-server.log*"]
  exclude  = ["logs/logs_server.log*", "logs/mcp_server.log*"]
  parser   = "github-webhook-server"
  timezone = "UTC"                   # server 4.0.x and older write local time: set its TZ here
  start_at = "beginning"
  max_record_bytes = 1048576
}

# A 4.0.x server writes naive local timestamps (the compose example sets
# TZ=Asia/Jerusalem) and legacy [task_id=…] step markers.
source "webhook-server-legacy" {
  paths    = ["logs/legacy-4.0/webhook-server.log*"]
  parser   = "github-webhook-server"
  timezone = "Asia/Jerusalem"
}

# 4.1 (and main after 2026-03-15) also writes webhooks_YYYY-MM-DD.json: one
# log_entry line per record and one webhook_summary per delivery. Tail it in
# the same source as the text log: each record is stored once, text lines
# without a prefix get their hook_id from the JSON copy, and the summary
# gives every step its start, duration and error.
source "webhook-server-4.1" {
  paths   = ["logs/jsonl-4.1/webhook-server.log*", "logs/jsonl-4.1/webhooks_*.json"]
  exclude = ["logs/jsonl-4.1/.webhooks_*.tmp"]
  parser  = "github-webhook-server"
}
