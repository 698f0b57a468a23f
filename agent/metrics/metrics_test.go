package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/metrics"
	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/agent/tail"
)

// fakePipeline serves fixed snapshots; files can be changed between
// scrapes.
type fakePipeline struct {
	mu    sync.Mutex
	stats pipeline.Stats
	files []pipeline.FileStatus
}

func (f *fakePipeline) Stats() pipeline.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakePipeline) Files() []pipeline.FileStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pipeline.FileStatus(nil), f.files...)
}

func (f *fakePipeline) setFiles(files ...pipeline.FileStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files = files
}

type fakeShipper struct {
	mu    sync.Mutex
	stats ship.Stats
	// checkErr is Check's answer; checks counts the calls.
	checkErr error
	checks   int
	now      func() time.Time
}

func (f *fakeShipper) Stats() ship.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *fakeShipper) Check(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	f.stats.LastContact = &ship.Contact{At: f.now(), Address: "agg:7400", Err: f.checkErr}
	return f.checkErr
}

type fakeRedactor redact.Stats

func (f fakeRedactor) Stats() redact.Stats { return redact.Stats(f) }

type fakeCheckpoints positions.Stats

func (f fakeCheckpoints) Stats() positions.Stats { return positions.Stats(f) }

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func file(source, path string, ino uint64, size, acked int64) pipeline.FileStatus {
	return pipeline.FileStatus{
		Source: source, Acked: acked,
		FileState: tail.FileState{Path: path, ID: agent.FileID{Ino: ino, Fingerprint: ino}, Identified: true, Reachable: true, Size: size, ReadOffset: size},
	}
}

