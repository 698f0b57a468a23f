package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/config"
)

func loadConfig(t *testing.T, body string) *config.Agent {
	t.Helper()
	cfg, diags := config.LoadAgent(writeConfig(t, body))
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

const reloadBase = `agent_id = "a1"
data_dir = "/tmp/hooktail-test-data"
plugin "p" {
  command = "/bin/true"
  config  = { x = 1 }
}
source "web" {
  paths         = ["/logs/*.log"]
  parser_config = { a = 1, b = "two" }
}
source "plug" {
  paths  = ["/other/*.log"]
  parser = "p"
}
`

// TestSourceHash checks what changes a source's identity for a reload:
// its settings and its plugin's, not where it is written.
func TestSourceHash(t *testing.T) {
	base := loadConfig(t, reloadBase)
	hashes := func(cfg *config.Agent) map[string]string {
		out := make(map[string]string)
		for i := range cfg.Sources {
			out[cfg.Sources[i].Name] = sourceHash(cfg, &cfg.Sources[i])
		}
		return out
	}
	want := hashes(base)
	if want["web"] == "" || want["web"] == want["plug"] {
		t.Fatalf("hashes %v: want distinct, non-empty", want)
	}
	for name, tc := range map[string]struct {
		body    string
		changed []string
	}{
		"same":                  {reloadBase, nil},
		"moved and reformatted": {"\n\n" + strings.ReplaceAll(reloadBase, "  ", "    "), nil},
		"parser_config order":   {strings.Replace(reloadBase, `{ a = 1, b = "two" }`, `{ b = "two", a = 1 }`, 1), nil},
		"paths":                 {strings.Replace(reloadBase, `/logs/*.log`, `/logs/*.log*`, 1), []string{"web"}},
		"parser_config":         {strings.Replace(reloadBase, `a = 1,`, `a = 2,`, 1), []string{"web"}},
		"timezone":              {strings.Replace(reloadBase, `source "web" {`, "source \"web\" {\n  timezone = \"Asia/Jerusalem\"", 1), []string{"web"}},
		"start_at":              {strings.Replace(reloadBase, `source "web" {`, "source \"web\" {\n  start_at = \"end\"", 1), []string{"web"}},
		"plugin config":         {strings.Replace(reloadBase, `{ x = 1 }`, `{ x = 2 }`, 1), []string{"plug"}},
		"redact and metrics":    {reloadBase + "redact {\n  patterns = [\"x\"]\n}\nmetrics {}\n", nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := hashes(loadConfig(t, tc.body))
			var changed []string
			for _, n := range []string{"plug", "web"} {
				if got[n] != want[n] {
					changed = append(changed, n)
				}
			}
			if diff := cmp.Diff(tc.changed, changed); diff != "" {
				t.Errorf("changed sources mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRestartOnly(t *testing.T) {
	running := loadConfig(t, reloadBase)
	for name, tc := range map[string]struct {
		body string
		want []string
	}{
		"none":      {strings.Replace(reloadBase, `/logs/*.log`, `/new/*.log`, 1), nil},
		"agent_id":  {strings.Replace(reloadBase, `"a1"`, `"a2"`, 1), []string{"agent_id"}},
		"data_dir":  {strings.Replace(reloadBase, `hooktail-test-data`, `elsewhere`, 1), []string{"data_dir"}},
		"address":   {reloadBase + "aggregator {\n  address = \"10.0.0.1:7400\"\n}\n", []string{"aggregator"}},
		"same addr": {reloadBase + "aggregator {\n  address = \"127.0.0.1:7400\"\n}\n", nil},
		"token":     {reloadBase + "aggregator {\n  token = \"t\"\n}\n", []string{"aggregator"}},
		"tls":       {reloadBase + "aggregator {\n  tls {\n    server_name = \"x\"\n  }\n}\n", []string{"aggregator"}},
		"metrics":   {reloadBase + "metrics {\n  listen = \"127.0.0.1:9999\"\n}\n", []string{"metrics"}},
		"all":       {fmt.Sprintf("agent_id = \"z\"\ndata_dir = \"/z\"\n%smetrics {}\naggregator {\n  batch_max_wait = \"1s\"\n}\n", strings.SplitN(reloadBase, "\n", 3)[2]), []string{"agent_id", "data_dir", "aggregator", "metrics"}},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, restartOnly(running, loadConfig(t, tc.body))); diff != "" {
				t.Errorf("restartOnly mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
