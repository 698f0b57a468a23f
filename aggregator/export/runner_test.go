package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/export"
	"github.com/hooktail/hooktail/aggregator/export/exporttest"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// gatedStore holds every ExportPage until gate is closed (nil: open), and
// then fails it with fail, if set.
type gatedStore struct {
	export.Store
	gate  chan struct{}
	fail  error
	pages chan struct{} // receives once per ExportPage call, if set
}

func (g *gatedStore) ExportPage(ctx context.Context, q export.PageQuery) (export.Page, error) {
	if g.pages != nil {
		select {
		case g.pages <- struct{}{}:
		default:
		}
	}
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return export.Page{}, ctx.Err()
		}
	}
	if g.fail != nil {
		return export.Page{}, g.fail
	}
	return g.Store.ExportPage(ctx, q)
}

var discard = slog.New(slog.DiscardHandler)

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "hooktail.db")
	}
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{DeliveryTimeout: 15 * time.Minute, Logger: discard})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fixture ingests deliveries in and around [since, till) and returns
// the hook_ids an unfiltered export of the interval holds, in order.
func fixture(t *testing.T, s *sqlite.Store) []string {
	t.Helper()
	at := func(m int) time.Time { return since.Add(time.Duration(m) * time.Minute) }
	entries := exporttest.NewBuilder().Entries(
		exporttest.Delivery{HookID: "h1", Source: "svc-a", EventType: "pull_request", Action: "synchronize", Repository: "r", At: at(1), Background: true, Outcome: "success"},
		exporttest.Delivery{HookID: "h2", Source: "svc-a", EventType: "push", Repository: "r", At: at(2), Background: true, Outcome: "failed",
			Error: "Unexpected error, \"quoted\"\nTraceback (most recent call last):\n  File \"x.py\", line 1\nValueError: a, b"},
		exporttest.Delivery{HookID: "h3", Source: "svc-b", EventType: "check_run", Repository: "r", At: at(3), Background: true},
		exporttest.Delivery{HookID: "h4", Source: "svc-b", EventType: "push", Repository: "r", At: at(4), Outcome: "success"},
		exporttest.Delivery{HookID: "h5", Source: "svc-a", EventType: "push", Repository: "r", At: at(5), Outcome: "partial"},
		exporttest.Delivery{HookID: "h6", Source: "svc-a", EventType: "push", Repository: "r", At: at(59), Outcome: "success"},
		exporttest.Delivery{HookID: "late", Source: "svc-a", EventType: "push", Repository: "r", At: at(60), Outcome: "success"},
	)
	if _, err := s.Ingest(t.Context(), &aggregator.Batch{AgentID: "agent-1", Entries: entries}); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return []string{"h1", "h2", "h3", "h4", "h5", "h6"}
}

func newRequest(id string, f export.Format) export.Request {
	return export.Request{ID: id, Format: f, Filter: export.Filter{Since: since, Till: till, Scope: export.Scope{All: true}}}
}

func openRunner(t *testing.T, opts export.Options) *export.Runner {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discard
	}
	if opts.JanitorInterval == 0 {
		opts.JanitorInterval = -1
	}
	r, err := export.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("export.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func wait(t *testing.T, r *export.Runner, id string) export.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	j, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait(%q): %v", id, err)
	}
	return j
}

