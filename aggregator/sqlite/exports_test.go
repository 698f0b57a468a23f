package sqlite_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/export"
	"github.com/hooktail/hooktail/aggregator/export/exporttest"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

var exportStart = time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)

func testJob(id string, created time.Time) export.Job {
	req := export.Request{ID: id, Format: export.FormatJSONL, Filter: export.Filter{
		Since: exportStart, Till: exportStart.Add(time.Hour), ResultState: export.ResultFailed,
		HasErrors: new(true), Endpoint: "svc-a", Operations: []string{"pull_request", "push"},
		Scope: export.Scope{Endpoints: []string{"svc-a", "svc-b"}},
	}}
	return export.Job{ID: id, Request: req, Hash: req.Hash(), Owner: "ops", Status: export.StatusProcessing, CreatedAt: created}
}

func TestExportJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooktail.db")
	s := openStore(t, path, sqlite.Options{})
	ctx := t.Context()

	a := testJob("a", exportStart)
	got, created, err := s.CreateExport(ctx, a)
	if err != nil || !created {
		t.Fatalf("CreateExport(a) = created %v, %v; want created", created, err)
	}
	if diff := gocmp.Diff(a, got); diff != "" {
		t.Fatalf("created job (-want +got):\n%s", diff)
	}
	other := testJob("a", exportStart.Add(time.Minute))
	other.Hash, other.Owner = "different", "someone"
	got, created, err = s.CreateExport(ctx, other)
	if err != nil || created {
		t.Fatalf("CreateExport(a again) = created %v, %v; want the stored job", created, err)
	}
	if diff := gocmp.Diff(a, got); diff != "" {
		t.Fatalf("CreateExport of a taken ID changed the job (-want +got):\n%s", diff)
	}
	b := testJob("b", exportStart.Add(time.Second))
	if _, _, err := s.CreateExport(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExportJob(ctx, "nope"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("ExportJob(unknown) = %v, want ErrNotFound", err)
	}

	a.Status, a.RowCount, a.File, a.Error = export.StatusCompleted, 42, "export-a.jsonl", ""
	a.CompletedAt, a.ExpiresAt = exportStart.Add(time.Minute), exportStart.Add(25*time.Hour)
	if err := s.UpdateExport(ctx, a, export.StatusProcessing); err != nil {
		t.Fatalf("UpdateExport: %v", err)
	}
	if err := s.UpdateExport(ctx, a, export.StatusProcessing); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("UpdateExport from a status it left = %v, want ErrNotFound", err)
	}

	// Everything survives a restart.
	s.Close()
	s = openStore(t, path, sqlite.Options{})
	got, err = s.ExportJob(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(a, got); diff != "" {
		t.Fatalf("job after reopen (-want +got):\n%s", diff)
	}

	ids := func(q export.JobQuery) []string {
		t.Helper()
		jobs, err := s.ExportJobs(ctx, q)
		if err != nil {
			t.Fatalf("ExportJobs(%+v): %v", q, err)
		}
		var out []string
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	for name, tc := range map[string]struct {
		q    export.JobQuery
		want []string
	}{
		"all":                {export.JobQuery{}, []string{"a", "b"}},
		"processing":         {export.JobQuery{Statuses: []export.Status{export.StatusProcessing}}, []string{"b"}},
		"limit":              {export.JobQuery{Limit: 1}, []string{"a"}},
		"expiring too early": {export.JobQuery{ExpiresBy: exportStart.Add(24 * time.Hour)}, nil},
		"expired":            {export.JobQuery{ExpiresBy: exportStart.Add(25 * time.Hour)}, []string{"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := gocmp.Diff(tc.want, ids(tc.q)); diff != "" {
				t.Errorf("ExportJobs (-want +got):\n%s", diff)
			}
		})
	}
	n, err := s.DeleteExports(ctx, export.JobQuery{Statuses: []export.Status{export.StatusCompleted}, ExpiresBy: exportStart.Add(25 * time.Hour)})
	if err != nil || n != 1 {
		t.Fatalf("DeleteExports = %d, %v; want 1", n, err)
	}
	if diff := gocmp.Diff([]string{"b"}, ids(export.JobQuery{})); diff != "" {
		t.Errorf("jobs left (-want +got):\n%s", diff)
	}
}

const traceback = "Unexpected error in background webhook processing\n" +
	"Traceback (most recent call last):\n" +
	"  File \"/app/webhook_server/app.py\", line 485, in process\n" +
	"    await _api.process()\n" +
	"RuntimeError: Failed to fetch PR 12, \"ref\" missing"

