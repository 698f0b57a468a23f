package webhookserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

func startRegexp(t testing.TB) *regexp.Regexp {
	t.Helper()
	d, err := webhookserver.New().Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	re, err := regexp.Compile(d.StartPattern)
	if err != nil {
		t.Fatalf("compile StartPattern: %v", err)
	}
	return re
}

func TestDescribe(t *testing.T) {
	d, err := webhookserver.New().Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if got, want := d.Name, webhookserver.Name; got != want {
		t.Fatalf("Name=%q, want %q", got, want)
	}
	if got, want := webhookserver.Name, "github-webhook-server"; got != want {
		t.Fatalf("Name=%q, want %q", got, want)
	}
	startRegexp(t)
}

func TestConfig(t *testing.T) {
	p := webhookserver.New()
	for _, config := range []string{"", "  ", "{}", " { } ", "null"} {
		for name, fn := range map[string]func(context.Context, json.RawMessage) (plugins.Diagnostics, error){
			"ValidateConfig": p.ValidateConfig, "Configure": p.Configure,
		} {
			diags, err := fn(t.Context(), json.RawMessage(config))
			if err != nil || len(diags) != 0 {
				t.Errorf("%s(%q) = %v, %v; want no diagnostics", name, config, diags, err)
			}
		}
	}

	diags, err := p.ValidateConfig(t.Context(), json.RawMessage(`{"timezone": "UTC", "max_bytes": 3}`))
	if err != nil {
		t.Fatalf("ValidateConfig: %v", err)
	}
	var attrs []string
	for _, d := range diags {
		if d.Severity != plugins.SeverityError || !strings.Contains(d.Summary, d.Attribute) {
			t.Errorf("diagnostic %+v: want an error naming its key", d)
		}
		attrs = append(attrs, d.Attribute)
	}
	if diff := cmp.Diff([]string{"max_bytes", "timezone"}, attrs); diff != "" {
		t.Errorf("diagnosed keys (-want +got):\n%s", diff)
	}

	for _, config := range []string{`[1]`, `"x"`, `{`} {
		diags, err := p.Configure(t.Context(), json.RawMessage(config))
		if err != nil || !diags.HasErrors() {
			t.Errorf("Configure(%q) = %v, %v; want an error diagnostic", config, diags, err)
		}
	}
}

func TestIsRecordStart(t *testing.T) {
	p := webhookserver.New()
	re := startRegexp(t)
	f := func(line string, want bool) {
		t.Helper()
		if got := p.IsRecordStart([]byte(line)); got != want {
			t.Errorf("IsRecordStart(%q)=%v, want %v", line, got, want)
		}
		if got := re.MatchString(line); got != want {
			t.Errorf("StartPattern matches %q: %v, want %v", line, got, want)
		}
	}
	const ts = "2026-07-31T10:15:02.101877+00:00"
	f(ts+" GithubWebhook \x1b[32mINFO\x1b[0m  [pull_request][x]: Processing webhook\x1b[0m", true)
	f(ts+" GithubWebhook \x1b[31m\x1b[47mCRITICAL\x1b[0m boom\x1b[0m", true)
	f(ts+" GithubWebhook \x1b[1;36mSTEP\x1b[0m step", true)
	f(ts+" GithubWebhook INFO plain", true)
	f(ts+" GithubWebhook ERROR", true)
	f(ts+" GithubWebhook ERROR\x1b[0m", true)
	f(ts+" GithubWebhook Level 5\x1b[0m x", true)
	for _, level := range []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "SUCCESS", "STEP", "HASH", "NOTSET"} {
		f(ts+" mcp.server.streamable_http "+level+" x", true)
	}
	f("2026-03-15T09:00:00+00:00 GithubWebhook INFO x", true)
	f("2026-03-15T09:00:00Z GithubWebhook INFO x", true)
	f("2026-03-15T09:00:00.1-05:00 GithubWebhook INFO x", true)
	f("2026-03-15T09:00:00.123456789 GithubWebhook INFO x", true)
	f("2025-12-01T16:03:11.218006 GithubWebhook INFO x", true)
	f("2026-13-45T99:99:99 GithubWebhook INFO x", true) // shape only; Parse flags it

	f("", false)
	f("Traceback (most recent call last):", false)
	f("  File \"/x.py\", line 1, in <module>", false)
	f("\x1b[0m", false)
	f(ts, false)
	f(ts+" GithubWebhook", false)
	f(ts+" GithubWebhook ", false)
	f(ts+"  GithubWebhook INFO x", false)
	f(ts+" GithubWebhook INFOX", false)
	f(ts+" GithubWebhook INFORMATION x", false)
	f(ts+" GithubWebhook info x", false)
	f(ts+" GithubWebhook WARN x", false)
	f(ts+" GithubWebhook Level x", false)
	f(ts+" GithubWebhook INFO\tx", false)
	f(ts+" GithubWebhook \x1b[32INFO x", false)
	f(ts+"GithubWebhook INFO x", false)
	f("2026-03-15T09:00:00.1234567890 GithubWebhook INFO x", false)
	f("2026-03-15T09:00:00. GithubWebhook INFO x", false)
	f("2026-03-15T09:00:00+0000 GithubWebhook INFO x", false)
	f("2026-03-15 09:00:00 GithubWebhook INFO x", false)
	f("2026-3-15T09:00:00 GithubWebhook INFO x", false)
	f(" 2026-03-15T09:00:00 GithubWebhook INFO x", false)
	f("x2026-03-15T09:00:00 GithubWebhook INFO x", false)
}

