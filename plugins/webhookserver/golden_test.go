package webhookserver_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // timezone.txt cases must not depend on the host's zoneinfo

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/parsertest"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.jsonl from the parser's output")

// jsonlFile is the path the records of the jsonl-* cases come from: a name
// that matches webhookserver.JSONLFiles.
const jsonlFile = "/home/podman/data/logs/webhooks_2026-07-31.json"

// frameLines splits a JSONL file into records the way the agent does for
// line-per-record files: every line is a record, the empty ones included.
func frameLines(data []byte) []record {
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return nil
	}
	var recs []record
	for i, line := range bytes.Split(data, []byte("\n")) {
		recs = append(recs, record{line: i + 1, data: append([]byte(nil), line...)})
	}
	return recs
}

// record is a framed record and the 1-based line it starts on.
type record struct {
	line int
	data []byte
}

// frame splits a log file into records the way the agent does: a line that
// IsRecordStart accepts starts a record, any other line joins the record
// before it, and lines before the first header form a record of their own.
func frame(p *webhookserver.Parser, data []byte) []record {
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return nil
	}
	var recs []record
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(recs) == 0 || p.IsRecordStart(line) {
			recs = append(recs, record{line: i + 1, data: append([]byte(nil), line...)})
			continue
		}
		r := &recs[len(recs)-1]
		r.data = append(append(r.data, '\n'), line...)
	}
	return recs
}

func parseRecords(t testing.TB, recs []record, loc *time.Location) []plugins.Entry {
	t.Helper()
	return parseFile(t, "input.log", recs, loc)
}

// parseFile parses records read from file.
func parseFile(t testing.TB, file string, recs []record, loc *time.Location) []plugins.Entry {
	t.Helper()
	req := &plugins.ParseRequest{Location: loc}
	for _, r := range recs {
		req.Records = append(req.Records, plugins.Record{Data: r.data, File: file})
	}
	got, err := webhookserver.New().Parse(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got) != len(recs) {
		t.Fatalf("Parse returned %d entries for %d records", len(got), len(recs))
	}
	return got
}

// golden is the expected.jsonl form of an entry: every field the parser
// sets, plus the input line the record starts on.
type golden struct {
	Line         int               `json:"line"`
	TimestampUS  int64             `json:"timestamp_us,omitempty"`
	TimestampRaw string            `json:"timestamp_raw,omitempty"`
	Level        string            `json:"level,omitempty"`
	LoggerName   string            `json:"logger_name,omitempty"`
	Message      string            `json:"message"`
	HookID       string            `json:"hook_id,omitempty"`
	EventType    string            `json:"event_type,omitempty"`
	Repository   string            `json:"repository,omitempty"`
	PRNumber     int64             `json:"pr_number,omitempty"`
	GithubUser   string            `json:"github_user,omitempty"`
	TaskID       string            `json:"task_id,omitempty"`
	TaskType     string            `json:"task_type,omitempty"`
	TaskStatus   string            `json:"task_status,omitempty"`
	TokenSpend   *int64            `json:"token_spend,omitempty"`
	Step         string            `json:"step,omitempty"`
	ExcInfo      string            `json:"exc_info,omitempty"`
	ParseError   bool              `json:"parse_error,omitempty"`
	Truncated    bool              `json:"truncated,omitempty"`
	Details      json.RawMessage   `json:"details,omitempty"`
	Kind         string            `json:"kind"`
	Completion   *goldenCompletion `json:"completion,omitempty"`
	DedupeKey    string            `json:"dedupe_key,omitempty"`
}

type goldenCompletion struct {
	Status     string       `json:"status"`
	DurationMS *int64       `json:"duration_ms,omitempty"`
	PRNumber   int64        `json:"pr_number,omitempty"`
	TokenSpend *int64       `json:"token_spend,omitempty"`
	Steps      []goldenStep `json:"steps,omitempty"`

	// Only the JSONL summary carries these.
	Action             string       `json:"action,omitempty"`
	Sender             string       `json:"sender,omitempty"`
	RepositoryFullName string       `json:"repository_full_name,omitempty"`
	PRTitle            string       `json:"pr_title,omitempty"`
	APIUser            string       `json:"api_user,omitempty"`
	StartedAtUS        int64        `json:"started_at_us,omitempty"`
	CompletedAtUS      int64        `json:"completed_at_us,omitempty"`
	Error              *goldenError `json:"error,omitempty"`
}

type goldenError struct {
	Type      string `json:"type,omitempty"`
	Message   string `json:"message,omitempty"`
	Traceback string `json:"traceback,omitempty"`
}

func toGoldenError(e *plugins.ErrorInfo) *goldenError {
	if e == nil {
		return nil
	}
	return &goldenError{Type: e.Type, Message: e.Message, Traceback: e.Traceback}
}

type goldenStep struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	DurationMS *int64 `json:"duration_ms,omitempty"`

	// Only the JSONL summary carries these.
	StartedAtUS int64           `json:"started_at_us,omitempty"`
	Error       *goldenError    `json:"error,omitempty"`
	Details     json.RawMessage `json:"details,omitempty"`
}

