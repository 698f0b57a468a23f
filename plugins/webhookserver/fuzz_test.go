package webhookserver_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

// FuzzParse frames arbitrary bytes into records and parses them: Parse never
// panics, returns exactly one entry per record, returns only valid UTF-8
// without NUL or ESC bytes (ParseError entries excepted for ESC), keeps a
// parse error's record as read, and IsRecordStart agrees with StartPattern.
func FuzzParse(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "input.log"))
	if err != nil {
		f.Fatalf("glob inputs: %v", err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatalf("read seed: %v", err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"\n\n\n",
		"\x1b[0m\n\x1b",
		"2026-07-31T10:15:02Z x INFO \x1b[38;5;1mr\x1b[0m [e\\][h\\\\][u][PR 99999999999999999999]: y",
		"2026-07-31T10:15:02Z x INFO r [e][h]: [SUCCESS] Webhook completed PR#1 [1h, tokens:9] steps=[a:b(, c:d()]",
		"2026-07-31T10:15:02Z x INFO m --- [DuplicateFilter: Last log `` repeated 2 times]\n` repeated 3 times]",
		"2026-07-31T10:15:02Z x INFO [task_id=\\] [task_type=] [task_status=x]",
	} {
		f.Add([]byte(s))
	}
	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		f.Fatalf("load timezone: %v", err)
	}
	re := startRegexp(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := webhookserver.New()
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			if got, want := p.IsRecordStart(line), re.Match(line); got != want {
				t.Fatalf("IsRecordStart(%q)=%v, StartPattern says %v", line, got, want)
			}
		}
		recs := frame(p, data)
		entries := parseRecords(t, recs, jerusalem)
		for i, e := range entries {
			if e.ParseError {
				if got, want := e.Message, cleanText(recs[i].data); got != want {
					t.Fatalf("record %d: parse error message %q, want the record as read %q", i, got, want)
				}
			}
			checkStrings(t, e)
		}
	})
}

func checkStrings(t *testing.T, e plugins.Entry) {
	t.Helper()
	strs := map[string]string{
		"TimestampRaw": e.TimestampRaw, "Level": e.Level, "LoggerName": e.LoggerName, "Message": e.Message,
		"HookID": e.HookID, "EventType": e.EventType, "Repository": e.Repository, "GithubUser": e.GithubUser,
		"TaskID": e.TaskID, "TaskType": e.TaskType, "TaskStatus": e.TaskStatus, "Step": e.Step,
	}
	if c := e.Completion; c != nil {
		strs["Completion.Status"] = c.Status
		for _, s := range c.Steps {
			strs["Step.Name"+s.Name] = s.Name
			strs["Step.Status"+s.Name] = s.Status
			if s.DurationMS != nil && *s.DurationMS < 0 {
				t.Fatalf("negative step duration %d", *s.DurationMS)
			}
		}
		if c.DurationMS != nil && *c.DurationMS < 0 {
			t.Fatalf("negative duration %d", *c.DurationMS)
		}
	}
	for name, s := range strs {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("%s=%q: not valid UTF-8 without NUL", name, s)
		}
		if !e.ParseError && strings.IndexByte(s, 0x1b) >= 0 {
			t.Fatalf("%s=%q: ESC left in a parsed entry", name, s)
		}
	}
	if e.Details != nil {
		var d struct {
			DuplicateFilter *struct {
				PreviousMessage *string `json:"previous_message"`
				Repeated        *int64  `json:"repeated"`
			} `json:"duplicate_filter"`
		}
		if err := json.Unmarshal(e.Details, &d); err != nil || !utf8.Valid(e.Details) ||
			d.DuplicateFilter == nil || d.DuplicateFilter.PreviousMessage == nil || d.DuplicateFilter.Repeated == nil {
			t.Fatalf("Details %q: not the duplicate_filter object (%v)", e.Details, err)
		}
	}
}
