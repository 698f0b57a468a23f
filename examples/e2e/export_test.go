package e2e_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/examples/logwriter"
)

// exportColumns are the columns of an export file, in order (SPEC §5.4).
var exportColumns = []string{
	"OperationLogTransactionId",
	"OperationLogStartDateTimeUtc",
	"OperationLogEndDateTimeUtc",
	"OperationLogOperationSystemName",
	"OperationLogOperationName",
	"OperationLogEndpointExternalId",
	"OperationLogIntegrationName",
	"OperationLogHasErrors",
	"OperationLogErrorMessages",
	"OperationLogDevice",
	"OperationLogStatus",
	"OperationLogHttpMethod",
	"OperationLogUrl",
	"OperationLogRequestHeaders",
	"OperationLogRequestBody",
	"OperationLogHTTPStatusCode",
	"OperationLogResponseHeaders",
	"OperationLogResponseBody",
}

// writtenDelivery is what the log writer says of one delivery, reduced to
// what an export filters on and reports.
type writtenDelivery struct {
	hookID  string
	service string
	event   string
	// status is the expected OperationLogStatus: completed or failed.
	status string
	// hasErrors follows SPEC §4: an error entry, a failed step, upstream
	// status partial, or a failed state.
	hasErrors bool
	// first is the delivery's first record, prefixed is its first record
	// carrying its hook id: its receive time is somewhere in [first,
	// prefixed], depending on which records the aggregator attributes.
	first, prefixed time.Time
}

// exportFilter is one export request and the reference predicate it
// stands for.
type exportFilter struct {
	name string
	body map[string]any
	// jsonl is the format asked for (csv otherwise).
	jsonl bool
	match func(d writtenDelivery) bool
}

// exportRow is one row of an export file, in the fields the test checks.
type exportRow struct {
	Status    string
	HasErrors bool
	Endpoint  string
	Operation string
}

// TestExportJobsEndToEnd writes deliveries into two tailed sources, then
// runs export jobs (SPEC §5.4) with each filter through the real
// aggregator and checks each file against what was written: the header,
// the exact set of transaction IDs, and each row's status, has-errors
// flag, endpoint and operation. Then it submits a burst of jobs, SIGKILLs
// the aggregator right after the last 202, restarts it, and checks that
// every job completes with the right file.
func TestExportJobsEndToEnd(t *testing.T) {
	needBinaries(t)
	root := t.TempDir()
	sources := []struct {
		name       string
		seed       int64
		deliveries int
	}{
		{"hooks-main", 401, 240},
		{"hooks-side", 402, 80},
	}
	var cfg strings.Builder
	for _, s := range sources {
		dir := filepath.Join(root, s.name)
		fmt.Fprintf(&cfg, "source %q {\n  paths = [\"%s/webhook-server.log*\", \"%s/webhooks_*.json\"]\n}\n", s.name, dir, dir)
	}
	c := startCluster(t, cfg.String())

	var (
		written []writtenDelivery
		records int
	)
	seen := map[string]bool{}
	for _, s := range sources {
		firstPrefixed := map[string]time.Time{}
		var deliveries []logwriter.ManifestDelivery
		st, err := logwriter.Run(t.Context(), logwriter.Options{
			Dir: filepath.Join(root, s.name), Seed: s.seed, Deliveries: s.deliveries, Concurrency: 4,
			FailureRate: 0.3, JSONL: logwriter.JSONLCurrent, MaxBytes: 256 << 10, Backups: 1000,
			OnRecord: func(r logwriter.ManifestRecord) {
				if r.HookID == "" {
					return
				}
				if _, ok := firstPrefixed[r.HookID]; !ok {
					firstPrefixed[r.HookID] = parseISO(t, r.Timestamp)
				}
			},
			OnDelivery: func(d logwriter.ManifestDelivery) { deliveries = append(deliveries, d) },
		})
		if err != nil {
			t.Fatalf("write %s: %v", s.name, err)
		}
		records += int(st.Records)
		for _, d := range deliveries {
			if seen[d.HookID] {
				t.Fatalf("hook id %s written twice: the test's expectations assume one delivery per hook id", d.HookID)
			}
			seen[d.HookID] = true
			p, ok := firstPrefixed[d.HookID]
			if !ok {
				t.Fatalf("delivery %s: no record carries its hook id", d.HookID)
			}
			w := writtenDelivery{
				hookID: d.HookID, service: s.name, event: d.EventType, status: "completed",
				hasErrors: d.HasErrors || d.Failed || d.Status == "partial",
				first:     parseISO(t, d.FirstTimestamp), prefixed: p,
			}
			if d.Failed {
				w.status = "failed"
			}
			written = append(written, w)
		}
	}
	wantFailed, wantErrors := 0, 0
	for _, d := range written {
		if d.status == "failed" {
			wantFailed++
		}
		if d.hasErrors {
			wantErrors++
		}
	}
	t.Logf("written: %d deliveries (%d failed, %d with errors), %d records", len(written), wantFailed, wantErrors, records)
	if wantFailed == 0 || wantFailed == len(written) || wantErrors == wantFailed {
		t.Fatalf("the deliveries do not tell the filters apart: %d failed, %d with errors of %d", wantFailed, wantErrors, len(written))
	}

	// Everything stored and derived: every record, every delivery, and
	// the states and has_errors the completions (text and JSONL) give.
	eventually(t, 60*time.Second, "every record and delivery stored and derived", func() error {
		ctx := t.Context()
		n, err := c.total(ctx)
		if err != nil {
			return err
		}
		if n != records {
			return fmt.Errorf("%d entries stored, want %d", n, records)
		}
		for _, q := range []struct {
			query string
			want  int
		}{{"", len(written)}, {"&status=error,timeout", wantFailed}, {"&has_errors=true", wantErrors}} {
			got, err := deliveriesTotal(ctx, c, q.query)
			if err != nil {
				return err
			}
			if got != q.want {
				return fmt.Errorf("/api/logs?%s: total %d, want %d", q.query, got, q.want)
			}
		}
		return nil
	})

	filters := exportFilters(t, written, sources[1].name)
	start := time.Now()
	for _, f := range filters {
		t.Run(f.name, func(t *testing.T) {
			id := postExport(t, c, "", f)
			waitExport(t, c, id, 30*time.Second)
			checkExportFile(t, c, id, f, written)
		})
	}
	t.Logf("%d export jobs run and checked in %s", len(filters), time.Since(start).Round(time.Millisecond))
	if t.Failed() {
		return
	}

	// The restart: a burst of jobs (more than the runner's two workers
	// run at once, so the last ones are still queued or running), the
	// aggregator SIGKILLed right after the last 202, then restarted.
	ids := make([]string, len(filters))
	for i, f := range filters {
		ids[i] = postExport(t, c, fmt.Sprintf("restart-%d-%s", i, strings.ReplaceAll(f.name, "/", "-")), f)
	}
	c.agg.kill(t)
	c.startAggregator(t)
	for i, f := range filters {
		t.Run("after-restart/"+f.name, func(t *testing.T) {
			waitExport(t, c, ids[i], 30*time.Second)
			checkExportFile(t, c, ids[i], f, written)
		})
	}
	// Whether the kill caught jobs mid-run: the restarted runner logs how
	// many processing jobs it resumed.
	t.Logf("restart: %d jobs submitted, aggregator SIGKILLed right after the last 202; %d were still processing and resumed after the restart",
		len(ids), resumedJobs(t, c.agg.out))
}

