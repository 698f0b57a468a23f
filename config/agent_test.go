package config_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/hooktail/hooktail/config"
)

const fullAgent = `
agent_id = "webhook-prod-1"
data_dir = "state"

aggregator {
  address           = "agg-1:7400"
  addresses         = ["agg-2:7400", "agg-1:7400", "[::1]:7400"]
  token             = env("INGEST_TOKEN")
  batch_max_entries = 500
  batch_max_wait    = "1s"
  tls {
    ca_file              = "tls/ca.pem"
    cert_file            = "/etc/tls/agent.pem"
    key_file             = "/etc/tls/agent.key"
    server_name          = "aggregator.internal"
    insecure_skip_verify = true
  }
}

source "webhook-server" {
  paths            = ["/data/logs/*.log*", "logs/webhooks_*.json"]
  exclude          = ["/data/logs/logs_server.log*"]
  parser           = "my-parser"
  parser_config    = { pattern = "^(?P<level>\\w+)", fields = ["a", "b"], n = 3, on = true }
  timezone         = "Europe/Berlin"
  start_at         = "end"
  max_record_bytes = 65536
  rescan_interval  = "30s"
}

source "other" {
  paths = ["/var/log/other.log"]
}

plugin "my-parser" {
  command = "./bin/my-parser"
  args    = ["-v", "--mode=fast"]
  config  = { pattern = "..." }
  timeout = "2s"
}

redact { patterns = ["(?i)secret=\\S+", "token:[a-z]+"] }

metrics { listen = "127.0.0.1:9102" }
`

func TestLoadAgentFull(t *testing.T) {
	path := writeConfig(t, "agent.hcl", fullAgent)
	dir := filepath.Dir(path)
	got, diags := testLoader(map[string]string{"INGEST_TOKEN": "s3cret"}).LoadAgent(path)
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("LoadAgent: unexpected diagnostics:\n%v", diagLines(diags, dir))
	}
	want := &config.Agent{
		AgentID: "webhook-prod-1",
		DataDir: filepath.Join(dir, "state"),
		Aggregator: config.AggregatorClient{
			Address:         "agg-1:7400",
			Addresses:       []string{"agg-1:7400", "agg-2:7400", "[::1]:7400"},
			Token:           "s3cret",
			BatchMaxEntries: 500,
			BatchMaxWait:    time.Second,
			TLS: &config.ClientTLS{
				CAFile:             filepath.Join(dir, "tls/ca.pem"),
				CertFile:           "/etc/tls/agent.pem",
				KeyFile:            "/etc/tls/agent.key",
				ServerName:         "aggregator.internal",
				InsecureSkipVerify: true,
			},
		},
		Sources: []config.Source{
			{
				Name:           "webhook-server",
				Paths:          []string{"/data/logs/*.log*", filepath.Join(dir, "logs/webhooks_*.json")},
				Exclude:        []string{"/data/logs/logs_server.log*"},
				Parser:         "my-parser",
				ParserConfig:   json.RawMessage(`{"fields":["a","b"],"n":3,"on":true,"pattern":"^(?P<level>\\w+)"}`),
				Timezone:       "Europe/Berlin",
				Location:       mustLocation(t, "Europe/Berlin"),
				StartAt:        config.StartAtEnd,
				MaxRecordBytes: 65536,
				RescanInterval: 30 * time.Second,
			},
			{
				Name:           "other",
				Paths:          []string{"/var/log/other.log"},
				Parser:         config.DefaultParser,
				ParserConfig:   json.RawMessage(`{}`),
				Timezone:       "UTC",
				Location:       time.UTC,
				StartAt:        config.StartAtBeginning,
				MaxRecordBytes: 1048576,
				RescanInterval: 10 * time.Second,
			},
		},
		Plugins: []config.Plugin{{
			Name:    "my-parser",
			Command: filepath.Join(dir, "bin/my-parser"),
			Args:    []string{"-v", "--mode=fast"},
			Config:  json.RawMessage(`{"pattern":"..."}`),
			Timeout: 2 * time.Second,
		}},
		Redact: config.Redact{Patterns: []*regexp.Regexp{
			regexp.MustCompile(`(?i)secret=\S+`), regexp.MustCompile(`token:[a-z]+`),
		}},
		Metrics: &config.Metrics{Listen: "127.0.0.1:9102"},
		Files:   []string{path},
	}
	if diff := cmp.Diff(want, got, cmpOpts()); diff != "" {
		t.Errorf("LoadAgent mismatch (-want +got):\n%s", diff)
	}

	// Ranges let callers blame later semantic errors.
	src, ok := got.Source("webhook-server")
	if !ok {
		t.Fatal(`Source("webhook-server") not found`)
	}
	for name, tc := range map[string]struct {
		got        hcl.Range
		line, col  int
		wantInFile string
	}{
		"source DeclRange":     {src.DeclRange, 20, 1, path},
		"source ParserRange":   {src.ParserRange, 23, 22, path},
		"source PathsRange":    {src.PathsRange, 21, 22, path},
		"plugin CommandRange":  {got.Plugins[0].CommandRange, 36, 13, path},
		"metrics ListenRange":  {got.Metrics.ListenRange, 44, 20, path},
		"default ParserRange":  {got.Sources[1].ParserRange, 31, 1, path},
		"aggregator DeclRange": {got.Aggregator.DeclRange, 5, 1, path},
	} {
		if tc.got.Filename != tc.wantInFile || tc.got.Start.Line != tc.line || tc.got.Start.Column != tc.col {
			t.Errorf("%s = %s:%d:%d, want %s:%d:%d", name, tc.got.Filename, tc.got.Start.Line, tc.got.Start.Column,
				tc.wantInFile, tc.line, tc.col)
		}
	}
	if _, ok := got.Plugin("nope"); ok {
		t.Error(`Plugin("nope") found`)
	}
}

