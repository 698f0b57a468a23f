package parsertest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
)

// Diag is the part of a diagnostic the config tables compare.
type Diag struct {
	Severity  plugins.Severity
	Attribute string
}

// ConfigCase is one configuration and the diagnostics it must get.
type ConfigCase struct {
	Config string
	Want   []Diag
	// Text must appear in the first diagnostic's summary or detail.
	Text string
}

// CommonConfigCases are the cases of the settings every generic parser
// shares (fields, time_format). required holds the JSON members a valid
// configuration of the parser needs (e.g. `"pattern":"x"`), spliced into
// every case's object; the cases that are not objects are left out then.
// own lists the parser's own settings, for the unknown-key message.
func CommonConfigCases(required string, own ...string) map[string]ConfigCase {
	valid := strings.Join(append([]string{"fields"}, append(own, "time_format")...), ", ")
	cases := commonConfigCases(valid)
	if required == "" {
		return cases
	}
	for name, c := range cases {
		t := strings.TrimSpace(c.Config)
		switch {
		case !strings.HasPrefix(t, "{"):
			delete(cases, name)
			continue
		case strings.HasPrefix(strings.TrimSpace(t[1:]), "}"):
			c.Config = "{" + required + "}"
		default:
			c.Config = "{" + required + "," + t[1:]
		}
		cases[name] = c
	}
	return cases
}

func commonConfigCases(valid string) map[string]ConfigCase {
	e := plugins.SeverityError
	return map[string]ConfigCase{
		"empty":              {Config: ``},
		"null":               {Config: `null`},
		"empty object":       {Config: ` { } `},
		"fields":             {Config: `{"fields":{"timestamp":["when","ts"],"message":"text","step":"","level":null}}`},
		"named time format":  {Config: `{"time_format":"UNIX_MS"}`},
		"layout":             {Config: `{"time_format":"2006-01-02 15:04:05,000"}`},
		"not an object":      {Config: `["fields"]`, Want: []Diag{{e, ""}}, Text: "must be an object, got a list"},
		"invalid json":       {Config: `{"fields":`, Want: []Diag{{e, ""}}, Text: "decode"},
		"unknown key":        {Config: `{"bogus":"x"}`, Want: []Diag{{e, "bogus"}}, Text: "valid settings: " + valid},
		"field at top level": {Config: `{"level":"sev"}`, Want: []Diag{{e, "level"}}, Text: "fields = { level ="},
		"timezone":           {Config: `{"timezone":"UTC"}`, Want: []Diag{{e, "timezone"}}, Text: "source's timezone"},
		"unknown field":      {Config: `{"fields":{"lvl":"x"}}`, Want: []Diag{{e, "fields.lvl"}}, Text: "exc_info, github_user, hook_id"},
		"fields not object":  {Config: `{"fields":"level"}`, Want: []Diag{{e, "fields"}}, Text: "got a string"},
		"field number":       {Config: `{"fields":{"level":3}}`, Want: []Diag{{e, "fields.level"}}, Text: "got a number"},
		"field list of nums": {Config: `{"fields":{"level":["a",3]}}`, Want: []Diag{{e, "fields.level"}}, Text: "a list of key names"},
		"empty in list":      {Config: `{"fields":{"level":["a",""]}}`, Want: []Diag{{e, "fields.level"}}, Text: "empty key name"},
		"time_format type":   {Config: `{"time_format":1}`, Want: []Diag{{e, "time_format"}}, Text: "must be a string"},
		"time_format junk":   {Config: `{"time_format":"iso"}`, Want: []Diag{{e, "time_format"}}, Text: "neither a named format"},
		"no year":            {Config: `{"time_format":"15:04:05"}`, Want: []Diag{{e, "time_format"}}, Text: "no year"},
		"several problems": {
			Config: `{"b":1,"a":2,"fields":{"nope":"x","level":{}},"time_format":"x"}`,
			Want: []Diag{
				{e, "a"}, {e, "b"}, {e, "fields.level"}, {e, "fields.nope"}, {e, "time_format"},
			},
		},
	}
}

