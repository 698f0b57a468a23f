package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		config   string
		wantCode int
		want     []string // substrings of stderr (or stdout when valid)
	}{
		"example": {
			config:   "", // examples/agent.hcl
			wantCode: 0,
			want:     []string{"valid (3 sources)"},
		},
		"unknown attribute": {
			config:   "source \"a\" {\n  paths = [\"/x/*.log\"]\n  parsr = \"x\"\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:3:3: error: Unsupported argument", `"parser"?`},
		},
		"unknown parser": {
			config:   "source \"a\" {\n  paths  = [\"/x/*.log\"]\n  parser = \"nope\"\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:3:", `unknown parser "nope"`, "github-webhook-server"},
		},
		"bad parser_config": {
			config:   "source \"a\" {\n  paths  = [\"/x/*.log\"]\n  parser_config = { colour = true }\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:3:", "colour"},
		},
		"bad duration": {
			config:   "aggregator {\n  batch_max_wait = \"soon\"\n}\nsource \"a\" {\n  paths = [\"/x/*.log\"]\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:2:", `invalid duration "soon"`},
		},
		"missing env": {
			config:   "aggregator {\n  token = env(\"HOOKTAIL_TEST_SURELY_UNSET\")\n}\nsource \"a\" {\n  paths = [\"/x/*.log\"]\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:2:", "HOOKTAIL_TEST_SURELY_UNSET"},
		},
		"jsonl path": {
			config:   "source \"a\" {\n  paths = [\"/x/*.log\", \"/x/webhooks_*.json\"]\n}\n",
			wantCode: 0,
			want:     []string{"valid (1 sources)"},
		},
		"huge max_record_bytes": {
			config:   "source \"a\" {\n  paths = [\"/x/*.log\"]\n  max_record_bytes = 1073741824\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:3:", "at most 67108864"},
		},
		"metrics block": {
			config:   "source \"a\" {\n  paths = [\"/x/*.log\"]\n}\nmetrics {\n  listen = \"127.0.0.1:7402\"\n}\n",
			wantCode: 0,
			want:     []string{"valid (1 sources)"},
		},
		"plugin that does not speak the protocol": {
			config:   "source \"a\" {\n  paths = [\"/x/*.log\"]\n  parser = \"p\"\n}\nplugin \"p\" {\n  command = \"/bin/true\"\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:6:13:", "Plugin failed to start"},
		},
		"bad glob": {
			config:   "source \"a\" {\n  paths = [\"/x/[.log\"]\n}\n",
			wantCode: 1,
			want:     []string{"agent.hcl:2:"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "..", "examples", "agent.hcl")
			if tc.config != "" {
				path = writeConfig(t, tc.config)
			}
			code, stdout, stderr := runCmd(t, "", "validate", "-config", path)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout+stderr, w) {
					t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", w, stdout, stderr)
				}
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("panic: %s", stderr)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"validate"}, {"parse", "-config", "x"}, {"-nope"}} {
		if code, _, _ := runCmd(t, "", args...); code != 2 {
			t.Errorf("%q: exit code %d, want 2", args, code)
		}
	}
	code, stdout, _ := runCmd(t, "", "-version")
	if code != 0 || !strings.HasPrefix(stdout, "hooktail-agent ") {
		t.Errorf("-version: %d %q", code, stdout)
	}
}

func TestParseDryRun(t *testing.T) {
	path := writeConfig(t, "source \"web\" {\n  paths = [\"/x/*.log\"]\n  timezone = \"Asia/Jerusalem\"\n}\n")
	input := "garbage before the first record\n" +
		"2025-12-01T16:03:10 GithubWebhook \x1b[32mINFO\x1b[0m cloned with ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\x1b[0m\n" +
		"2025-12-01T16:03:11.218006 GithubWebhook \x1b[31mERROR\x1b[0m repo [push][abc-1]: boom\x1b[0m\n" +
		"Traceback (most recent call last):\n" +
		"RuntimeError: boom\n"
	code, stdout, stderr := runCmd(t, input, "parse", "-config", path, "-source", "web")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, m)
	}
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3:\n%s", len(got), stdout)
	}
	if got[1]["message"] != "cloned with ***REDACTED***" {
		t.Errorf("dry run shows %q, want the token masked as it would be shipped", got[1]["message"])
	}
	got = append(got[:1], got[2:]...)
	if got[0]["parse_error"] != true || got[0]["message"] != "garbage before the first record" {
		t.Errorf("first entry = %v, want the raw line flagged parse_error", got[0])
	}
	want := map[string]any{
		"hook_id": "abc-1", "level": "ERROR", "event_type": "push", "repository": "repo",
		"message":       "boom\nTraceback (most recent call last):\nRuntimeError: boom",
		"timestamp_utc": "2025-12-01T14:03:11.218006Z", "offset": float64(137), "source": "web",
	}
	for k, v := range want {
		if got[1][k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[1][k], v)
		}
	}
	if code, _, stderr := runCmd(t, "", "parse", "-config", path, "-source", "other"); code != 1 || !strings.Contains(stderr, `no source "other"`) {
		t.Errorf("unknown source: %d %s", code, stderr)
	}
}