func parseOne(t testing.TB, data []byte, loc *time.Location) plugins.Entry {
	t.Helper()
	got, err := webhookserver.New().Parse(t.Context(), &plugins.ParseRequest{
		Records: []plugins.Record{{Data: data}}, Location: loc,
	}, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("Parse returned %d entries for 1 record", len(got))
	}
	return got[0]
}

func TestDuration(t *testing.T) {
	f := func(d string, want int64, ok bool) {
		t.Helper()
		line := "2026-07-31T10:15:09.826902+00:00 GithubWebhook INFO r [e][h]: [SUCCESS] Webhook completed [1s] steps=[s:completed(" + d + ")]"
		e := parseOne(t, []byte(line), nil)
		if e.Completion == nil || len(e.Completion.Steps) != 1 {
			t.Fatalf("%q: no completion with one step: %+v", line, e.Completion)
		}
		got := e.Completion.Steps[0].DurationMS
		switch {
		case !ok && got != nil:
			t.Errorf("duration %q = %d, want none", d, *got)
		case ok && got == nil:
			t.Errorf("duration %q = none, want %d", d, want)
		case ok && *got != want:
			t.Errorf("duration %q = %d, want %d", d, *got, want)
		}
	}
	f("0ms", 0, true)
	f("500ms", 500, true)
	f("2s", 2000, true)
	f("7s712ms", 7712, true)
	f("1s87ms", 1087, true)
	f("3m12s", 192000, true)
	f("3m", 180000, true)
	f("1h5m", 3_900_000, true)
	f("1h", 3_600_000, true)
	f("1h0m0s1ms", 3_600_001, true)
	f("2h3m4s5ms", 7_384_005, true)
	f("100000h", 360_000_000_000, true)

	f("incomplete", 0, false)
	f("", 0, false)
	f("ms", 0, false)
	f("5", 0, false)
	f("5x", 0, false)
	f("1.5s", 0, false)
	f("5s1m", 0, false)
	f("1s1s", 0, false)
	f("5ms1s", 0, false)
	f("-5s", 0, false)
	f("1 s", 0, false)
	f("9999999999999999999ms", 0, false)
	f("999999999999999999h", 0, false)
}