// readCSV reads a job's file and returns its hook_ids, checking the header.
func readCSV(t *testing.T, r *export.Runner, id string) ([]string, [][]string) {
	t.Helper()
	f, err := r.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open(%q): %v", id, err)
	}
	defer f.Content.Close()
	b, err := io.ReadAll(f.Content)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != f.Size {
		t.Errorf("File.Size %d, read %d bytes", f.Size, len(b))
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("parse export: %v", err)
	}
	if diff := gocmp.Diff(export.Columns, recs[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	var ids []string
	for _, rec := range recs[1:] {
		ids = append(ids, rec[0])
	}
	return ids, recs[1:]
}

func TestRunnerLifecycle(t *testing.T) {
	s := openStore(t, "")
	want := fixture(t, s)
	clk := exporttest.NewClock(time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC))
	gated := &gatedStore{Store: s, gate: make(chan struct{})}
	dir := filepath.Join(t.TempDir(), "exports")
	r := openRunner(t, export.Options{Store: gated, Dir: dir, TTL: time.Hour, Retain: 2 * time.Hour,
		PageSize: 2, Now: clk.Now})
	ctx := t.Context()

	job, created, err := r.Submit(ctx, newRequest("exp-1", export.FormatCSV), "ops")
	if err != nil || !created {
		t.Fatalf("Submit = created %v, %v", created, err)
	}
	if job.Status != export.StatusProcessing || !job.CreatedAt.Equal(clk.Now()) || job.Owner != "ops" {
		t.Fatalf("new job %+v, want processing, created now, owner ops", job)
	}
	if _, err := r.Open(ctx, "exp-1"); !errors.Is(err, export.ErrNotReady) {
		t.Fatalf("Open while processing = %v, want ErrNotReady", err)
	}
	// Same request, same job; another request with the ID, a conflict.
	again, created, err := r.Submit(ctx, newRequest("exp-1", export.FormatCSV), "ops")
	if err != nil || created || again.ID != "exp-1" || again.Hash != job.Hash {
		t.Fatalf("re-Submit = %+v created %v, %v; want the same job", again, created, err)
	}
	if _, _, err := r.Submit(ctx, newRequest("exp-1", export.FormatJSONL), "ops"); !errors.Is(err, export.ErrConflict) {
		t.Fatalf("Submit of another request with the ID = %v, want ErrConflict", err)
	}

	clk.Advance(time.Minute)
	close(gated.gate)
	job = wait(t, r, "exp-1")
	done := clk.Now()
	if job.Status != export.StatusCompleted || job.RowCount != int64(len(want)) ||
		!job.CompletedAt.Equal(done) || !job.ExpiresAt.Equal(done.Add(time.Hour)) || job.Error != "" {
		t.Fatalf("finished job %+v, want completed with %d rows at %v, expiring an hour later", job, len(want), done)
	}
	ids, recs := readCSV(t, r, "exp-1")
	if diff := gocmp.Diff(want, ids); diff != "" {
		t.Fatalf("exported hook_ids (-want +got):\n%s", diff)
	}
	if got := recs[0][4]; got != "pull_request.synchronize" {
		t.Errorf("operation name %q, want pull_request.synchronize", got)
	}
	if got := recs[1][8]; !strings.Contains(got, "\"quoted\"\nTraceback") || !strings.HasSuffix(got, "ValueError: a, b") {
		t.Errorf("error messages %q lost the traceback", got)
	}
	path := filepath.Join(dir, job.File)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("export file: %v", err)
	}

	// Past the TTL the job is expired at once; the janitor deletes the
	// file and records it.
	clk.Advance(time.Hour)
	if j, _ := r.Job(ctx, "exp-1"); j.Status != export.StatusExpired {
		t.Fatalf("job past its TTL is %s, want expired", j.Status)
	}
	if _, err := r.Open(ctx, "exp-1"); !errors.Is(err, export.ErrExpired) {
		t.Fatalf("Open past the TTL = %v, want ErrExpired", err)
	}
	if n, err := r.Expire(ctx); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file after expiry: %v, want gone", err)
	}
	stored, err := s.ExportJob(ctx, "exp-1")
	if err != nil || stored.Status != export.StatusExpired || stored.File != "" {
		t.Fatalf("stored job after expiry %+v, %v; want expired without a file", stored, err)
	}
	if n, err := r.Expire(ctx); err != nil || n != 0 {
		t.Fatalf("second Expire = %d, %v; want 0", n, err)
	}
	// Re-posting an expired job's request answers the expired job.
	if j, created, err := r.Submit(ctx, newRequest("exp-1", export.FormatCSV), ""); err != nil || created || j.Status != export.StatusExpired {
		t.Fatalf("Submit of an expired job = %+v, %v, %v", j, created, err)
	}
	// Retain later the job is forgotten.
	clk.Advance(2 * time.Hour)
	if _, err := r.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Job(ctx, "exp-1"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("Job after Retain = %v, want ErrNotFound", err)
	}
}