// exportFilters builds the filters of the test from what was written.
func exportFilters(t *testing.T, written []writtenDelivery, side string) []exportFilter {
	t.Helper()
	lo, hi := written[0].first, written[0].first
	events := map[string]int{}
	for _, d := range written {
		lo, hi = minTime(lo, d.first), maxTime(hi, d.first)
		events[d.event]++
	}
	// The whole range, in seed 001's minute format.
	wideSince := lo.Add(-time.Hour).UTC().Format("2006-01-02 15:04")
	wideTill := hi.Add(time.Hour).UTC().Format("2006-01-02 15:04")
	// The most frequent event type that is not every delivery's.
	var event string
	for e, n := range events {
		if n < len(written) && (event == "" || n > events[event] || n == events[event] && e < event) {
			event = e
		}
	}
	if event == "" {
		t.Fatal("every delivery has the same event type: the operations filter proves nothing")
	}
	since, till := narrowRange(t, written)
	inRange := func(d writtenDelivery) bool { return !d.first.Before(since) && d.first.Before(till) }
	wide := func(extra map[string]any) map[string]any {
		b := map[string]any{"sinceDateTimeUtc": wideSince, "tillDateTimeUtc": wideTill}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	return []exportFilter{
		{name: "none", body: wide(nil), match: func(writtenDelivery) bool { return true }},
		{name: "completed", body: wide(map[string]any{"resultState": "completed"}),
			match: func(d writtenDelivery) bool { return d.status == "completed" }},
		{name: "failed", body: wide(map[string]any{"resultState": "failed"}),
			match: func(d writtenDelivery) bool { return d.status == "failed" }},
		{name: "hasErrors", body: wide(map[string]any{"hasErrors": true}),
			match: func(d writtenDelivery) bool { return d.hasErrors }},
		{name: "endpoint", body: wide(map[string]any{"endpoint": map[string]any{"ids": map[string]any{"externalId": side}}}),
			match: func(d writtenDelivery) bool { return d.service == side }},
		{name: "operation", body: wide(map[string]any{"operations": []any{map[string]any{"ids": map[string]any{"systemName": event}}}}),
			match: func(d writtenDelivery) bool { return d.event == event }},
		{name: "since-till", body: map[string]any{
			"sinceDateTimeUtc": since.Format(time.RFC3339Nano), "tillDateTimeUtc": till.Format(time.RFC3339Nano)},
			match: inRange},
		{name: "jsonl-failed-with-errors", jsonl: true, body: wide(map[string]any{"format": "jsonl", "resultState": "failed", "hasErrors": true}),
			match: func(d writtenDelivery) bool { return d.status == "failed" && d.hasErrors }},
	}
}

// narrowRange picks [since, till) around the middle half of the
// deliveries, with both bounds at a delivery's first record and outside
// every delivery's [first, prefixed) window, so that which deliveries are
// in does not depend on which of its records sets a receive time.
func narrowRange(t *testing.T, written []writtenDelivery) (since, till time.Time) {
	t.Helper()
	sorted := slices.Clone(written)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].first.Before(sorted[j].first) })
	clean := func(b time.Time) bool {
		for _, d := range sorted {
			if d.first.Before(b) && !d.prefixed.Before(b) {
				return false
			}
		}
		return true
	}
	pick := func(from int) (time.Time, int) {
		for k := from; k < len(sorted); k++ {
			if clean(sorted[k].first) {
				return sorted[k].first, k
			}
		}
		t.Fatalf("no clean time bound at or after delivery %d of %d", from, len(sorted))
		return time.Time{}, 0
	}
	since, i := pick(len(sorted) / 4)
	till, j := pick(len(sorted) * 3 / 4)
	if j-i < 10 {
		t.Fatalf("narrow range holds %d deliveries: too few to mean anything", j-i)
	}
	return since, till
}

