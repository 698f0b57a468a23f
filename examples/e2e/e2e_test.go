// Package e2e_test starts the real hooktail binaries on 127.0.0.1, writes
// github-webhook-server logs with rotation and checks, through the HTTP API,
// that every record written arrives exactly once with the right fields.
package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/hooktail/hooktail/examples/logwriter"
)

// apiEntry is the part of a /logs/api/entries entry the test checks.
type apiEntry struct {
	Timestamp  string  `json:"timestamp"`
	Level      string  `json:"level"`
	Message    string  `json:"message"`
	HookID     *string `json:"hook_id"`
	EventType  *string `json:"event_type"`
	Repository *string `json:"repository"`
	PRNumber   *int    `json:"pr_number"`
	GithubUser *string `json:"github_user"`
	TaskID     *string `json:"task_id"`
	TaskType   *string `json:"task_type"`
	TaskStatus *string `json:"task_status"`
	TokenSpend *int    `json:"token_spend"`
	Step       *string `json:"step"`
	Service    string  `json:"service"`
	File       *string `json:"file"`
	Offset     int64   `json:"offset"`
	ParseError bool    `json:"parse_error"`
}

type manifest struct {
	records    []logwriter.ManifestRecord
	deliveries []logwriter.ManifestDelivery
}

func readManifest(t *testing.T, b []byte) manifest {
	t.Helper()
	var m manifest
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var kind struct{ Kind string }
		if err := json.Unmarshal(sc.Bytes(), &kind); err != nil {
			t.Fatalf("manifest line: %v", err)
		}
		switch kind.Kind {
		case "record":
			var r logwriter.ManifestRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			m.records = append(m.records, r)
		case "delivery":
			var d logwriter.ManifestDelivery
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			m.deliveries = append(m.deliveries, d)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// cluster is an aggregator and an agent on loopback.
type cluster struct {
	dir      string
	httpBase string
	grpc     string
	agg      *proc
	agent    *proc
	agentCfg string
	aggCfg   string
}

func startCluster(t *testing.T, sources string) *cluster {
	t.Helper()
	needBinaries(t)
	dir := t.TempDir()
	c := &cluster{dir: dir, grpc: freeAddr(t)}
	httpAddr := freeAddr(t)
	c.httpBase = "http://" + httpAddr
	c.aggCfg = filepath.Join(dir, "aggregator.hcl")
	writeFile(t, c.aggCfg, fmt.Sprintf(`
data_dir = %q
listen {
  http = %q
  grpc = %q
}
`, filepath.Join(dir, "aggregator"), httpAddr, c.grpc))
	c.startAggregator(t)
	c.agentCfg = filepath.Join(dir, "agent.hcl")
	writeFile(t, c.agentCfg, fmt.Sprintf(`
agent_id = "e2e"
data_dir = %q
aggregator {
  address           = %q
  batch_max_wait    = "50ms"
}
%s
`, filepath.Join(dir, "agent"), c.grpc, sources))
	c.startAgent(t)
	return c
}

func (c *cluster) startAggregator(t *testing.T) {
	t.Helper()
	c.agg = startProc(t, c.dir, "hooktail-aggregator", "-config", c.aggCfg)
	eventually(t, 60*time.Second, "aggregator healthy", func() error {
		_, err := getJSON(t.Context(), c.httpBase+"/healthz", nil)
		return err
	})
}

func (c *cluster) startAgent(t *testing.T) {
	t.Helper()
	c.agent = startProc(t, c.dir, "hooktail-agent", "-config", c.agentCfg)
}

// waitTotal waits until at least n entries are stored.
func (c *cluster) waitTotal(t *testing.T, n int, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%d entries stored", n), func() error {
		got, err := c.total(t.Context())
		if err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("%d stored", got)
		}
		return nil
	})
}

// total returns the exact number of stored entries.
func (c *cluster) total(ctx context.Context) (int, error) {
	var page struct {
		Total *int `json:"total"`
	}
	if _, err := getJSON(ctx, c.httpBase+"/logs/api/entries?limit=1", &page); err != nil {
		return 0, err
	}
	if page.Total == nil {
		return 0, fmt.Errorf("no total in response")
	}
	return *page.Total, nil
}

