package logwriter_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/hooktail/hooktail/examples/logwriter"
)

// An independent parser built from the regexes of
// reference/github-webhook-server.md §1.7–1.8: it must recover every
// manifest field from the record bytes alone.
var (
	ansiRE    = regexp.MustCompile("\x1b(?:[@-Z\\\\-_]|\\[[0-?]*[ -/]*[@-~])")
	headerRE  = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?) (\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL|SUCCESS|STEP|HASH) (.*)$`)
	prefixRE  = regexp.MustCompile(`(?s)^(?:(\S+) )?\[((?:\\.|[^\]\\])+)\]\[((?:\\.|[^\]\\])+)\](?:\[((?:\\.|[^\]\\])+)\])?(?:\[PR (\d+)\])?: ?(.*)$`)
	markersRE = regexp.MustCompile(`^((?:\[task_(?:id|type|status)=(?:\\.|[^\]])+\] )+)`)
	taskIDRE  = regexp.MustCompile(`\[task_id=((?:\\.|[^\]])+)\]`)
	taskTyRE  = regexp.MustCompile(`\[task_type=((?:\\.|[^\]])+)\]`)
	taskStRE  = regexp.MustCompile(`\[task_status=((?:\\.|[^\]])+)\]`)
	dupRE     = regexp.MustCompile(" --- \\[DuplicateFilter: Last log `[^`]*` repeated \\d+ times\\]")
	summaryRE = regexp.MustCompile(`^\[(SUCCESS|FAILED)\] Webhook completed(?: PR#(\d+))? \[([0-9hms]+)(?:, tokens:(\d+))?\] steps=\[(.*)\]$`)
	stepRE    = regexp.MustCompile(`^([A-Za-z0-9_]+):([a-z]+)(?:\(([^)]*)\))?$`)
	tokenRE   = regexp.MustCompile(`(?:Token spend:?|token\s+\S+)\s+(\d+)\s+API calls`)
)

var unescape = strings.NewReplacer(`\[`, "[", `\]`, "]")

// parseDuration reads format_duration output: 500ms, 7s712ms, 3m12s, 1h5m.
func parseDuration(t *testing.T, s string) int64 {
	t.Helper()
	var total int64
	for s != "" {
		i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 {
			t.Fatalf("bad duration %q", s)
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "ms"):
			total += n
			s = s[2:]
		case strings.HasPrefix(s, "h"):
			total += n * 3_600_000
			s = s[1:]
		case strings.HasPrefix(s, "m"):
			total += n * 60_000
			s = s[1:]
		case strings.HasPrefix(s, "s"):
			total += n * 1000
			s = s[1:]
		default:
			t.Fatalf("bad duration unit in %q", s)
		}
	}
	return total
}

// parseRecord turns one record's bytes into the manifest fields a correct
// parser produces.
func parseRecord(t *testing.T, raw []byte, loc *time.Location) logwriter.ManifestRecord {
	t.Helper()
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		t.Fatalf("record does not end in a newline: %q", raw)
	}
	text := ansiRE.ReplaceAllString(string(raw[:len(raw)-1]), "")
	first, rest, multi := strings.Cut(text, "\n")
	h := headerRE.FindStringSubmatch(first)
	if h == nil {
		t.Fatalf("header does not match: %q", first)
	}
	m := logwriter.ManifestRecord{Kind: "record", Timestamp: h[1], LoggerName: h[2], Level: h[3]}
	msg := h[4]
	if multi {
		msg += "\n" + rest
	}
	msg = dupRE.ReplaceAllString(msg, "")
	trimmed := strings.TrimLeft(msg, " ")
	if p := prefixRE.FindStringSubmatch(trimmed); p != nil {
		m.Repository, m.EventType, m.HookID = p[1], unescape.Replace(p[2]), unescape.Replace(p[3])
		m.GithubUser = unescape.Replace(p[4])
		if p[5] != "" {
			m.PRNumber, _ = strconv.Atoi(p[5])
		}
		msg = p[6]
	}
	if mk := markersRE.FindString(msg); mk != "" {
		if s := taskIDRE.FindStringSubmatch(mk); s != nil {
			m.TaskID = unescape.Replace(s[1])
		}
		if s := taskTyRE.FindStringSubmatch(mk); s != nil {
			m.TaskType = unescape.Replace(s[1])
		}
		if s := taskStRE.FindStringSubmatch(mk); s != nil {
			m.TaskStatus = unescape.Replace(s[1])
		}
		msg = msg[len(mk):]
		m.Step = m.TaskType
		if m.Step == "" {
			m.Step = m.TaskID
		}
	}
	m.Message = msg
	if s := tokenRE.FindStringSubmatch(msg); s != nil {
		n, _ := strconv.Atoi(s[1])
		m.TokenSpend = &n
	}
	if s := summaryRE.FindStringSubmatch(msg); s != nil {
		sum := &logwriter.Summary{Status: s[1], DurationMS: parseDuration(t, s[3]), Steps: []logwriter.SummaryStep{}}
		sum.PRNumber, _ = strconv.Atoi(s[2])
		if s[4] != "" {
			n, _ := strconv.Atoi(s[4])
			sum.Tokens = &n
		}
		for item := range strings.SplitSeq(s[5], ", ") {
			st := stepRE.FindStringSubmatch(item)
			if st == nil {
				t.Fatalf("bad summary step %q", item)
			}
			ss := logwriter.SummaryStep{Name: st[1], Status: st[2]}
			if st[3] != "incomplete" {
				d := parseDuration(t, st[3])
				ss.DurationMS = &d
			}
			sum.Steps = append(sum.Steps, ss)
		}
		m.Summary = sum
	}
	layout := "2006-01-02T15:04:05.999999Z07:00"
	tloc := time.UTC
	if !strings.HasSuffix(m.Timestamp, "+00:00") {
		layout, tloc = "2006-01-02T15:04:05.999999", loc
	}
	ts, err := time.ParseInLocation(layout, m.Timestamp, tloc)
	if err != nil {
		t.Fatalf("timestamp %q: %v", m.Timestamp, err)
	}
	m.UTC = ts.UTC().Format("2006-01-02T15:04:05.000000Z")
	return m
}

