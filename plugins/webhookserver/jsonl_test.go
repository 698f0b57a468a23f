package webhookserver_test

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

func TestDescribeJSONL(t *testing.T) {
	d, err := webhookserver.New().Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if diff := cmp.Diff([]string{"webhooks_*.json"}, d.LinePerRecordFiles); diff != "" {
		t.Fatalf("LinePerRecordFiles (-want +got):\n%s", diff)
	}
	for name, want := range map[string]bool{
		"webhooks_2026-07-31.json":                  true,
		"webhooks_.json":                            true,
		"webhook-server.log":                        false,
		"webhook-server.log.1":                      false,
		".webhooks_2026-07-31.json_k2j9x1ab.tmp":    false,
		"webhooks_2026-07-31.json.1":                false,
		"logs_server.log":                           false,
		"my-webhooks_2026-07-31.json":               false,
		"webhooks_2026-07-31.jsonl":                 false,
		"/data/logs/webhooks_2026-07-31.json.gz":    false,
		"/home/podman/data/logs/webhook-server.log": false,
	} {
		got := false
		for _, glob := range d.LinePerRecordFiles {
			ok, err := path.Match(glob, filepath.Base(name))
			if err != nil {
				t.Fatalf("glob %q: %v", glob, err)
			}
			got = got || ok
		}
		if got != want {
			t.Errorf("%q matches LinePerRecordFiles: %v, want %v", name, got, want)
		}
	}
}

// readCase reads and frames a golden case's input: input.log as text,
// input.json one record per line.
func readCase(t testing.TB, name string) ([]record, []plugins.Entry) {
	t.Helper()
	dir := filepath.Join("testdata", name)
	if data, err := os.ReadFile(filepath.Join(dir, "input.json")); err == nil {
		recs := frameLines(data)
		return recs, parseFile(t, jsonlFile, recs, nil)
	}
	data, err := os.ReadFile(filepath.Join(dir, "input.log"))
	if err != nil {
		t.Fatalf("read input: %v", err)
	}
	recs := frame(webhookserver.New(), data)
	return recs, parseRecords(t, recs, nil)
}

// merged is what the aggregator stores of a record whose copies first and
// second arrive in that order: first as parsed, its empty fields filled by
// second (aggregator/sqlite fillEmpty).
func merged(first, second plugins.Entry) plugins.Entry {
	m := first
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&m.HookID, second.HookID)
	fill(&m.EventType, second.EventType)
	fill(&m.Repository, second.Repository)
	fill(&m.GithubUser, second.GithubUser)
	fill(&m.TaskID, second.TaskID)
	fill(&m.TaskType, second.TaskType)
	fill(&m.TaskStatus, second.TaskStatus)
	fill(&m.Step, second.Step)
	fill(&m.ExcInfo, second.ExcInfo)
	fill(&m.LoggerName, second.LoggerName)
	if m.PRNumber == 0 {
		m.PRNumber = second.PRNumber
	}
	if m.TokenSpend == nil {
		m.TokenSpend = second.TokenSpend
	}
	if len(m.Details) == 0 {
		m.Details = second.Details
	}
	if m.Completion == nil {
		m.Completion = second.Completion
	}
	return m
}

