package main

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hooktail/hooktail/agent/pluginhost"
	"github.com/hooktail/hooktail/config"
	"github.com/hooktail/hooktail/plugins"
)

// TestPluginParsers checks plugin blocks end to end with the example
// plugin, built into the test's folder: validate starts each plugin, checks
// its handshake and has it validate its config, and a source parses
// through it.
func TestPluginParsers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a plugin binary (skipped with -short)")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "example-plugin"), "../../../examples/example-plugin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example plugin: %v\n%s", err, out)
	}
	write := func(t *testing.T, body string) string {
		t.Helper()
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".hcl")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Relative paths resolve against the config file's folder.
	const source = "source \"s\" {\n  paths  = [\"logs/*.log\", \"logs/webhooks_*.json\"]\n  parser = \"pipe\"\n}\n"

	for name, c := range map[string]struct {
		config   string
		wantCode int
		want     []string
		not      []string
	}{
		"valid": {
			config:   source + "plugin \"pipe\" {\n  command = \"bin/example-plugin\"\n  timeout = \"5s\"\n}\nmetrics {\n  listen = \"127.0.0.1:0\"\n}\n",
			wantCode: 0,
			want:     []string{"valid (1 sources)"},
			not:      []string{"warning", "Plugin not run", "Metrics not served", "JSONL"},
		},
		"missing binary": {
			config:   source + "plugin \"pipe\" {\n  command = \"bin/no-such-plugin\"\n}\n",
			wantCode: 1,
			want:     []string{".hcl:6:13: error: Plugin failed to start", `plugin "pipe"`, "bin/no-such-plugin", "no such file"},
		},
		"not a plugin": {
			config:   source + "plugin \"pipe\" {\n  command = \"/bin/echo\"\n  args = [\"hello\"]\n}\n",
			wantCode: 1,
			want:     []string{".hcl:6:13: error: Plugin failed to start", `plugin "pipe"`, "hello"},
		},
		"bad plugin config": {
			config:   source + "plugin \"pipe\" {\n  command = \"bin/example-plugin\"\n  config  = { colour = true }\n}\n",
			wantCode: 1,
			want:     []string{".hcl:7:13: error: pipe-log takes no settings", "colour"},
		},
		"parser_config for a plugin": {
			config:   "source \"s\" {\n  paths  = [\"logs/*.log\"]\n  parser = \"pipe\"\n  parser_config = { x = 1 }\n}\nplugin \"pipe\" {\n  command = \"bin/example-plugin\"\n}\n",
			wantCode: 1,
			want:     []string{".hcl:4:19: error: parser_config of a plugin", `plugin block (`, ".hcl:6,1-14)"},
		},
		"label of a built-in": {
			config:   "source \"s\" {\n  paths  = [\"logs/*.log\"]\n}\nplugin \"github-webhook-server\" {\n  command = \"bin/example-plugin\"\n}\n",
			wantCode: 1,
			want:     []string{".hcl:4:1: error: Plugin label taken", "name of a built-in parser"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "", "validate", "-config", write(t, c.config))
			out := stdout + stderr
			if code != c.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, c.wantCode, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
			for _, w := range c.not {
				if strings.Contains(out, w) {
					t.Errorf("output says %q:\n%s", w, out)
				}
			}
		})
	}

	t.Run("configured parser", func(t *testing.T) {
		cfg, diags := config.LoadAgent(write(t, source+"plugin \"pipe\" {\n  command = \"bin/example-plugin\"\n}\n"))
		if diags.HasErrors() {
			t.Fatalf("load: %v", diags)
		}
		p, err := configuredParser(t.Context(), cfg, &cfg.Sources[0], slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("configuredParser: %v", err)
		}
		h, ok := p.(*pluginhost.Host)
		if !ok {
			t.Fatalf("configuredParser returned %T, want a plugin host", p)
		}
		defer func() {
			if err := closeParser(p); err != nil {
				t.Errorf("closeParser: %v", err)
			}
		}()
		got, err := p.Parse(t.Context(), &plugins.ParseRequest{Location: time.UTC, Records: []plugins.Record{
			{Data: []byte("2026-07-31T10:15:02Z|INFO|hook-1|Processing webhook")},
			{Data: []byte("not the format")},
		}}, nil)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if len(got) != 2 || got[0].HookID != "hook-1" || got[0].Level != "INFO" || !got[1].ParseError {
			t.Errorf("Parse = %+v", got)
		}
		if s := h.Stats(); s.Starts != 1 || s.Crashes+s.Timeouts != 0 {
			t.Errorf("plugin stats %+v", s)
		}
	})
}