// postExport creates an export job and returns its ID; id "" lets the
// aggregator choose one.
func postExport(t *testing.T, c *cluster, id string, f exportFilter) string {
	t.Helper()
	body := f.body
	if id != "" {
		body = map[string]any{"exportId": id}
		for k, v := range f.body {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.httpBase+"/api/exports", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /api/exports %s: %v", b, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/exports %s: %d %s, want 202", b, resp.StatusCode, rb)
	}
	var got struct {
		ExportID string `json:"exportId"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal(rb, &got); err != nil {
		t.Fatalf("POST /api/exports: decode %s: %v", rb, err)
	}
	if got.ExportID == "" || got.Status != "processing" || (id != "" && got.ExportID != id) {
		t.Fatalf("POST /api/exports %s: answer %s, want the job (id %q) processing", b, rb, id)
	}
	return got.ExportID
}

// waitExport polls the job until it completes; a failed job fails the test.
func waitExport(t *testing.T, c *cluster, id string, within time.Duration) {
	t.Helper()
	u := c.httpBase + "/api/exports/" + url.PathEscape(id)
	eventuallyEvery(t, within, 20*time.Millisecond, "export "+id+" completed", func() error {
		var job struct {
			ExportID string  `json:"exportId"`
			Status   string  `json:"status"`
			RowCount int64   `json:"rowCount"`
			URL      *string `json:"url"`
			Error    *string `json:"error"`
		}
		code, err := getJSON(t.Context(), u, &job)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET %s: %d", u, code)
		}
		switch job.Status {
		case "completed":
			if job.ExportID != id || job.URL == nil {
				t.Fatalf("completed job %q: id %q, url %v", id, job.ExportID, job.URL)
			}
			return nil
		case "processing":
			// The file is not there yet.
			if code, body := getFile(t, c, id); code != http.StatusConflict {
				// It may have completed in between.
				if code != http.StatusOK {
					t.Fatalf("file of processing job %s: %d %.200s, want 409", id, code, body)
				}
			}
			return fmt.Errorf("still processing (%d rows so far)", job.RowCount)
		default:
			t.Fatalf("job %s: status %q, error %v", id, job.Status, show(job.Error))
			return nil
		}
	})
}

// getFile downloads the export file.
func getFile(t *testing.T, c *cluster, id string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.httpBase+"/api/exports/"+url.PathEscape(id)+"/file", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET export file %s: %v", id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET export file %s: %v", id, err)
	}
	return resp.StatusCode, b
}

// checkExportFile downloads a completed job's file and checks it against
// the deliveries the filter selects from what was written.
func checkExportFile(t *testing.T, c *cluster, id string, f exportFilter, written []writtenDelivery) {
	t.Helper()
	code, body := getFile(t, c, id)
	if code != http.StatusOK {
		t.Fatalf("GET export file %s: %d %.300s", id, code, body)
	}
	var rows map[string]exportRow
	if f.jsonl {
		rows = parseJSONLExport(t, body)
	} else {
		rows = parseCSVExport(t, body)
	}
	want := map[string]exportRow{}
	for _, d := range written {
		if f.match(d) {
			want[d.hookID] = exportRow{Status: d.status, HasErrors: d.hasErrors, Endpoint: d.service, Operation: d.event}
		}
	}
	if len(want) == 0 {
		t.Fatalf("filter %s selects no delivery written: it proves nothing", f.name)
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("export %s (%s): %d rows, want %d; rows by transaction id (-want +got):\n%s", id, f.name, len(rows), len(want), diff)
		return
	}
	t.Logf("export %s (%s): the %d rows expected of %d deliveries", id, f.name, len(rows), len(written))
}

// parseCSVExport reads a CSV export: the header must be the columns in
// order, every row a distinct transaction id.
func parseCSVExport(t *testing.T, body []byte) map[string]exportRow {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = len(exportColumns)
	all, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse CSV export: %v", err)
	}
	if len(all) == 0 {
		t.Fatal("CSV export has no header")
	}
	if diff := cmp.Diff(exportColumns, all[0]); diff != "" {
		t.Fatalf("CSV header (-want +got):\n%s", diff)
	}
	col := func(name string) int { return slices.Index(exportColumns, name) }
	id, status, hasErr := col("OperationLogTransactionId"), col("OperationLogStatus"), col("OperationLogHasErrors")
	ep, op := col("OperationLogEndpointExternalId"), col("OperationLogOperationSystemName")
	rows := map[string]exportRow{}
	for i, rec := range all[1:] {
		he, err := strconv.ParseBool(rec[hasErr])
		if err != nil || (rec[hasErr] != "true" && rec[hasErr] != "false") {
			t.Fatalf("CSV row %d: OperationLogHasErrors %q, want true or false", i+1, rec[hasErr])
		}
		if _, dup := rows[rec[id]]; dup {
			t.Fatalf("CSV row %d: transaction id %q exported twice", i+1, rec[id])
		}
		rows[rec[id]] = exportRow{Status: rec[status], HasErrors: he, Endpoint: rec[ep], Operation: rec[op]}
	}
	return rows
}

// parseJSONLExport reads a JSON Lines export: every object has the
// columns as keys, in order.
func parseJSONLExport(t *testing.T, body []byte) map[string]exportRow {
	t.Helper()
	rows := map[string]exportRow{}
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	if len(body) == 0 {
		lines = nil
	}
	for i, line := range lines {
		dec := json.NewDecoder(bytes.NewReader(line))
		var keys []string
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("JSONL line %d: not an object: %.200s", i+1, line)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("JSONL line %d: %v", i+1, err)
			}
			keys = append(keys, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatalf("JSONL line %d: %v", i+1, err)
			}
		}
		if diff := cmp.Diff(exportColumns, keys); diff != "" {
			t.Fatalf("JSONL line %d keys (-want +got):\n%s", i+1, diff)
		}
		var rec struct {
			ID        string  `json:"OperationLogTransactionId"`
			Status    string  `json:"OperationLogStatus"`
			HasErrors *bool   `json:"OperationLogHasErrors"`
			Endpoint  *string `json:"OperationLogEndpointExternalId"`
			Operation *string `json:"OperationLogOperationSystemName"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("JSONL line %d: %v", i+1, err)
		}
		if rec.HasErrors == nil {
			t.Fatalf("JSONL line %d: OperationLogHasErrors is null", i+1)
		}
		if _, dup := rows[rec.ID]; dup {
			t.Fatalf("JSONL line %d: transaction id %q exported twice", i+1, rec.ID)
		}
		deref := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		rows[rec.ID] = exportRow{Status: rec.Status, HasErrors: *rec.HasErrors, Endpoint: deref(rec.Endpoint), Operation: deref(rec.Operation)}
	}
	return rows
}

// deliveriesTotal is the total of /api/logs with the extra query.
func deliveriesTotal(ctx context.Context, c *cluster, query string) (int, error) {
	var page struct {
		Total *int `json:"total"`
	}
	u := c.httpBase + "/api/logs?limit=1" + query
	code, err := getJSON(ctx, u, &page)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK || page.Total == nil {
		return 0, fmt.Errorf("GET %s: %d, total %v", u, code, page.Total)
	}
	return *page.Total, nil
}

// resumedJobs reads how many processing jobs an aggregator's runner
// resumed at start from its log ("export jobs resumed" with jobs=N).
func resumedJobs(t *testing.T, out string) int {
	t.Helper()
	for _, line := range strings.Split(readText(t, out), "\n") {
		if !strings.Contains(line, "export jobs resumed") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "jobs="); ok {
				n, err := strconv.Atoi(v)
				if err == nil {
					return n
				}
			}
		}
		var rec struct {
			Jobs int `json:"jobs"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil {
			return rec.Jobs
		}
	}
	return 0
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseISO parses an isoformat() timestamp with an offset.
func parseISO(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return ts.UTC()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
