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
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// allEntries pages through every stored entry.
func (c *cluster) allEntries(t *testing.T) []apiEntry {
	t.Helper()
	var all []apiEntry
	for offset := 0; ; offset += 10000 {
		var page struct {
			Entries []apiEntry `json:"entries"`
		}
		if _, err := getJSON(t.Context(), fmt.Sprintf("%s/logs/api/entries?limit=10000&offset=%d", c.httpBase, offset), &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Entries...)
		if len(page.Entries) < 10000 {
			return all
		}
	}
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

// checkRecords checks that every written record is stored exactly once,
// under key service+" "+toKey(record), with the fields the writer meant.
func checkRecords(t *testing.T, byKey map[string][]apiEntry, service string, records []logwriter.ManifestRecord, toKey func(logwriter.ManifestRecord) string) {
	t.Helper()
	bad := 0
	for _, r := range records {
		k := service + " " + toKey(r)
		es := byKey[k]
		if len(es) != 1 {
			t.Errorf("%s: stored %d times, want once", k, len(es))
			bad++
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
			bad++
			if bad <= 20 {
				t.Errorf("%s: %s", k, strings.Join(diffs, "; "))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d records wrong", service, bad, len(records))
	}
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
