package webhookserver

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
)

// scanValid reports whether b is one JSON value with white space around,
// by the scanner.
func scanValid(b []byte) bool {
	end, _, _, ok := scanValue(b, skipWS(b, 0), 0)
	return ok && skipWS(b, end) == len(b)
}

func TestJSONScannerAgreesWithEncodingJSON(t *testing.T) {
	f := func(s string) {
		t.Helper()
		if got, want := scanValid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("scanner says %q is valid: %v, json.Valid: %v", s, got, want)
		}
	}
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{,}`, `{"a":1 "b":2}`, `{1:2}`,
		`[]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[`, `]`,
		`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5e`, `1e+`, `1E-7`, `-12.5e+3`, `1e999`,
		`true`, `tru`, `truex`, `null`, `nul`, `false `,
		`""`, `"\u00e9"`, `"\u00"`, `"\uZZZZ"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`, "\"\t\"", `"\ud800"`, `"a`,
		"\"\u2028\"", "{\"a\":\"\x7f\"}", "\x00", "{}\x00", "{\n\"a\"\r:\t1}",
		strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth),
		strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1),
		strings.Repeat(`{"a":`, maxJSONDepth-1) + "[]" + strings.Repeat("}", maxJSONDepth-1),
		strings.Repeat(`{"a":`, maxJSONDepth) + "[]" + strings.Repeat("}", maxJSONDepth),
	} {
		f(s)
	}
}

func TestJSONInt(t *testing.T) {
	f := func(s string, want int64, ok bool) {
		t.Helper()
		got, gotOK := jsonInt([]byte(s))
		if gotOK != ok || (ok && got != want) {
			t.Errorf("jsonInt(%q) = %d, %v; want %d, %v", s, got, gotOK, want, ok)
		}
	}
	f("0", 0, true)
	f("-0", 0, true)
	f("890", 890, true)
	f("-5", -5, true)
	f("9223372036854775807", 9223372036854775807, true)
	f("-9223372036854775808", -9223372036854775808, true)
	f("9223372036854775808", 0, false)
	f("-9223372036854775809", 0, false)
	f("99999999999999999999", 0, false)
	f("1.0", 0, false)
	f("1e3", 0, false)
	f("", 0, false)
	f("-", 0, false)
}

