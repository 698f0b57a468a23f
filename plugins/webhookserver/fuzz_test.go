package webhookserver_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

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

// FuzzParseJSONL parses arbitrary bytes as the lines of a webhooks_*.json
// file: Parse never panics and returns one entry per line; a line that is
// not valid JSON is a parse error holding the line as read; a parsed entry
// has valid strings, valid JSON details and what its kind needs.
func FuzzParseJSONL(f *testing.F) {
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
	for _, s := range []string{
		`{"type":"log_entry","timestamp":"2026-07-31T10:15:02Z","level":"INFO","message":"\ud83c\udf89\u0000\u001b[0m"}`,
		`{"hook_id":"\u0000","success":false,"workflow_steps":{"\u001b":{"error":{"type":null}}}}`,
		`{"type":"log_entry","timestamp":"9999-12-31T23:59:59-23:59","level":"","message":"","exc_info":"\n"}`,
	} {
		f.Add([]byte(s))
	}
	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		f.Fatalf("load timezone: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs := frameLines(data)
		entries := parseFile(t, jsonlFile, recs, jerusalem)
		for i, e := range entries {
			line := recs[i].data
			if e.ParseError {
				if got, want := e.Message, cleanText(line); got != want {
					t.Fatalf("line %q: parse error message %q, want the line as read", line, got)
				}
				continue
			}
			if !json.Valid(line) || !utf8.Valid(line) {
				t.Fatalf("line %q is no valid JSON but parsed: %+v", line, e)
			}
			checkJSONLEntry(t, line, e)
		}
	})
}

func checkJSONLEntry(t *testing.T, line []byte, e plugins.Entry) {
	t.Helper()
	strs := []string{e.TimestampRaw, e.Level, e.LoggerName, e.Message, e.HookID, e.EventType,
		e.Repository, e.GithubUser, e.TaskID, e.TaskType, e.TaskStatus, e.Step, e.ExcInfo}
	if e.Details != nil && !json.Valid(e.Details) {
		t.Fatalf("line %q: details %q are not valid JSON", line, e.Details)
	}
	switch e.Kind {
	case plugins.KindLog:
		if e.TimestampRaw == "" || e.DedupeKey == 0 {
			t.Fatalf("line %q: log entry without timestamp or dedupe key: %+v", line, e)
		}
	case plugins.KindDeliverySummary:
		c := e.Completion
		if e.HookID == "" || c == nil || c.Status == "" {
			t.Fatalf("line %q: summary without hook, completion or status: %+v", line, e)
		}
		strs = append(strs, c.Status, c.Action, c.Sender, c.RepositoryFullName, c.PRTitle, c.APIUser)
		for _, ei := range []*plugins.ErrorInfo{c.Error} {
			if ei != nil {
				strs = append(strs, ei.Type, ei.Message, ei.Traceback)
			}
		}
		for i, s := range c.Steps {
			strs = append(strs, s.Name, s.Status)
			if s.Error != nil {
				strs = append(strs, s.Error.Type, s.Error.Message, s.Error.Traceback)
			}
			if s.Details != nil && !json.Valid(s.Details) {
				t.Fatalf("line %q: step details %q are not valid JSON", line, s.Details)
			}
			if i > 0 {
				p := c.Steps[i-1]
				if (p.StartedAtUS == 0 && s.StartedAtUS != 0) ||
					(p.StartedAtUS != 0 && s.StartedAtUS != 0 && p.StartedAtUS > s.StartedAtUS) ||
					(p.StartedAtUS == s.StartedAtUS && p.Name >= s.Name) {
					t.Fatalf("line %q: steps out of order: %q before %q", line, p.Name, s.Name)
				}
			}
		}
	default:
		t.Fatalf("line %q: unknown kind %d", line, e.Kind)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || strings.IndexByte(s, 0x1b) >= 0 {
			t.Fatalf("line %q: string %q is not valid UTF-8 without NUL and ESC", line, s)
		}
	}
}

// serverANSI is the pattern upstream's JsonLogHandler strips from the
// message (json_log_handler.py).
var serverANSI = regexp.MustCompile(`\x1b(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])`)

