package config

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// FormatDiagnostic renders one diagnostic on one line:
//
//	file:line:col: error: summary; detail
//
// A diagnostic about a whole file or directory has no line and column
// ("path: error: …"), one without a subject has no location at all. Line
// breaks inside the detail become spaces.
func FormatDiagnostic(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil && d.Subject.Filename != "" {
		if d.Subject.Start.Line > 0 {
			fmt.Fprintf(&b, "%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		} else {
			fmt.Fprintf(&b, "%s: ", d.Subject.Filename)
		}
	}
	switch d.Severity {
	case hcl.DiagError:
		b.WriteString("error: ")
	case hcl.DiagWarning:
		b.WriteString("warning: ")
	default:
		b.WriteString("note: ")
	}
	b.WriteString(oneLine(d.Summary))
	if d.Detail != "" {
		b.WriteString("; ")
		b.WriteString(oneLine(d.Detail))
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}

// WriteDiagnostics writes every diagnostic to w, one line each, in the
// format of FormatDiagnostic. It returns the first write error.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics) error {
	for _, d := range diags {
		if _, err := fmt.Fprintln(w, FormatDiagnostic(d)); err != nil {
			return fmt.Errorf("write diagnostics: %w", err)
		}
	}
	return nil
}
