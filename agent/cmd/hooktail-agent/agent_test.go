//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// These tests run the real agent binary, built once into a temporary
// folder, against an in-test aggregator on 127.0.0.1, and signal it. They
// poll for what they expect with a deadline; they never sleep.

const procDeadline = 30 * time.Second

var (
	buildOnce sync.Once
	agentBin  string
	buildErr  error
)

// agentBinary builds the agent once per test run.
func agentBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the agent binary (skipped with -short)")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hooktail-agent-test")
		if err != nil {
			buildErr = err
			return
		}
		agentBin = filepath.Join(dir, "hooktail-agent")
		cmd := exec.Command("go", "build", "-o", agentBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return agentBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agentBin != "" {
		os.RemoveAll(filepath.Dir(agentBin))
	}
	os.Exit(code)
}

// shipped is one entry the aggregator received.
type shipped struct {
	source, file string
	offset       int64
	message      string
}

// aggregator is an in-test ingest server that stores what it is pushed.
// Hold, when set, is waited on by every push before it is acknowledged.
type aggregator struct {
	hooktailv1.UnimplementedIngestServer
	addr string

	mu      sync.Mutex
	entries []shipped
	hold    chan struct{}
	// held counts the entries of the pushes waiting on hold.
	held int
}

func startAggregator(t *testing.T) *aggregator {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &aggregator{addr: lis.Addr().String()}
	g := grpc.NewServer()
	hooktailv1.RegisterIngestServer(g, a)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return a
}

