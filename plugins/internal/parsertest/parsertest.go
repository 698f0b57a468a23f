// Package parsertest holds the test helpers the generic built-in parsers
// share: framing records the way the agent does, golden cases under
// testdata, and the invariants every entry must hold (checked by the fuzz
// tests).
package parsertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
)

// Record is a framed record and the 1-based line of the input it starts
// on.
type Record struct {
	Line int
	Data []byte
}

// StartRule returns the parser's record start test as the agent builds
// it: the parser's IsRecordStart if it has one, else its StartPattern; nil
// means every line starts a record.
func StartRule(t testing.TB, p plugins.Parser) func([]byte) bool {
	t.Helper()
	d, err := p.Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if rs, ok := p.(plugins.RecordStarter); ok {
		return rs.IsRecordStart
	}
	if d.StartPattern == "" {
		return nil
	}
	re, err := regexp.Compile(d.StartPattern)
	if err != nil {
		t.Fatalf("compile StartPattern %q: %v", d.StartPattern, err)
	}
	return re.Match
}

// Frame splits data into records: a line isStart accepts (every line when
// isStart is nil) starts a record, any other line joins the record before
// it with '\n', and lines before the first start form a record of their
// own. A final newline ends the last line.
func Frame(data []byte, isStart func([]byte) bool) []Record {
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return nil
	}
	var recs []Record
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(recs) == 0 || isStart == nil || isStart(line) {
			recs = append(recs, Record{Line: i + 1, Data: bytes.Clone(line)})
			continue
		}
		r := &recs[len(recs)-1]
		r.Data = append(append(r.Data, '\n'), line...)
	}
	return recs
}

// Parse parses recs in one batch and checks that there is one entry per
// record.
func Parse(t testing.TB, p plugins.Parser, recs []Record, loc *time.Location) []plugins.Entry {
	t.Helper()
	req := &plugins.ParseRequest{Location: loc}
	for _, r := range recs {
		req.Records = append(req.Records, plugins.Record{Data: r.Data, File: "input.log", Offset: int64(r.Line)})
	}
	got, err := p.Parse(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got) != len(recs) {
		t.Fatalf("Parse returned %d entries for %d records", len(got), len(recs))
	}
	return got
}

// Check checks the invariants of the entries parsed from recs: every
// string is valid UTF-8 without NUL, a parsed entry has no ESC byte left,
// a parse error keeps its record as read (made valid UTF-8) and has no
// other field, Details is nil or a JSON object, timestamps are within
// years 1…9999, and DedupeKey is set exactly for parsed entries with a
// timestamp.
func Check(t testing.TB, recs []Record, entries []plugins.Entry) {
	t.Helper()
	for i := range entries {
		e := &entries[i]
		where := fmt.Sprintf("record %d (line %d)", i, recs[i].Line)
		strs := map[string]string{
			"TimestampRaw": e.TimestampRaw, "Level": e.Level, "LoggerName": e.LoggerName, "Message": e.Message,
			"HookID": e.HookID, "EventType": e.EventType, "Repository": e.Repository, "GithubUser": e.GithubUser,
			"TaskID": e.TaskID, "TaskType": e.TaskType, "TaskStatus": e.TaskStatus, "Step": e.Step, "ExcInfo": e.ExcInfo,
		}
		for name, s := range strs {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("%s: %s=%q is not valid UTF-8 without NUL", where, name, s)
			}
			if !e.ParseError && strings.IndexByte(s, 0x1b) >= 0 {
				t.Fatalf("%s: %s=%q: ESC left in a parsed entry", where, name, s)
			}
		}
		if e.ParseError {
			want := string(CleanText(recs[i].Data))
			if e.Message != want {
				t.Fatalf("%s: parse error message %q, want the record as read %q", where, e.Message, want)
			}
			if diff := cmp.Diff(plugins.Entry{Message: e.Message, ParseError: true}, *e); diff != "" {
				t.Fatalf("%s: parse error entry sets more than the message (-want +got):\n%s", where, diff)
			}
			continue
		}
		if e.Details != nil {
			// Numbers stay text: 1e700 is valid JSON that no float64 holds.
			var obj map[string]any
			dec := json.NewDecoder(bytes.NewReader(e.Details))
			dec.UseNumber()
			if err := dec.Decode(&obj); err != nil || !json.Valid(e.Details) || !utf8.Valid(e.Details) || e.Details[0] != '{' {
				t.Fatalf("%s: Details %q is not a JSON object: %v", where, e.Details, err)
			}
		}
		if e.TimestampUS < minUS || e.TimestampUS > maxUS {
			t.Fatalf("%s: TimestampUS %d outside years 1…9999", where, e.TimestampUS)
		}
		if e.TimestampRaw == "" && e.TimestampUS != 0 {
			t.Fatalf("%s: TimestampUS %d without TimestampRaw", where, e.TimestampUS)
		}
		if got, want := e.DedupeKey != 0, e.TimestampRaw != ""; got != want {
			t.Fatalf("%s: DedupeKey %x with TimestampRaw %q", where, e.DedupeKey, e.TimestampRaw)
		}
		if e.TimestampRaw != "" {
			if got, want := e.DedupeKey, plugins.DedupeKey(e.TimestampRaw, e.Level, []byte(e.Message)); got != want {
				t.Fatalf("%s: DedupeKey %x, want %x", where, got, want)
			}
		}
		if e.PRNumber < 0 || e.TokenSpend != nil && *e.TokenSpend < 0 {
			t.Fatalf("%s: negative number: pr %d, tokens %v", where, e.PRNumber, *e.TokenSpend)
		}
		if e.Level != strings.ToUpper(e.Level) && utf8.ValidString(e.Level) && !hasSpecialCase(e.Level) {
			t.Fatalf("%s: level %q is not upper-cased", where, e.Level)
		}
	}
}

