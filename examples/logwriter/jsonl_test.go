package logwriter_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/examples/logwriter"
)

// object is a JSON object with its keys in the order written.
type object struct {
	keys []string
	vals map[string]any // string, json.Number, bool, nil, *object, []any
}

// str, obj and num return a member of o (nil-safe), or the zero value.
func (o *object) str(k string) string {
	if o == nil {
		return ""
	}
	s, _ := o.vals[k].(string)
	return s
}

func (o *object) obj(k string) *object {
	if o == nil {
		return nil
	}
	v, _ := o.vals[k].(*object)
	return v
}

func (o *object) num(k string) (int64, bool) {
	if o == nil {
		return 0, false
	}
	n, ok := o.vals[k].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := n.Int64()
	return v, err == nil
}

// decodeOrdered decodes one JSON value keeping the order of object keys.
func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &object{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			if _, dup := o.vals[k]; dup {
				return nil, fmt.Errorf("duplicate key %q", k)
			}
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k)
			o.vals[k] = v
		}
		_, err := dec.Token()
		return o, err
	case json.Delim('['):
		var a []any
		for dec.More() {
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return tok, nil
}

// pyDumps is Python's json.dumps(v, ensure_ascii=False), written from
// Python's documentation independently of the writer's encoder.
func pyDumps(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(v.String())
	case string:
		b.WriteByte('"')
		for _, r := range v {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '\b':
				b.WriteString(`\b`)
			case r == '\f':
				b.WriteString(`\f`)
			case r < 0x20:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			pyDumps(b, x)
		}
		b.WriteByte(']')
	case *object:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			pyDumps(b, k)
			b.WriteString(": ")
			pyDumps(b, v.vals[k])
		}
		b.WriteByte('}')
	}
}

// jsonlLine is one line of a webhooks_*.json file.
type jsonlLine struct {
	file string
	obj  *object
}

// readJSONL reads every webhooks_*.json in dir in name order, checking that
// each line is one JSON object, byte for byte as Python writes it.
func readJSONL(t *testing.T, dir string) []jsonlLine {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "webhooks_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []jsonlLine
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !json.Valid(line) {
				t.Fatalf("%s: not JSON: %s", filepath.Base(name), line)
			}
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			v, err := decodeOrdered(dec)
			if err != nil {
				t.Fatalf("%s: %v: %s", filepath.Base(name), err, line)
			}
			o, ok := v.(*object)
			if !ok {
				t.Fatalf("%s: not an object: %s", filepath.Base(name), line)
			}
			var py strings.Builder
			pyDumps(&py, o)
			if py.String() != string(line) {
				t.Fatalf("%s: not as Python writes it\n got %s\nwant %s", filepath.Base(name), line, py.String())
			}
			out = append(out, jsonlLine{file: filepath.Base(name), obj: o})
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return out
}

var (
	logEntryKeys = []string{"type", "timestamp", "level", "logger_name", "message"}
	contextKeys  = []string{"hook_id", "event_type", "repository", "pr_number", "api_user"}
	summaryKeys  = []string{"hook_id", "level", "status", "event_type", "action", "sender", "repository", "repository_full_name",
		"pr", "api_user", "timing", "workflow_steps", "token_spend", "initial_rate_limit", "final_rate_limit", "success", "error",
		"summary", "type"}
	legacySummaryKeys = []string{"hook_id", "event_type", "action", "sender", "repository", "repository_full_name", "pr",
		"api_user", "timing", "workflow_steps", "token_spend", "initial_rate_limit", "final_rate_limit", "success", "error"}
	ansiInText = regexp.MustCompile("\x1b(?:[@-Z\\\\-_]|\\[[0-?]*[ -/]*[@-~])")
)