// TestTextAndJSONLCopies parses the text log of the reference session
// (testdata/reference-4.1/input.log) and the JSONL copy upstream writes of
// the same records (testdata/jsonl-paired/input.json, built as
// JsonLogHandler builds it: getMessage() without ANSI, the traceback in
// exc_info, the hook keys of the webhook context) and checks that each pair
// shares TimestampRaw, level and DedupeKey, and that the aggregator stores
// the same entry whichever copy arrives first.
func TestTextAndJSONLCopies(t *testing.T) {
	_, text := readCase(t, "reference-4.1")
	_, jsonl := readCase(t, "jsonl-paired")
	byTS := make(map[string]plugins.Entry)
	for _, e := range text {
		if e.ParseError {
			t.Fatalf("text record parse error: %q", e.Message)
		}
		byTS[e.TimestampRaw] = e
	}
	pairs := 0
	for _, j := range jsonl {
		if j.ParseError {
			t.Fatalf("JSONL record parse error: %q", j.Message)
		}
		if j.Kind == plugins.KindDeliverySummary {
			continue
		}
		x, ok := byTS[j.TimestampRaw]
		if !ok {
			t.Errorf("JSONL record at %s has no text copy", j.TimestampRaw)
			continue
		}
		pairs++
		if x.DedupeKey != j.DedupeKey || x.Level != j.Level || j.DedupeKey == 0 {
			t.Errorf("%s: text key %016x level %s, JSONL key %016x level %s; want equal and non-zero",
				j.TimestampRaw, x.DedupeKey, x.Level, j.DedupeKey, j.Level)
		}
		if diff := cmp.Diff(merged(x, j), merged(j, x)); diff != "" {
			t.Errorf("%s: stored entry depends on which copy arrives first (-text first +JSONL first):\n%s", j.TimestampRaw, diff)
		}
		// Every field both copies set agrees.
		for _, f := range []struct {
			name       string
			text, json any
			set        bool
		}{
			{"Message", x.Message, j.Message, true},
			{"LoggerName", x.LoggerName, j.LoggerName, true},
			{"TimestampUS", x.TimestampUS, j.TimestampUS, true},
			{"HookID", x.HookID, j.HookID, x.HookID != "" && j.HookID != ""},
			{"EventType", x.EventType, j.EventType, x.EventType != "" && j.EventType != ""},
			{"Repository", x.Repository, j.Repository, x.Repository != "" && j.Repository != ""},
			{"PRNumber", x.PRNumber, j.PRNumber, x.PRNumber != 0 && j.PRNumber != 0},
			{"GithubUser", x.GithubUser, j.GithubUser, x.GithubUser != "" && j.GithubUser != ""},
			{"TokenSpend", x.TokenSpend, j.TokenSpend, x.TokenSpend != nil && j.TokenSpend != nil},
			{"Details", string(x.Details), string(j.Details), x.Details != nil && j.Details != nil},
			{"Completion", x.Completion, j.Completion, x.Completion != nil && j.Completion != nil},
		} {
			if diff := cmp.Diff(f.text, f.json); f.set && diff != "" {
				t.Errorf("%s: %s differs (-text +JSONL):\n%s", j.TimestampRaw, f.name, diff)
			}
		}
		// What the JSONL copy adds: the hook of a line without a prefix,
		// the traceback apart.
		if x.HookID == "" && j.HookID == "" && j.Repository != "" {
			t.Errorf("%s: JSONL copy with context keys but no hook id", j.TimestampRaw)
		}
	}
	if got, want := pairs, len(text); got != want {
		t.Errorf("%d text/JSONL pairs, want %d (one per text record)", got, want)
	}
}

