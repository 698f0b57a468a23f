package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/ingest"
	"github.com/hooktail/hooktail/aggregator/sqlite"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// childEnv makes the test binary run the aggregator's main instead of the
// tests: the process tests start it as the real binary.
const childEnv = "HOOKTAIL_AGGREGATOR_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// process is the aggregator running as a child process.
type process struct {
	cmd      *exec.Cmd
	logs     *syncBuffer
	httpAddr string
	grpcAddr string
	// exited is closed when the process has exited, with err its result.
	exited chan struct{}
	err    error
}

// startProcess runs the aggregator binary with the configuration at path
// and waits until it listens.
func startProcess(t *testing.T, path string) *process {
	t.Helper()
	p := &process{logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-config", path, "-log-format", "json")
	p.cmd.Env = append(os.Environ(), childEnv+"=1")
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	rec := p.waitLog(t, "aggregator listening", 1)
	p.httpAddr, _ = rec["http"].(string)
	p.grpcAddr, _ = rec["grpc"].(string)
	return p
}

// waitLog waits until the process logged msg n times and returns the last.
func (p *process) waitLog(t *testing.T, msg string, n int) map[string]any {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		if recs := logRecords(p.logs.String(), msg); len(recs) >= n {
			return recs[n-1]
		}
		select {
		case <-p.exited:
			t.Fatalf("aggregator exited (%v) before logging %q %d times; logs:\n%s", p.err, msg, n, p.logs)
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("aggregator did not log %q %d times; logs:\n%s", msg, n, p.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logRecords returns every JSON log line with message msg.
func logRecords(logs, msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rec, ok := logRecord(sc.Text(), msg); ok {
			out = append(out, rec)
		}
	}
	return out
}

func pushClient(t *testing.T, addr string) hooktailv1.IngestClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hooktailv1.NewIngestClient(conn)
}

// pushOne pushes one entry at offset off, with the bearer token tok unless
// it is empty, and returns the status code.
func pushOne(t *testing.T, client hooktailv1.IngestClient, off int64, tok string) codes.Code {
	t.Helper()
	ctx := t.Context()
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	_, err := client.Push(ctx, &hooktailv1.PushRequest{AgentId: "a", BatchId: uint64(off), Entries: []*hooktailv1.Entry{
		{Source: "src", Fingerprint: 1, Offset: off, File: "/x.log", TimestampUs: time.Now().UnixMicro(), Level: "INFO", Message: "hello"},
	}})
	return status.Code(err)
}

// TestProcessReloadAndStop runs the real binary: SIGHUP applies a new
// ingest token (an untokened push is then refused), a file that does not
// load leaves everything as it was and logs one Error with the
// diagnostics, and SIGTERM stops it cleanly.
func TestProcessReloadAndStop(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	base := fmt.Sprintf(`data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
trusted_networks = ["127.0.0.0/8"]
`, dataDir)
	path := writeConfig(t, "aggregator.hcl", base)
	rewrite := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := startProcess(t, path)
	client := pushClient(t, p.grpcAddr)
	if got := pushOne(t, client, 0, ""); got != codes.OK {
		t.Fatalf("push from a trusted network = %v, want OK", got)
	}

	// A token, and a listen address that only a restart can change.
	rewrite(strings.Replace(base, `http = "127.0.0.1:0"`, `http = "127.0.0.1:1"`, 1) + "ingest_tokens = [\"s3cret\"]\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	rec := p.waitLog(t, "configuration reloaded", 1)
	if got := fmt.Sprint(rec["applied"]); got != "[ingest_tokens]" {
		t.Errorf("applied %s, want [ingest_tokens]", got)
	}
	rec = p.waitLog(t, "configuration changes need a restart to apply; they are ignored until then", 1)
	if got := fmt.Sprint(rec["settings"]); got != "[listen.http]" || rec["level"] != "WARN" {
		t.Errorf("restart warning %v, want a Warn naming [listen.http]", rec)
	}
	if got := pushOne(t, client, 1, ""); got != codes.Unauthenticated {
		t.Errorf("untokened push after the reload = %v, want Unauthenticated", got)
	}
	if got := pushOne(t, client, 2, "s3cret"); got != codes.OK {
		t.Errorf("tokened push after the reload = %v, want OK", got)
	}
	resp, err := http.Get("http://" + p.httpAddr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz on the running address: %v", err)
	}
	resp.Body.Close()

	// An invalid file, which would also drop the token: nothing changes.
	rewrite(base + "retention = \"forever\"\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	rec = p.waitLog(t, "configuration reload failed; the running configuration is kept", 1)
	diags, _ := rec["diagnostics"].([]any)
	if rec["level"] != "ERROR" || len(diags) != 1 || !strings.HasPrefix(fmt.Sprint(diags[0]), path+":7:") {
		t.Errorf("failed reload logged %v, want one Error with the diagnostic at %s:7", rec, path)
	}
	if got := pushOne(t, client, 3, ""); got != codes.Unauthenticated {
		t.Errorf("untokened push after an invalid reload = %v, want Unauthenticated (the token kept)", got)
	}
	if got := pushOne(t, client, 4, "s3cret"); got != codes.OK {
		t.Errorf("tokened push after an invalid reload = %v, want OK", got)
	}

	// SIGTERM: a clean exit, the database closed (no WAL left behind).
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("aggregator exited with %v after SIGTERM; logs:\n%s", p.err, p.logs)
		}
	case <-time.After(deadline):
		t.Fatalf("aggregator still running %v after SIGTERM", deadline)
	}
	if len(logRecords(p.logs.String(), "aggregator stopped")) != 1 {
		t.Errorf("no \"aggregator stopped\" log; logs:\n%s", p.logs)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(filepath.Join(dataDir, DatabaseFile+suffix)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after a clean stop: %v, want it removed", DatabaseFile+suffix, err)
		}
	}
	if got := storedEntries(t, filepath.Join(dataDir, DatabaseFile)); got != 3 {
		t.Errorf("%d entries stored, want the 3 accepted pushes", got)
	}
}

// TestProcessReloadAPIKeys runs the real binary: SIGHUP adds api_key
// blocks (the data routes then need a bearer token, even from loopback),
// and removes them again (trusted networks only).
func TestProcessReloadAPIKeys(t *testing.T) {
	t.Parallel()
	base := fmt.Sprintf(`data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
trusted_networks = ["127.0.0.0/8"]
`, filepath.Join(t.TempDir(), "data"))
	path := writeConfig(t, "aggregator.hcl", base)
	rewrite := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := startProcess(t, path)
	status := func(token string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+p.httpAddr+"/api/endpoints", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /api/endpoints: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(""); got != http.StatusOK {
		t.Fatalf("without keys: status %d, want 200", got)
	}

	rewrite(base + "api_key \"ops\" {\n  token = \"k3y\"\n  role = \"owner\"\n}\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	if rec := p.waitLog(t, "configuration reloaded", 1); fmt.Sprint(rec["applied"]) != "[api_key]" {
		t.Errorf("applied %v, want [api_key]", rec["applied"])
	}
	if got := status(""); got != http.StatusUnauthorized {
		t.Errorf("keys added, no token: status %d, want 401", got)
	}
	if got := status("k3y"); got != http.StatusOK {
		t.Errorf("keys added, the token: status %d, want 200", got)
	}

	rewrite(base)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "configuration reloaded", 2)
	if got := status(""); got != http.StatusOK {
		t.Errorf("keys removed: status %d, want 200 from loopback", got)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(deadline):
		t.Fatalf("aggregator still running %v after SIGTERM", deadline)
	}
}

func storedEntries(t *testing.T, dbPath string) int64 {
	t.Helper()
	s, err := sqlite.Open(t.Context(), dbPath, sqlite.Options{RetentionInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st.Entries
}

// gate holds every Ingest until released, and tells when one arrived.
type gate struct {
	next    ingest.Ingester
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) Ingest(ctx context.Context, b *aggregator.Batch) (aggregator.IngestResult, error) {
	g.once.Do(func() { close(g.arrived) })
	<-g.release
	return g.next.Ingest(ctx, b)
}

// TestShutdownFinishesInFlightPush checks the graceful stop: a push that
// is being stored when the stop begins is stored and acknowledged, and the
// database is closed cleanly afterwards.
func TestShutdownFinishesInFlightPush(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	path := writeConfig(t, "aggregator.hcl", fmt.Sprintf("data_dir = %q\nlisten {\n  http = \"127.0.0.1:0\"\n  grpc = \"127.0.0.1:0\"\n}\n", dataDir))
	g := &gate{arrived: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, grpcAddr, logs, done := startServeWith(t, ctx, path, serveOptions{wrapIngester: func(in ingest.Ingester) ingest.Ingester {
		g.next = in
		return g
	}})
	client := pushClient(t, grpcAddr)
	pushed := make(chan codes.Code, 1)
	go func() { pushed <- pushOne(t, client, 0, "") }()
	select {
	case <-g.arrived:
	case <-time.After(deadline):
		t.Fatal("the push did not reach the store")
	}

	cancel() // what SIGTERM does
	end := time.Now().Add(deadline)
	for len(logRecords(logs.String(), "aggregator shutting down")) == 0 {
		if time.Now().After(end) {
			t.Fatalf("no shutdown began; logs:\n%s", logs)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("serve() = %v while a push was in flight", err)
	default:
	}
	close(g.release)
	if got := <-pushed; got != codes.OK {
		t.Errorf("in-flight push = %v, want OK", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve() = %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("serve did not return")
	}
	if _, err := os.Stat(filepath.Join(dataDir, DatabaseFile+"-wal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL after the stop: %v, want it removed by a clean close", err)
	}
	if got := storedEntries(t, filepath.Join(dataDir, DatabaseFile)); got != 1 {
		t.Errorf("%d entries stored, want the in-flight push's 1", got)
	}
}

// metricValue returns the value of the series in a text exposition.
func metricValue(body, series string) (float64, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestServeMetrics scrapes /metrics after some ingest and checks the
// counters, and that the route is for trusted networks only.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	httpAddr, grpcAddr, _, done := startServe(t, ctx, fmt.Sprintf(`data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
trusted_networks = ["127.0.0.0/8"]
`, t.TempDir()))
	client := pushClient(t, grpcAddr)
	req := &hooktailv1.PushRequest{AgentId: "a", BatchId: 1}
	for i := range 3 {
		req.Entries = append(req.Entries, &hooktailv1.Entry{Source: "src", Fingerprint: 1, Offset: int64(i) * 10,
			File: "/x.log", TimestampUs: time.Now().UnixMicro(), Level: "INFO", Message: "hello", HookId: "h1"})
	}
	for range 2 {
		if _, err := client.Push(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/healthz", "/logs/api/workflow-steps/h1", "/logs/api/workflow-steps/nope"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", resp.StatusCode, body)
	}
	for series, want := range map[string]float64{
		"hooktail_ingest_batches_total":                                                                       2,
		"hooktail_ingest_entries_total":                                                                       3,
		"hooktail_ingest_duplicates_total":                                                                    3,
		"hooktail_ingest_rejected_entries_total":                                                              0,
		`hooktail_ingest_failures_total{reason="disk_full"}`:                                                  0,
		"hooktail_ingest_duration_seconds_count":                                                              2,
		"hooktail_ingest_in_flight_batches":                                                                   0,
		`hooktail_http_request_duration_seconds_count{code="200",route="/healthz"}`:                           1,
		`hooktail_http_request_duration_seconds_count{code="200",route="/logs/api/workflow-steps/{hook_id}"}`: 1,
		`hooktail_http_request_duration_seconds_count{code="404",route="/logs/api/workflow-steps/{hook_id}"}`: 1,
		`hooktail_retention_deleted_rows_total{table="entries"}`:                                              0,
	} {
		if got, ok := metricValue(body, series); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	for _, series := range []string{`hooktail_store_file_size_bytes{file="db"}`, "hooktail_store_used_bytes", "go_goroutines", "process_resident_memory_bytes"} {
		if got, ok := metricValue(body, series); !ok || got <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", series, got, ok)
		}
	}
	if _, ok := metricValue(body, `hooktail_store_file_size_bytes{file="wal"}`); !ok {
		t.Error("no WAL size")
	}
	if strings.Contains(body, `route="/logs/api/workflow-steps/h1"`) {
		t.Error("a raw path became a route label")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve() = %v", err)
	}
}
