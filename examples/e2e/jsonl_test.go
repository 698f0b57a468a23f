package e2e_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hooktail/hooktail/examples/logwriter"
)

// jsonlRun is a 4.1.0 log written to a staging folder the agent does not
// watch: the text log, its webhooks_*.json companion, and the manifest.
type jsonlRun struct {
	text, jsonl []string // files in the staging folder
	records     []logwriter.ManifestRecord
	deliveries  []logwriter.ManifestDelivery
	want        []logwriter.ManifestRecord // records once both copies are in
	unprefixed  int
}

// writeJSONLRun writes deliveries with both copies into a staging folder.
func writeJSONLRun(t *testing.T) *jsonlRun {
	t.Helper()
	stage := t.TempDir()
	run := &jsonlRun{}
	anchor := time.Date(2026, 3, 20, 8, 0, 0, 0, time.UTC)
	st, err := logwriter.Run(t.Context(), logwriter.Options{
		Dir: stage, Seed: 4101, Deliveries: 60, Concurrency: 4, FailureRate: 0.35, JSONL: logwriter.JSONLCurrent,
		Clock:      func() time.Time { return anchor },
		OnRecord:   func(r logwriter.ManifestRecord) { run.records = append(run.records, r) },
		OnDelivery: func(d logwriter.ManifestDelivery) { run.deliveries = append(run.deliveries, d) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rotations != 0 || st.JSONLEntries != st.Records || st.JSONLSummaries != int64(len(run.deliveries)) {
		t.Fatalf("writer: %d rotations, %d log_entry lines for %d records, %d summaries for %d deliveries",
			st.Rotations, st.JSONLEntries, st.Records, st.JSONLSummaries, len(run.deliveries))
	}
	if run.text, err = filepath.Glob(filepath.Join(stage, "webhook-server.log*")); err != nil || len(run.text) != 1 {
		t.Fatalf("text log files %v: %v", run.text, err)
	}
	if run.jsonl, err = filepath.Glob(filepath.Join(stage, "webhooks_*.json")); err != nil || len(run.jsonl) == 0 {
		t.Fatalf("JSONL files %v: %v", run.jsonl, err)
	}

	// What each record should look like once both copies are in (SPEC §4:
	// the second copy only fills empty fields): the text's fields, and the
	// JSONL copy's hook keys where the text has none.
	byHook := map[string]logwriter.ManifestDelivery{}
	failedWithTraceback := 0
	for _, d := range run.deliveries {
		byHook[d.HookID] = d
		if d.Failed && d.FailingStep != "" {
			failedWithTraceback++
		}
	}
	if failedWithTraceback == 0 {
		t.Fatal("no failed delivery: the test proves nothing about failed steps")
	}
	tracebacks := 0
	for _, r := range run.records {
		if strings.Contains(r.Message, "Traceback (most recent call last):") {
			tracebacks++
		}
		if r.JSONLHookID != "" {
			d := byHook[r.JSONLHookID]
			if r.HookID == "" {
				r.HookID = r.JSONLHookID
				run.unprefixed++
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
		run.want = append(run.want, r)
	}
	if run.unprefixed == 0 || tracebacks == 0 {
		t.Fatalf("%d unprefixed records, %d with a traceback: the test proves nothing about them", run.unprefixed, tracebacks)
	}
	return run
}

// placeFiles moves the staged files into dir under their own names, each
// with one rename, so that the agent never sees a half-written file.
func placeFiles(t *testing.T, dir string, files []string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, ".staging-"+filepath.Base(f))
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
}

// jsonlMismatch reports the first way got falls short of want (records
// keyed by timestamp, as the text and JSONL copies share it), or nil.
func jsonlMismatch(got []apiEntry, want []logwriter.ManifestRecord) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d entries for %d records", len(got), len(want))
	}
	byTS := make(map[string]apiEntry, len(got))
	for _, e := range got {
		byTS[e.Timestamp] = e
	}
	bad, first := 0, ""
	for _, r := range want {
		e, ok := byTS[r.Timestamp]
		if ok && e.Level == r.Level && eqStr(e.HookID, strp(r.HookID)) && eqStr(e.EventType, strp(r.EventType)) &&
			eqStr(e.Repository, strp(r.Repository)) && eqStr(e.GithubUser, strp(r.GithubUser)) &&
			strings.TrimRight(e.Message, "\n") == strings.TrimRight(r.Message, "\n") {
			continue
		}
		if bad++; first == "" {
			first = fmt.Sprintf("%s (stored: %v, hook_id %s, github_user %s)", r.Timestamp, ok, show(e.HookID), show(e.GithubUser))
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d records not as both copies make them, first %s", bad, first)
	}
	return nil
}

// workflowSteps is the part of /logs/api/workflow-steps/{hook_id} the test
// checks.
type workflowSteps struct {
	Success *bool `json:"success"`
	Steps   []struct {
		Timestamp  *string `json:"timestamp"`
		StepName   string  `json:"step_name"`
		TaskStatus string  `json:"task_status"`
		DurationMS *int64  `json:"duration_ms"`
		Error      *struct {
			Type      string `json:"type"`
			Message   string `json:"message"`
			Traceback string `json:"traceback"`
		} `json:"error"`
	} `json:"steps"`
}

// stepsMismatch reports how the delivery's workflow steps differ from its
// webhook_summary's (start times, exact durations, the failed step and its
// error), or nil.
func stepsMismatch(c *cluster, t *testing.T, d logwriter.ManifestDelivery) error {
	var wf workflowSteps
	code, err := getJSON(t.Context(), c.httpBase+"/logs/api/workflow-steps/"+url.PathEscape(d.HookID), &wf)
	if err != nil || code != 200 {
		return fmt.Errorf("workflow-steps %s: %d %v", d.HookID, code, err)
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
	failedSeen := false
	for _, s := range wf.Steps {
		m, ok := steps[s.StepName]
		errType, tb := "", ""
		if s.Error != nil {
			errType, tb = s.Error.Type, s.Error.Traceback
		}
		if !ok || s.TaskStatus != m.Status || !eqStr(s.Timestamp, &m.Timestamp) ||
			(s.DurationMS == nil) != (m.DurationMS == nil) || s.DurationMS != nil && *s.DurationMS != *m.DurationMS || errType != m.ErrorType {
			diffs = append(diffs, fmt.Sprintf("step %s %s at %s, %v ms, error %q; want %+v", s.StepName, s.TaskStatus, show(s.Timestamp), s.DurationMS, errType, m))
		}
		if s.StepName == d.FailingStep && s.TaskStatus == "failed" {
			failedSeen = true
			if !strings.Contains(tb, "Traceback (most recent call last):") {
				diffs = append(diffs, fmt.Sprintf("failed step %s: error traceback %q", s.StepName, tb))
			}
		}
	}
	if d.Failed && d.FailingStep != "" && !failedSeen {
		diffs = append(diffs, fmt.Sprintf("failed step %q not marked failed", d.FailingStep))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("workflow-steps %s: %s", d.HookID, strings.Join(diffs, "; "))
	}
	return nil
}

// TestTextAndJSONLStoredOnce tails 4.1.0's text log and its webhooks_*.json
// companion as one source (SPEC §4): whichever copy of a record arrives
// first, and with the agent restarted or killed between the two, every
// record is stored exactly once; the unprefixed text lines get their hook
// id from the JSONL copy; and the workflow steps are the webhook_summary's,
// start times, exact durations and the failed step included.
func TestTextAndJSONLStoredOnce(t *testing.T) {
	needBinaries(t)
	for _, tc := range []struct {
		name       string
		jsonlFirst bool
		between    string // "", "restart" (SIGTERM) or "kill" (SIGKILL)
	}{
		{name: "text first"},
		{name: "jsonl first", jsonlFirst: true},
		{name: "text, agent restarted, jsonl", between: "restart"},
		{name: "jsonl, agent killed, text", jsonlFirst: true, between: "kill"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := writeJSONLRun(t)
			logs := t.TempDir()
			c := startCluster(t, fmt.Sprintf(`
source "webhook-server" {
  paths  = ["%s/webhook-server.log*", "%s/webhooks_*.json"]
  parser = "github-webhook-server"
}
`, logs, logs))
			first, second := run.text, run.jsonl
			if tc.jsonlFirst {
				first, second = run.jsonl, run.text
			}

			// The first copy alone: one entry per record.
			placeFiles(t, logs, first)
			eventually(t, 30*time.Second, "the first copy of every record stored", func() error {
				n, err := c.total(t.Context())
				if err != nil {
					return err
				}
				if n != len(run.records) {
					return fmt.Errorf("%d entries stored for %d records", n, len(run.records))
				}
				return nil
			})
			// The text alone has no hook id on its unprefixed lines.
			if err := firstCopyOnly(c.allEntries(t), run, tc.jsonlFirst); err != nil {
				t.Errorf("first copy alone: %v", err)
			}
			switch tc.between {
			case "restart":
				c.agent.stop(t)
				c.startAgent(t)
			case "kill":
				c.agent.kill(t)
				c.startAgent(t)
			}

			// The second copy fills the entries; it adds none.
			placeFiles(t, logs, second)
			var got []apiEntry
			eventually(t, 30*time.Second, "the second copy merged into every entry", func() error {
				var err error
				if got, err = c.entries(t.Context()); err != nil {
					return err
				}
				if err := jsonlMismatch(got, run.want); err != nil {
					return err
				}
				for _, d := range run.deliveries {
					if err := stepsMismatch(c, t, d); err != nil {
						return err
					}
				}
				return nil
			})
			// Report every difference, not only the first.
			res := checkRecords(t, indexEntries(t, got), "webhook-server", run.want, func(r logwriter.ManifestRecord) string { return r.Timestamp })
			if n, err := c.total(t.Context()); err != nil || n != len(run.records) {
				t.Errorf("%d entries stored (%v) for %d records written in both the text and the JSONL", n, err, len(run.records))
			}
			failed := slices.IndexFunc(run.deliveries, func(d logwriter.ManifestDelivery) bool { return d.Failed })
			t.Logf("%d records (%d unprefixed), %d deliveries (first failed: %s): %d lost, %d duplicated, %d wrong",
				len(run.records), run.unprefixed, len(run.deliveries), run.deliveries[failed].HookID, res.lost, res.duplicated, res.wrong)
		})
	}
}

// firstCopyOnly checks the entries stored from one copy: from the text,
// exactly the unprefixed lines lack a hook id, so that the final check
// shows the JSONL copy's fill; from the JSONL, none does.
func firstCopyOnly(got []apiEntry, run *jsonlRun, jsonlFirst bool) error {
	byTS := make(map[string]apiEntry, len(got))
	for _, e := range got {
		byTS[e.Timestamp] = e
	}
	noHook := 0
	for _, r := range run.want {
		e, ok := byTS[r.Timestamp]
		if !ok {
			return fmt.Errorf("record %s not stored", r.Timestamp)
		}
		if r.HookID != "" && e.HookID == nil {
			noHook++
		}
	}
	switch {
	case jsonlFirst && noHook != 0:
		return fmt.Errorf("%d entries lack the hook id their JSONL copy carries", noHook)
	case !jsonlFirst && noHook != run.unprefixed:
		return fmt.Errorf("%d entries without a hook id before the JSONL copy is in, want the %d unprefixed", noHook, run.unprefixed)
	}
	return nil
}