// TestDedupeKeyReferenceExamples checks the log_entry lines quoted in the
// reference (§2.2) against their text copies quoted in §1.6: same key.
func TestDedupeKeyReferenceExamples(t *testing.T) {
	f := func(text, jsonLine string) {
		t.Helper()
		x := parseOne(t, []byte(text), nil)
		j := parseJSONLOne(t, []byte(jsonLine))
		if j.ParseError || x.ParseError {
			t.Fatalf("parse error: text %v, JSONL %v", x.ParseError, j.ParseError)
		}
		if x.DedupeKey != j.DedupeKey || x.TimestampRaw != j.TimestampRaw {
			t.Errorf("text %s %016x, JSONL %s %016x; want the same key", x.TimestampRaw, x.DedupeKey, j.TimestampRaw, j.DedupeKey)
		}
	}
	f("2026-07-31T10:15:05.402871+00:00 GithubWebhook \x1b[36mDEBUG\x1b[0m \x1b[38;5;160mgithub-webhook-server\x1b[0m [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Changed files: ['uv.lock', 'webhook_server/app.py']\x1b[0m",
		`{"type": "log_entry", "timestamp": "2026-07-31T10:15:05.402871+00:00", "level": "DEBUG", "logger_name": "GithubWebhook", "message": "github-webhook-server [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Changed files: ['uv.lock', 'webhook_server/app.py']", "hook_id": "6143a030-bbd7-11f0-95bd-b07354b8711c", "event_type": "pull_request", "repository": "github-webhook-server", "pr_number": 890, "api_user": ""}`)
	f("2026-07-31T10:20:11.409871+00:00 GithubWebhook \x1b[31mERROR\x1b[0m github-webhook-server [check_run][96d21c70-65df-11f0-89ca-d82effeb540d]: Unexpected error in background webhook processing\x1b[0m\nTraceback (most recent call last):\n  File \"/home/podman/github-webhook-server/webhook_server/app.py\", line 485, in process_with_error_handling\n    await _api.process()",
		`{"type": "log_entry", "timestamp": "2026-07-31T10:20:11.409871+00:00", "level": "ERROR", "logger_name": "GithubWebhook", "message": "github-webhook-server [check_run][96d21c70-65df-11f0-89ca-d82effeb540d]: Unexpected error in background webhook processing", "exc_info": "Traceback (most recent call last):\n  File \"/home/podman/github-webhook-server/webhook_server/app.py\", line 485, in process_with_error_handling\n    await _api.process()\n...\nRuntimeError: Failed to fetch PR 825 ref: fatal: couldn't find remote ref refs/pull/825/head\n", "hook_id": "96d21c70-65df-11f0-89ca-d82effeb540d", "event_type": "check_run", "repository": "github-webhook-server", "pr_number": 825, "api_user": ""}`)
	f("2026-07-31T10:15:02.101877+00:00 GithubWebhook \x1b[32mINFO\x1b[0m  [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: Processing webhook\x1b[0m",
		`{"type": "log_entry", "timestamp": "2026-07-31T10:15:02.101877+00:00", "level": "INFO", "logger_name": "GithubWebhook", "message": " [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: Processing webhook"}`)
	// Shapes beyond the reference's examples.
	f("2026-07-31T10:15:09.420915+00:00 GithubWebhook \x1b[36mDEBUG\x1b[0m r [e][h]: a\n\x1b[0m",
		`{"type": "log_entry", "timestamp": "2026-07-31T10:15:09.420915+00:00", "level": "DEBUG", "message": "r [e][h]: a\n"}`)
	f("2026-07-31T10:15:09.420915+00:00 GithubWebhook \x1b[31m\x1b[47mCRITICAL\x1b[0m r [e][h]: \x1b[1mbold\x1b[0m   \x1b[0m",
		`{"type": "log_entry", "timestamp": "2026-07-31T10:15:09.420915+00:00", "level": "CRITICAL", "message": "r [e][h]: bold   "}`)
	f("2026-07-31T10:15:09+00:00 x Level 5\x1b[0m m\x1b[0m",
		`{"type": "log_entry", "timestamp": "2026-07-31T10:15:09+00:00", "level": "Level 5", "logger_name": "x", "message": "m"}`)
	f("2026-07-31T10:15:09+00:00 x INFO a \x00 nul\x1b[0m",
		`{"type": "log_entry", "timestamp": "2026-07-31T10:15:09+00:00", "level": "INFO", "logger_name": "x", "message": "a \u0000 nul"}`)
}

func parseJSONLOne(t testing.TB, line []byte) plugins.Entry {
	t.Helper()
	got, err := webhookserver.New().Parse(t.Context(), &plugins.ParseRequest{
		Records: []plugins.Record{{Data: line, File: jsonlFile}},
	}, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("Parse returned %d entries for 1 record", len(got))
	}
	return got[0]
}

