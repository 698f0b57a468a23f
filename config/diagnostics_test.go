package config_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/hooktail/hooktail/config"
)

func TestWriteDiagnostics(t *testing.T) {
	diags := hcl.Diagnostics{
		{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   "invalid duration \"abc\" for retention:\ntime: invalid duration \"abc\"",
			Subject:  &hcl.Range{Filename: "agg.hcl", Start: hcl.Pos{Line: 3, Column: 13, Byte: 40}},
		},
		{Severity: hcl.DiagWarning, Summary: "Something odd", Subject: &hcl.Range{Filename: "conf.d"}},
		{Severity: hcl.DiagError, Summary: "No configuration path", Detail: "A path is required."},
	}
	var buf bytes.Buffer
	if err := config.WriteDiagnostics(&buf, diags); err != nil {
		t.Fatal(err)
	}
	want := `agg.hcl:3:13: error: Invalid duration; invalid duration "abc" for retention: time: invalid duration "abc"
conf.d: warning: Something odd
error: No configuration path; A path is required.
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("WriteDiagnostics (-want +got):\n%s", diff)
	}

	errWrite := errors.New("disk full")
	if err := config.WriteDiagnostics(failingWriter{errWrite}, diags); !errors.Is(err, errWrite) {
		t.Errorf("WriteDiagnostics error = %v, want %v", err, errWrite)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestLoaderFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.hcl": `source "s" { paths = ["/x"] }`, "b.hcl": "data_dir = []"})
	l := testLoader(nil)
	_, diags := l.LoadAgent(dir)
	if !diags.HasErrors() {
		t.Fatal("want an error for data_dir = []")
	}
	if got, want := len(l.Files()), 2; got != want {
		t.Fatalf("len(Files()) = %d, want %d", got, want)
	}
	// The rich HCL writer can render snippets from the kept files.
	var buf bytes.Buffer
	if err := hcl.NewDiagnosticTextWriter(&buf, l.Files(), 80, false).WriteDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("data_dir = []")) {
		t.Errorf("snippet missing from:\n%s", buf.String())
	}
}

func TestLoadEmptyPath(t *testing.T) {
	_, diags := config.LoadAgent("")
	want := []string{"error: No configuration path; A configuration file or directory is required."}
	if diff := cmp.Diff(want, diagLines(diags, "")); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}
