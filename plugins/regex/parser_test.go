package regex_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/regex"
)

func TestDescribe(t *testing.T) {
	p := regex.New()
	d, err := p.Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if diff := cmp.Diff(plugins.Description{Name: "regex"}, d); diff != "" {
		t.Errorf("Describe before Configure (-want +got):\n%s", diff)
	}
	p = parsertest.Configured(t, newParser, json.RawMessage(`{"pattern":"(?P<msg>.*)","start_pattern":"^\\d"}`)).(*regex.Parser)
	if d, err = p.Describe(t.Context()); err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if diff := cmp.Diff(plugins.Description{Name: "regex", StartPattern: `^\d`}, d); diff != "" {
		t.Errorf("Describe after Configure (-want +got):\n%s", diff)
	}
}

func TestConfig(t *testing.T) {
	const pattern = `"pattern":"^(?P<time>\\S+) (?P<level>\\S+) (?P<msg>.*)$"`
	cases := parsertest.CommonConfigCases(pattern, "pattern", "start_pattern")
	// The common cases map fields to keys the pattern has no group for.
	cases["fields"] = parsertest.ConfigCase{Config: `{` + pattern + `,"fields":{"timestamp":["time"],"message":"msg","step":"","level":null}}`}
	for name, c := range map[string]parsertest.ConfigCase{
		"empty":             {Config: ``, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: "needs a pattern"},
		"no pattern":        {Config: `{"start_pattern":"^x"}`, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: "needs a pattern"},
		"pattern type":      {Config: `{"pattern":["x"]}`, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: "got a list"},
		"start type":        {Config: `{` + pattern + `,"start_pattern":1}`, Want: []parsertest.Diag{parsertest.Err("start_pattern")}, Text: "got a number"},
		"start_pattern":     {Config: `{` + pattern + `,"start_pattern":"^\\d{4}-"}`},
		"empty start":       {Config: `{` + pattern + `,"start_pattern":""}`},
		"bad escape":        {Config: `{"pattern":"x\\qy"}`, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: `invalid escape sequence at column 2: "\\q"`},
		"missing paren":     {Config: `{"pattern":"a(b(c)"}`, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: `missing closing ) at column 2: "(b(c)"`},
		"unexpected paren":  {Config: `{"pattern":"[)]\\)a)b"}`, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: `unexpected ) at column 7: ")b"`},
		"trailing escape":   {Config: `{"pattern":"ab\\"}`, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: "at column 3"},
		"bad class":         {Config: `{"pattern":"é[z-a]"}`, Want: []parsertest.Diag{parsertest.Err("pattern")}, Text: "invalid character class range at column 3"},
		"bad start":         {Config: `{` + pattern + `,"start_pattern":"^(\\d"}`, Want: []parsertest.Diag{parsertest.Err("start_pattern")}, Text: `missing closing ) at column 2: "(\\d"`},
		"no named group":    {Config: `{"pattern":"^\\S+"}`, Want: []parsertest.Diag{parsertest.Warn("pattern")}, Text: "no named group"},
		"unknown group":     {Config: `{` + pattern + `,"fields":{"hook_id":["delivery","msg"]}}`, Want: []parsertest.Diag{parsertest.Err("fields.hook_id")}, Text: `no group "delivery" in pattern`},
		"default not group": {Config: `{"pattern":"(?P<x>.)"}`},
		"both bad": {Config: `{"pattern":"(","start_pattern":")","time_format":"?"}`,
			Want: []parsertest.Diag{parsertest.Err("time_format"), parsertest.Err("start_pattern"), parsertest.Err("pattern")}},
	} {
		cases[name] = c
	}
	parsertest.RunConfigCases(t, newParser, cases)
}

func TestContract(t *testing.T) { parsertest.Contract(t, newParser) }

func TestParseUnconfigured(t *testing.T) {
	dst := []plugins.Entry{{Message: "earlier"}}
	req := &plugins.ParseRequest{Records: []plugins.Record{{Data: []byte("x")}}}
	got, err := regex.New().Parse(t.Context(), req, dst)
	if !errors.Is(err, regex.ErrNotConfigured) || len(got) != 1 {
		t.Fatalf("Parse = %d entries, %v; want dst unchanged and ErrNotConfigured", len(got), err)
	}
}

// TestConfigureKeepsPrevious checks that a rejected configuration leaves
// the one applied before in force.
func TestConfigureKeepsPrevious(t *testing.T) {
	p := parsertest.Configured(t, newParser, json.RawMessage(`{"pattern":"^(?P<msg>a+)"}`))
	diags, err := p.Configure(t.Context(), json.RawMessage(`{"pattern":"("}`))
	if err != nil || !diags.HasErrors() {
		t.Fatalf("Configure = %v, %v; want an error diagnostic", diags, err)
	}
	got := parsertest.Parse(t, p, []parsertest.Record{{Line: 1, Data: []byte("aab")}}, nil)
	if got[0].Message != "aa" {
		t.Errorf("Message=%q, want the previous pattern's %q", got[0].Message, "aa")
	}
}

// TestPatternErrorColumn checks the column of a pattern error points at
// the offending expression.
func TestPatternErrorColumn(t *testing.T) {
	const pattern = `^é(?P<a>x)+(?P<b>y**)`
	diags, err := regex.New().ValidateConfig(t.Context(), json.RawMessage(`{"pattern":"^é(?P<a>x)+(?P<b>y**)"}`))
	if err != nil || len(diags) != 1 {
		t.Fatalf("ValidateConfig = %+v, %v; want one diagnostic", diags, err)
	}
	var col int
	if _, err := fmt.Sscanf(diags[0].Detail[strings.Index(diags[0].Detail, "column"):], "column %d", &col); err != nil {
		t.Fatalf("detail %q has no column: %v", diags[0].Detail, err)
	}
	if got, want := string([]rune(pattern)[col-1:col+1]), "**"; got != want {
		t.Errorf("column %d points at %q, want %q: %s", col, got, want, diags[0].Detail)
	}
}