// hasSpecialCase reports whether s has a letter strings.ToUpper maps to
// several runes or that unicode.ToUpper leaves as a different rune.
func hasSpecialCase(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

var (
	minUS = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxUS = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// CleanText is the record as read, as a parse error keeps it: each run of
// invalid UTF-8 becomes one U+FFFD (as strings.ToValidUTF8), and so does
// each NUL byte.
func CleanText(b []byte) []byte {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return []byte(strings.ReplaceAll(s, "\x00", "\uFFFD"))
}

// Entry is the expected.jsonl form of an entry: every field a generic
// parser sets, plus the input line its record starts on.
type Entry struct {
	Line         int             `json:"line"`
	TimestampUS  int64           `json:"timestamp_us,omitempty"`
	TimestampRaw string          `json:"timestamp_raw,omitempty"`
	Level        string          `json:"level,omitempty"`
	LoggerName   string          `json:"logger_name,omitempty"`
	Message      string          `json:"message"`
	HookID       string          `json:"hook_id,omitempty"`
	EventType    string          `json:"event_type,omitempty"`
	Repository   string          `json:"repository,omitempty"`
	PRNumber     int64           `json:"pr_number,omitempty"`
	GithubUser   string          `json:"github_user,omitempty"`
	TaskID       string          `json:"task_id,omitempty"`
	TaskType     string          `json:"task_type,omitempty"`
	TaskStatus   string          `json:"task_status,omitempty"`
	TokenSpend   *int64          `json:"token_spend,omitempty"`
	Step         string          `json:"step,omitempty"`
	ExcInfo      string          `json:"exc_info,omitempty"`
	ParseError   bool            `json:"parse_error,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
	DedupeKey    string          `json:"dedupe_key,omitempty"`
}

// ToGolden returns the expected.jsonl form of e, which must be a log entry
// without the fields only the webhook-server parser sets.
func ToGolden(t testing.TB, line int, e plugins.Entry) Entry {
	t.Helper()
	if e.Kind != plugins.KindLog || e.Completion != nil || e.Truncated {
		t.Fatalf("line %d: a generic parser set kind %d, completion %+v, truncated %v", line, e.Kind, e.Completion, e.Truncated)
	}
	g := Entry{
		Line: line, TimestampUS: e.TimestampUS, TimestampRaw: e.TimestampRaw, Level: e.Level,
		LoggerName: e.LoggerName, Message: e.Message, HookID: e.HookID, EventType: e.EventType,
		Repository: e.Repository, PRNumber: e.PRNumber, GithubUser: e.GithubUser, TaskID: e.TaskID,
		TaskType: e.TaskType, TaskStatus: e.TaskStatus, TokenSpend: e.TokenSpend, Step: e.Step,
		ExcInfo: e.ExcInfo, ParseError: e.ParseError, Details: e.Details,
	}
	if e.DedupeKey != 0 {
		g.DedupeKey = fmt.Sprintf("%016x", e.DedupeKey)
	}
	return g
}

// EncodeJSONL is gs as JSON lines, HTML characters not escaped: the form
// of a golden expected.jsonl file.
func EncodeJSONL[T any](t testing.TB, gs []T) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, g := range gs {
		if err := enc.Encode(g); err != nil {
			t.Fatalf("encode golden entry: %v", err)
		}
	}
	return b.Bytes()
}

// DecodeJSONL reads the JSON lines file at path, one T a line; an unknown
// field fails the test, so a golden file cannot hold a stale key.
func DecodeJSONL[T any](t testing.TB, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open expected entries: %v", err)
	}
	defer f.Close()
	var gs []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var g T
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			t.Fatalf("decode %s entry %d: %v", path, len(gs)+1, err)
		}
		gs = append(gs, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return gs
}

// Case is one golden case directory.
type Case struct {
	Dir string
	// Config is config.json, the parser_config; "{}" when absent.
	Config json.RawMessage
	// Location is timezone.txt, the source timezone; nil (UTC) when absent.
	Location *time.Location
	Input    []byte
}

// Cases reads the golden cases under testdata: every directory but fuzz
// (the fuzzer's regressions) with an input.log.
func Cases(t testing.TB) []Case {
	t.Helper()
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatalf("list golden cases: %v", err)
	}
	var cases []Case
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "fuzz" {
			continue
		}
		c := Case{Dir: filepath.Join("testdata", d.Name()), Config: json.RawMessage("{}")}
		if c.Input, err = os.ReadFile(filepath.Join(c.Dir, "input.log")); err != nil {
			t.Fatalf("read input: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(c.Dir, "config.json")); err == nil {
			c.Config = b
		} else if !os.IsNotExist(err) {
			t.Fatalf("read config: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(c.Dir, "timezone.txt")); err == nil {
			if c.Location, err = time.LoadLocation(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("load timezone of %s: %v", c.Dir, err)
			}
		} else if !os.IsNotExist(err) {
			t.Fatalf("read timezone: %v", err)
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases under testdata")
	}
	return cases
}

// Configured returns a new parser configured with config, failing on any
// error diagnostic.
func Configured(t testing.TB, newParser func() plugins.Parser, config json.RawMessage) plugins.Parser {
	t.Helper()
	p := newParser()
	diags, err := p.Configure(t.Context(), config)
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure(%s) = %+v, %v", config, diags, err)
	}
	return p
}

// Golden parses each case's input.log with its config.json and timezone,
// framed by the parser's start rule, and compares the entries with
// expected.jsonl; update rewrites the expected files instead (review the
// diff by hand: the expected files are the spec).
func Golden(t *testing.T, newParser func() plugins.Parser, update bool) {
	for _, c := range Cases(t) {
		t.Run(filepath.Base(c.Dir), func(t *testing.T) {
			p := Configured(t, newParser, c.Config)
			recs := Frame(c.Input, StartRule(t, p))
			entries := Parse(t, p, recs, c.Location)
			Check(t, recs, entries)
			got := make([]Entry, len(entries))
			for i, e := range entries {
				got[i] = ToGolden(t, recs[i].Line, e)
			}
			path := filepath.Join(c.Dir, "expected.jsonl")
			if update {
				if err := os.WriteFile(path, EncodeJSONL(t, got), 0o644); err != nil {
					t.Fatalf("write expected entries: %v", err)
				}
				return
			}
			want := DecodeJSONL[Entry](t, path)
			if diff := cmp.Diff(want, got, cmp.Comparer(sameJSON)); diff != "" {
				t.Errorf("entries of %s differ (-want +got):\n%s", c.Dir, diff)
			}
		})
	}
}

// sameJSON compares Details byte for byte: the parser's output is
// deterministic, and the order of its members is part of the spec.
func sameJSON(a, b json.RawMessage) bool { return bytes.Equal(a, b) }

// Seeds returns the golden inputs and configs, to seed fuzz tests.
func Seeds(t testing.TB) (inputs [][]byte, configs []json.RawMessage) {
	t.Helper()
	for _, c := range Cases(t) {
		inputs = append(inputs, c.Input)
		configs = append(configs, c.Config)
	}
	return inputs, configs
}

// FuzzRecords frames data with p's start rule, parses it and checks the
// entries.
func FuzzRecords(t testing.TB, p plugins.Parser, data []byte, loc *time.Location) ([]Record, []plugins.Entry) {
	t.Helper()
	recs := Frame(data, StartRule(t, p))
	entries := Parse(t, p, recs, loc)
	Check(t, recs, entries)
	return recs, entries
}