func TestCollect(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	p := &fakePipeline{stats: pipeline.Stats{
		Batches: 12, BatchesInFlight: 2, LastAck: time.Unix(1_800_000_000, 500_000_000), CheckpointsPruned: 3, Running: true,
		Sources: []pipeline.SourceStats{
			{
				Name: "web", Running: true, Entries: 100, Duplicates: 4, ParseErrors: 5, Truncated: 1, ParseFailures: 1, SentRaw: 2, Dropped: 1,
				Tail: tail.Stats{FilesOpen: 2, Records: 110, Bytes: 9000, TruncatedRecords: 1, Truncations: 1, Rotations: 3, FilesDrained: 2, Errors: 1, Scans: 50},
			},
			{Name: "old", Draining: 1, Entries: 7, Tail: tail.Stats{Records: 7, Bytes: 700}},
		},
	}}
	var errs [len(ship.Stats{}.Errors)]int64
	errs[ship.ErrorUnavailable] = 3
	errs[ship.ErrorAuth] = 1
	sh := &fakeShipper{stats: ship.Stats{Pushes: 12, Attempts: 16, Retries: 4, RetriedBatches: 2, Failovers: 1, Errors: errs, Checks: 1,
		LastContact: &ship.Contact{At: clk.Now(), Address: "agg:7400"}}}
	var red redact.Stats
	red.Redactions[redact.RuleGitHubToken] = 6
	red.Redactions[redact.RulePattern] = 2
	c := metrics.NewCollector(metrics.Options{
		Pipeline: p, Shipper: sh, Redactor: fakeRedactor(red),
		Checkpoints: fakeCheckpoints{Entries: 9, Writes: 40, WriteErrors: 2}, Now: clk.Now,
	})
	p.setFiles(
		file("web", "/logs/a.log", 1, 1000, 800),
		file("web", "/logs/a.log.1", 2, 500, 500),
		pipeline.FileStatus{Source: "web", Acked: 0, FileState: tail.FileState{Path: "/logs/new.log", Size: 10}},
	)
	// The first scrape observes a.log and new.log behind: 0 seconds yet.
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP hooktail_agent_lag_bytes Bytes of the followed files not yet acknowledged by the aggregator.
# TYPE hooktail_agent_lag_bytes gauge
hooktail_agent_lag_bytes{source="old"} 0
hooktail_agent_lag_bytes{source="web"} 210
# HELP hooktail_agent_lag_seconds Longest time a followed file has held unacknowledged bytes, as seen by the scrapes.
# TYPE hooktail_agent_lag_seconds gauge
hooktail_agent_lag_seconds{source="old"} 0
hooktail_agent_lag_seconds{source="web"} 0
`), "hooktail_agent_lag_bytes", "hooktail_agent_lag_seconds"); err != nil {
		t.Fatal(err)
	}

	// 30s later a.log grew, and its bytes of the first scrape are acked up
	// to 900 of 1000 only: behind for 30s. new.log got its identity and is
	// caught up.
	clk.Add(30 * time.Second)
	p.setFiles(
		file("web", "/logs/a.log", 1, 1200, 900),
		file("web", "/logs/a.log.1", 2, 500, 500),
		file("web", "/logs/new.log", 3, 10, 10),
	)
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP hooktail_agent_lag_bytes Bytes of the followed files not yet acknowledged by the aggregator.
# TYPE hooktail_agent_lag_bytes gauge
hooktail_agent_lag_bytes{source="old"} 0
hooktail_agent_lag_bytes{source="web"} 300
# HELP hooktail_agent_lag_seconds Longest time a followed file has held unacknowledged bytes, as seen by the scrapes.
# TYPE hooktail_agent_lag_seconds gauge
hooktail_agent_lag_seconds{source="old"} 0
hooktail_agent_lag_seconds{source="web"} 30
`), "hooktail_agent_lag_bytes", "hooktail_agent_lag_seconds"); err != nil {
		t.Fatal(err)
	}

	// 20s later everything of the first scrape is acknowledged (1000), not
	// what came after: behind since the second scrape, 20s ago.
	clk.Add(20 * time.Second)
	p.setFiles(file("web", "/logs/a.log", 1, 1200, 1000))
	if got := lagSeconds(t, c, "web"); got != 20 {
		t.Errorf("lag_seconds = %v, want 20", got)
	}
	// Caught up: 0; behind again later counts from then.
	clk.Add(time.Minute)
	p.setFiles(file("web", "/logs/a.log", 1, 1200, 1200))
	if got := lagSeconds(t, c, "web"); got != 0 {
		t.Errorf("lag_seconds once caught up = %v, want 0", got)
	}
	clk.Add(time.Minute)
	p.setFiles(file("web", "/logs/a.log", 1, 1300, 1200))
	if got := lagSeconds(t, c, "web"); got != 0 {
		t.Errorf("lag_seconds at the first scrape behind = %v, want 0", got)
	}
	clk.Add(5 * time.Second)
	if got := lagSeconds(t, c, "web"); got != 5 {
		t.Errorf("lag_seconds behind again = %v, want 5", got)
	}

	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP hooktail_agent_records_shipped_total Records acknowledged by the aggregator.
