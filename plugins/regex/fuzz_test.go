package regex_test

import (
	"testing"
	"time"

	"github.com/hooktail/hooktail/plugins/internal/parsertest"
)

// FuzzParse frames arbitrary bytes with each golden configuration's
// start_pattern and parses them: Parse never panics, returns exactly one
// entry per record, and every entry holds the invariants of
// parsertest.Check.
func FuzzParse(f *testing.F) {
	inputs, configs := parsertest.Seeds(f)
	for _, in := range inputs {
		for i := range configs {
			f.Add(uint8(i), in)
		}
	}
	for _, s := range []string{"", "\n", "\n\n", "x\n\x1b[", "2026-07-31 13:15:02,101 INFO [a] b\n\x00"} {
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
	for _, s := range []string{`{"pattern":"(?P<a>"}`, `{"pattern":"[[:alpha:]"}`, `{"pattern":"\\"}`, `{"fields":{"level":[]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, config string) {
		parsertest.FuzzConfig(t, newParser, []byte(config))
	})
}