// manifest is a decoded manifest stream.
type manifest struct {
	records    []logwriter.ManifestRecord
	deliveries []logwriter.ManifestDelivery
}

func readManifest(t *testing.T, b []byte) manifest {
	t.Helper()
	var m manifest
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var kind struct{ Kind string }
		if err := json.Unmarshal(sc.Bytes(), &kind); err != nil {
			t.Fatalf("manifest line %q: %v", sc.Text(), err)
		}
		switch kind.Kind {
		case "record":
			var r logwriter.ManifestRecord
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("manifest record %q: %v", sc.Text(), err)
			}
			m.records = append(m.records, r)
		case "delivery":
			var d logwriter.ManifestDelivery
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("manifest delivery %q: %v", sc.Text(), err)
			}
			m.deliveries = append(m.deliveries, d)
		default:
			t.Fatalf("manifest line of kind %q", kind.Kind)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkAgainstFiles verifies every manifest record against the bytes at
// its offset in the file it now lives in, that each file is exactly its
// records back to back, and returns the parsed records.
func checkAgainstFiles(t *testing.T, dir, file string, loc *time.Location, m manifest) {
	t.Helper()
	rotations := 0
	for _, r := range m.records {
		rotations = max(rotations, r.Generation)
	}
	files := map[int][]byte{}
	next := map[int]int64{}
	for i, want := range m.records {
		if want.File != file {
			t.Fatalf("record %d: file %q", i, want.File)
		}
		age := rotations - want.Generation
		name := file
		if age > 0 {
			name += "." + strconv.Itoa(age)
		}
		data, ok := files[age]
		if !ok {
			var err error
			if data, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			files[age] = data
		}
		if want.Offset != next[age] {
			t.Fatalf("record %d in %s at offset %d, want %d (records must be back to back)", i, name, want.Offset, next[age])
		}
		next[age] = want.Offset + want.Length
		if next[age] > int64(len(data)) {
			t.Fatalf("record %d runs past the end of %s", i, name)
		}
		got := parseRecord(t, data[want.Offset:next[age]], loc)
		got.File, got.Generation, got.Offset, got.Length = want.File, want.Generation, want.Offset, want.Length
		// The JSONL copy is checked against the JSONL file (jsonl_test.go).
		got.JSONL, got.JSONLHookID, got.JSONLPRNumber = want.JSONL, want.JSONLHookID, want.JSONLPRNumber
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("record %d (%s@%d) manifest vs parsed (-manifest +parsed):\n%s\nraw: %q", i, name, want.Offset, diff,
				data[want.Offset:next[age]])
		}
	}
	for age, data := range files {
		if next[age] != int64(len(data)) {
			t.Fatalf("file age %d: records cover %d of %d bytes", age, next[age], len(data))
		}
	}
}

// features counts the shapes the checker saw, so that tests can insist
// every one of them was exercised.
func features(m manifest) map[string]int {
	f := map[string]int{}
	for _, r := range m.records {
		f["level:"+r.Level]++
		switch {
		case r.HookID == "":
			f["no-prefix"]++
		case r.Repository == "":
			f["shape1"]++
		case r.GithubUser == "":
			f["shape2"]++
		case r.PRNumber > 0:
			f["shape3-pr"]++
		default:
			f["shape3"]++
		}
		if strings.Contains(r.Message, "\nTraceback (most recent call last):\n") {
			f["traceback"]++
		}
		if strings.Contains(r.Message, "\n\nThe above exception") {
			f["chained-traceback"]++
		}
		if strings.HasSuffix(r.Message, "\n") {
			f["reset-only-line"]++
		}
		if !strings.Contains(r.Timestamp, ".") {
			f["whole-second"]++
		}
		if strings.Contains(r.GithubUser, "[") {
			f["escaped-user"]++
		}
		if strings.Contains(r.Message, "API rate limit:") {
			f["colorama"]++
		}
		if r.Summary != nil {
			f["summary-"+r.Summary.Status]++
		}
		if r.TokenSpend != nil {
			f["tokens"]++
		}
		if r.TaskID != "" && r.TaskType == "" {
			f["marker-no-type"]++
		}
		if r.TaskStatus == "failed" {
			f["marker-failed"]++
		}
		if r.TaskID != "" && r.Level == "ERROR" && strings.Contains(r.Message, "Traceback") {
			f["marker-error-traceback"]++
		}
		if r.LoggerName != "GithubWebhook" {
			f["file-logger-name"]++
		}
		if strings.ContainsFunc(r.Message, func(c rune) bool { return c >= utf8.RuneSelf }) {
			f["non-ascii"]++
		}
	}
	return f
}

func requireFeatures(t *testing.T, got map[string]int, want ...string) {
	t.Helper()
	var missing []string
	for _, w := range want {
		if got[w] == 0 {
			missing = append(missing, w)
		}
	}
	if missing != nil {
		t.Fatalf("features never generated: %v (seen %v)", missing, fmt.Sprint(got))
	}
}