# TYPE hooktail_agent_records_shipped_total counter
hooktail_agent_records_shipped_total{source="old"} 7
hooktail_agent_records_shipped_total{source="web"} 100
# HELP hooktail_agent_read_bytes_total Bytes read from the source's files.
# TYPE hooktail_agent_read_bytes_total counter
hooktail_agent_read_bytes_total{source="old"} 700
hooktail_agent_read_bytes_total{source="web"} 9000
# HELP hooktail_agent_files_watched Files the source follows now, rotated ones being drained included.
# TYPE hooktail_agent_files_watched gauge
hooktail_agent_files_watched{source="old"} 0
hooktail_agent_files_watched{source="web"} 2
# HELP hooktail_agent_rotations_total Rotations seen: files renamed away from a watched name.
# TYPE hooktail_agent_rotations_total counter
hooktail_agent_rotations_total{source="old"} 0
hooktail_agent_rotations_total{source="web"} 3
# HELP hooktail_agent_source_draining Stopped runs of the source (removed or changed by a reload) whose records are not all acknowledged yet.
# TYPE hooktail_agent_source_draining gauge
hooktail_agent_source_draining{source="old"} 1
hooktail_agent_source_draining{source="web"} 0
# HELP hooktail_agent_push_errors_total Failed push calls, by kind.
# TYPE hooktail_agent_push_errors_total counter
hooktail_agent_push_errors_total{kind="auth"} 1
hooktail_agent_push_errors_total{kind="other"} 0
hooktail_agent_push_errors_total{kind="rejected"} 0
hooktail_agent_push_errors_total{kind="timeout"} 0
hooktail_agent_push_errors_total{kind="unavailable"} 3
# HELP hooktail_agent_batches_retried_total Batches that needed more than one push.
# TYPE hooktail_agent_batches_retried_total counter
hooktail_agent_batches_retried_total 2
# HELP hooktail_agent_aggregator_reachable 1 when the last push or health check was acknowledged, 0 when it failed (absent before the first).
# TYPE hooktail_agent_aggregator_reachable gauge
hooktail_agent_aggregator_reachable 1
# HELP hooktail_agent_redactions_total Secrets masked before shipping, by rule.
# TYPE hooktail_agent_redactions_total counter
hooktail_agent_redactions_total{rule="auth_credential"} 0
hooktail_agent_redactions_total{rule="github_token"} 6
hooktail_agent_redactions_total{rule="pattern"} 2
hooktail_agent_redactions_total{rule="url_password"} 0
# HELP hooktail_agent_checkpoint_write_failures_total Failed checkpoint writes (retried at the next flush).
# TYPE hooktail_agent_checkpoint_write_failures_total counter
hooktail_agent_checkpoint_write_failures_total 2
# HELP hooktail_agent_last_ack_timestamp_seconds When the aggregator last acknowledged a batch (Unix time; absent before the first).
# TYPE hooktail_agent_last_ack_timestamp_seconds gauge
hooktail_agent_last_ack_timestamp_seconds 1.8000000005e+09
# HELP hooktail_agent_checkpoints_pruned_total Checkpoints forgotten because no tailer followed their file for the grace period.
# TYPE hooktail_agent_checkpoints_pruned_total counter
hooktail_agent_checkpoints_pruned_total 3
`), "hooktail_agent_records_shipped_total", "hooktail_agent_read_bytes_total", "hooktail_agent_files_watched",
		"hooktail_agent_rotations_total", "hooktail_agent_source_draining", "hooktail_agent_push_errors_total",
		"hooktail_agent_batches_retried_total", "hooktail_agent_aggregator_reachable", "hooktail_agent_redactions_total",
		"hooktail_agent_checkpoint_write_failures_total", "hooktail_agent_last_ack_timestamp_seconds",
		"hooktail_agent_checkpoints_pruned_total"); err != nil {
		t.Fatal(err)
	}
	// 18 per source, 5 of the pipeline, 11 of the client, 4 redaction
	// rules, 3 of the checkpoints.
	if got, want := testutil.CollectAndCount(c), 2*18+5+11+4+3; got != want {
		t.Errorf("collected %d metrics, want %d", got, want)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// lagSeconds scrapes c and returns hooktail_agent_lag_seconds of source.
func lagSeconds(t *testing.T, c prometheus.Collector, source string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hooktail_agent_lag_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == source {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no lag_seconds for source %q", source)
	return 0
}

// TestCollectMinimal checks that only the pipeline is required, and that
// metrics without a value yet are absent rather than invented.
func TestCollectMinimal(t *testing.T) {
	t.Parallel()
	c := metrics.NewCollector(metrics.Options{Pipeline: &fakePipeline{}})
	if got := testutil.CollectAndCount(c); got != 4 {
		t.Errorf("collected %d metrics from an idle pipeline, want 4 (running, batches, in flight, pruned)", got)
	}
	if got := testutil.CollectAndCount(c, "hooktail_agent_last_ack_timestamp_seconds", "hooktail_agent_aggregator_reachable"); got != 0 {
		t.Errorf("%d metrics without a value yet, want none", got)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	if _, err := metrics.Register(reg, metrics.Options{Pipeline: &fakePipeline{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.Register(reg, metrics.Options{Pipeline: &fakePipeline{}}); err == nil {
		t.Error("registering twice succeeded")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var goMetric, process bool
	for _, mf := range mfs {
		goMetric = goMetric || mf.GetName() == "go_goroutines"
		process = process || strings.HasPrefix(mf.GetName(), "process_")
	}
	if !goMetric || !process {
		t.Errorf("go collector %v, process collector %v; want both registered", goMetric, process)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	p := &fakePipeline{}
	sh := &fakeShipper{now: clk.Now}
	r := &metrics.Readiness{Pipeline: p, Shipper: sh, Now: clk.Now, MaxAge: 30 * time.Second}
	ready := func(wantOK bool, wantChecks int, wantText string) {
		t.Helper()
		err := r.Ready(t.Context())
		if (err == nil) != wantOK || (err != nil && !strings.Contains(err.Error(), wantText)) {
			t.Errorf("Ready() = %v, want ok=%v (%q)", err, wantOK, wantText)
		}
		if sh.checks != wantChecks {
			t.Errorf("%d health checks, want %d", sh.checks, wantChecks)
		}
	}
	ready(false, 0, "pipeline is not running")
	p.stats.Running = true
	// Nothing pushed yet: a health check decides.
	ready(true, 1, "")
	// A recent exchange decides without a check.
	clk.Add(10 * time.Second)
	ready(true, 1, "")
	sh.stats.LastContact = &ship.Contact{At: clk.Now(), Address: "agg:7400", Err: errors.New("connection refused")}
	ready(false, 1, "the last push to aggregator agg:7400, 0s ago, failed: connection refused")
	// Stale: checked again.
	clk.Add(31 * time.Second)
	sh.checkErr = errors.New("unavailable")
	ready(false, 2, "aggregator unreachable: unavailable")
	clk.Add(31 * time.Second)
	sh.checkErr = nil
	ready(true, 3, "")
}

func TestHandler(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.Options{Pipeline: &fakePipeline{stats: pipeline.Stats{Batches: 7}}}))
	var mu sync.Mutex
	var readyErr error
	srv := httptest.NewServer(metrics.NewHandler(metrics.HandlerOptions{
		Gatherer: reg,
		Ready: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return readyErr
		},
	}))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		path     string
		ready    error
		wantCode int
		wantBody string
	}{
		{"/healthz", nil, 200, "ok\n"},
		{"/healthz", errors.New("down"), 200, "ok\n"},
		{"/readyz", nil, 200, "ok\n"},
		{"/readyz", errors.New("not ready: aggregator unreachable"), 503, "not ready: aggregator unreachable\n"},
		{"/nope", nil, 404, "404 page not found\n"},
	} {
		mu.Lock()
		readyErr = tc.ready
		mu.Unlock()
		if code, body := get(tc.path); code != tc.wantCode || body != tc.wantBody {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, code, body, tc.wantCode, tc.wantBody)
		}
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "hooktail_agent_batches_shipped_total 7\n") {
		t.Errorf("GET /metrics = %d\n%s", code, body)
	}
}

// BenchmarkCollect scrapes an agent with 10 sources of 100 followed files
// each, every file behind.
func BenchmarkCollect(b *testing.B) {
	p := &fakePipeline{stats: pipeline.Stats{Running: true}}
	var files []pipeline.FileStatus
	for s := range 10 {
		name := fmt.Sprintf("src%d", s)
		p.stats.Sources = append(p.stats.Sources, pipeline.SourceStats{Name: name})
		for f := range 100 {
			files = append(files, file(name, fmt.Sprintf("/logs/%s/%d.log", name, f), uint64(s*100+f+1), 1000, 500))
		}
	}
	p.setFiles(files...)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(metrics.Options{Pipeline: p, Shipper: &fakeShipper{}, Redactor: fakeRedactor{}, Checkpoints: fakeCheckpoints{}}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