func TestJSONL(t *testing.T) {
	for name, o := range map[string]logwriter.Options{
		"current":          {Seed: 51, Deliveries: 120, FailureRate: 0.3, JSONL: logwriter.JSONLCurrent},
		"current-batched":  {Seed: 52, Deliveries: 60, JSONL: logwriter.JSONLCurrent, BatchBytes: 8192, MaxBytes: 32 << 10, Backups: 100},
		"current-live":     {Seed: 53, Deliveries: 10, JSONL: logwriter.JSONLCurrent, Rate: 100000, Clock: time.Now},
		"legacy-summaries": {Seed: 54, Deliveries: 40, JSONL: logwriter.JSONLLegacy},
	} {
		t.Run(name, func(t *testing.T) {
			o.Dir = t.TempDir()
			st, mb := run(t, o)
			m := readManifest(t, mb)
			checkAgainstFiles(t, o.Dir, "webhook-server.log", time.UTC, m)
			lines := readJSONL(t, o.Dir)
			var entries, summaries []jsonlLine
			for _, l := range lines {
				if l.obj.str("type") == "log_entry" {
					entries = append(entries, l)
				} else {
					summaries = append(summaries, l)
				}
			}
			if got, want := int64(len(entries)), st.JSONLEntries; got != want {
				t.Fatalf("%d log_entry lines, Stats.JSONLEntries %d", got, want)
			}
			if got, want := int64(len(summaries)), st.JSONLSummaries; got != want || got != int64(o.Deliveries) {
				t.Fatalf("%d summary lines, Stats.JSONLSummaries %d, %d deliveries", got, want, o.Deliveries)
			}
			if o.JSONL == logwriter.JSONLCurrent {
				checkLogEntries(t, o.Dir, m.records, entries)
			} else if len(entries) != 0 {
				t.Fatalf("%d log_entry lines in legacy mode", len(entries))
			}
			checkSummaries(t, o.JSONL, m, summaries)
			tmp, _ := filepath.Glob(filepath.Join(o.Dir, ".webhooks_*.tmp"))
			if len(tmp) != 0 {
				t.Fatalf("temporary files left: %v", tmp)
			}
		})
	}
}

// checkLogEntries checks the log_entry lines against the records, in file
// order: the same timestamp string, level and logger, the text message,
// the traceback as exc_info, and the context's fields the manifest names.
func checkLogEntries(t *testing.T, dir string, records []logwriter.ManifestRecord, entries []jsonlLine) {
	t.Helper()
	if len(entries) != len(records) {
		t.Fatalf("%d log_entry lines for %d records", len(entries), len(records))
	}
	rotations := records[len(records)-1].Generation
	files := map[string][]byte{}
	for i, r := range records {
		e, obj := entries[i], entries[i].obj
		name := r.File
		if age := rotations - r.Generation; age > 0 {
			name += "." + strconv.Itoa(age)
		}
		if files[name] == nil {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = b
		}
		text := ansiInText.ReplaceAllString(string(files[name][r.Offset:r.Offset+r.Length]), "")
		head := r.Timestamp + " " + r.LoggerName + " " + r.Level + " "
		if !strings.HasPrefix(text, head) {
			t.Fatalf("record %d: text %q does not start with %q", i, text, head)
		}
		message := strings.TrimSuffix(text[len(head):], "\n")
		wantKeys := logEntryKeys
		if exc, ok := obj.vals["exc_info"].(string); ok {
			wantKeys = append(slices.Clone(wantKeys), "exc_info")
			if !strings.HasPrefix(exc, "Traceback (most recent call last):\n") || !strings.HasSuffix(exc, "\n") ||
				!strings.HasSuffix(message, "\n"+strings.TrimSuffix(exc, "\n")) {
				t.Fatalf("record %d: exc_info %q is not the text's traceback %q", i, exc, message)
			}
			message = strings.TrimSuffix(message, "\n"+strings.TrimSuffix(exc, "\n"))
		} else if strings.Contains(message, "\nTraceback (most recent call last):\n") {
			t.Fatalf("record %d: traceback in the text, no exc_info", i)
		}
		if r.JSONLHookID != "" {
			wantKeys = append(slices.Clone(wantKeys), contextKeys...)
		}
		if !slices.Equal(obj.keys, wantKeys) {
			t.Fatalf("record %d: keys %v, want %v", i, obj.keys, wantKeys)
		}
		utc, err := time.Parse(time.RFC3339Nano, r.UTC)
		if err != nil {
			t.Fatal(err)
		}
		var diffs []string
		for _, c := range [][3]string{
			{"file", e.file, logwriter.JSONLName(utc)},
			{"manifest file", e.file, r.JSONL},
			{"type", obj.str("type"), "log_entry"},
			{"timestamp", obj.str("timestamp"), r.Timestamp},
			{"level", obj.str("level"), r.Level},
			{"logger_name", obj.str("logger_name"), r.LoggerName},
			{"message", obj.str("message"), message},
			{"hook_id", obj.str("hook_id"), r.JSONLHookID},
		} {
			if c[1] != c[2] {
				diffs = append(diffs, fmt.Sprintf("%s %q, want %q", c[0], c[1], c[2]))
			}
		}
		if r.JSONLHookID != "" {
			pr, _ := obj.num("pr_number")
			if obj.vals["pr_number"] == nil && r.JSONLPRNumber != 0 || int(pr) != r.JSONLPRNumber {
				diffs = append(diffs, fmt.Sprintf("pr_number %v, want %d", obj.vals["pr_number"], r.JSONLPRNumber))
			}
			if r.HookID != "" && r.HookID != r.JSONLHookID {
				diffs = append(diffs, "the copy's hook_id differs from the text prefix's")
			}
			if obj.vals["api_user"] != "" {
				diffs = append(diffs, fmt.Sprintf("api_user %v, want \"\"", obj.vals["api_user"]))
			}
		}
		if len(diffs) > 0 {
			t.Fatalf("record %d (%s): %s", i, r.Timestamp, strings.Join(diffs, "; "))
		}
	}
	// What the JSONL is for: unprefixed text lines have a hook id there.
	filled := 0
	for _, r := range records {
		if r.HookID == "" && r.JSONLHookID != "" {
			filled++
		}
	}
	if filled == 0 {
		t.Fatal("no unprefixed record has a hook id in its JSONL copy")
	}
}

