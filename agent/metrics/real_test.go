package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"

	"github.com/hooktail/hooktail/agent/metrics"
	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/agent/tail"
	"github.com/hooktail/hooktail/plugins"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// ingest is an aggregator that acknowledges everything.
type ingest struct {
	hooktailv1.UnimplementedIngestServer
	mu      sync.Mutex
	entries int
}

func (s *ingest) Push(_ context.Context, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries += len(req.GetEntries())
	return &hooktailv1.PushResponse{BatchId: req.GetBatchId(), Stored: uint32(len(req.GetEntries()))}, nil
}

func serveIngest(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	hooktailv1.RegisterIngestServer(g, &ingest{})
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// lineParser makes one entry per line; a line holding "garbage" is a
// parse error.
type lineParser struct{}

func (lineParser) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "lines"}, nil
}

func (lineParser) ValidateConfig(context.Context, json.RawMessage) (plugins.Diagnostics, error) {
	return nil, nil
}

func (lineParser) Configure(context.Context, json.RawMessage) (plugins.Diagnostics, error) {
	return nil, nil
}

func (lineParser) Parse(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	for _, r := range req.Records {
		dst = append(dst, plugins.Entry{Message: string(r.Data), ParseError: strings.Contains(string(r.Data), "garbage")})
	}
	return dst, nil
}

// TestCollectRealPipeline runs a real pipeline (tailer, redactor,
// checkpoint store, gRPC client) against an in-test aggregator and checks
// the metrics it yields.
func TestCollectRealPipeline(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	data := "cloned with ghp_0123456789abcdefghijABCDEFGHIJ012345\n" +
		"garbage\n" +
		"password=hunter2\n" +
		strings.Repeat("x", 100) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "web.log"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := positions.Open(filepath.Join(t.TempDir(), "checkpoints.json"), logger)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ship.New(ship.Options{Addresses: []string{serveIngest(t)}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	red := redact.New([]*regexp.Regexp{regexp.MustCompile(`password=(\S+)`)})
	p, err := pipeline.New(pipeline.Options{
		Pusher: client, Checkpoints: store, Redactor: red, BatchMaxWait: time.Millisecond, FlushInterval: time.Millisecond, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetSources(t.Context(), []pipeline.Source{{Name: "web", Parser: lineParser{}, Tail: tail.Options{
		Paths: []string{filepath.Join(dir, "*.log")}, MaxRecordBytes: 64, Logger: logger,
		IdleFlush: time.Millisecond, PollInterval: 5 * time.Millisecond,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	c := metrics.NewCollector(metrics.Options{Pipeline: p, Shipper: client, Redactor: red, Checkpoints: store})

	end := time.Now().Add(10 * time.Second)
	for store.Stats().Writes == 0 || testutil.ToFloat64(counterOf(c, "hooktail_agent_lag_bytes")) != 0 ||
		len(store.Entries()) == 0 || store.Entries()[0].Offset != int64(len(data)) {
		if time.Now().After(end) {
			t.Fatal("timed out waiting for the file to be shipped and checkpointed")
		}
		time.Sleep(time.Millisecond)
	}
	want := fmt.Sprintf(`
# HELP hooktail_agent_records_read_total Records framed from the source's files.
# TYPE hooktail_agent_records_read_total counter
hooktail_agent_records_read_total{source="web"} 4
# HELP hooktail_agent_read_bytes_total Bytes read from the source's files.
# TYPE hooktail_agent_read_bytes_total counter
hooktail_agent_read_bytes_total{source="web"} %d
# HELP hooktail_agent_records_shipped_total Records acknowledged by the aggregator.
# TYPE hooktail_agent_records_shipped_total counter
hooktail_agent_records_shipped_total{source="web"} 4
# HELP hooktail_agent_records_cut_total Records cut at max_record_bytes.
# TYPE hooktail_agent_records_cut_total counter
hooktail_agent_records_cut_total{source="web"} 1
# HELP hooktail_agent_parse_errors_total Records shipped flagged parse_error (stored raw).
# TYPE hooktail_agent_parse_errors_total counter
hooktail_agent_parse_errors_total{source="web"} 1
# HELP hooktail_agent_files_watched Files the source follows now, rotated ones being drained included.
# TYPE hooktail_agent_files_watched gauge
hooktail_agent_files_watched{source="web"} 1
# HELP hooktail_agent_lag_bytes Bytes of the followed files not yet acknowledged by the aggregator.
# TYPE hooktail_agent_lag_bytes gauge
hooktail_agent_lag_bytes{source="web"} 0
# HELP hooktail_agent_redactions_total Secrets masked before shipping, by rule.
# TYPE hooktail_agent_redactions_total counter
hooktail_agent_redactions_total{rule="auth_credential"} 0
hooktail_agent_redactions_total{rule="github_token"} 1
hooktail_agent_redactions_total{rule="pattern"} 1
hooktail_agent_redactions_total{rule="url_password"} 0
# HELP hooktail_agent_push_errors_total Failed push calls, by kind.
# TYPE hooktail_agent_push_errors_total counter
hooktail_agent_push_errors_total{kind="auth"} 0
hooktail_agent_push_errors_total{kind="other"} 0
hooktail_agent_push_errors_total{kind="rejected"} 0
hooktail_agent_push_errors_total{kind="timeout"} 0
hooktail_agent_push_errors_total{kind="unavailable"} 0
# HELP hooktail_agent_aggregator_reachable 1 when the last push or health check was acknowledged, 0 when it failed (absent before the first).
# TYPE hooktail_agent_aggregator_reachable gauge
hooktail_agent_aggregator_reachable 1
# HELP hooktail_agent_checkpoints Checkpoints held (one per file identity).
# TYPE hooktail_agent_checkpoints gauge
hooktail_agent_checkpoints 1
# HELP hooktail_agent_pipeline_running 1 while the pipeline runs.
# TYPE hooktail_agent_pipeline_running gauge
hooktail_agent_pipeline_running 1
`, len(data))
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"hooktail_agent_records_read_total", "hooktail_agent_read_bytes_total", "hooktail_agent_records_shipped_total",
		"hooktail_agent_records_cut_total", "hooktail_agent_parse_errors_total", "hooktail_agent_files_watched",
		"hooktail_agent_lag_bytes", "hooktail_agent_redactions_total", "hooktail_agent_push_errors_total",
		"hooktail_agent_aggregator_reachable", "hooktail_agent_checkpoints", "hooktail_agent_pipeline_running"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(counterOf(c, "hooktail_agent_push_attempts_total")); got < 1 {
		t.Errorf("push_attempts_total = %v, want at least 1", got)
	}
}

// counterOf returns a collector of the one metric name from c, for
// testutil.ToFloat64.
func counterOf(c *metrics.Collector, name string) *filtered {
	return &filtered{c: c, name: name}
}

// filtered collects only the metrics of one name from c.
type filtered struct {
	c    *metrics.Collector
	name string
}

func (f *filtered) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }

func (f *filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() {
		f.c.Collect(all)
		close(all)
	}()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}