// RunConfigCases checks that ValidateConfig and Configure of a new parser
// return the diagnostics of each case, each with a summary and a detail.
func RunConfigCases(t *testing.T, newParser func() plugins.Parser, cases map[string]ConfigCase) {
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := newParser()
			for fname, fn := range map[string]func(context.Context, json.RawMessage) (plugins.Diagnostics, error){
				"ValidateConfig": p.ValidateConfig, "Configure": p.Configure,
			} {
				diags, err := fn(t.Context(), json.RawMessage(tc.Config))
				if err != nil {
					t.Fatalf("%s: %v", fname, err)
				}
				var got []Diag
				for _, d := range diags {
					got = append(got, Diag{d.Severity, d.Attribute})
					if d.Summary == "" || d.Detail == "" {
						t.Errorf("%s: diagnostic %+v lacks a summary or detail", fname, d)
					}
				}
				if diff := cmp.Diff(tc.Want, got); diff != "" {
					t.Errorf("%s(%s) diagnostics (-want +got):\n%s\n%+v", fname, tc.Config, diff, diags)
				}
				if tc.Text != "" && len(diags) > 0 && !strings.Contains(diags[0].Summary+" "+diags[0].Detail, tc.Text) {
					t.Errorf("%s: diagnostic %+v does not say %q", fname, diags[0], tc.Text)
				}
			}
		})
	}
}

// Contract checks what the Parser interface promises of Parse, on the
// golden inputs and configurations: nil and empty requests change
// nothing, entries are appended after what dst holds, a done ctx returns
// its error and dst as it was, and one configured parser used from
// several goroutines at once gives every one of them the entries a single
// call gives (run with -race).
func Contract(t *testing.T, newParser func() plugins.Parser) {
	inputs, configs := Seeds(t)
	for i, config := range configs {
		p := Configured(t, newParser, config)
		recs := Frame(inputs[i], StartRule(t, p))
		req := &plugins.ParseRequest{}
		for _, r := range recs {
			req.Records = append(req.Records, plugins.Record{Data: r.Data})
		}
		earlier := []plugins.Entry{{Message: "earlier"}}

		if got, err := p.Parse(t.Context(), nil, earlier); err != nil || len(got) != 1 {
			t.Fatalf("Parse(nil) = %d entries, %v; want dst unchanged", len(got), err)
		}
		if got, err := p.Parse(t.Context(), &plugins.ParseRequest{}, earlier); err != nil || len(got) != 1 {
			t.Fatalf("Parse(no records) = %d entries, %v; want dst unchanged", len(got), err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if got, err := p.Parse(ctx, req, earlier); !errors.Is(err, context.Canceled) || len(got) != 1 {
			t.Fatalf("Parse(canceled) = %d entries, %v; want dst unchanged and context.Canceled", len(got), err)
		}

		want, err := p.Parse(t.Context(), req, nil)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		got, err := p.Parse(t.Context(), req, earlier)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if diff := cmp.Diff(append([]plugins.Entry{{Message: "earlier"}}, want...), got); diff != "" {
			t.Fatalf("Parse after an entry (-want +got):\n%s", diff)
		}

		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 10 {
					got, err := p.Parse(t.Context(), req, nil)
					if err != nil {
						t.Errorf("Parse: %v", err)
						return
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("concurrent Parse differs (-want +got):\n%s", diff)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

// FuzzConfig checks that ValidateConfig and Configure of a new parser
// return the same diagnostics for config, that every diagnostic has a
// severity and a summary, and that a configuration without errors can be
// used to parse.
func FuzzConfig(t *testing.T, newParser func() plugins.Parser, config []byte) {
	p := newParser()
	v, err := p.ValidateConfig(t.Context(), config)
	if err != nil {
		t.Fatalf("ValidateConfig: %v", err)
	}
	c, err := p.Configure(t.Context(), config)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if diff := cmp.Diff(v, c); diff != "" {
		t.Fatalf("ValidateConfig and Configure of %q differ (-validate +configure):\n%s", config, diff)
	}
	for _, d := range v {
		if d.Severity != plugins.SeverityError && d.Severity != plugins.SeverityWarning || d.Summary == "" {
			t.Fatalf("diagnostic %+v lacks a severity or summary", d)
		}
	}
	if !v.HasErrors() {
		recs := []Record{{Line: 1, Data: []byte(`2026-07-31T10:15:02Z level=info msg="x" {"a":1}`)}}
		Check(t, recs, Parse(t, p, recs, nil))
	}
}

// Err is an error diagnostic about attr.
func Err(attr string) Diag { return Diag{Severity: plugins.SeverityError, Attribute: attr} }

// Warn is a warning diagnostic about attr.
func Warn(attr string) Diag { return Diag{Severity: plugins.SeverityWarning, Attribute: attr} }