// checkSummaries checks one webhook_summary line per delivery against the
// manifest and the text summary line.
func checkSummaries(t *testing.T, mode logwriter.JSONLMode, m manifest, summaries []jsonlLine) {
	t.Helper()
	text := map[string]logwriter.ManifestRecord{} // hook id → text summary record
	started := map[string]string{}                // hook id → background task's first record
	for _, r := range m.records {
		if r.Summary != nil {
			text[r.HookID] = r
		}
		if r.Message == "Processing webhook" && r.Repository != "" && started[r.HookID] == "" {
			started[r.HookID] = r.Timestamp
		}
	}
	if len(summaries) != len(m.deliveries) {
		t.Fatalf("%d summary lines for %d deliveries", len(summaries), len(m.deliveries))
	}
	statuses := map[string]int{}
	for i, d := range m.deliveries {
		l, obj := summaries[i], summaries[i].obj
		wantKeys := summaryKeys
		if mode == logwriter.JSONLLegacy {
			wantKeys = legacySummaryKeys
		}
		if !slices.Equal(obj.keys, wantKeys) {
			t.Fatalf("delivery %s: keys %v, want %v", d.HookID, obj.keys, wantKeys)
		}
		timing := obj.obj("timing")
		completed, err := time.Parse(time.RFC3339Nano, timing.str("completed_at"))
		if err != nil {
			t.Fatal(err)
		}
		begin, _ := time.Parse(time.RFC3339Nano, timing.str("started_at"))
		dur, _ := timing.num("duration_ms")
		var diffs []string
		for _, c := range [][3]string{
			{"hook_id", obj.str("hook_id"), d.HookID},
			{"file", l.file, d.JSONL},
			{"file by completion date", l.file, logwriter.JSONLName(completed)},
			{"event_type", obj.str("event_type"), d.EventType},
			{"repository", obj.str("repository"), d.Repository},
			{"api_user", obj.str("api_user"), d.GithubUser},
			{"started_at", timing.str("started_at"), started[d.HookID]},
			{"completed_at", timing.str("completed_at"), d.LastTimestamp},
			{"duration_ms", strconv.FormatInt(dur, 10), strconv.FormatInt(completed.Sub(begin).Milliseconds(), 10)},
		} {
			if c[1] != c[2] {
				diffs = append(diffs, fmt.Sprintf("%s %q, want %q", c[0], c[1], c[2]))
			}
		}
		if obj.vals["success"] != !d.Failed {
			diffs = append(diffs, fmt.Sprintf("success %v, failed %v", obj.vals["success"], d.Failed))
		}
		if pr := obj.obj("pr"); (pr == nil) != (d.PRNumber == 0) {
			diffs = append(diffs, fmt.Sprintf("pr %v for PR %d", obj.vals["pr"], d.PRNumber))
		} else if n, _ := pr.num("number"); pr != nil && int(n) != d.PRNumber {
			diffs = append(diffs, fmt.Sprintf("pr.number %d, want %d", n, d.PRNumber))
		}
		if (obj.vals["action"] == nil) != (d.EventType == "push") {
			diffs = append(diffs, fmt.Sprintf("action %v for a %s event", obj.vals["action"], d.EventType))
		}
		if mode == logwriter.JSONLCurrent {
			statuses[obj.str("status")]++
			sum := text[d.HookID]
			want := strings.ReplaceAll(sum.Message, ":started(incomplete)", ":started")
			if obj.str("status") != d.Status || obj.str("level") != "COMPLETED" || obj.str("type") != "webhook_summary" || obj.str("summary") != want {
				diffs = append(diffs, fmt.Sprintf("status %q level %q type %q summary %q; want status %q, summary %q",
					obj.str("status"), obj.str("level"), obj.str("type"), obj.str("summary"), d.Status, want))
			}
		}
		diffs = append(diffs, checkSteps(d, obj, text[d.HookID])...)
		if len(diffs) > 0 {
			t.Fatalf("delivery %s: %s", d.HookID, strings.Join(diffs, "; "))
		}
	}
	if mode == logwriter.JSONLCurrent && len(m.deliveries) >= 100 && (statuses["success"] == 0 || statuses["partial"] == 0 || statuses["failed"] == 0) {
		t.Fatalf("statuses %v: want each of success, partial and failed", statuses)
	}
}