// exportFixture ingests deliveries of every kind into s: both sources,
// each state (a timeout too), with and without errors, a redelivered
// hook_id, and times around an interval.
func exportFixture(t *testing.T, s *sqlite.Store) []string {
	t.Helper()
	at := func(m int) time.Time { return exportStart.Add(time.Duration(m) * time.Minute) }
	ds := []exporttest.Delivery{
		{HookID: "h01", Source: "svc-a", EventType: "pull_request", Action: "synchronize", Repository: "r", At: at(0), Background: true, Outcome: "success"},
		{HookID: "h02", Source: "svc-a", EventType: "push", Repository: "r", At: at(1), Background: true, Outcome: "failed", Error: traceback},
		{HookID: "h03", Source: "svc-b", EventType: "pull_request", Repository: "r", At: at(2), Background: true, Outcome: "partial"},
		{HookID: "h04", Source: "svc-b", EventType: "check_run", Repository: "r", At: at(3), Background: true, Error: "boom"},
		{HookID: "h05", Source: "svc-a", EventType: "issue_comment", At: at(4)},
		{HookID: "h06", Source: "svc-a", EventType: "pull_request", Repository: "r", At: at(5), Background: true, Outcome: "success", Error: "transient"},
		// Same receive time as h06: the order breaks the tie by hook_id.
		{HookID: "h00", Source: "svc-b", EventType: "push", Repository: "r", At: at(5), Background: true, Outcome: "success"},
		// Redelivered: the second attempt (failed) is the delivery.
		{HookID: "h07", Source: "svc-b", EventType: "push", Repository: "r", At: at(6), Background: true, Outcome: "success"},
		{HookID: "h07", Source: "svc-b", EventType: "push", Repository: "r", At: at(9), Background: true, Outcome: "failed"},
		// Outside the interval [0, 60) minutes.
		{HookID: "h08", Source: "svc-a", EventType: "push", Repository: "r", At: at(-1), Outcome: "success"},
		{HookID: "h09", Source: "svc-a", EventType: "push", Repository: "r", At: at(60), Outcome: "success"},
		// Unfinished at 30 min; svc-b's newest event, an hour later, puts it
		// (and h04) past the 15 minute timeout.
		{HookID: "h10", Source: "svc-b", EventType: "pull_request", Repository: "r", At: at(30), Background: true},
		{HookID: "h11", Source: "svc-b", EventType: "push", Repository: "r", At: at(90), Outcome: "success"},
		// svc-a's newest event is at 70 min: h05 timed out, h13 and h14
		// are recent enough to be processing and pending.
		{HookID: "h12", Source: "svc-a", EventType: "push", Repository: "r", At: at(70), Outcome: "success"},
		{HookID: "h13", Source: "svc-a", EventType: "pull_request", Repository: "r", At: at(59), Background: true},
		{HookID: "h14", Source: "svc-a", EventType: "pull_request", At: at(58)},
	}
	// Two batches, so that h07's second attempt arrives later.
	b := exporttest.NewBuilder()
	ingest(t, s, b.Entries(ds[:8]...))
	ingest(t, s, b.Entries(ds[8:]...))
	var ids []string
	for _, d := range ds {
		if !slices.Contains(ids, d.HookID) {
			ids = append(ids, d.HookID)
		}
	}
	return ids
}

// collect pages through an export.
func collect(t *testing.T, s *sqlite.Store, f export.Filter, limit int) []export.Row {
	t.Helper()
	var (
		rows []export.Row
		cur  export.Cursor
	)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("export does not end")
		}
		page, err := s.ExportPage(t.Context(), export.PageQuery{Filter: f, After: cur, Limit: limit})
		if err != nil {
			t.Fatalf("ExportPage: %v", err)
		}
		if len(page.Rows) > limit {
			t.Fatalf("page of %d rows, limit %d", len(page.Rows), limit)
		}
		rows = append(rows, page.Rows...)
		if page.Done {
			return rows
		}
		if !page.Next.After(cur) {
			t.Fatalf("page cursor %v does not advance past %v", page.Next, cur)
		}
		cur = page.Next
	}
}