func TestTimestamp(t *testing.T) {
	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		t.Fatalf("load timezone: %v", err)
	}
	f := func(ts string, loc *time.Location, want time.Time) {
		t.Helper()
		e := parseOne(t, []byte(ts+" GithubWebhook INFO x"), loc)
		if e.ParseError {
			t.Fatalf("%q: parse error", ts)
		}
		if got := e.TimestampUS; got != want.UnixMicro() {
			t.Errorf("TimestampUS(%q)=%d (%v), want %d (%v)", ts, got, time.UnixMicro(got).UTC(), want.UnixMicro(), want.UTC())
		}
		if e.TimestampRaw != ts {
			t.Errorf("TimestampRaw=%q, want %q", e.TimestampRaw, ts)
		}
	}
	utc := func(y int, mo time.Month, d, h, mi, s, us int) time.Time {
		return time.Date(y, mo, d, h, mi, s, us*1000, time.UTC)
	}
	f("2026-07-31T10:15:02.101877+00:00", nil, utc(2026, 7, 31, 10, 15, 2, 101877))
	f("2026-03-15T09:00:00+00:00", nil, utc(2026, 3, 15, 9, 0, 0, 0))
	f("2026-03-15T09:00:00Z", jerusalem, utc(2026, 3, 15, 9, 0, 0, 0))
	f("2026-03-15T09:00:00.5-05:00", nil, utc(2026, 3, 15, 14, 0, 0, 500000))
	f("2026-03-15T09:00:00.123456789+05:30", nil, utc(2026, 3, 15, 3, 30, 0, 123456))
	f("2025-12-01T16:03:11.218006", nil, utc(2025, 12, 1, 16, 3, 11, 218006))
	f("2025-12-01T16:03:11.218006", jerusalem, utc(2025, 12, 1, 14, 3, 11, 218006))
	f("2025-07-21T06:05:48", jerusalem, utc(2025, 7, 21, 3, 5, 48, 0))
	f("2000-02-29T00:00:00", nil, utc(2000, 2, 29, 0, 0, 0, 0))
	f("2024-12-31T23:59:59.999999", nil, utc(2024, 12, 31, 23, 59, 59, 999999))
	f("1969-12-31T23:59:59.5", nil, utc(1969, 12, 31, 23, 59, 59, 500000))
	f("0001-01-01T00:00:00", nil, utc(1, 1, 1, 0, 0, 0, 0))
	f("9999-12-31T23:59:59+23:59", nil, time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", 23*3600+59*60)))

	for _, ts := range []string{
		"2026-13-01T00:00:00", "2026-00-01T00:00:00", "2026-02-29T00:00:00", "1900-02-29T00:00:00",
		"2026-04-31T00:00:00", "2026-01-00T00:00:00", "2026-01-01T24:00:00", "2026-01-01T00:60:00",
		"2026-01-01T00:00:60", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60",
	} {
		if e := parseOne(t, []byte(ts+" GithubWebhook INFO x"), nil); !e.ParseError {
			t.Errorf("%q: want a parse error, got %+v", ts, e)
		}
	}
}

// TestDedupeKeyMatchesJSONL checks the text copy of a record against the
// log_entry JSONL copy quoted in the reference (§2.2): same key.
func TestDedupeKeyMatchesJSONL(t *testing.T) {
	f := func(text, ts, level, jsonMessage string) {
		t.Helper()
		e := parseOne(t, []byte(text), nil)
		if got, want := e.DedupeKey, plugins.DedupeKey(ts, level, []byte(jsonMessage)); got != want {
			t.Errorf("DedupeKey of %q = %016x, want %016x (JSONL %q)", text, got, want, jsonMessage)
		}
	}
	f("2026-07-31T10:15:05.402871+00:00 GithubWebhook \x1b[36mDEBUG\x1b[0m \x1b[38;5;160mgithub-webhook-server\x1b[0m [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Changed files: ['uv.lock', 'webhook_server/app.py']\x1b[0m",
		"2026-07-31T10:15:05.402871+00:00", "DEBUG",
		"github-webhook-server [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Changed files: ['uv.lock', 'webhook_server/app.py']")
	f("2026-07-31T10:20:11.409871+00:00 GithubWebhook \x1b[31mERROR\x1b[0m github-webhook-server [check_run][96d21c70-65df-11f0-89ca-d82effeb540d]: Unexpected error in background webhook processing\x1b[0m\nTraceback (most recent call last):\n  File \"/x.py\", line 1, in <module>\nRuntimeError: boom",
		"2026-07-31T10:20:11.409871+00:00", "ERROR",
		"github-webhook-server [check_run][96d21c70-65df-11f0-89ca-d82effeb540d]: Unexpected error in background webhook processing")
	f("2026-07-31T10:15:02.101877+00:00 GithubWebhook \x1b[32mINFO\x1b[0m  [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: Processing webhook\x1b[0m",
		"2026-07-31T10:15:02.101877+00:00", "INFO",
		" [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: Processing webhook")
	f("2026-07-31T10:15:09.420915+00:00 GithubWebhook \x1b[36mDEBUG\x1b[0m \x1b[38;5;160mr\x1b[0m [e][h][u][PR 1]: cannot be merged: x\nMissing approved\n\x1b[0m",
		"2026-07-31T10:15:09.420915+00:00", "DEBUG", "r [e][h][u][PR 1]: cannot be merged: x\nMissing approved\n")
}

