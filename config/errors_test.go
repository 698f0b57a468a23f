package config_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// errorCase is one configuration that must fail with exactly want.
type errorCase struct {
	files map[string]string // written into a temporary directory
	path  string            // loaded, relative to that directory
	want  []string          // diagnostics, file names relative to the directory
}

func runErrorCases(t *testing.T, cases map[string]errorCase, load func(string) (any, hcl.Diagnostics)) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			got, diags := load(filepath.Join(dir, tc.path))
			if !diags.HasErrors() {
				t.Errorf("no error diagnostics")
			}
			if got != nil {
				t.Errorf("got a configuration despite errors: %+v", got)
			}
			if diff := cmp.Diff(tc.want, diagLines(diags, dir)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func agentFile(src string) map[string]string { return map[string]string{"agent.hcl": src} }

func TestLoadAgentErrors(t *testing.T) {
	cases := map[string]errorCase{
		"unknown attribute": {
			files: agentFile("source \"s\" {\n  paths = [\"/x\"]\n  parsr = \"json\"\n}\n"),
			want:  []string{`agent.hcl:3:3: error: Unsupported argument; An argument named "parsr" is not expected here. Did you mean "parser"?`},
		},
		"unknown block": {
			files: agentFile("source \"s\" { paths = [\"/x\"] }\nmetric {}\n"),
			want:  []string{`agent.hcl:2:1: error: Unsupported block type; Blocks of type "metric" are not expected here. Did you mean "metrics"?`},
		},
		"bad duration": {
			files: agentFile("source \"s\" {\n  paths = [\"/x\"]\n  rescan_interval = \"abc\"\n}\n"),
			want:  []string{`agent.hcl:3:21: error: Invalid duration; invalid duration "abc" for rescan_interval: time: invalid duration "abc"`},
		},
		"negative duration": {
			files: agentFile("aggregator { batch_max_wait = \"-1s\" }\nsource \"s\" { paths = [\"/x\"] }\n"),
			want:  []string{`agent.hcl:1:31: error: Invalid duration; invalid duration "-1s" for batch_max_wait: must not be negative`},
		},
		"zero plugin timeout": {
			files: agentFile("source \"s\" { paths = [\"/x\"] }\nplugin \"p\" {\n  command = \"p\"\n  timeout = \"0s\"\n}\n"),
			want:  []string{`agent.hcl:4:13: error: Invalid duration; invalid duration "0s" for timeout: must be positive`},
		},
		"bad glob": {
			files: agentFile("source \"s\" {\n  paths = [\"/ok/*.log\", \"/logs/[a-\"]\n}\n"),
			want:  []string{`agent.hcl:2:25: error: Invalid glob; invalid glob "/logs/[a-" in paths: syntax error in pattern`},
		},
		"bad exclude glob": {
			files: agentFile("source \"s\" {\n  paths = [\"/x\"]\n  exclude = [\"\\\\\"]\n}\n"),
			want:  []string{`agent.hcl:3:14: error: Invalid glob; invalid glob "\\" in exclude: syntax error in pattern`},
		},
		"bad regexp": {
			files: agentFile("source \"s\" { paths = [\"/x\"] }\nredact {\n  patterns = [\"ok\", \"a(b\"]\n}\n"),
			want:  []string{"agent.hcl:3:21: error: Invalid regular expression; invalid pattern \"a(b\" in redact: error parsing regexp: missing closing ): `a(b`"},
		},
		"bad timezone": {
			files: agentFile("source \"s\" {\n  paths    = [\"/x\"]\n  timezone = \"Mars/Olympus_Mons\"\n}\n"),
			want:  []string{`agent.hcl:3:14: error: Invalid timezone; invalid timezone "Mars/Olympus_Mons" for source "s": unknown time zone Mars/Olympus_Mons`},
		},
		"bad start_at": {
			files: agentFile("source \"s\" {\n  paths    = [\"/x\"]\n  start_at = \"middle\"\n}\n"),
			want:  []string{`agent.hcl:3:14: error: Invalid start_at; invalid start_at "middle": want "beginning" or "end"`},
		},
		"missing required paths": {
			files: agentFile("source \"s\" {\n  parser = \"json\"\n}\n"),
			want:  []string{`agent.hcl:1:12: error: Missing required argument; The argument "paths" is required, but no definition was found.`},
		},
		"empty paths": {
			files: agentFile("source \"s\" { paths = [] }\n"),
			want:  []string{`agent.hcl:1:22: error: Invalid value; The argument "paths" needs at least one glob.`},
		},
		"null paths": {
			files: agentFile("source \"s\" { paths = null }\n"),
			want:  []string{`agent.hcl:1:22: error: Invalid value; The argument "paths" must not be null.`},
		},
		"paths is a string": {
			files: agentFile("source \"s\" { paths = \"/x\" }\n"),
			want:  []string{`agent.hcl:1:22: error: Incorrect attribute value type; Inappropriate value for attribute "paths": list of string required, but have string.`},
		},
		"wrong types": {
			files: agentFile(`aggregator {
  batch_max_entries = "many"
  tls { insecure_skip_verify = "maybe" }
}
source "s" {
  paths            = ["/x", ["/y"]]
  parser_config    = "json"
  max_record_bytes = 1.5
}
`),
			want: []string{
				`agent.hcl:2:23: error: Incorrect attribute value type; Inappropriate value for attribute "batch_max_entries": a number is required.`,
				`agent.hcl:3:32: error: Incorrect attribute value type; Inappropriate value for attribute "insecure_skip_verify": a bool is required.`,
				`agent.hcl:6:29: error: Incorrect attribute value type; Inappropriate value for attribute "paths[1]": string required, but have tuple.`,
				`agent.hcl:7:22: error: Incorrect attribute value type; Inappropriate value for attribute "parser_config": an object is required, got string.`,
				`agent.hcl:8:22: error: Invalid number; invalid value for max_record_bytes: value must be a whole number, between -9223372036854775808 and 9223372036854775807`,
			},
		},
		"number out of range": {
			files: agentFile("data_dir = 1e400\nsource \"s\" {\n  paths = [\"/x\"]\n  max_record_bytes = 1e-400\n}\n"),
			want: []string{
				`agent.hcl:1:12: error: Number out of range; Numbers must lie within the range of a 64-bit float.`,
				`agent.hcl:4:22: error: Number out of range; Numbers must lie within the range of a 64-bit float.`,
			},
		},
		"zero max_record_bytes": {
			files: agentFile("source \"s\" {\n  paths = [\"/x\"]\n  max_record_bytes = 0\n}\n"),
			want:  []string{`agent.hcl:3:22: error: Invalid number; invalid value 0 for max_record_bytes: must be at least 1`},
		},
		"syntax error": {
			files: agentFile("source \"s\" {\n  paths = [\"/x\"\n}\n"),
			want: []string{
				`agent.hcl:3:1: error: Missing item separator; Expected a comma to mark the beginning of the next item.`,
			},
		},
		"empty file": {
			files: agentFile(""),
			want:  []string{`agent.hcl:1:1: error: Missing source block; At least one source "NAME" { paths = [...] } block is required.`},
		},
		"missing file": {
			files: map[string]string{},
			path:  "nope.hcl",
			want:  []string{`nope.hcl: error: Cannot read configuration; stat nope.hcl: no such file or directory`},
		},
		"directory with no hcl": {
			files: map[string]string{"conf.d/agent.yaml": "x: 1", "conf.d/old.hcl.bak": "x = 1"},
			path:  "conf.d",
			want:  []string{`conf.d: error: No configuration files; The directory "conf.d" contains no *.hcl files.`},
		},
		"duplicate singleton in one file": {
			files: agentFile("source \"s\" { paths = [\"/x\"] }\nmetrics {}\nmetrics { listen = \":1\" }\n"),
			want:  []string{`agent.hcl:3:1: error: Duplicate metrics block; The metrics block was already declared at agent.hcl:2:1; only one is allowed.`},
		},
		"duplicate attribute in one file": {
			files: agentFile("data_dir = \"a\"\ndata_dir = \"b\"\nsource \"s\" { paths = [\"/x\"] }\n"),
			want:  []string{`agent.hcl:2:1: error: Attribute redefined; The argument "data_dir" was already set at agent.hcl:1,1-9. Each argument may be set only once.`},
		},
		"source without label": {
			files: agentFile("source { paths = [\"/x\"] }\n"),
			want: []string{
				`agent.hcl:1:8: error: Missing name for source; All source blocks must have 1 labels (name).`,
			},
		},
		"empty source label": {
			files: agentFile("source \"\" { paths = [\"/x\"] }\n"),
			want:  []string{`agent.hcl:1:8: error: Invalid source name; The label of a source block must not be empty.`},
		},
		"plugin without command": {
			files: agentFile("source \"s\" { paths = [\"/x\"] }\nplugin \"p\" {\n  args = []\n}\n"),
			want:  []string{`agent.hcl:2:12: error: Missing required argument; The argument "command" is required, but no definition was found.`},
		},
		"unknown function and variable": {
			files: agentFile("agent_id = envv(\"X\")\ndata_dir = home\nsource \"s\" { paths = [\"/x\"] }\n"),
			want: []string{
				`agent.hcl:1:12: error: Call to unknown function; There is no function named "envv". Did you mean "env"?`,
				`agent.hcl:2:12: error: Variables not allowed; Variables may not be used here.`,
			},
		},
		"client certificate without key": {
			files: agentFile("aggregator {\n  tls { cert_file = \"c.pem\" }\n}\nsource \"s\" { paths = [\"/x\"] }\n"),
			want:  []string{`agent.hcl:2:3: error: Incomplete client certificate; cert_file and key_file must be set together.`},
		},
		"bad addresses": {
			files: agentFile("aggregator {\n  address   = \"host\"\n  addresses = [\"ok:1\", \"bad\"]\n}\nsource \"s\" { paths = [\"/x\"] }\n"),
			want: []string{
				`agent.hcl:2:15: error: Invalid address; invalid address "host" for address: want host:port: address host: missing port in address`,
				`agent.hcl:3:24: error: Invalid address; invalid address "bad" for addresses: want host:port: address bad: missing port in address`,
			},
		},
		"every error is reported": {
			files: agentFile(`source "a" {
  paths = ["["]
  timezone = "Nowhere/Never"
}
source "b" {
  paths = ["/x"]
  rescan_interval = "soon"
}
`),
			want: []string{
				`agent.hcl:2:12: error: Invalid glob; invalid glob "[" in paths: syntax error in pattern`,
				`agent.hcl:3:14: error: Invalid timezone; invalid timezone "Nowhere/Never" for source "a": unknown time zone Nowhere/Never`,
				`agent.hcl:7:21: error: Invalid duration; invalid duration "soon" for rescan_interval: time: invalid duration "soon"`,
			},
		},
	}
	for name, tc := range cases {
		if tc.path == "" {
			tc.path = "agent.hcl"
			cases[name] = tc
		}
	}
	runErrorCases(t, cases, func(path string) (any, hcl.Diagnostics) {
		a, diags := testLoader(nil).LoadAgent(path)
		if a == nil {
			return nil, diags
		}
		return a, diags
	})
}