func TestLoadAgentDefaults(t *testing.T) {
	path := writeConfig(t, "agent.hcl", `source "s" { paths = ["/l/*.log"] }`)
	got, diags := testLoader(nil).LoadAgent(path)
	if len(diags) > 0 {
		t.Fatalf("LoadAgent: unexpected diagnostics: %v", diagLines(diags, filepath.Dir(path)))
	}
	want := &config.Agent{
		AgentID: "testhost",
		DataDir: "/var/lib/hooktail/agent",
		Aggregator: config.AggregatorClient{
			Address:         "127.0.0.1:7400",
			Addresses:       []string{"127.0.0.1:7400"},
			BatchMaxEntries: 2000,
			BatchMaxWait:    200 * time.Millisecond,
		},
		Sources: []config.Source{{
			Name:           "s",
			Paths:          []string{"/l/*.log"},
			Parser:         "github-webhook-server",
			ParserConfig:   json.RawMessage(`{}`),
			Timezone:       "UTC",
			Location:       time.UTC,
			StartAt:        config.StartAtBeginning,
			MaxRecordBytes: 1048576,
			RescanInterval: 10 * time.Second,
		}},
		Files: []string{path},
	}
	if diff := cmp.Diff(want, got, cmpOpts()); diff != "" {
		t.Errorf("LoadAgent mismatch (-want +got):\n%s", diff)
	}
	if got, want := got.Aggregator.DeclRange, (hcl.Range{}); got != want {
		t.Errorf("absent aggregator DeclRange = %v, want zero", got)
	}
}

