package jsonparser_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/jsonparser"
)

var fuzzSeeds = []string{
	"", "{", "}", "{}", "[]", `{"a":}`, `{"a":1}` + "\n" + `x`, `{"msg":"\u001b[31mx"}`, `{"msg":"\ud800"}`,
	`{"fields":{"hook_id":1},"fields":{"hook_id":2}}`, `{"time":1e400}`, `{"time":-1e20}`, `{"ts":"2026-07-31 10:15:02,5"}`,
	`{"a":[[[[{}]]]],"b":{"c":{"d":null}}}`, "{\"msg\":1}\n\n \t\n", `{"level":"ǆ"}`, `{"msg":"x"}` + "\x1b",
	`{"fi\u0065lds.hook_id":1,"fields":{"hook\u005fid":2}}`,
}

// FuzzParse frames arbitrary bytes under each golden configuration: Parse
// never panics, returns exactly one entry per record, and every entry holds
// the invariants of parsertest.Check.
func FuzzParse(f *testing.F) {
	inputs, configs := parsertest.Seeds(f)
	for _, in := range inputs {
		for i := range configs {
			f.Add(uint8(i), in)
		}
	}
	for _, s := range fuzzSeeds {
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

// defaultKeys are the keys the default mapping reads.
var defaultKeys = func() []string {
	var ks []string
	for f := range fieldmap.NumFields {
		ks = append(ks, fieldmap.DefaultKeys(f)...)
	}
	return ks
}()

// FuzzRecord parses arbitrary bytes as one record with the default
// configuration and compares the result with encoding/json's reading of
// the same bytes: the record parses exactly when it is one valid JSON
// object (or its timestamp is bad), Details holds each member no field
// took with the value encoding/json decodes, the members missing from
// Details are mapped keys, and the message is msg's string.
func FuzzRecord(f *testing.F) {
	inputs, _ := parsertest.Seeds(f)
	for _, in := range inputs {
		for line := range bytes.SplitSeq(in, []byte("\n")) {
			f.Add(line)
		}
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs := []parsertest.Record{{Line: 1, Data: data}}
		e := parsertest.Parse(t, jsonparser.New(), recs, nil)[0]
		parsertest.Check(t, recs, []plugins.Entry{e})
		if !plugins.IsClean(data) {
			if !e.ParseError {
				t.Fatalf("record %q with invalid UTF-8 or NUL parsed", data)
			}
			return
		}
		rec := plugins.AppendStripped(nil, data)
		trimmed := bytes.TrimSpace(rec)
		valid := json.Valid(rec) && len(trimmed) > 0 && trimmed[0] == '{'
		if !valid {
			if !e.ParseError && !bytes.Contains(rec, []byte("\n")) {
				t.Fatalf("record %q is not one JSON object but parsed: %+v", rec, e)
			}
			return
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(rec))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("decode %q: %v", rec, err)
		}
		if e.ParseError {
			for _, k := range fieldmap.DefaultKeys(fieldmap.Timestamp) {
				if v, ok := obj[k]; ok && v != nil {
					return // a bad timestamp
				}
			}
			t.Fatalf("valid record %q without a timestamp is a parse error", rec)
		}
		var details map[string]any
		if e.Details != nil {
			dec := json.NewDecoder(bytes.NewReader(e.Details))
			dec.UseNumber()
			if err := dec.Decode(&details); err != nil {
				t.Fatalf("decode details %q: %v", e.Details, err)
			}
		}
		for k, v := range details {
			if want, ok := obj[k]; !ok || !reflect.DeepEqual(v, want) {
				t.Fatalf("details[%q]=%v, the record has %v (present %v)", k, v, want, ok)
			}
		}
		for k := range obj {
			if _, ok := details[k]; !ok && !slices.Contains(defaultKeys, k) {
				t.Fatalf("member %q of %q is neither mapped nor in details %s", k, rec, e.Details)
			}
		}
		if msg, ok := obj["msg"].(string); ok {
			want := string(plugins.AppendStripped(nil, []byte(strings.ReplaceAll(msg, "\x00", "\uFFFD"))))
			if e.Message != want {
				t.Fatalf("message %q, want msg %q", e.Message, want)
			}
		}
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
