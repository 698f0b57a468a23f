package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

func TestLoadAgentDirectoryMerge(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"conf.d/20-sources.hcl": `
data_dir = "state"
source "b" { paths = ["/b/*.log"] }
plugin "p" { command = "/bin/p" }
`,
		"conf.d/10-agent.hcl": `
agent_id = "a1"
aggregator { address = "agg:7400" }
source "a" { paths = ["a/*.log"] }
`,
		"conf.d/README.md":        "not a config",
		"conf.d/nested/x.hcl":     "this is ignored",
		"conf.d/dir.hcl/y.hcl":    "so is this",
		"elsewhere/30-extra.hcl":  `redact { patterns = ["x"] }`,
		"elsewhere/40-broken.txt": "}}}",
	})
	confDir := filepath.Join(dir, "conf.d")
	// A symbolic link to a file is followed (Kubernetes ConfigMap mounts).
	if err := os.Symlink(filepath.Join(dir, "elsewhere/30-extra.hcl"), filepath.Join(confDir, "30-extra.hcl")); err != nil {
		t.Fatal(err)
	}
	// A dangling link is skipped.
	if err := os.Symlink(filepath.Join(dir, "missing.hcl"), filepath.Join(confDir, "50-gone.hcl")); err != nil {
		t.Fatal(err)
	}

	got, diags := testLoader(nil).LoadAgent(confDir)
	if len(diags) > 0 {
		t.Fatalf("LoadAgent: unexpected diagnostics: %v", diagLines(diags, dir))
	}
	wantFiles := []string{
		filepath.Join(confDir, "10-agent.hcl"),
		filepath.Join(confDir, "20-sources.hcl"),
		filepath.Join(confDir, "30-extra.hcl"),
	}
	if diff := cmp.Diff(wantFiles, got.Files); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}
	var names, paths []string
	for _, s := range got.Sources {
		names = append(names, s.Name)
		paths = append(paths, s.Paths...)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
		t.Errorf("source names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{filepath.Join(confDir, "a/*.log"), "/b/*.log"}, paths); diff != "" {
		t.Errorf("source paths (-want +got):\n%s", diff)
	}
	if got, want := got.AgentID, "a1"; got != want {
		t.Errorf("AgentID = %q, want %q", got, want)
	}
	if got, want := got.DataDir, filepath.Join(confDir, "state"); got != want {
		t.Errorf("DataDir = %q, want %q", got, want)
	}
	if got, want := got.Aggregator.Address, "agg:7400"; got != want {
		t.Errorf("Aggregator.Address = %q, want %q", got, want)
	}
	if len(got.Plugins) != 1 || len(got.Redact.Patterns) != 1 {
		t.Errorf("Plugins, Redact.Patterns = %d, %d; want 1, 1", len(got.Plugins), len(got.Redact.Patterns))
	}
	if got, want := got.Sources[1].DeclRange.Filename, filepath.Join(confDir, "20-sources.hcl"); got != want {
		t.Errorf("source b declared in %q, want %q", got, want)
	}
}

func TestLoadDirectoryMergeErrors(t *testing.T) {
	agentCases := map[string]errorCase{
		"duplicate attribute across files": {
			files: map[string]string{
				"d/a.hcl": "data_dir = \"/one\"\nsource \"s\" { paths = [\"/x\"] }\n",
				"d/b.hcl": "\n\ndata_dir = \"/two\"\n",
			},
			want: []string{`d/b.hcl:3:1: error: Duplicate argument; The argument "data_dir" was already set at d/a.hcl:1:1; a top-level argument may be set in only one file.`},
		},
		"duplicate source label across files": {
			files: map[string]string{
				"d/a.hcl": "source \"web\" { paths = [\"/x\"] }\n",
				"d/b.hcl": "# second\nsource \"web\" { paths = [\"/y\"] }\n",
			},
			want: []string{`d/b.hcl:2:1: error: Duplicate source block; The source block labelled "web" was already declared at d/a.hcl:1:1; labels must be unique.`},
		},
		"duplicate plugin label across files": {
			files: map[string]string{
				"d/a.hcl": "source \"s\" { paths = [\"/x\"] }\nplugin \"p\" { command = \"/p\" }\n",
				"d/b.hcl": "plugin \"p\" { command = \"/q\" }\n",
			},
			want: []string{`d/b.hcl:1:1: error: Duplicate plugin block; The plugin block labelled "p" was already declared at d/a.hcl:2:1; labels must be unique.`},
		},
		"singleton across files": {
			files: map[string]string{
				"d/a.hcl": "aggregator {}\nsource \"s\" { paths = [\"/x\"] }\n",
				"d/b.hcl": "aggregator { address = \"x:1\" }\n",
			},
			want: []string{`d/b.hcl:1:1: error: Duplicate aggregator block; The aggregator block was already declared at d/a.hcl:1:1; only one is allowed.`},
		},
		"syntax errors in every file are reported": {
			files: map[string]string{
				"d/a.hcl": "source \"s\" {\n",
				"d/b.hcl": "x = = 1\n",
			},
			want: []string{
				`d/a.hcl:1:12: error: Unclosed configuration block; There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.`,
				`d/b.hcl:1:5: error: Invalid expression; Expected the start of an expression, but found an invalid expression token.`,
			},
		},
		"files without sources": {
			files: map[string]string{"d/a.hcl": "agent_id = \"x\"\n", "d/b.hcl": "data_dir = \"/d\"\n"},
			want:  []string{`d/a.hcl:1:1: error: Missing source block; At least one source "NAME" { paths = [...] } block is required.`},
		},
	}
	for name, tc := range agentCases {
		tc.path = "d"
		agentCases[name] = tc
	}
	t.Run("agent", func(t *testing.T) {
		runErrorCases(t, agentCases, func(path string) (any, hcl.Diagnostics) {
			a, diags := testLoader(nil).LoadAgent(path)
			if a == nil {
				return nil, diags
			}
			return a, diags
		})
	})

	aggCases := map[string]errorCase{
		"duplicate api_key label across files": {
			files: map[string]string{
				"d/keys-1.hcl": "api_key \"ops\" { token = \"a\" }\n",
				"d/keys-2.hcl": "api_key \"ci\" { token = \"b\" }\napi_key \"ops\" { token = \"c\" }\n",
			},
			want: []string{`d/keys-2.hcl:2:1: error: Duplicate api_key block; The api_key block labelled "ops" was already declared at d/keys-1.hcl:1:1; labels must be unique.`},
		},
		"duplicate listen across files": {
			files: map[string]string{"d/a.hcl": "listen {}\n", "d/b.hcl": "listen {}\n"},
			want:  []string{`d/b.hcl:1:1: error: Duplicate listen block; The listen block was already declared at d/a.hcl:1:1; only one is allowed.`},
		},
	}
	for name, tc := range aggCases {
		tc.path = "d"
		aggCases[name] = tc
	}
	t.Run("aggregator", func(t *testing.T) {
		runErrorCases(t, aggCases, func(path string) (any, hcl.Diagnostics) {
			a, diags := testLoader(nil).LoadAggregator(path)
			if a == nil {
				return nil, diags
			}
			return a, diags
		})
	})
}

func TestLoadAggregatorDirectoryMerge(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.hcl": "retention = \"1h\"\napi_key \"ops\" {\n  token = \"a\"\n  role = \"owner\"\n}\n",
		"b.hcl": "listen { http = \":8080\" }\napi_key \"ci\" { token = \"b\" }\n",
	})
	got, diags := testLoader(nil).LoadAggregator(dir)
	if len(diags) > 0 {
		t.Fatalf("LoadAggregator: unexpected diagnostics: %v", diagLines(diags, dir))
	}
	var names []string
	for _, k := range got.APIKeys {
		names = append(names, k.Name)
	}
	if diff := cmp.Diff([]string{"ops", "ci"}, names); diff != "" {
		t.Errorf("api keys (-want +got):\n%s", diff)
	}
	if got, want := got.Listen.HTTP, ":8080"; got != want {
		t.Errorf("Listen.HTTP = %q, want %q", got, want)
	}
}
