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
