package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hooktail/hooktail/config"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

const deadline = 10 * time.Second

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "..", "examples", "aggregator.hcl")
	code, stdout, stderr := runCmd("validate", "-config", path)
	if code != 0 {
		t.Fatalf("validate %s: exit %d, stderr:\n%s", path, code, stderr)
	}
	if got, want := stdout, path+": valid\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

func TestValidateBadConfig(t *testing.T) {
	t.Parallel()
	testCases := map[string]struct {
		body string
		// want matches a line of stderr; the location is file:line:col.
		want string
	}{
		"bad duration": {
			body: "data_dir = \"/tmp/x\"\nretention = \"forever\"\n",
			want: `:2:\d+: error: `,
		},
		"unknown attribute": {
			body: "data_dir = \"/tmp/x\"\n\nno_such_setting = 1\n",
			want: `:3:1: error: `,
		},
		"syntax error": {
			body: "listen {\n  http = \n}\n",
			want: `:\d+:\d+: error: `,
		},
		"bad network": {
			body: "trusted_networks = [\"not-a-cidr\"]\n",
			want: `:1:\d+: error: `,
		},
		"api_key block with a bad role": {
			body: "data_dir = \"/tmp/x\"\n\napi_key \"ci\" {\n  token = \"t0ken\"\n  role = \"admin\"\n}\n",
			want: `:5:\d+: error: Invalid role`,
		},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, "bad.hcl", tc.body)
			code, stdout, stderr := runCmd("validate", "-config", path)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(path) + tc.want)
			if !re.MatchString(stderr) {
				t.Errorf("stderr = %q, want a line matching %s", stderr, re)
			}
		})
	}
}

func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "bad.hcl", "retention = \"x\"\n")
	code, _, stderr := runCmd("-config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, path+":1:") {
		t.Errorf("stderr = %q, want the diagnostic at %s:1:…", stderr, path)
	}
}

// TestServeAPIKeys checks that serve passes the api_key blocks to the HTTP
// API: with keys, every data route needs a valid bearer token even from
// loopback, the probes stay open, and an owner key is an owner.
func TestServeAPIKeys(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sum := sha256.Sum256([]byte("viewer-token"))
	httpAddr, _, _, done := startServe(t, ctx, fmt.Sprintf(`
data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
api_key "viewer" {
  token_sha256 = %q
  endpoints    = ["webhook-server"]
}
api_key "owner" {
  token = "owner-token"
  role  = "owner"
}
`, t.TempDir(), hex.EncodeToString(sum[:])))
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", http.StatusOK},
		{"/logs/api/entries", "", http.StatusUnauthorized},
		{"/logs/api/entries", "wrong", http.StatusUnauthorized},
		{"/logs/api/entries", "viewer-token", http.StatusOK},
		{"/logs/api/entries", "owner-token", http.StatusOK},
		{"/api/logs", "", http.StatusUnauthorized},
		{"/api/logs", "viewer-token", http.StatusOK},
		{"/api/endpoints", "owner-token", http.StatusOK},
		{"/logs", "viewer-token", http.StatusOK},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with token %q: status %d, want %d", tc.path, tc.token, resp.StatusCode, tc.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve() = %v", err)
	}
}

func TestRunMissingConfigFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing.hcl")
	for _, args := range [][]string{{"validate", "-config", path}, {"-config", path}} {
		code, _, stderr := runCmd(args...)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1; stderr:\n%s", args, code, stderr)
		}
		if !strings.Contains(stderr, "missing.hcl") {
			t.Errorf("%q: stderr = %q, want it to name the file", args, stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	testCases := map[string][]string{
		"no arguments":             nil,
		"unknown flag":             {"-nope"},
		"stray argument":           {"-config", "x.hcl", "extra"},
		"validate without config":  {"validate"},
		"validate stray argument":  {"validate", "-config", "x.hcl", "extra"},
		"validate unknown flag":    {"validate", "-version"},
		"flag without value":       {"-config"},
		"validate flag no value":   {"validate", "-config"},
		"unknown subcommand first": {"serve"},
	}
	for name, args := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCmd(args...)
			if code != 2 {
				t.Fatalf("run(%q): exit %d, want 2; stderr:\n%s", args, code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, "usage") && !strings.Contains(stderr, "Usage") {
				t.Errorf("stderr = %q, want a usage message", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd("-version")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if got, want := stdout, "hooktail-aggregator "+version+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestRunBadLogFlags(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "ok.hcl", "data_dir = \"/nonexistent\"\n")
	for _, args := range [][]string{
		{"-config", path, "-log-level", "loud"},
		{"-config", path, "-log-format", "xml"},
	} {
		code, _, stderr := runCmd(args...)
		if code != 1 {
			t.Errorf("run(%q): exit %d, want 1; stderr:\n%s", args, code, stderr)
		}
		if !strings.Contains(stderr, "-log-") {
			t.Errorf("run(%q): stderr = %q, want it to name the flag", args, stderr)
		}
	}
}

// syncBuffer is an io.Writer safe for concurrent use.
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

// logRecord returns the first JSON log line with message msg.
func logRecord(logs, msg string) (map[string]any, bool) {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			return rec, true
		}
	}
	return nil, false
}

// startServe runs serve on loopback ports chosen by the kernel and returns
// the HTTP and gRPC addresses it logged, and its result channel.
func startServe(t *testing.T, ctx context.Context, cfgBody string) (httpAddr, grpcAddr string, logs *syncBuffer, done <-chan error) {
	t.Helper()
	return startServeWith(t, ctx, writeConfig(t, "aggregator.hcl", cfgBody), serveOptions{})
}

// startServeWith is startServe of the configuration at path, with options;
// opts.configPath is path.
func startServeWith(t *testing.T, ctx context.Context, path string, opts serveOptions) (httpAddr, grpcAddr string, logs *syncBuffer, done <-chan error) {
	t.Helper()
	cfg, diags := config.LoadAggregator(path)
	if diags.HasErrors() {
		t.Fatalf("LoadAggregator: %v", diags)
	}
	opts.configPath = path
	logs = &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ch := make(chan error, 1)
	go func() { ch <- serve(ctx, cfg, logger, opts) }()
	end := time.Now().Add(deadline)
	for {
		if rec, ok := logRecord(logs.String(), "aggregator listening"); ok {
			httpAddr, _ = rec["http"].(string)
			grpcAddr, _ = rec["grpc"].(string)
			break
		}
		select {
		case err := <-ch:
			t.Fatalf("serve() = %v before listening; logs:\n%s", err, logs)
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("serve did not start listening; logs:\n%s", logs)
		}
		time.Sleep(time.Millisecond)
	}
	return httpAddr, grpcAddr, logs, ch
}

func TestServe(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data", "nested")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	httpAddr, grpcAddr, logs, done := startServe(t, ctx, fmt.Sprintf(`
data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
trusted_networks = ["127.0.0.0/8"]
`, dataDir))

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", path, resp.StatusCode)
		}
	}

	// The ingest service is wired to the store.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := hooktailv1.NewIngestClient(conn).Push(ctx, &hooktailv1.PushRequest{AgentId: "a", BatchId: 4, Entries: []*hooktailv1.Entry{
		{Source: "src", Fingerprint: 1, Offset: 0, File: "/x.log", TimestampUs: time.Now().UnixMicro(), Level: "INFO", Message: "hello"},
	}})
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if got, want := []any{resp.GetBatchId(), resp.GetStored()}, []any{uint64(4), uint32(1)}; !cmp.Equal(got, want) {
		t.Errorf("Push() = batch %v stored %v, want %v", got[0], got[1], want)
	}
	if _, err := os.Stat(filepath.Join(dataDir, DatabaseFile)); err != nil {
		t.Errorf("database: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve() = %v, want nil", err)
		}
	case <-time.After(deadline):
		t.Fatal("serve did not return after its context was cancelled")
	}
	if _, ok := logRecord(logs.String(), "aggregator stopped"); !ok {
		t.Errorf("no \"aggregator stopped\" log; logs:\n%s", logs)
	}
	// Both ports are released.
	for _, addr := range []string{httpAddr, grpcAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen on %s after shutdown: %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// TestServeDataRoutesTrustLoopbackByDefault checks the access of SPEC §5.5
// as wired by serve: without trusted_networks (config's default) loopback
// may read every data route, the probes are open, and the request's
// context reaches the readiness probe.
func TestServeDataRoutesTrustLoopbackByDefault(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	httpAddr, _, _, done := startServe(t, ctx, fmt.Sprintf(`
data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
`, t.TempDir()))
	for path, want := range map[string]int{
		"/healthz":                       http.StatusOK,
		"/readyz":                        http.StatusOK,
		"/logs/api/entries":              http.StatusOK,
		"/logs/api/workflow-steps/nope":  http.StatusNotFound,
		"/logs/api/step-logs/nope/clone": http.StatusNotFound,
		"/metrics":                       http.StatusOK,
	} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s from loopback: status %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve() = %v", err)
	}
}

// TestServeDataRoutesUntrusted checks that serve passes trusted_networks to
// the HTTP API: a data route refuses loopback when it is not listed, while
// the probes stay open.
func TestServeDataRoutesUntrusted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	httpAddr, _, _, done := startServe(t, ctx, fmt.Sprintf(`
data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
trusted_networks = []
`, t.TempDir()))
	for path, want := range map[string]int{
		"/healthz":          http.StatusOK,
		"/readyz":           http.StatusOK,
		"/logs/api/entries": http.StatusForbidden,
		"/metrics":          http.StatusForbidden,
	} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve() = %v", err)
	}
}

// panicIngest is an ingest service whose handler panics.
type panicIngest struct {
	hooktailv1.UnimplementedIngestServer
}

func (panicIngest) Push(context.Context, *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	var m map[string]int
	m["boom"]++ // a nil map: a bug in a handler
	return nil, nil
}

// TestGRPCServerRecoversPanics checks that a handler panic answers Internal
// and is logged with its stack instead of killing the process.
func TestGRPCServerRecoversPanics(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	g := newGRPCServer(nil, slog.New(slog.NewJSONHandler(logs, nil)))
	hooktailv1.RegisterIngestServer(g, panicIngest{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	defer g.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := hooktailv1.NewIngestClient(conn)
	for range 2 { // the server survives the first
		_, err = client.Push(t.Context(), &hooktailv1.PushRequest{})
		if got, want := status.Code(err), codes.Internal; got != want {
			t.Fatalf("Push() code = %v (%v), want %v", got, err, want)
		}
	}
	rec, ok := logRecord(logs.String(), "panic serving grpc call")
	if !ok {
		t.Fatalf("no panic log; logs:\n%s", logs)
	}
	if stack, _ := rec["stack"].(string); !strings.Contains(stack, "panicIngest.Push") {
		t.Errorf("logged stack %q does not name the panicking handler", stack)
	}
}

// TestServePortInUse checks that serve fails, without hanging, when a
// listen address is taken, for either listener.
func TestServePortInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for name, listen := range map[string]string{
		"http": fmt.Sprintf("http = %q\n  grpc = \"127.0.0.1:0\"", taken.Addr()),
		"grpc": fmt.Sprintf("http = \"127.0.0.1:0\"\n  grpc = %q", taken.Addr()),
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, "aggregator.hcl", fmt.Sprintf("data_dir = %q\nlisten {\n  %s\n}\n", t.TempDir(), listen))
			cfg, diags := config.LoadAggregator(path)
			if diags.HasErrors() {
				t.Fatalf("LoadAggregator: %v", diags)
			}
			err := serve(t.Context(), cfg, slog.New(slog.DiscardHandler), serveOptions{})
			if err == nil || !strings.Contains(err.Error(), "listen "+name) {
				t.Errorf("serve() = %v, want a listen %s error", err, name)
			}
		})
	}
}

// TestServeTLS checks that listen.tls serves the HTTP API over TLS with
// the configured certificate, API keys included, and refuses plain HTTP.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, certFile, keyFile, "localhost")
	httpAddr, _, _, done := startServe(t, ctx, fmt.Sprintf(`
data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
  tls {
    cert_file = %q
    key_file  = %q
  }
}
api_key "ops" {
  token = "secret"
  role  = "owner"
}
`, filepath.Join(dir, "data"), certFile, keyFile))
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("bad test certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"secret", http.StatusOK}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1:"+port+"/api/endpoints", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("HTTPS GET: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.TLS == nil {
			t.Errorf("HTTPS GET with token %q: status %d (TLS %v), want %d over TLS", tc.token, resp.StatusCode, resp.TLS != nil, tc.want)
		}
	}
	if resp, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve() = %v", err)
	}
}

// TestServeKeyScopesEndToEnd pushes deliveries of two sources over gRPC
// and reads them back through the real store with keys scoped to one
// source each: every family shows a key its own endpoint only, and another
// endpoint's delivery is "not found".
func TestServeKeyScopesEndToEnd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	httpAddr, grpcAddr, _, done := startServe(t, ctx, fmt.Sprintf(`
data_dir = %q
listen {
  http = "127.0.0.1:0"
  grpc = "127.0.0.1:0"
}
api_key "a" {
  token     = "token-a"
  endpoints = ["src-a"]
}
api_key "b" {
  token     = "token-b"
  endpoints = ["src-b"]
}
`, t.TempDir()))
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := hooktailv1.NewIngestClient(conn)
	now := time.Now().UnixMicro()
	for i, src := range []string{"src-a", "src-b"} {
		_, err := client.Push(ctx, &hooktailv1.PushRequest{AgentId: "agent", BatchId: uint64(i + 1), Entries: []*hooktailv1.Entry{{
			Source: src, Fingerprint: 1, Offset: 0, File: "/x.log", TimestampUs: now + int64(i),
			Level: "INFO", Message: "Processing webhook for " + src, HookId: "hook-" + src, EventType: "push",
		}}})
		if err != nil {
			t.Fatalf("push %s: %v", src, err)
		}
	}
	getJSON := func(path, token string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, body
	}
	for _, tc := range []struct{ token, own, other string }{{"token-a", "src-a", "src-b"}, {"token-b", "src-b", "src-a"}} {
		code, body := getJSON("/api/logs", tc.token)
		data, _ := body["data"].([]any)
		if code != http.StatusOK || len(data) != 1 || data[0].(map[string]any)["endpoint_name"] != tc.own {
			t.Errorf("%s: /api/logs = %d %v, want its own delivery only", tc.token, code, body)
		}
		if code, _ := getJSON("/api/logs/hook-"+tc.own, tc.token); code != http.StatusOK {
			t.Errorf("%s: own delivery: status %d", tc.token, code)
		}
		if code, body := getJSON("/api/logs/hook-"+tc.other, tc.token); code != http.StatusNotFound || body["error"] != "Log not found" {
			t.Errorf("%s: other delivery: %d %v, want 404 Log not found", tc.token, code, body)
		}
		code, body = getJSON("/logs", tc.token)
		logs, _ := body["data"].(map[string]any)["logs"].([]any)
		if code != http.StatusOK || len(logs) != 1 || logs[0].(map[string]any)["service"] != tc.own {
			t.Errorf("%s: /logs = %d %v, want its own entry only", tc.token, code, body)
		}
		code, body = getJSON("/logs/api/entries", tc.token)
		if code != http.StatusOK || fmt.Sprint(body["total"]) != "1" {
			t.Errorf("%s: /logs/api/entries = %d total %v, want 1", tc.token, code, body["total"])
		}
		code, body = getJSON("/api/endpoints", tc.token)
		eps, _ := body["data"].([]any)
		if code != http.StatusOK || len(eps) != 1 || eps[0].(map[string]any)["name"] != tc.own {
			t.Errorf("%s: /api/endpoints = %d %v, want its own endpoint only", tc.token, code, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve() = %v", err)
	}
}
