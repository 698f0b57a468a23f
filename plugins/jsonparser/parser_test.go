package jsonparser_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/jsonparser"
)

func TestDescribe(t *testing.T) {
	d, err := jsonparser.New().Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if diff := cmp.Diff(plugins.Description{Name: "json", StartPattern: `^\{`}, d); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
	re := regexp.MustCompile(d.StartPattern)
	p := jsonparser.New()
	for _, line := range []string{"", "{", `{"a":1}`, " {", "\x1b[0m{", "[", "x{", "}"} {
		if got, want := p.IsRecordStart([]byte(line)), re.MatchString(line); got != want {
			t.Errorf("IsRecordStart(%q)=%v, StartPattern says %v", line, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	cases := parsertest.CommonConfigCases("")
	cases["dotted paths"] = parsertest.ConfigCase{Config: `{"fields":{"hook_id":["fields.hook_id","a..b",".x","y."]}}`}
	cases["regex setting"] = parsertest.ConfigCase{Config: `{"start_pattern":"x"}`,
		Want: []parsertest.Diag{parsertest.Err("start_pattern")}, Text: "valid settings: fields, time_format"}
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
	got := parsertest.Parse(t, p, []parsertest.Record{{Line: 1, Data: []byte(`{"text":"kept","msg":"other"}`)}}, nil)
	if got[0].Message != "kept" {
		t.Errorf("Message=%q, want the previous configuration's %q", got[0].Message, "kept")
	}
}

// TestDepth checks the nesting limit, encoding/json's: 10000 levels parse,
// 10001 do not.
func TestDepth(t *testing.T) {
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{2, true}, {10000, true}, {10001, false}, {100000, false}} {
		// The record's object is the first level.
		rec := `{"msg":"deep","a":` + strings.Repeat("[", tc.depth-1) + strings.Repeat("]", tc.depth-1) + `}`
		if got, want := json.Valid([]byte(rec)), tc.ok; got != want {
			t.Fatalf("depth %d: json.Valid=%v, want %v", tc.depth, got, want)
		}
		got := parsertest.Parse(t, jsonparser.New(), []parsertest.Record{{Line: 1, Data: []byte(rec)}}, nil)
		if got[0].ParseError == tc.ok {
			t.Errorf("depth %d: ParseError=%v, want %v", tc.depth, got[0].ParseError, !tc.ok)
		}
	}
}