// TestMixedBatch parses one batch whose records come from a text file and
// a JSONL file, interleaved: each record is read as its file's kind, and a
// JSON line in a text file is no JSONL record.
func TestMixedBatch(t *testing.T) {
	const (
		text   = "2026-07-31T10:15:02.101877+00:00 GithubWebhook \x1b[32mINFO\x1b[0m  [push][h]: Processing webhook\x1b[0m"
		entry  = `{"type": "log_entry", "timestamp": "2026-07-31T10:15:02.101877+00:00", "level": "INFO", "logger_name": "GithubWebhook", "message": " [push][h]: Processing webhook"}`
		summ   = `{"hook_id": "h", "success": true}`
		asText = "2026-07-31T10:15:03+00:00 GithubWebhook INFO " + summ
	)
	recs := []plugins.Record{
		{Data: []byte(text), File: "/logs/webhook-server.log"},
		{Data: []byte(entry), File: "/logs/webhooks_2026-07-31.json"},
		{Data: []byte(entry), File: "/logs/webhook-server.log"},
		{Data: []byte(summ), File: "/logs/webhooks_2026-07-31.json"},
		{Data: []byte(summ), File: "/logs/webhook-server.log.1"},
		{Data: []byte(asText), File: "webhook-server.log"},
		{Data: []byte(entry), File: "webhooks_2026-08-01.json"},
		{Data: []byte(entry), File: ""},
	}
	got, err := webhookserver.New().Parse(t.Context(), &plugins.ParseRequest{Records: recs}, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	type view struct {
		Kind       plugins.Kind
		ParseError bool
		HookID     string
		Message    string
	}
	var views []view
	for _, e := range got {
		views = append(views, view{e.Kind, e.ParseError, e.HookID, e.Message})
	}
	want := []view{
		{plugins.KindLog, false, "h", "Processing webhook"},
		{plugins.KindLog, false, "h", "Processing webhook"},
		{plugins.KindLog, true, "", entry},
		{plugins.KindDeliverySummary, false, "h", ""},
		{plugins.KindLog, true, "", summ},
		{plugins.KindLog, false, "", summ},
		{plugins.KindLog, false, "h", "Processing webhook"},
		{plugins.KindLog, true, "", entry},
	}
	if diff := cmp.Diff(want, views); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if got[0].DedupeKey != got[1].DedupeKey {
		t.Errorf("text and JSONL copies in one batch: keys %016x and %016x", got[0].DedupeKey, got[1].DedupeKey)
	}
}

// TestParseJSONLAllocs guards the allocation budget of the JSONL hot path:
// one string per log_entry, plus Details when the line has keys no field
// takes.
func TestParseJSONLAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race makes sync.Pool drop the scratch buffers at random")
	}
	p := webhookserver.New()
	f := func(line string, want float64) {
		t.Helper()
		req := &plugins.ParseRequest{Records: []plugins.Record{{Data: []byte(line), File: jsonlFile}}}
		dst := make([]plugins.Entry, 0, 1)
		dst, _ = p.Parse(t.Context(), req, dst) // warm the scratch pool
		if dst[0].ParseError {
			t.Fatalf("%q: parse error", line)
		}
		if n := testing.AllocsPerRun(100, func() { dst, _ = p.Parse(t.Context(), req, dst[:0]) }); n > want {
			t.Errorf("Parse of %q: %v allocations, want %v", line, n, want)
		}
	}
	f(`{"type": "log_entry", "timestamp": "2026-07-31T10:15:02.101877+00:00", "level": "INFO", "logger_name": "GithubWebhook", "message": " [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: Processing webhook"}`, 1)
	f(`{"type": "log_entry", "timestamp": "2026-07-31T10:15:05.402871+00:00", "level": "DEBUG", "logger_name": "GithubWebhook", "message": "github-webhook-server [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Changed files: ['uv.lock', 'webhook_server/app.py']", "hook_id": "6143a030-bbd7-11f0-95bd-b07354b8711c", "event_type": "pull_request", "repository": "github-webhook-server", "pr_number": 890, "api_user": ""}`, 1)
	f(`{"type": "log_entry", "timestamp": "2026-07-31T10:20:11.409871+00:00", "level": "ERROR", "logger_name": "GithubWebhook", "message": "r [e][h]: Unexpected error \u00e9", "exc_info": "Traceback (most recent call last):\n  File \"/x.py\", line 1\nRuntimeError: boom\n", "hook_id": "h"}`, 1)
	f(`{"type": "log_entry", "timestamp": "2026-07-31T10:20:11.409871+00:00", "level": "INFO", "message": "x", "thread": "MainThread"}`, 2)
}

// TestParseJSONLSteps checks the step order of a summary: by start time,
// unknown last, then by name; whatever order the keys come in.
func TestParseJSONLSteps(t *testing.T) {
	steps := []string{
		`"c": {"timestamp": "2026-07-31T10:00:02+00:00", "status": "completed"}`,
		`"b": {"timestamp": "2026-07-31T10:00:01+00:00", "status": "completed"}`,
		`"a": {"timestamp": "2026-07-31T10:00:01+00:00", "status": "failed"}`,
		`"z": {"status": "started"}`,
		`"y": {"timestamp": null, "status": "started"}`,
	}
	for i := range 10 {
		perm := slices.Clone(steps)
		for j := range perm { // a fixed, varied order per i
			k := (j*7 + i*3) % len(perm)
			perm[j], perm[k] = perm[k], perm[j]
		}
		line := fmt.Sprintf(`{"hook_id": "h", "success": true, "workflow_steps": {%s}}`, strings.Join(perm, ", "))
		e := parseJSONLOne(t, []byte(line))
		if e.ParseError || e.Completion == nil {
			t.Fatalf("%s: parse error", line)
		}
		var names []string
		for _, s := range e.Completion.Steps {
			names = append(names, s.Name)
		}
		if diff := cmp.Diff([]string{"a", "b", "c", "y", "z"}, names); diff != "" {
			t.Errorf("%s: steps (-want +got):\n%s", line, diff)
		}
		if got, want := e.Completion.Status, "partial"; got != want {
			t.Errorf("%s: status %q, want %q (success with a failed step)", line, got, want)
		}
	}
}