// FuzzJSONScanner checks the scanner against encoding/json: the same
// verdict on any valid UTF-8 input, the same decoded strings and integers
// for the members of an object.
func FuzzJSONScanner(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "jsonl-*", "input.json"))
	if err != nil {
		f.Fatalf("glob inputs: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatalf("read seed: %v", err)
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			if len(line) < 4096 {
				f.Add(line)
			}
		}
	}
	f.Add([]byte(`{"\u0061":"\ud83c\udf89\ud800\udc00\udc00\ud800x","b":-9223372036854775808,"c":[{"d":1e5}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // the JSONL reader rejects such lines before scanning
		}
		if got, want := scanValid(b), json.Valid(b); got != want {
			t.Fatalf("scanner says %q is valid: %v, json.Valid: %v", b, got, want)
		}
		it, ok := newObjectIter(b, 1)
		if !ok || !json.Valid(b) {
			return
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil {
			return // not an object
		}
		m := jsonValue{b: it.b}
		for it.next(&m.jsonMember) {
			var key string
			if err := json.Unmarshal(m.b[m.start:m.keyEnd+1], &key); err != nil {
				t.Fatalf("key %q: %v", m.keyText(), err)
			}
			if got := string(appendUnquoted(nil, m.keyText(), m.keyEsc)); got != key {
				t.Fatalf("key %q decoded as %q, encoding/json says %q", m.keyText(), got, key)
			}
			switch m.kind {
			case jsonString:
				var want string
				if err := json.Unmarshal(m.val(), &want); err != nil {
					t.Fatalf("value %q: %v", m.val(), err)
				}
				if got := string(appendUnquoted(nil, m.str(), m.esc)); got != want {
					t.Fatalf("value %q decoded as %q, encoding/json says %q", m.val(), got, want)
				}
			case jsonNumber:
				want, err := strconv.ParseInt(string(m.val()), 10, 64)
				if got, ok := jsonInt(m.val()); ok != (err == nil) || (ok && got != want) {
					t.Fatalf("integer %q: %d, %v; strconv says %d, %v", m.val(), got, ok, want, err)
				}
			}
			if !json.Valid(m.val()) {
				t.Fatalf("member value %q is not valid JSON", m.val())
			}
		}
		if !it.complete() {
			t.Fatalf("object %q: the walk failed where json.Valid succeeded", b)
		}
	})
}

// stdlibLogEntry is a log_entry decoded by encoding/json into a typed
// struct, for BenchmarkDecodeLogEntry.
type stdlibLogEntry struct {
	Type       string  `json:"type"`
	Timestamp  string  `json:"timestamp"`
	Level      string  `json:"level"`
	LoggerName string  `json:"logger_name"`
	Message    string  `json:"message"`
	ExcInfo    *string `json:"exc_info"`
	HookID     *string `json:"hook_id"`
	EventType  *string `json:"event_type"`
	Repository *string `json:"repository"`
	PRNumber   *int64  `json:"pr_number"`
	APIUser    *string `json:"api_user"`
	TokenSpend *int64  `json:"token_spend"`
}

// parseLogEntryStdlib is parseLogEntry with encoding/json in place of the
// scanner, as the benchmark's yardstick. It is simpler than the real one:
// it does not rebuild tracebacks and, with the typed struct, cannot see the
// keys Details must keep; withExtras adds the second decode into a map that
// seeing them takes.
func (s *scratch) parseLogEntryStdlib(e *plugins.Entry, data []byte, loc *time.Location, withExtras bool) bool {
	var v stdlibLogEntry
	if err := json.Unmarshal(data, &v); err != nil || v.Type != typeLogEntry {
		return false
	}
	if withExtras {
		var all map[string]json.RawMessage
		if err := json.Unmarshal(data, &all); err != nil {
			return false
		}
	}
	buf := append(s.buf[:0], v.Timestamp...)
	if n, ok := scanTimestamp(buf); !ok || n != len(buf) {
		return false
	}
	us, ok := parseTimestamp(buf, loc)
	if !ok {
		return false
	}
	l := layout{ts: span{0, len(buf)}}
	if v.PRNumber != nil {
		l.pr = *v.PRNumber
	}
	opt := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for i, str := range [nFields]string{v.LoggerName, v.Level, opt(v.HookID), opt(v.EventType), opt(v.Repository), opt(v.APIUser), opt(v.ExcInfo)} {
		l.f[i].start = len(buf)
		buf = plugins.AppendStripped(buf, []byte(str))
		l.f[i].end = len(buf)
	}
	l.msg.start = len(buf)
	buf = plugins.AppendStripped(buf, []byte(v.Message))
	l.msg.end = len(buf)
	s.finish(e, &l, buf, us)
	e.DedupeKey = plugins.DedupeKey(e.TimestampRaw, e.Level, []byte(v.Message))
	return true
}

// BenchmarkDecodeLogEntry compares the scanner with encoding/json on the
// log_entry lines of the reference session (testdata/jsonl-paired).
func BenchmarkDecodeLogEntry(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "jsonl-paired", "input.json"))
	if err != nil {
		b.Fatalf("read input: %v", err)
	}
	var lines [][]byte
	var size int64
	for line := range bytes.SplitSeq(bytes.TrimSpace(data), []byte("\n")) {
		if bytes.Contains(line, []byte(`"type": "log_entry"`)) {
			lines = append(lines, line)
			size += int64(len(line)) + 1
		}
	}
	for _, bc := range []struct {
		name  string
		parse func(s *scratch, e *plugins.Entry, line []byte)
	}{
		{"scanner", func(s *scratch, e *plugins.Entry, line []byte) { s.parseJSONL(e, line, time.UTC) }},
		{"stdlib-struct", func(s *scratch, e *plugins.Entry, line []byte) { s.parseLogEntryStdlib(e, line, time.UTC, false) }},
		{"stdlib-struct+map", func(s *scratch, e *plugins.Entry, line []byte) { s.parseLogEntryStdlib(e, line, time.UTC, true) }},
	} {
		b.Run("decoder="+bc.name, func(b *testing.B) {
			s := new(scratch)
			var e plugins.Entry
			b.ReportAllocs()
			b.SetBytes(size)
			loops := 0
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				for _, line := range lines {
					e = plugins.Entry{}
					bc.parse(s, &e, line)
				}
				loops++
			}
			if e.ParseError || e.TimestampRaw == "" {
				b.Fatalf("last line not parsed: %+v", e)
			}
			records := float64(loops * len(lines))
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/records, "cpu-ns/record")
			}
		})
	}
}
