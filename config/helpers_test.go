package config_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // timezone tests must not depend on the host's zoneinfo

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/hooktail/hooktail/config"
)

// writeFiles writes name → content into a new temporary directory and
// returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeConfig writes one file named name and returns its path.
func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	return filepath.Join(writeFiles(t, map[string]string{name: content}), name)
}

// testLoader has a fixed host name and environment.
func testLoader(env map[string]string) *config.Loader {
	return &config.Loader{
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
		Hostname: func() (string, error) { return "testhost", nil },
	}
}

// diagLines formats diagnostics with the directory dir cut from the file
// names, so that expectations read "agent.hcl:3:1: error: …".
func diagLines(diags hcl.Diagnostics, dir string) []string {
	var out []string
	for _, d := range diags {
		out = append(out, strings.ReplaceAll(config.FormatDiagnostic(d), dir+string(filepath.Separator), ""))
	}
	return out
}

// unsetenv unsets name for the rest of the test; an earlier t.Setenv of the
// same name restores the old value at cleanup.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// cmpOpts compares configurations: ranges are checked by dedicated tests,
// locations and regexps by name, prefixes by value.
func cmpOpts() cmp.Options {
	return cmp.Options{
		cmpopts.IgnoreTypes(hcl.Range{}),
		cmp.Comparer(func(a, b *time.Location) bool {
			if a == nil || b == nil {
				return a == b
			}
			return a.String() == b.String()
		}),
		cmp.Comparer(func(a, b *regexp.Regexp) bool {
			if a == nil || b == nil {
				return a == b
			}
			return a.String() == b.String()
		}),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
}

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