// FuzzTextAndJSONLCopies writes one log record both ways upstream does,
// colorlog's text line and JsonLogHandler's log_entry, and checks that the
// two copies share their dedupe key and that the aggregator stores the same
// entry whichever arrives first. Inputs the two writers cannot both produce
// or that the text framing splits are skipped; see shapesThatDiverge.
func FuzzTextAndJSONLCopies(f *testing.F) {
	f.Add(uint8(1), "github-webhook-server [pull_request][6143a030][bot][PR 890]: Changed files", "", false, true)
	f.Add(uint8(3), "r [e][h]: Unexpected error", "Traceback (most recent call last):\n  File \"/x.py\"\nRuntimeError: boom", true, true)
	f.Add(uint8(0), " [push][h]: Processing webhook", "", false, false)
	f.Add(uint8(2), "cannot be merged: x\nMissing approved\n", "", false, true)
	f.Add(uint8(4), "m\n", "Traceback\nE: x\n", false, false)
	f.Add(uint8(5), "\x1b[36m[u] API rate limit:\x1b[39m Current \x1b[32m1\x1b[39m --- [DuplicateFilter: Last log `x` repeated 2 times]", "", false, true)
	levels := []struct{ name, colour string }{
		{"DEBUG", "\x1b[36m"}, {"INFO", "\x1b[32m"}, {"WARNING", "\x1b[33m"}, {"ERROR", "\x1b[31m"},
		{"CRITICAL", "\x1b[31m\x1b[47m"}, {"SUCCESS", "\x1b[1;32m"}, {"STEP", "\x1b[1;36m"}, {"Level 5", ""},
	}
	p := webhookserver.New()
	f.Fuzz(func(t *testing.T, level uint8, msg, exc string, excNewline, withKeys bool) {
		if !utf8.ValidString(msg) || !utf8.ValidString(exc) || shapesThatDiverge(msg, exc) {
			t.Skip()
		}
		lv := levels[int(level)%len(levels)]
		const ts = "2026-07-31T10:15:02.101877+00:00"
		// The traceback as printed (print_exception) is what exc_info holds,
		// as the reference's example shows; the text copy appends
		// formatException's form, the same without its final newline, when
		// that is not empty (logging.Formatter.format), after colorlog's
		// <ts> <name> <colour><LEVEL>\x1b[0m <message>\x1b[0m.
		printed := exc
		if excNewline {
			printed += "\n"
		}
		text := ts + " GithubWebhook " + lv.colour + lv.name + "\x1b[0m " + msg + "\x1b[0m"
		if excText := strings.TrimSuffix(printed, "\n"); excText != "" {
			text += "\n" + excText
		}
		recs := frame(p, []byte(text+"\n")) // the handler's terminator
		if len(recs) != 1 {
			t.Skip() // a continuation line reads as a header: see shapesThatDiverge
		}
		entry := map[string]any{
			"type": "log_entry", "timestamp": ts, "level": lv.name, "logger_name": "GithubWebhook",
			"message": serverANSI.ReplaceAllString(msg, ""),
		}
		if printed != "" {
			entry["exc_info"] = printed
		}
		x := parseRecords(t, recs, nil)[0]
		if withKeys && x.HookID != "" { // a context agrees with the prefix
			entry["hook_id"], entry["event_type"], entry["repository"] = x.HookID, x.EventType, x.Repository
			entry["api_user"], entry["pr_number"] = "", nil
		}
		line, err := json.Marshal(entry)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		j := parseJSONLOne(t, line)
		if x.ParseError || j.ParseError {
			t.Fatalf("parse error: text %v (%q), JSONL %v (%s)", x.ParseError, text, j.ParseError, line)
		}
		if x.DedupeKey != j.DedupeKey {
			t.Fatalf("keys differ: text %q %016x, JSONL %s %016x", text, x.DedupeKey, line, j.DedupeKey)
		}
		if diff := cmp.Diff(merged(x, j), merged(j, x)); diff != "" {
			t.Fatalf("text %q / JSONL %s: stored entry depends on arrival order (-text first +JSONL first):\n%s", text, line, diff)
		}
	})
}

// shapesThatDiverge reports the records whose two copies cannot agree,
// which FuzzTextAndJSONLCopies skips: a message or traceback with ESC bytes
// that upstream's strip (serverANSI, applied to the JSON copy) and ours
// (plugins.AppendStripped) leave differently, such as "\x1b\x1bAA",
// where removing one sequence completes another. The other such shape, a
// continuation line that reads as a record header, is skipped where the
// text is framed.
func shapesThatDiverge(msg, exc string) bool {
	for _, s := range []string{msg, exc} {
		ours := plugins.AppendStripped(nil, []byte(s))
		theirs := plugins.AppendStripped(nil, []byte(serverANSI.ReplaceAllString(s, "")))
		if !bytes.Equal(ours, theirs) {
			return true
		}
	}
	return false
}