func cleanText(b []byte) string {
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "\uFFFD")
}

func TestBadInput(t *testing.T) {
	const header = "2026-07-31T10:40:00.000001+00:00 GithubWebhook \x1b[32mINFO\x1b[0m r [push][h][u]: "
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 10<<20/17)
	for name, data := range map[string][]byte{
		"no timestamp":         []byte("Traceback (most recent call last):\n  File \"/x.py\", line 1"),
		"empty":                nil,
		"reset alone":          []byte("\x1b[0m"),
		"invalid utf-8":        []byte("\xff\xfe garbage \xc3\x28 \xe2\x82"),
		"nul bytes":            []byte("\x00\x00\x00\x002026-07-31T10:40:00+00:00 GithubWebhook INFO after NUL padding"),
		"10 MiB garbage":       big,
		"10 MiB invalid utf-8": bytes.Repeat([]byte{0xff, 'a', 0x00}, 10<<20/3),
	} {
		t.Run(name, func(t *testing.T) {
			e := parseOne(t, data, nil)
			want := plugins.Entry{ParseError: true, Message: cleanText(data)}
			if diff := cmp.Diff(want, e); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			if !utf8.ValidString(e.Message) {
				t.Errorf("message is not valid UTF-8")
			}
		})
	}

	t.Run("invalid utf-8 and nul inside a record", func(t *testing.T) {
		e := parseOne(t, []byte(header+"a\x00b\xffc\xe2\x82\n\xc3\x28 \x1b[0m"), nil)
		if e.ParseError {
			t.Fatalf("parse error for a valid header")
		}
		if got, want := e.Message, "a\uFFFDb\uFFFDc\uFFFD\n\uFFFD( "; got != want {
			t.Errorf("Message=%q, want %q", got, want)
		}
		if got, want := e.HookID, "h"; got != want {
			t.Errorf("HookID=%q, want %q", got, want)
		}
	})

	t.Run("invalid utf-8 in logger name", func(t *testing.T) {
		e := parseOne(t, []byte("2026-07-31T10:40:00Z Git\xffHub\x00 INFO msg"), nil)
		if got, want := e.LoggerName, "Git\uFFFDHub\uFFFD"; got != want || e.ParseError {
			t.Errorf("LoggerName=%q (parse error %v), want %q", got, e.ParseError, want)
		}
		if got, want := e.Message, "msg"; got != want {
			t.Errorf("Message=%q, want %q", got, want)
		}
	})

	t.Run("10 MiB record", func(t *testing.T) {
		data := append([]byte(header+"Full check run output:\n"), big...)
		e := parseOne(t, data, nil)
		if e.ParseError || e.HookID != "h" {
			t.Fatalf("parse error %v, hook %q; want a parsed record", e.ParseError, e.HookID)
		}
		if got, want := e.Message, "Full check run output:\n"+string(big); got != want {
			t.Errorf("Message has %d bytes, want %d", len(got), len(want))
		}
	})

	t.Run("prefix cut short", func(t *testing.T) {
		for _, msg := range []string{"r [", "r [e", "r [e]", "r [e][h", "r [e][h]", "r [e][h\\", "r [e][h][PR ", "[e][h][u][PR x]:", "[]:", "[e][]:"} {
			e := parseOne(t, []byte(header[:len(header)-len("r [push][h][u]: ")]+msg), nil)
			if e.ParseError || e.HookID != "" || e.Message != msg {
				t.Errorf("%q: got hook %q message %q parse error %v; want no prefix", msg, e.HookID, e.Message, e.ParseError)
			}
		}
	})

	t.Run("nil request", func(t *testing.T) {
		got, err := webhookserver.New().Parse(t.Context(), nil, nil)
		if err != nil || len(got) != 0 {
			t.Errorf("Parse(nil)=%v, %v; want nothing", got, err)
		}
	})
}