func TestExportPageMatchesFilter(t *testing.T) {
	s := openStore(t, "", sqlite.Options{DeliveryTimeout: 15 * time.Minute})
	ids := exportFixture(t, s)
	var all []aggregator.Delivery
	for _, id := range ids {
		d := mustDelivery(t, s, id)
		d.Attempts = nil
		all = append(all, *d)
	}
	slices.SortFunc(all, func(a, b aggregator.Delivery) int {
		if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(a.HookID, b.HookID)
	})
	// The fixture has what the filters need.
	states := map[aggregator.State]int{}
	for _, d := range all {
		states[d.State]++
	}
	for _, st := range []aggregator.State{aggregator.StatePending, aggregator.StateProcessing,
		aggregator.StateCompleted, aggregator.StateFailed, aggregator.StateTimeout} {
		if states[st] == 0 {
			t.Fatalf("fixture has no %s delivery: %v", st, states)
		}
	}

	hour := export.Filter{Since: exportStart, Till: exportStart.Add(time.Hour), Scope: export.Scope{All: true}}
	with := func(fn func(f *export.Filter)) export.Filter {
		f := hour
		fn(&f)
		return f
	}
	filters := map[string]export.Filter{
		"interval": hour,
		"everything": with(func(f *export.Filter) {
			f.Since, f.Till = exportStart.Add(-24*time.Hour), exportStart.Add(24*time.Hour)
		}),
		"empty interval": with(func(f *export.Filter) {
			f.Since, f.Till = exportStart.Add(10*time.Second), exportStart.Add(20*time.Second)
		}),
		"completed":          with(func(f *export.Filter) { f.ResultState = export.ResultCompleted }),
		"failed":             with(func(f *export.Filter) { f.ResultState = export.ResultFailed }),
		"processing":         with(func(f *export.Filter) { f.ResultState = export.ResultProcessing }),
		"has errors":         with(func(f *export.Filter) { f.HasErrors = new(true) }),
		"no errors":          with(func(f *export.Filter) { f.HasErrors = new(false) }),
		"endpoint":           with(func(f *export.Filter) { f.Endpoint = "svc-b" }),
		"unknown endpoint":   with(func(f *export.Filter) { f.Endpoint = "svc-x" }),
		"operations":         with(func(f *export.Filter) { f.Operations = []string{"push", "check_run"} }),
		"scope":              with(func(f *export.Filter) { f.Scope = export.Scope{Endpoints: []string{"svc-a"}} }),
		"empty scope":        with(func(f *export.Filter) { f.Scope = export.Scope{} }),
		"endpoint off scope": with(func(f *export.Filter) { f.Endpoint, f.Scope = "svc-b", export.Scope{Endpoints: []string{"svc-a"}} }),
		"combined": with(func(f *export.Filter) {
			f.ResultState, f.HasErrors, f.Endpoint, f.Operations = export.ResultFailed, new(true), "svc-b", []string{"push", "pull_request"}
		}),
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			var want []aggregator.Delivery
			for _, d := range all {
				if f.Match(&d) {
					want = append(want, d)
				}
			}
			empty := strings.Contains(name, "empty") || strings.Contains(name, "unknown") || strings.Contains(name, "off scope")
			if got := len(want) == 0; got != empty {
				t.Fatalf("the fixture matches %d deliveries; the test data is wrong", len(want))
			}
			for _, limit := range []int{1, 2, 3, 1000} {
				var got []aggregator.Delivery
				for _, r := range collect(t, s, f, limit) {
					got = append(got, r.Delivery)
				}
				if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("page limit %d: deliveries (-want +got):\n%s", limit, diff)
				}
			}
		})
	}
	// The redelivered hook is its second attempt; the completed delivery
	// with an ERROR entry carries it as LastError.
	rows := collect(t, s, hour, 100)
	byID := map[string]export.Row{}
	for _, r := range rows {
		byID[r.Delivery.HookID] = r
	}
	if got := byID["h07"].Delivery; got.Attempt != 2 || got.State != aggregator.StateFailed {
		t.Errorf("h07 exported attempt %d in state %s, want attempt 2 failed", got.Attempt, got.State)
	}
	if le := byID["h06"].LastError; le == nil || le.Message != "transient" {
		t.Errorf("h06 LastError = %+v, want the ERROR entry's", le)
	}
}

// ingestDeliveries ingests n deliveries of two sources, a second apart
// from exportStart, in batches: a tenth failed with a traceback, a tenth
// unfinished, event types in rotation.
func ingestDeliveries(tb testing.TB, s *sqlite.Store, n int) {
	tb.Helper()
	events := []string{"pull_request", "push", "check_run", "issue_comment", "pull_request_review"}
	b := exporttest.NewBuilder()
	var batch []exporttest.Delivery
	for i := range n {
		d := exporttest.Delivery{HookID: fmt.Sprintf("%08x-bbd7-11f0-95bd-b07354b8711c", i),
			Source: []string{"svc-a", "svc-b"}[i%2], EventType: events[i%len(events)], Action: "synchronize",
			Repository: "github-webhook-server", At: exportStart.Add(time.Duration(i) * time.Second),
			Background: true, Outcome: "success"}
		switch i % 10 {
		case 3:
			d.Outcome, d.Error = "failed", traceback
		case 7:
			d.Outcome = ""
		}
		batch = append(batch, d)
		if len(batch) == 500 || i == n-1 {
			ingest(tb, s, b.Entries(batch...))
			batch = batch[:0]
		}
	}
}

// BenchmarkExportPage reads every page of an export of 20k deliveries:
// "all" matches every delivery, "selective" a fifth of them (one event
// type) and so examines five deliveries per row.
func BenchmarkExportPage(b *testing.B) {
	const n = 20_000
	s := openStore(b, "", sqlite.Options{DeliveryTimeout: 15 * time.Minute})
	ingestDeliveries(b, s, n)
	all := export.Filter{Since: exportStart, Till: exportStart.Add(48 * time.Hour), Scope: export.Scope{All: true}}
	selective := all
	selective.Operations = []string{"check_run"}
	for name, f := range map[string]export.Filter{"all": all, "selective": selective} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var rows, pages int
			for b.Loop() {
				var cur export.Cursor
				for {
					page, err := s.ExportPage(b.Context(), export.PageQuery{Filter: f, After: cur, Limit: export.DefaultPageSize})
					if err != nil {
						b.Fatal(err)
					}
					rows += len(page.Rows)
					pages++
					if page.Done {
						break
					}
					cur = page.Next
				}
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(pages), "ms/page")
		})
	}
}