// allEntries pages through every stored entry, newest first.
func (c *cluster) allEntries(t *testing.T) []apiEntry {
	t.Helper()
	all, err := c.entries(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// entries pages through every stored entry, newest first, two pages at a
// time: fetching and decoding 200k entries is most of a big test's
// checking time.
func (c *cluster) entries(ctx context.Context) ([]apiEntry, error) {
	const pageSize = 10000
	n, err := c.total(ctx)
	if err != nil {
		return nil, err
	}
	// One page more than the count needs, so that a short page shows that
	// nothing was stored after the count.
	pages := make([][]apiEntry, n/pageSize+1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i := range pages {
		g.Go(func() error {
			page, err := getBody(gctx, fmt.Sprintf("%s/logs/api/entries?limit=%d&offset=%d", c.httpBase, pageSize, i*pageSize))
			if err != nil {
				return err
			}
			if pages[i], err = decodeEntriesPage(page); err != nil {
				return fmt.Errorf("entries page at offset %d: %w", i*pageSize, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var all []apiEntry
	for i, p := range pages {
		if len(p) != pageSize && i != len(pages)-1 {
			return nil, fmt.Errorf("entries page %d holds %d entries, want %d: the store changed while listed", i, len(p), pageSize)
		}
		all = append(all, p...)
	}
	if len(pages[len(pages)-1]) == pageSize {
		return nil, fmt.Errorf("more than the %d entries counted: the store changed while listed", n)
	}
	return all, nil
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func eqStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func show(p *string) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%q", *p)
}

// TestExactlyOnceWithRotation writes two sources — 4.1.0 text logs rotating
// fast, and legacy 4.0.x logs with naive Asia/Jerusalem timestamps — while
// the agent tails them, then checks that every record written is stored
// exactly once with the right hook_id, level, step and message (traceback
// included), and that failed deliveries show their failed step and its
// traceback through the workflow-steps and step-logs APIs.
func TestExactlyOnceWithRotation(t *testing.T) {
	needBinaries(t)
	root := t.TempDir()
	live := filepath.Join(root, "live")
	legacy := filepath.Join(root, "legacy")
	c := startCluster(t, fmt.Sprintf(`
source "live" {
  paths = ["%s/webhook-server.log*"]
}
source "legacy" {
  paths    = ["%s/*.log*"]
  timezone = "Asia/Jerusalem"
}
`, live, legacy))

	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		t.Fatal(err)
	}
	var liveManifest, legacyManifest bytes.Buffer
	ctx := t.Context()
	liveStats, err := logwriter.Run(ctx, logwriter.Options{
		Dir: live, Seed: 7, Deliveries: 300, Concurrency: 6, FailureRate: 0.3,
		MaxBytes: 96 << 10, Backups: 1000, Rate: 20000, Manifest: &liveManifest,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logwriter.Run(ctx, logwriter.Options{
		Dir: legacy, Seed: 8, Deliveries: 60, Legacy: true, Location: jerusalem, FailureRate: 0.4,
		MaxBytes: 128 << 10, Backups: 1000, Manifest: &legacyManifest,
	}); err != nil {
		t.Fatal(err)
	}
	if liveStats.Rotations < 5 {
		t.Fatalf("the live writer rotated %d times, want at least 5", liveStats.Rotations)
	}
	lm := readManifest(t, liveManifest.Bytes())
	gm := readManifest(t, legacyManifest.Bytes())
	want := len(lm.records) + len(gm.records)
	t.Logf("written: live %d records (%d rotations), legacy %d records", len(lm.records), liveStats.Rotations, len(gm.records))

	eventually(t, 120*time.Second, fmt.Sprintf("%d entries stored", want), func() error {
		n, err := c.total(ctx)
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})

	got := c.allEntries(t)
	if len(got) != want {
		t.Fatalf("listed %d entries, want %d", len(got), want)
	}
	byKey := indexEntries(t, got)
	checkRecords(t, byKey, "live", lm.records, func(r logwriter.ManifestRecord) string { return r.Timestamp })
	checkRecords(t, byKey, "legacy", gm.records, func(r logwriter.ManifestRecord) string {
		ts, err := time.Parse("2006-01-02T15:04:05.000000Z", r.UTC)
		if err != nil {
			t.Fatalf("manifest utc %q: %v", r.UTC, err)
		}
		return isoformat(ts)
	})

	checkDeliveries(t, c, lm.deliveries)
	checkDeliveries(t, c, gm.deliveries)
}

// recordsResult counts what checkRecords found wrong.
type recordsResult struct {
	// lost records were not stored; duplicated counts the extra copies of
	// records stored more than once; wrong records were stored once with
	// a field unlike the one written.
	lost, duplicated, wrong int
}

// checkRecords checks that every written record is stored exactly once,
// under key service+" "+toKey(record), with the fields the writer meant.
// It reports the first problems and returns the counts.
func checkRecords(t *testing.T, byKey map[string][]apiEntry, service string, records []logwriter.ManifestRecord, toKey func(logwriter.ManifestRecord) string) recordsResult {
	t.Helper()
	var res recordsResult
	bad := 0
	for _, r := range records {
		k := service + " " + toKey(r)
		es := byKey[k]
		if len(es) != 1 {
			if len(es) == 0 {
				res.lost++
			} else {
				res.duplicated += len(es) - 1
			}
			bad++
			if bad <= 20 {
				t.Errorf("%s: stored %d times, want once", k, len(es))
			}
			continue
		}
		e := es[0]
		var diffs []string
		if e.Level != r.Level {
			diffs = append(diffs, fmt.Sprintf("level %q, want %q", e.Level, r.Level))
		}
		if !eqStr(e.HookID, strp(r.HookID)) {
			diffs = append(diffs, fmt.Sprintf("hook_id %s, want %q", show(e.HookID), r.HookID))
		}
		if !eqStr(e.Step, strp(r.Step)) {
			diffs = append(diffs, fmt.Sprintf("step %s, want %q", show(e.Step), r.Step))
		}
		if !eqStr(e.EventType, strp(r.EventType)) || !eqStr(e.Repository, strp(r.Repository)) || !eqStr(e.GithubUser, strp(r.GithubUser)) {
			diffs = append(diffs, fmt.Sprintf("prefix fields %s %s %s, want %q %q %q", show(e.EventType), show(e.Repository), show(e.GithubUser), r.EventType, r.Repository, r.GithubUser))
		}
		wantPR := r.PRNumber
		if wantPR == 0 && r.Summary != nil {
			// A summary line names its PR as "PR#n" rather than in the prefix.
			wantPR = r.Summary.PRNumber
		}
		if gotPR := derefInt(e.PRNumber); gotPR != wantPR {
			diffs = append(diffs, fmt.Sprintf("pr_number %d, want %d", gotPR, wantPR))
		}
		if (e.TokenSpend == nil) != (r.TokenSpend == nil) || (e.TokenSpend != nil && *e.TokenSpend != *r.TokenSpend) {
			diffs = append(diffs, "token_spend differs")
		}
		if strings.TrimRight(e.Message, "\n") != strings.TrimRight(r.Message, "\n") {
			diffs = append(diffs, fmt.Sprintf("message\n   got %q\n  want %q", e.Message, r.Message))
		}
		if len(diffs) > 0 {
			res.wrong++
			bad++
			if bad <= 20 {
				t.Errorf("%s: %s", k, strings.Join(diffs, "; "))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d records wrong (%d lost, %d duplicated, %d with wrong fields)", service, bad, len(records), res.lost, res.duplicated, res.wrong)
	}
	return res
}

// indexEntries keys entries by service and timestamp, flagging parse errors.
func indexEntries(t *testing.T, got []apiEntry) map[string][]apiEntry {
	t.Helper()
	byKey := make(map[string][]apiEntry, len(got))
	for _, e := range got {
		k := e.Service + " " + e.Timestamp
		byKey[k] = append(byKey[k], e)
		if e.ParseError {
			t.Errorf("entry %s flagged parse_error: %q", k, e.Message)
		}
	}
	return byKey
}

// isoformat formats like Python's datetime.isoformat() for a UTC time.
func isoformat(ts time.Time) string {
	ts = ts.UTC()
	if ts.Nanosecond()/1000 == 0 {
		return ts.Format("2006-01-02T15:04:05+00:00")
	}
	return ts.Format("2006-01-02T15:04:05.000000+00:00")
}

// checkDeliveries asks the workflow-steps and step-logs APIs about each
// delivery: failed ones show the failing step as failed, and that step's logs
// hold the traceback.
func checkDeliveries(t *testing.T, c *cluster, deliveries []logwriter.ManifestDelivery) {
	t.Helper()
	failed := 0
	for _, d := range deliveries {
		var wf struct {
			Success *bool `json:"success"`
			Steps   []struct {
				StepName   string `json:"step_name"`
				TaskStatus string `json:"task_status"`
			} `json:"steps"`
		}
		code, err := getJSON(t.Context(), c.httpBase+"/logs/api/workflow-steps/"+url.PathEscape(d.HookID), &wf)
		if err != nil || code != 200 {
			t.Errorf("workflow-steps %s: %d %v", d.HookID, code, err)
			continue
		}
		if wf.Success == nil || *wf.Success == d.Failed {
			t.Errorf("workflow-steps %s: success %v, want %v", d.HookID, wf.Success, !d.Failed)
		}
		if !d.Failed {
			continue
		}
		failed++
		found := false
		for _, s := range wf.Steps {
			if s.StepName == d.FailingStep && s.TaskStatus == "failed" {
				found = true
			}
		}
		if !found {
			t.Errorf("workflow-steps %s: no failed step %q in %+v", d.HookID, d.FailingStep, wf.Steps)
			continue
		}
		// The failed step's logs show the failure. Where the traceback is
		// depends on the version: 4.1 logs it in the failing step's window;
		// 4.0.x logs it with the end of webhook_routing, which spans the run.
		errs, _ := stepLogs(t, c, d.HookID, d.FailingStep)
		if errs == 0 {
			t.Errorf("step-logs %s/%s: no ERROR entry", d.HookID, d.FailingStep)
		}
		tracebackStep := d.FailingStep
		if d.Legacy {
			tracebackStep = "webhook_routing"
		}
		if _, tb := stepLogs(t, c, d.HookID, tracebackStep); !tb {
			t.Errorf("step-logs %s/%s: no traceback", d.HookID, tracebackStep)
		}
	}
	if failed == 0 {
		t.Errorf("no failed delivery among %d: the test proves nothing about failures", len(deliveries))
	}
}

// stepLogs fetches a step's logs and reports how many are errors and whether
// one holds a traceback. It checks the step is failed and log_count is right.
func stepLogs(t *testing.T, c *cluster, hook, step string) (errors int, traceback bool) {
	t.Helper()
	var sl struct {
		Step struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"step"`
		Logs []struct {
			Level   string `json:"level"`
			Message string `json:"message"`
		} `json:"logs"`
		LogCount int `json:"log_count"`
	}
	code, err := getJSON(t.Context(), c.httpBase+"/logs/api/step-logs/"+url.PathEscape(hook)+"/"+url.PathEscape(step), &sl)
	if err != nil || code != 200 {
		t.Errorf("step-logs %s/%s: %d %v", hook, step, code, err)
		return 0, false
	}
	if sl.Step.Name != step || sl.Step.Status != "failed" || sl.LogCount != len(sl.Logs) {
		t.Errorf("step-logs %s/%s: step %q status %q, %d logs (log_count %d)", hook, step, sl.Step.Name, sl.Step.Status, len(sl.Logs), sl.LogCount)
	}
	for _, l := range sl.Logs {
		if l.Level == "ERROR" || l.Level == "CRITICAL" {
			errors++
		}
		if strings.Contains(l.Message, "Traceback (most recent call last):") {
			traceback = true
		}
	}
	return errors, traceback
}

// TestDecodeEntriesPage holds the hand-written page decoder to
// encoding/json: on random pages of every shape the API writes, with
// strings full of escapes, and on hand-written JSON with the escapes
// encoding/json never writes.
func TestDecodeEntriesPage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "é", "🍒", "\u2028", "\"", "\\", "/", "\n", "\t", "\x00", "\x1b[0m", "\xff", "<&>", " ", "Traceback"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	value := func(key string) any {
		if rng.IntN(4) == 0 {
			return nil
		}
		switch key {
		case "pr_number", "token_spend", "offset", "id":
			return rng.IntN(1 << 40)
		case "parse_error", "truncated":
			return rng.IntN(2) == 0
		case "details":
			return map[string]any{"nested": []any{str(), 1.5, map[string]any{"k": nil}}, "b": true}
		}
		return str()
	}
	keys := []string{"timestamp", "level", "logger_name", "message", "hook_id", "event_type", "repository", "pr_number",
		"github_user", "task_id", "task_type", "task_status", "token_spend", "step", "service", "attempt", "exc_info",
		"file", "offset", "parse_error", "truncated", "details", "id", "unknown"}
	for i := range 200 {
		var entries []map[string]any
		for range rng.IntN(5) {
			e := map[string]any{}
			for _, k := range keys {
				if rng.IntN(10) > 0 {
					e[k] = value(k)
				}
			}
			entries = append(entries, e)
		}
		page := map[string]any{"entries": entries, "total": len(entries), "limit": 100, "is_partial_scan": false}
		if entries == nil && i%2 == 0 {
			page["entries"] = nil
		}
		b, err := json.Marshal(page)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodeEntriesPage(t, b)
	}
	for _, s := range []string{
		`{"entries":[{"message":"\u00e9\ud83c\udf52 \/ \b\f\n\r\t \u0000"}]}`,
		`{"entries":[{"message":"lone \ud800 and \udc00 and \ud800\u0041"}]}`,
		` { "total" : 1 , "entries" : [ { "offset" : 7 , "hook_id" : null , "details" : { "a" : [ 1 , { } , [ ] ] } } ] } `,
		`{"entries":[{"message":"first"}],"entries":[]}`,
		`{"entries":[{"timestamp":null,"parse_error":null,"offset":null}]}`,
	} {
		checkDecodeEntriesPage(t, []byte(s))
	}
	for _, s := range []string{``, `{`, `{"entries":[{"message":"x`, `{"entries":[{"offset":1.5}]}`, `{"entries":[]}x`, `{"entries":[{"message":"\q"}]}`} {
		if _, err := decodeEntriesPage([]byte(s)); err == nil {
			t.Errorf("decodeEntriesPage(%q): no error", s)
		}
	}
}

func checkDecodeEntriesPage(t *testing.T, b []byte) {
	t.Helper()
	var want struct {
		Entries []apiEntry `json:"entries"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("encoding/json: %v\n%s", err, b)
	}
	got, err := decodeEntriesPage(b)
	if err != nil {
		t.Fatalf("decodeEntriesPage: %v\n%s", err, b)
	}
	if diff := cmp.Diff(want.Entries, got); diff != "" {
		t.Fatalf("decodeEntriesPage differs from encoding/json (-json +ours):\n%s\n%s", diff, b)
	}
}

// TestJSONLCompanion tails 4.1.0's text log and its webhooks_*.json
// together (SPEC §4): every record, written in both, is stored once; a text
// line without a prefix gets the hook id (and event, repository, PR) of its
// JSONL copy; and each delivery's workflow steps are the webhook_summary's,
// with their start times and exact durations.
func TestJSONLCompanion(t *testing.T) {
	needBinaries(t)
	logs := t.TempDir()
	c := startCluster(t, fmt.Sprintf(`
source "webhook-server" {
  paths = ["%s/webhook-server.log*", "%s/webhooks_*.json"]
}
`, logs, logs))
	var (
		records    []logwriter.ManifestRecord
		deliveries []logwriter.ManifestDelivery
	)
	st, err := logwriter.Run(t.Context(), logwriter.Options{
		Dir: logs, Seed: 71, Deliveries: 150, Concurrency: 6, FailureRate: 0.3, JSONL: logwriter.JSONLCurrent,
		MaxBytes: 64 << 10, Backups: 1000, Rate: 5000,
		OnRecord:   func(r logwriter.ManifestRecord) { records = append(records, r) },
		OnDelivery: func(d logwriter.ManifestDelivery) { deliveries = append(deliveries, d) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.JSONLEntries != st.Records || st.JSONLSummaries != int64(len(deliveries)) {
		t.Fatalf("JSONL: %d log_entry lines for %d records, %d summaries for %d deliveries", st.JSONLEntries, st.Records, st.JSONLSummaries, len(deliveries))
	}

	// What each record should look like once both copies are in: the
	// text's fields, and the copy's where the text has none.
	byHook := map[string]logwriter.ManifestDelivery{}
	for _, d := range deliveries {
		byHook[d.HookID] = d
	}
	want := make([]logwriter.ManifestRecord, len(records))
	unprefixed := 0
	for i, r := range records {
		if r.JSONLHookID != "" {
			d := byHook[r.JSONLHookID]
			if r.HookID == "" {
				r.HookID = r.JSONLHookID
				unprefixed++
			}
			if r.EventType == "" {
				r.EventType = d.EventType
			}
			if r.Repository == "" {
				r.Repository = d.Repository
			}
			if r.PRNumber == 0 && r.Summary == nil {
				r.PRNumber = r.JSONLPRNumber
			}
		}
		want[i] = r
	}
	if unprefixed == 0 {
		t.Fatal("no unprefixed record: the test proves nothing about the JSONL's hook ids")
	}
	// Both copies of every record in: as many entries as records, and the
	// hook ids of the unprefixed ones filled.
	var got []apiEntry
	eventually(t, 120*time.Second, "both copies of every record stored", func() error {
		n, err := c.total(t.Context())
		if err != nil {
			return err
		}
		if n < len(records) {
			return fmt.Errorf("%d of %d records stored", n, len(records))
		}
		if got, err = c.entries(t.Context()); err != nil {
			return err
		}
		missing := 0
		for _, e := range got {
			if e.HookID == nil {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d entries without a hook id", missing)
		}
		return nil
	})
	if len(got) != len(records) {
		t.Fatalf("%d entries stored for %d records written in both the text and the JSONL", len(got), len(records))
	}
	res := checkRecords(t, indexEntries(t, got), "webhook-server", want, func(r logwriter.ManifestRecord) string { return r.Timestamp })
	t.Logf("%d records, %d of them without a prefix, and %d deliveries written to the text and the JSONL: %d lost, %d duplicated, %d with wrong fields",
		len(records), unprefixed, len(deliveries), res.lost, res.duplicated, res.wrong)

	// Steps from the webhook_summary: start times and exact durations,
	// which the text summary line does not have.
	for _, d := range deliveries {
		var wf struct {
			Success *bool `json:"success"`
			Steps   []struct {
				Timestamp  *string `json:"timestamp"`
				StepName   string  `json:"step_name"`
				TaskStatus string  `json:"task_status"`
				DurationMS *int64  `json:"duration_ms"`
				Error      *struct {
					Type string `json:"type"`
				} `json:"error"`
			} `json:"steps"`
		}
		code, err := getJSON(t.Context(), c.httpBase+"/logs/api/workflow-steps/"+url.PathEscape(d.HookID), &wf)
		if err != nil || code != 200 {
			t.Errorf("workflow-steps %s: %d %v", d.HookID, code, err)
			continue
		}
		var diffs []string
		if wf.Success == nil || *wf.Success == d.Failed {
			diffs = append(diffs, fmt.Sprintf("success %v, failed %v", wf.Success, d.Failed))
		}
		if len(wf.Steps) != len(d.Steps) {
			diffs = append(diffs, fmt.Sprintf("%d steps, want %d", len(wf.Steps), len(d.Steps)))
		}
		steps := map[string]logwriter.ManifestStep{}
		for _, s := range d.Steps {
			steps[s.Name] = s
		}
		for _, s := range wf.Steps {
			m, ok := steps[s.StepName]
			errType := ""
			if s.Error != nil {
				errType = s.Error.Type
			}
			if !ok || s.TaskStatus != m.Status || !eqStr(s.Timestamp, &m.Timestamp) ||
				(s.DurationMS == nil) != (m.DurationMS == nil) || s.DurationMS != nil && *s.DurationMS != *m.DurationMS || errType != m.ErrorType {
				diffs = append(diffs, fmt.Sprintf("step %s %s at %s, %v ms, error %q; want %+v", s.StepName, s.TaskStatus, show(s.Timestamp), s.DurationMS, errType, m))
			}
		}
		if len(diffs) > 0 {
			t.Errorf("workflow-steps %s: %s", d.HookID, strings.Join(diffs, "; "))
		}
	}
}
