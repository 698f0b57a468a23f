package logfmt_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/logfmt"
)

func TestDescribe(t *testing.T) {
	d, err := logfmt.New().Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if diff := cmp.Diff(plugins.Description{Name: "logfmt"}, d); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
}

func TestConfig(t *testing.T) {
	cases := parsertest.CommonConfigCases("")
	cases["regex setting"] = parsertest.ConfigCase{Config: `{"pattern":"x"}`,
		Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: "valid settings: fields, time_format"}
	parsertest.RunConfigCases(t, newParser, cases)
}

func TestContract(t *testing.T) { parsertest.Contract(t, newParser) }

// TestConfigureKeepsPrevious checks that a rejected configuration leaves
// the one applied before in force.
func TestConfigureKeepsPrevious(t *testing.T) {
	p := parsertest.Configured(t, newParser, json.RawMessage(`{"fields":{"message":"text"}}`))
	diags, err := p.Configure(t.Context(), json.RawMessage(`{"fields":{"message":"msg"},"bogus":1}`))
	if err != nil || !diags.HasErrors() {
		t.Fatalf("Configure = %v, %v; want an error diagnostic", diags, err)
	}
	recs := []parsertest.Record{{Line: 1, Data: []byte(`text=kept msg=other`)}}
	got := parsertest.Parse(t, p, recs, nil)
	if got[0].Message != "kept" {
		t.Errorf("Message=%q, want the previous configuration's %q", got[0].Message, "kept")
	}
}
