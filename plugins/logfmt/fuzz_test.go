package logfmt_test

import (
	"testing"
	"time"

	"github.com/hooktail/hooktail/plugins/internal/parsertest"
)

// FuzzParse parses arbitrary bytes under each golden configuration: Parse
// never panics, returns exactly one entry per line, and every entry holds
// the invariants of parsertest.Check.
func FuzzParse(f *testing.F) {
	inputs, configs := parsertest.Seeds(f)
	for _, in := range inputs {
		for i := range configs {
			f.Add(uint8(i), in)
		}
	}
	for _, s := range []string{
		"", "=", `"`, `a="\`, `a="\u`, `a="\ud83d\u`, `a="\ud83d\ude00"`, "a=\"\\u001b[31m\"", "a b c", "a= b=", `ts=1e309 msg=x`,
		`ts=-99999999999 msg=x`, `ts="2026-07-31T10:15:02.1234567890123Z" msg=x`, "msg=\x1b", "level=ǆ msg=x",
	} {
		f.Add(uint8(0), []byte(s))
	}
	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		f.Fatalf("load timezone: %v", err)
	}
	f.Fuzz(func(t *testing.T, config uint8, data []byte) {
		p := parsertest.Configured(t, newParser, configs[int(config)%len(configs)])
		parsertest.FuzzRecords(t, p, data, jerusalem)
	})
}

// FuzzConfig checks that ValidateConfig and Configure agree on any
// configuration, and that neither panics.
func FuzzConfig(f *testing.F) {
	_, configs := parsertest.Seeds(f)
	for _, c := range configs {
		f.Add(string(c))
	}
	for _, s := range []string{`{"fields":{"level":[]}}`, `{"fields":{"level":["a","a"]}}`, `{"time_format":"Mon"}`, `[]`, `{"fields":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, config string) {
		parsertest.FuzzConfig(t, newParser, []byte(config))
	})
}