// checkSteps compares workflow_steps with the manifest's steps and the text
// summary line's.
func checkSteps(d logwriter.ManifestDelivery, obj *object, sum logwriter.ManifestRecord) []string {
	steps := obj.obj("workflow_steps")
	if steps == nil || sum.Summary == nil || len(steps.keys) != len(d.Steps) || len(d.Steps) != len(sum.Summary.Steps) {
		return []string{fmt.Sprintf("workflow_steps %v, manifest %d steps, text summary %v", obj.vals["workflow_steps"], len(d.Steps), sum.Summary)}
	}
	var diffs []string
	for i, ms := range d.Steps {
		st := steps.obj(steps.keys[i])
		textStep := sum.Summary.Steps[i]
		dur, hasDur := st.num("duration_ms")
		if steps.keys[i] != ms.Name || ms.Name != textStep.Name || st.str("status") != ms.Status || ms.Status != textStep.Status ||
			st.str("timestamp") != ms.Timestamp || hasDur != (ms.DurationMS != nil) || hasDur && dur != *ms.DurationMS {
			diffs = append(diffs, fmt.Sprintf("step %d: %s %v, manifest %+v, text %+v", i, steps.keys[i], st.vals, ms, textStep))
			continue
		}
		// The text summary rounds durations as format_duration writes them.
		if hasDur && (textStep.DurationMS == nil || *textStep.DurationMS > dur || dur-*textStep.DurationMS >= 60_000) {
			diffs = append(diffs, fmt.Sprintf("step %s: %d ms, the text says %v", ms.Name, dur, textStep.DurationMS))
		}
		if ms.Timestamp < d.FirstTimestamp || ms.Timestamp > d.LastTimestamp {
			diffs = append(diffs, fmt.Sprintf("step %s starts at %s, outside the delivery %s … %s", ms.Name, ms.Timestamp, d.FirstTimestamp, d.LastTimestamp))
		}
		errObj := st.obj("error")
		if (errObj != nil) != (ms.Status == "failed") || errObj != nil && errObj.str("type") != ms.ErrorType {
			diffs = append(diffs, fmt.Sprintf("step %s: error %v, status %s, error type %q", ms.Name, st.vals["error"], ms.Status, ms.ErrorType))
		}
		if ms.Status == "failed" {
			top := obj.obj("error")
			if top == nil || top.str("type") != errObj.str("type") || top.str("message") != errObj.str("message") ||
				!strings.HasSuffix(errObj.str("traceback"), errObj.str("type")+": "+errObj.str("message")+"\n") {
				diffs = append(diffs, fmt.Sprintf("failed step %s: error %v, top-level %v", ms.Name, st.vals["error"], obj.vals["error"]))
			}
		}
	}
	return diffs
}

