# hooktail agent running the example parser plugin on sample.log.
# Relative paths resolve against this file's folder. After `make build`:
#
#   bin/hooktail-agent validate -config examples/example-plugin/agent.hcl
#   bin/hooktail-agent parse -config examples/example-plugin/agent.hcl -source example examples/example-plugin/sample.log

agent_id = "example-plugin"
data_dir = "../../.demo/example-plugin"

aggregator {
  address = "127.0.0.1:7400"
}

source "example" {
  paths  = ["sample.log"]
  parser = "pipe-log"         # the label of the plugin block below
}

plugin "pipe-log" {
  command = "../../bin/example-plugin"
  timeout = "5s"              # per batch; a hung plugin is killed and restarted
}