// toGolden renders an entry. Unless jsonl, the entry must not set the
// fields only a JSONL summary carries.
func toGolden(t testing.TB, line int, e plugins.Entry, jsonl bool) golden {
	t.Helper()
	g := golden{
		Line: line, TimestampUS: e.TimestampUS, TimestampRaw: e.TimestampRaw, Level: e.Level,
		LoggerName: e.LoggerName, Message: e.Message, HookID: e.HookID, EventType: e.EventType,
		Repository: e.Repository, PRNumber: e.PRNumber, GithubUser: e.GithubUser, TaskID: e.TaskID,
		TaskType: e.TaskType, TaskStatus: e.TaskStatus, TokenSpend: e.TokenSpend, Step: e.Step,
		ExcInfo: e.ExcInfo, ParseError: e.ParseError, Truncated: e.Truncated, Details: compactJSON(t, line, e.Details),
	}
	switch e.Kind {
	case plugins.KindLog:
		g.Kind = "log"
	case plugins.KindDeliverySummary:
		g.Kind = "delivery_summary"
	default:
		t.Fatalf("line %d: unknown kind %d", line, e.Kind)
	}
	if e.DedupeKey != 0 {
		g.DedupeKey = fmt.Sprintf("%016x", e.DedupeKey)
	}
	if c := e.Completion; c != nil {
		if !jsonl && (c.Action != "" || c.Sender != "" || c.RepositoryFullName != "" || c.PRTitle != "" ||
			c.APIUser != "" || c.StartedAtUS != 0 || c.CompletedAtUS != 0 || c.Error != nil) {
			t.Fatalf("line %d: the text parser set a JSONL-only completion field: %+v", line, c)
		}
		g.Completion = &goldenCompletion{
			Status: c.Status, DurationMS: c.DurationMS, PRNumber: c.PRNumber, TokenSpend: c.TokenSpend,
			Action: c.Action, Sender: c.Sender, RepositoryFullName: c.RepositoryFullName, PRTitle: c.PRTitle,
			APIUser: c.APIUser, StartedAtUS: c.StartedAtUS, CompletedAtUS: c.CompletedAtUS, Error: toGoldenError(c.Error),
		}
		for _, s := range c.Steps {
			if !jsonl && (s.StartedAtUS != 0 || s.Error != nil || s.Details != nil) {
				t.Fatalf("line %d: the text parser set a JSONL-only step field: %+v", line, s)
			}
			g.Completion.Steps = append(g.Completion.Steps, goldenStep{
				Name: s.Name, Status: s.Status, DurationMS: s.DurationMS,
				StartedAtUS: s.StartedAtUS, Error: toGoldenError(s.Error), Details: compactJSON(t, line, s.Details),
			})
		}
	}
	return g
}

// compactJSON returns details without insignificant white space (the
// expected files hold them so); it fails the test on invalid JSON.
func compactJSON(t testing.TB, line int, details json.RawMessage) json.RawMessage {
	t.Helper()
	if details == nil {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, details); err != nil {
		t.Fatalf("line %d: details %q: %v", line, details, err)
	}
	return b.Bytes()
}

// caseLocation reads the optional timezone.txt of a golden case: the
// source timezone naive timestamps are read in.
func caseLocation(t testing.TB, dir string) *time.Location {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "timezone.txt"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("read timezone: %v", err)
	}
	loc, err := time.LoadLocation(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("load timezone of %s: %v", dir, err)
	}
	return loc
}

// TestGolden parses testdata/<case>/input.log (or, for the jsonl-* cases,
// testdata/<case>/input.json as a webhooks_*.json file) and compares the
// entries with testdata/<case>/expected.jsonl. Run with -update to rewrite
// the expected files, then review the diff by hand: the expected files are
// the spec.
func TestGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatalf("list golden cases: %v", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "fuzz" { // fuzz holds the fuzzer's regressions
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", d.Name())
			jsonl := strings.HasPrefix(d.Name(), "jsonl-")
			loc := caseLocation(t, dir)
			var recs []record
			var entries []plugins.Entry
			if jsonl {
				input, err := os.ReadFile(filepath.Join(dir, "input.json"))
				if err != nil {
					t.Fatalf("read input: %v", err)
				}
				recs = frameLines(input)
				entries = parseFile(t, jsonlFile, recs, loc)
			} else {
				input, err := os.ReadFile(filepath.Join(dir, "input.log"))
				if err != nil {
					t.Fatalf("read input: %v", err)
				}
				recs = frame(webhookserver.New(), input)
				entries = parseRecords(t, recs, loc)
			}

			got := make([]golden, len(entries))
			for i, e := range entries {
				got[i] = toGolden(t, recs[i].line, e, jsonl)
				if !e.ParseError && e.TimestampRaw != "" {
					checkTimestamp(t, e, loc)
				}
			}
			path := filepath.Join(dir, "expected.jsonl")
			if *update {
				if err := os.WriteFile(path, parsertest.EncodeJSONL(t, got), 0o644); err != nil {
					t.Fatalf("write expected entries: %v", err)
				}
				return
			}
			want := parsertest.DecodeJSONL[golden](t, path)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("entries of %s differ (-want +got):\n%s", dir, diff)
			}
		})
	}
}

// checkTimestamp cross-checks TimestampUS with the time package.
func checkTimestamp(t testing.TB, e plugins.Entry, loc *time.Location) {
	t.Helper()
	if loc == nil {
		loc = time.UTC
	}
	var ts time.Time
	var err error
	if len(e.TimestampRaw) > 19 && strings.ContainsAny(e.TimestampRaw[19:], "Z+-") {
		ts, err = time.Parse(time.RFC3339Nano, e.TimestampRaw)
	} else {
		ts, err = time.ParseInLocation("2006-01-02T15:04:05", e.TimestampRaw, loc)
	}
	if err != nil {
		t.Fatalf("time package cannot parse %q: %v", e.TimestampRaw, err)
	}
	if got, want := e.TimestampUS, ts.UnixMicro(); got != want {
		t.Errorf("TimestampUS of %q = %d, want %d", e.TimestampRaw, got, want)
	}
}