func (a *aggregator) Push(ctx context.Context, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	a.mu.Lock()
	hold := a.hold
	if hold != nil {
		a.held += len(req.GetEntries())
	}
	a.mu.Unlock()
	if hold != nil && len(req.GetEntries()) > 0 {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range req.GetEntries() {
		a.entries = append(a.entries, shipped{source: e.GetSource(), file: e.GetFile(), offset: e.GetOffset(), message: e.GetMessage()})
	}
	return &hooktailv1.PushResponse{BatchId: req.GetBatchId(), Stored: uint32(len(req.GetEntries()))}, nil
}

// of returns the entries of one source.
func (a *aggregator) of(source string) []shipped {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []shipped
	for _, e := range a.entries {
		if e.source == source {
			out = append(out, e)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// agentProc is a running agent.
type agentProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

func startAgent(t *testing.T, config string) *agentProc {
	t.Helper()
	p := &agentProc{stderr: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(agentBinary(t), "-config", config, "-log-level", "debug")
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *agentProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait polls cond until it holds; it fails if the agent exits meanwhile.
func (p *agentProc) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(procDeadline)
	for !cond() {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("agent exited (%v) while waiting for %s", err, what)
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged waits for a log line matching re and returns its submatches.
func (p *agentProc) logged(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	p.wait(t, "a log line matching "+re, func() bool {
		m = rx.FindStringSubmatch(p.stderr.String())
		return m != nil
	})
	return m
}

func (p *agentProc) exit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(procDeadline):
		t.Fatal("the agent did not exit")
		return nil
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
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

// logLines writes n records of the github-webhook-server text format.
func logLines(tag string, from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "2026-01-02T03:04:%02d.000001 GithubWebhook INFO repo [push][%s-%d]: line %d of %s\n", i%60, tag, i, i, tag)
	}
	return b.String()
}

func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkpoints reads the agent's checkpoint file: offset by path.
func checkpoints(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "checkpoints.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files []struct {
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64)
	for _, f := range doc.Files {
		out[f.Path] = f.Offset
	}
	return out
}

// checkOnce fails if an entry of source was shipped twice.
func checkOnce(t *testing.T, entries []shipped) {
	t.Helper()
	seen := make(map[string]bool)
	for _, e := range entries {
		k := fmt.Sprintf("%s@%d", e.file, e.offset)
		if seen[k] {
			t.Errorf("entry %s shipped twice", k)
		}
		seen[k] = true
	}
}

// TestAgentReload runs the agent, adds a source with SIGHUP, then sends
// SIGHUP with an invalid configuration and with a change that needs a
// restart, and checks what the agent shipped, logged and served.
func TestAgentReload(t *testing.T) {
	t.Parallel()
	agg := startAggregator(t)
	dir := t.TempDir()
	dirA, dirB, dataDir := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "data")
	for _, d := range []string{dirA, dirB} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	pathA, pathB := filepath.Join(dirA, "web.log"), filepath.Join(dirB, "web.log")
	appendTo(t, pathA, logLines("a", 0, 3))
	appendTo(t, pathB, logLines("b", 0, 2))

	base := fmt.Sprintf(`data_dir = %q
aggregator {
  address        = %q
  batch_max_wait = "5ms"
}
metrics {
  listen = "127.0.0.1:0"
}
source "a" {
  paths = [%q]
  rescan_interval = "100ms"
}
`, dataDir, agg.addr, filepath.Join(dirA, "*.log"))
	withB := base + fmt.Sprintf(`source "b" {
  paths = [%q]
  rescan_interval = "100ms"
}
`, filepath.Join(dirB, "*.log"))
	config := filepath.Join(dir, "agent.hcl")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base)

	p := startAgent(t, config)
	addr := p.logged(t, `msg="metrics server listening" .*address=(127\.0\.0\.1:\d+)`)[1]
	url := "http://" + addr
	p.wait(t, "source a shipped", func() bool { return len(agg.of("a")) == 3 })
	if code, body := httpGet(t, url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", code, body)
	}
	p.wait(t, "ready", func() bool { code, _ := httpGet(t, url+"/readyz"); return code == 200 })

	// Add source b.
	write(withB)
	p.signal(t, syscall.SIGHUP)
	p.wait(t, "source b shipped after the reload", func() bool { return len(agg.of("b")) == 2 })
	p.logged(t, `msg="configuration reloaded" .*sources=2 added=\[b\] changed=\[\] removed=\[\]`)

	// An invalid configuration: an error naming the file, line and column,
	// and the agent keeps running the old one.
	write(withB + "source \"c\" {\n  paths = [\"/x/*.log\"]\n  parsr = \"x\"\n}\n")
	badLine := strings.Count(withB, "\n") + 3
	p.signal(t, syscall.SIGHUP)
	p.logged(t, fmt.Sprintf(`level=ERROR msg="configuration reload failed; the running configuration is kept" .*agent\.hcl:%d:3: error: Unsupported argument`, badLine))
	appendTo(t, pathA, logLines("a", 3, 1))
	p.wait(t, "source a still shipping", func() bool { return len(agg.of("a")) == 4 })

	// A change that needs a restart is logged and ignored.
	write(strings.Replace(withB, `batch_max_wait = "5ms"`, `batch_max_wait = "6ms"`, 1))
	p.signal(t, syscall.SIGHUP)
	p.logged(t, `level=WARN msg="configuration change needs a restart; ignored until then" .*setting=aggregator`)
	p.wait(t, "the third reload applied", func() bool { return strings.Count(p.stderr.String(), `msg="configuration reloaded"`) == 2 })

	_, metricsText := httpGet(t, url+"/metrics")
	for _, want := range []string{
		`hooktail_agent_records_shipped_total{source="a"} 4`,
		`hooktail_agent_records_shipped_total{source="b"} 2`,
		`hooktail_agent_config_reloads_total{result="success"} 2`,
		`hooktail_agent_config_reloads_total{result="failure"} 1`,
		`hooktail_agent_source_running{source="b"} 1`,
		`hooktail_agent_lag_bytes{source="a"} 0`,
		`hooktail_agent_files_watched{source="a"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	p.signal(t, syscall.SIGTERM)
	if err := p.exit(t); err != nil {
		t.Fatalf("agent exited with %v after SIGTERM", err)
	}
	checkOnce(t, agg.of("a"))
	checkOnce(t, agg.of("b"))
	cps := checkpoints(t, dataDir)
	for path, want := range map[string]int{pathA: len(logLines("a", 0, 4)), pathB: len(logLines("b", 0, 2))} {
		if cps[path] != int64(want) {
			t.Errorf("checkpoint of %s = %d, want %d (the whole file)", path, cps[path], want)
		}
	}
	if strings.Contains(p.stderr.String(), "panic") {
		t.Error("the agent panicked")
	}
}

// TestAgentShutdownFlushes sends SIGTERM while a push waits for the
// aggregator: the agent keeps the push going (within its shutdown timeout),
// commits and writes the checkpoint once acknowledged, and exits cleanly.
// /readyz answers 503 while the aggregator cannot be reached.
func TestAgentShutdownFlushes(t *testing.T) {
	t.Parallel()
	agg := startAggregator(t)
	agg.hold = make(chan struct{})
	dir := t.TempDir()
	logDir, dataDir := filepath.Join(dir, "logs"), filepath.Join(dir, "data")
	if err := os.Mkdir(logDir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(logDir, "web.log")
	data := logLines("x", 0, 5)
	appendTo(t, path, data)
	deadAddr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	config := filepath.Join(dir, "agent.hcl")
	body := fmt.Sprintf(`data_dir = %q
aggregator {
  address        = %q
  batch_max_wait = "5ms"
}
metrics {
  listen = "127.0.0.1:0"
}
source "x" {
  paths = [%q]
}
`, dataDir, agg.addr, filepath.Join(logDir, "*.log"))
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, config)
	url := "http://" + p.logged(t, `msg="metrics server listening" .*address=(127\.0\.0\.1:\d+)`)[1]
	// Every record is parsed and at the aggregator, unacknowledged (the
	// last one once the file has been quiet for the idle flush).
	p.wait(t, "every record pushed and held", func() bool {
		agg.mu.Lock()
		defer agg.mu.Unlock()
		return agg.held == 5
	})

	p.signal(t, syscall.SIGTERM)
	p.logged(t, `msg="stopping: pushing what is already parsed, then writing the checkpoints"`)
	agg.mu.Lock()
	close(agg.hold)
	agg.mu.Unlock()
	if err := p.exit(t); err != nil {
		t.Fatalf("agent exited with %v after SIGTERM", err)
	}
	if got := len(agg.of("x")); got != 5 {
		t.Errorf("aggregator got %d entries, want 5", got)
	}
	if got := checkpoints(t, dataDir)[path]; got != int64(len(data)) {
		t.Errorf("checkpoint = %d, want %d: the batch acknowledged during the shutdown is committed", got, len(data))
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the metrics server still answers after the agent exited")
	}

	// An agent whose aggregator is down is alive but not ready.
	body = strings.Replace(body, agg.addr, deadAddr, 1)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startAgent(t, config)
	url = "http://" + p.logged(t, `msg="metrics server listening" .*address=(127\.0\.0\.1:\d+)`)[1]
	if code, _ := httpGet(t, url+"/healthz"); code != 200 {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	p.wait(t, "not ready", func() bool {
		code, body := httpGet(t, url+"/readyz")
		return code == 503 && strings.Contains(body, deadAddr)
	})
	p.signal(t, syscall.SIGTERM)
	if err := p.exit(t); err != nil {
		t.Fatalf("agent exited with %v after SIGTERM", err)
	}
}