// TestJSONLDateSwitch: lines go to the file of their own UTC date, so a run
// across midnight writes two files.
func TestJSONLDateSwitch(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 7, 31, 23, 59, 50, 0, time.UTC)
	st, mb := run(t, logwriter.Options{Dir: dir, Seed: 55, Deliveries: 30, JSONL: logwriter.JSONLCurrent, Clock: func() time.Time { return at }})
	m := readManifest(t, mb)
	lines := readJSONL(t, dir)
	if st.JSONLFiles != 2 {
		t.Fatalf("%d JSONL files opened, want 2", st.JSONLFiles)
	}
	perFile := map[string]int{}
	for _, l := range lines {
		perFile[l.file]++
		ts := l.obj.str("timestamp")
		if l.obj.str("type") != "log_entry" {
			ts = l.obj.obj("timing").str("completed_at")
		}
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatal(err)
		}
		if want := logwriter.JSONLName(tm); l.file != want {
			t.Fatalf("line at %s is in %s, want %s", ts, l.file, want)
		}
	}
	if perFile["webhooks_2026-07-31.json"] == 0 || perFile["webhooks_2026-08-01.json"] == 0 {
		t.Fatalf("lines per file %v: want both days", perFile)
	}
	checkLogEntries(t, dir, m.records, filterType(lines, "log_entry"))
}

func filterType(lines []jsonlLine, typ string) []jsonlLine {
	var out []jsonlLine
	for _, l := range lines {
		if l.obj.str("type") == typ {
			out = append(out, l)
		}
	}
	return out
}

// TestJSONLLeavesTextAlone: the text log and the text records of the
// manifest are the same with and without the JSONL.
func TestJSONLLeavesTextAlone(t *testing.T) {
	o := logwriter.Options{Seed: 56, Deliveries: 50, Dir: t.TempDir()}
	_, plain := run(t, o)
	dirPlain := o.Dir
	o.Dir, o.JSONL = t.TempDir(), logwriter.JSONLCurrent
	_, withJSONL := run(t, o)
	a, _ := os.ReadFile(filepath.Join(dirPlain, "webhook-server.log"))
	b, _ := os.ReadFile(filepath.Join(o.Dir, "webhook-server.log"))
	if !bytes.Equal(a, b) {
		t.Fatal("the JSONL changed the text log")
	}
	ma, mb := readManifest(t, plain), readManifest(t, withJSONL)
	for i := range ma.records {
		r := mb.records[i]
		r.JSONL, r.JSONLHookID, r.JSONLPRNumber = "", "", 0
		if diff := cmp.Diff(ma.records[i], r); diff != "" {
			t.Fatalf("record %d differs beyond its JSONL fields:\n%s", i, diff)
		}
	}
}

func TestJSONLOptions(t *testing.T) {
	for _, m := range []logwriter.JSONLMode{logwriter.JSONLOff, logwriter.JSONLCurrent, logwriter.JSONLLegacy} {
		if got, err := logwriter.ParseJSONLMode(m.String()); err != nil || got != m {
			t.Errorf("ParseJSONLMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := logwriter.ParseJSONLMode("yes"); err == nil {
		t.Error(`ParseJSONLMode("yes"): no error`)
	}
	for name, o := range map[string]logwriter.Options{
		"4.0.x has none": {Dir: t.TempDir(), Legacy: true, JSONL: logwriter.JSONLCurrent},
		"unknown mode":   {Dir: t.TempDir(), JSONL: logwriter.JSONLLegacy + 1},
	} {
		if _, err := logwriter.Run(t.Context(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Python's json.dumps never writes these escapes, which Go's encoder does.
func TestJSONLNoGoEscapes(t *testing.T) {
	dir := t.TempDir()
	run(t, logwriter.Options{Dir: dir, Seed: 57, Deliveries: 60, JSONL: logwriter.JSONLCurrent})
	names, _ := filepath.Glob(filepath.Join(dir, "webhooks_*.json"))
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, esc := range []string{`\u003c`, `\u003e`, `\u0026`, `\u2028`, `\ufffd`} {
			if bytes.Contains(b, []byte(esc)) {
				t.Fatalf("%s holds %s", filepath.Base(n), esc)
			}
		}
		if !bytes.Contains(b, []byte("🍒")) && !bytes.Contains(b, []byte("✨")) && !bytes.Contains(b, []byte("—")) {
			t.Fatalf("%s: no non-ASCII character written as is", filepath.Base(n))
		}
	}
}