func TestParseKeepsDst(t *testing.T) {
	p := webhookserver.New()
	dst := []plugins.Entry{{Message: "earlier"}}
	got, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: []plugins.Record{
		{Data: []byte("2026-03-15T09:00:00Z GithubWebhook INFO one")},
		{Data: []byte("two")},
	}}, dst)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, e.Message)
	}
	if diff := cmp.Diff([]string{"earlier", "one", "two"}, msgs); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestParseCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dst := []plugins.Entry{{Message: "earlier"}}
	got, err := webhookserver.New().Parse(ctx, &plugins.ParseRequest{Records: []plugins.Record{{Data: []byte("x")}}}, dst)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Parse error = %v, want context.Canceled", err)
	}
	if len(got) != 1 {
		t.Errorf("Parse appended %d entries on a canceled context", len(got)-1)
	}
}

// TestParseConcurrent runs one Parser from many goroutines (with -race) on
// a batch of text records and JSONL lines.
func TestParseConcurrent(t *testing.T) {
	p := webhookserver.New()
	var recs []plugins.Record
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "input.log"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("glob inputs: %v (%d files)", err, len(paths))
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read input: %v", err)
		}
		for _, r := range frame(p, data) {
			recs = append(recs, plugins.Record{Data: r.data})
		}
	}
	// JSONL lines, interleaved with the text records, share the pooled
	// scratch buffers.
	jsonl, err := filepath.Glob(filepath.Join("testdata", "jsonl-*", "input.json"))
	if err != nil || len(jsonl) == 0 {
		t.Fatalf("glob JSONL inputs: %v (%d files)", err, len(jsonl))
	}
	for i, path := range jsonl {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read input: %v", err)
		}
		for j, r := range frameLines(data) {
			if len(r.data) > 4096 {
				continue // the nesting-limit lines: slow under -race, nothing to share
			}
			at := min(len(recs), (i*97+j*13)%(len(recs)+1))
			recs = slices.Insert(recs, at, plugins.Record{Data: r.data, File: jsonlFile})
		}
	}
	req := &plugins.ParseRequest{Records: recs}
	want, err := p.Parse(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var wg sync.WaitGroup
	// A few overlapping calls are enough for the race detector to see any
	// shared scratch state; more only slow the suite down under -race.
	for range 4 {
		wg.Go(func() {
			for range 3 {
				got, err := p.Parse(t.Context(), req, nil)
				if err != nil {
					t.Errorf("Parse: %v", err)
					return
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("concurrent Parse differs (-want +got):\n%s", diff)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestParseAllocs guards the allocation budget of the hot path: one string
// per ordinary record, whatever its prefix shape.
func TestParseAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race makes sync.Pool drop the scratch buffers at random")
	}
	p := webhookserver.New()
	for _, line := range []string{
		"2026-07-31T10:15:02.101877+00:00 GithubWebhook \x1b[32mINFO\x1b[0m  [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: Processing webhook\x1b[0m",
		"2026-07-31T10:15:05.402871+00:00 GithubWebhook \x1b[36mDEBUG\x1b[0m \x1b[38;5;160mgithub-webhook-server\x1b[0m [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Changed files: ['uv.lock']\x1b[0m",
		"2025-12-01T16:03:11.218006 GithubWebhook \x1b[1;36mSTEP\x1b[0m \x1b[38;5;160mr\x1b[0m [e][h][u][PR 1]: [task_id=a] [task_type=b] [task_status=started] x\x1b[0m\nTraceback (most recent call last):\nRuntimeError: boom",
		"2026-07-31T10:15:02.688301+00:00 GithubWebhook \x1b[36mDEBUG\x1b[0m \x1b[36m[myakove-bot] API rate limit:\x1b[39m Current \x1b[32m4821\x1b[39m of 5000.\x1b[0m",
	} {
		req := &plugins.ParseRequest{Records: []plugins.Record{{Data: []byte(line)}}}
		dst := make([]plugins.Entry, 0, 1)
		p.Parse(t.Context(), req, dst) // warm the scratch pool
		if n := testing.AllocsPerRun(100, func() { dst, _ = p.Parse(t.Context(), req, dst[:0]) }); n > 1 {
			t.Errorf("Parse of %q: %v allocations, want 1", line, n)
		}
	}
}
