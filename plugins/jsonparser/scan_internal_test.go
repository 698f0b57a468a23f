package jsonparser

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzScan checks the scanner against encoding/json: on valid UTF-8
// without NUL, a record scans to its end exactly when json.Valid accepts
// it as an object, and appendCompact writes what json.Compact writes.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : [ 1 , -2.5e+3 , "x\"\\\/\b\f\n\r\t\u00e9" , true , false , null , { } ] } `,
		`{"a":01}`, `{"a":1.}`, `{"a":1e}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `[1]`,
		`{"a":tru}`, `{"a":nul}`, `{"a":-}`, "{\"a\":\"\t\"}", `{"a":{"b":[{"c":[]}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
			return
		}
		var s scanner
		end, ok := s.scanRecord(data, nil)
		got := ok && len(bytes.TrimLeft(data[end:], " \t\r\n")) == 0
		trimmed := bytes.TrimSpace(data)
		want := json.Valid(data) && len(trimmed) > 0 && trimmed[0] == '{'
		if got != want {
			t.Fatalf("scan of %q: valid=%v, json.Valid says %v", data, got, want)
		}
		if !want {
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, trimmed); err != nil {
			t.Fatalf("json.Compact: %v", err)
		}
		if got := appendCompact(nil, trimmed); !bytes.Equal(got, compact.Bytes()) {
			t.Fatalf("appendCompact(%q)=%q, json.Compact gives %q", trimmed, got, compact.Bytes())
		}
	})
}