func TestLoadAgentDefaultsFromEmptyBlocks(t *testing.T) {
	path := writeConfig(t, "agent.hcl", `
aggregator {
  addresses = ["b:1", "c:2"]
}
source "s" { paths = ["x"] }
plugin "p" { command = "/usr/bin/p" }
metrics {}
redact {}
`)
	got, diags := testLoader(nil).LoadAgent(path)
	if len(diags) > 0 {
		t.Fatalf("LoadAgent: unexpected diagnostics: %v", diagLines(diags, filepath.Dir(path)))
	}
	if got, want := got.Aggregator.Address, "b:1"; got != want {
		t.Errorf("Aggregator.Address = %q, want %q", got, want)
	}
	if got, want := got.Plugins[0].Timeout, 10*time.Second; got != want {
		t.Errorf("Plugin.Timeout = %v, want %v", got, want)
	}
	if got, want := string(got.Plugins[0].Config), "{}"; got != want {
		t.Errorf("Plugin.Config = %s, want %s", got, want)
	}
	if got.Metrics == nil || got.Metrics.Listen != config.DefaultMetricsListen {
		t.Errorf("Metrics = %+v, want listen %q", got.Metrics, config.DefaultMetricsListen)
	}
	if got, want := got.Sources[0].Paths[0], filepath.Join(filepath.Dir(path), "x"); got != want {
		t.Errorf("relative glob = %q, want %q", got, want)
	}
}

func TestEnvFunction(t *testing.T) {
	const src = `
agent_id = env("HOOKTAIL_TEST_AGENT_ID")
aggregator { token = env("HOOKTAIL_TEST_TOKEN") }
source "s" { paths = ["/x"] }
`
	t.Run("set", func(t *testing.T) {
		t.Setenv("HOOKTAIL_TEST_AGENT_ID", "from-env")
		t.Setenv("HOOKTAIL_TEST_TOKEN", "tok")
		got, diags := config.LoadAgent(writeConfig(t, "agent.hcl", src))
		if diags.HasErrors() {
			t.Fatalf("LoadAgent: %v", diags)
		}
		if got.AgentID != "from-env" || got.Aggregator.Token != "tok" {
			t.Errorf("AgentID, Token = %q, %q; want from-env, tok", got.AgentID, got.Aggregator.Token)
		}
	})
	t.Run("set to empty", func(t *testing.T) {
		t.Setenv("HOOKTAIL_TEST_AGENT_ID", "a")
		t.Setenv("HOOKTAIL_TEST_TOKEN", "")
		got, diags := config.LoadAgent(writeConfig(t, "agent.hcl", src))
		if diags.HasErrors() {
			t.Fatalf("LoadAgent: %v", diags)
		}
		if got.Aggregator.Token != "" {
			t.Errorf("Token = %q, want empty", got.Aggregator.Token)
		}
	})
	t.Run("unset", func(t *testing.T) {
		t.Setenv("HOOKTAIL_TEST_AGENT_ID", "a")
		t.Setenv("HOOKTAIL_TEST_TOKEN", "")
		// t.Setenv restores the variable afterwards; unset it for this test.
		unsetenv(t, "HOOKTAIL_TEST_TOKEN")
		path := writeConfig(t, "agent.hcl", src)
		got, diags := config.LoadAgent(path)
		if got != nil {
			t.Errorf("LoadAgent returned a config despite errors")
		}
		want := []string{`agent.hcl:3:22: error: Error in function call; Call to function "env" failed: environment variable "HOOKTAIL_TEST_TOKEN" is not set.`}
		if diff := cmp.Diff(want, diagLines(diags, filepath.Dir(path))); diff != "" {
			t.Errorf("diagnostics (-want +got):\n%s", diff)
		}
	})
}

func TestFileFunction(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"agent.hcl": `
aggregator { token = trimspace(file("secrets/token")) }
source "s" { paths = ["/x"] }
`,
		"secrets/token": "  tok-from-file\n",
	})
	got, diags := testLoader(nil).LoadAgent(filepath.Join(dir, "agent.hcl"))
	if diags.HasErrors() {
		t.Fatalf("LoadAgent: %v", diagLines(diags, dir))
	}
	if got, want := got.Aggregator.Token, "tok-from-file"; got != want {
		t.Errorf("Token = %q, want %q", got, want)
	}

	path := writeConfig(t, "agent.hcl", `
aggregator { token = file("missing") }
source "s" { paths = ["/x"] }
`)
	_, diags = testLoader(nil).LoadAgent(path)
	lines := diagLines(diags, filepath.Dir(path))
	want := `agent.hcl:2:22: error: Error in function call; Call to function "file" failed: open missing: no such file or directory.`
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("diagnostics = %q, want [%q]", lines, want)
	}
}
