package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hooktail/hooktail/config"
)

func FuzzLoadAgent(f *testing.F) {
	for _, seed := range []string{
		fullAgent,
		`source "s" { paths = ["/l/*.log"] }`,
		"",
		"source \"s\" {\n  paths = [\"/x\"\n}\n",
		`aggregator { token = env("X") addresses = ["a:1", null] tls { ca_file = file("x") } }`,
		`source "s" { paths = [for p in ["a", "b"] : "/${p}"] parser_config = { a = [1, { b = null }] } }`,
		`source "" { paths = null } plugin "p" { command = "" config = 1 }`,
		`redact { patterns = ["(", "\\"] } metrics { listen = "%" }`,
		`agent_id = "${env("A")}-${trimspace(" x ")}" data_dir = 1 source "s" { paths = ["["] timezone = "../etc" }`,
		`source "s" { paths = ["/x"] max_record_bytes = 1e400 rescan_interval = "9223372036854775807ns" }`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "agent.hcl")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		l := testLoader(map[string]string{"X": "x", "A": ""})
		a, diags := l.LoadAgent(path)
		for _, d := range diags {
			if config.FormatDiagnostic(d) == "" {
				t.Errorf("empty formatted diagnostic for %#v", d)
			}
		}
		switch {
		case diags.HasErrors() && a != nil:
			t.Fatalf("LoadAgent returned a config with errors: %v", diags)
		case !diags.HasErrors() && a == nil:
			t.Fatalf("LoadAgent returned neither a config nor an error")
		case a != nil && len(a.Sources) == 0:
			t.Fatalf("valid config without sources")
		}
		if a != nil {
			for _, s := range a.Sources {
				if len(s.Paths) == 0 || s.Location == nil || s.MaxRecordBytes <= 0 || s.RescanInterval <= 0 {
					t.Fatalf("invalid source accepted: %+v", s)
				}
			}
		}
	})
}

func FuzzLoadAggregator(f *testing.F) {
	for _, seed := range []string{
		"",
		`listen { tls { cert_file = "c" key_file = "k" } } api_key "a" { token = "t" }`,
		`trusted_networks = ["::/0", "1.2.3.4", "x"] api_key "b" { token_sha256 = "00" token = "" }`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		path := filepath.Join(t.TempDir(), "aggregator.hcl")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		a, diags := testLoader(nil).LoadAggregator(path)
		if diags.HasErrors() == (a != nil) {
			t.Fatalf("config %v with errors=%v: %v", a != nil, diags.HasErrors(), diags)
		}
	})
}