func TestRunnerJSONLAndScope(t *testing.T) {
	s := openStore(t, "")
	fixture(t, s)
	r := openRunner(t, export.Options{Store: s, Dir: t.TempDir()})
	req := newRequest("j", export.FormatJSONL)
	req.Filter.Scope = export.Scope{Endpoints: []string{"svc-b"}}
	if _, _, err := r.Submit(t.Context(), req, "b-owner"); err != nil {
		t.Fatal(err)
	}
	if j := wait(t, r, "j"); j.Status != export.StatusCompleted || j.RowCount != 2 {
		t.Fatalf("job %+v, want completed with svc-b's 2 rows", j)
	}
	f, err := r.Open(t.Context(), "j")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Content.Close()
	dec := json.NewDecoder(f.Content)
	var ids []string
	for dec.More() {
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			t.Fatal(err)
		}
		if len(row) != len(export.Columns) || row["OperationLogEndpointExternalId"] != "svc-b" {
			t.Fatalf("row %v: want every column, endpoint svc-b", row)
		}
		ids = append(ids, row["OperationLogTransactionId"].(string))
	}
	if diff := gocmp.Diff([]string{"h3", "h4"}, ids); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestRunnerResumesAfterRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "hooktail.db")
	dir := filepath.Join(t.TempDir(), "exports")
	s1, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	want := fixture(t, s1)
	// The job starts, then the aggregator stops before it reads a page.
	gated := &gatedStore{Store: s1, gate: make(chan struct{}), pages: make(chan struct{}, 1)}
	r1, err := export.Open(t.Context(), export.Options{Store: gated, Dir: dir, Logger: discard, JanitorInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r1.Submit(t.Context(), newRequest("resume-me", export.FormatCSV), ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gated.pages:
	case <-time.After(30 * time.Second):
		t.Fatal("the job never started")
	}
	if err := r1.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash would have left a half-written file behind.
	stray := filepath.Join(dir, "export-crashed.csv.tmp")
	if err := os.WriteFile(stray, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 {
		t.Fatalf("files after the interrupted job: %v, want only the stray one", left)
	}

	s2 := openStore(t, dbPath)
	if j, err := s2.ExportJob(t.Context(), "resume-me"); err != nil || j.Status != export.StatusProcessing {
		t.Fatalf("job after restart %+v, %v; want processing", j, err)
	}
	r2 := openRunner(t, export.Options{Store: s2, Dir: dir})
	j := wait(t, r2, "resume-me")
	if j.Status != export.StatusCompleted || j.RowCount != int64(len(want)) {
		t.Fatalf("resumed job %+v, want completed with %d rows", j, len(want))
	}
	ids, _ := readCSV(t, r2, "resume-me")
	if diff := gocmp.Diff(want, ids); diff != "" {
		t.Errorf("resumed export (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(stray); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stray temporary file: %v, want deleted at Open", err)
	}
}

func TestRunnerFailure(t *testing.T) {
	s := openStore(t, "")
	clk := exporttest.NewClock(time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	failing := &gatedStore{Store: s, fail: errors.New("read /var/lib/hooktail/secret.db: disk on fire")}
	r := openRunner(t, export.Options{Store: failing, Dir: dir, TTL: time.Hour, Retain: time.Hour, Now: clk.Now})
	if _, _, err := r.Submit(t.Context(), newRequest("f", export.FormatCSV), ""); err != nil {
		t.Fatal(err)
	}
	j := wait(t, r, "f")
	if j.Status != export.StatusFailed || j.Error == "" || strings.Contains(j.Error, "/var/lib") || j.File != "" {
		t.Fatalf("failed job %+v: want failed, with an error that names no path, without a file", j)
	}
	if _, err := r.Open(t.Context(), "f"); !errors.Is(err, export.ErrFailed) {
		t.Fatalf("Open of a failed job = %v, want ErrFailed", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left by the failed job: %v", left)
	}
	clk.Advance(2 * time.Hour)
	if _, err := r.Expire(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Job(t.Context(), "f"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Fatalf("failed job after TTL and Retain = %v, want deleted", err)
	}
}

func TestRunnerBusy(t *testing.T) {
	s := openStore(t, "")
	gated := &gatedStore{Store: s, gate: make(chan struct{})}
	r := openRunner(t, export.Options{Store: gated, Dir: t.TempDir(), MaxQueued: 2, Concurrency: 1})
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		if _, _, err := r.Submit(ctx, newRequest(id, export.FormatCSV), ""); err != nil {
			t.Fatalf("Submit(%s): %v", id, err)
		}
	}
	if _, _, err := r.Submit(ctx, newRequest("c", export.FormatCSV), ""); !errors.Is(err, export.ErrBusy) {
		t.Fatalf("Submit past MaxQueued = %v, want ErrBusy", err)
	}
	// A known job is still answered.
	if j, created, err := r.Submit(ctx, newRequest("b", export.FormatCSV), ""); err != nil || created || j.ID != "b" {
		t.Fatalf("re-Submit while busy = %+v, %v, %v", j, created, err)
	}
	if _, _, err := r.Submit(ctx, newRequest("b", export.FormatJSONL), ""); !errors.Is(err, export.ErrConflict) {
		t.Fatalf("conflicting re-Submit while busy = %v, want ErrConflict", err)
	}
	close(gated.gate)
	for _, id := range []string{"a", "b"} {
		if j := wait(t, r, id); j.Status != export.StatusCompleted {
			t.Fatalf("job %s: %s", id, j.Status)
		}
	}
	if _, created, err := r.Submit(ctx, newRequest("c", export.FormatCSV), ""); err != nil || !created {
		t.Fatalf("Submit once the queue drained = %v, %v", created, err)
	}
}

func TestSubmit(t *testing.T) {
	s := openStore(t, "")
	r := openRunner(t, export.Options{Store: s, Dir: t.TempDir()})
	ctx := t.Context()

	j, created, err := r.Submit(ctx, newRequest("", export.FormatCSV), "")
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(j.ID) {
		t.Errorf("generated ID %q is not a UUIDv4", j.ID)
	}
	if j2, _, _ := r.Submit(ctx, newRequest("", export.FormatCSV), ""); j2.ID == j.ID {
		t.Error("two requests without an ID got the same job")
	}

	bad := newRequest("x", export.FormatCSV)
	bad.Filter.Till = bad.Filter.Since
	var re *export.RequestError
	if _, _, err := r.Submit(ctx, bad, ""); !errors.As(err, &re) {
		t.Errorf("Submit(since = till) = %v, want a *RequestError", err)
	}
	bad = newRequest("a/b", export.FormatCSV)
	if _, _, err := r.Submit(ctx, bad, ""); !errors.As(err, &re) || re.Field != "exportId" {
		t.Errorf("Submit(bad id) = %v, want a *RequestError on exportId", err)
	}

	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Submit(ctx, newRequest("late", export.FormatCSV), ""); !errors.Is(err, export.ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	if _, err := export.Open(ctx, export.Options{Dir: t.TempDir()}); err == nil {
		t.Error("Open without a store succeeded")
	}
	if _, err := export.Open(ctx, export.Options{Store: s}); err == nil {
		t.Error("Open without a directory succeeded")
	}
}

func TestScope(t *testing.T) {
	all := export.Scope{All: true}
	ab := export.Scope{Endpoints: []string{"a", "b"}}
	a := export.Scope{Endpoints: []string{"a"}}
	for _, tc := range []struct {
		s, o export.Scope
		want bool
	}{
		{all, all, true}, {all, ab, true}, {ab, all, false}, {ab, a, true}, {a, ab, false},
		{export.Scope{}, export.Scope{}, true}, {export.Scope{}, a, false},
	} {
		if got := tc.s.Covers(tc.o); got != tc.want {
			t.Errorf("%+v.Covers(%+v) = %v, want %v", tc.s, tc.o, got, tc.want)
		}
	}
	if (export.Scope{}).Contains("a") || !slices.Equal(export.Filter{Scope: a, Endpoint: "b"}.Services(), []string{}) {
		t.Error("the zero scope or an endpoint off scope lets something through")
	}
}

// BenchmarkRunner runs whole CSV exports of 20k deliveries (two sources,
// a tenth failed with a traceback) from Submit to the renamed file.
func BenchmarkRunner(b *testing.B) {
	const n = 20_000
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "hooktail.db"), sqlite.Options{Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	builder := exporttest.NewBuilder()
	var batch []exporttest.Delivery
	for i := range n {
		d := exporttest.Delivery{HookID: fmt.Sprintf("%08x-bbd7-11f0-95bd-b07354b8711c", i), Source: []string{"svc-a", "svc-b"}[i%2],
			EventType: "pull_request", Action: "synchronize", Repository: "r", At: since.Add(time.Duration(i) * 100 * time.Millisecond),
			Background: true, Outcome: "success"}
		if i%10 == 3 {
			d.Outcome, d.Error = "failed", "Unexpected error\nTraceback (most recent call last):\n  File \"app.py\", line 1\nValueError: x, \"y\""
		}
		if batch = append(batch, d); len(batch) == 500 {
			if _, err := s.Ingest(b.Context(), &aggregator.Batch{Entries: builder.Entries(batch...)}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	r, err := export.Open(b.Context(), export.Options{Store: s, Dir: b.TempDir(), Logger: discard, JanitorInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("bench-%d", i)
		if _, _, err := r.Submit(b.Context(), newRequest(id, export.FormatCSV), ""); err != nil {
			b.Fatal(err)
		}
		j, err := r.Wait(b.Context(), id)
		if err != nil || j.RowCount != n {
			b.Fatalf("job %+v, %v", j, err)
		}
	}
	b.ReportMetric(float64(n*i)/b.Elapsed().Seconds(), "rows/s")
}
