package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/hooktail/hooktail/examples/logwriter"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// TestBenchEndToEnd measures, with the real binaries, (a) the agent alone:
// frame + parse + ship to an ingest server that only counts; (b) file →
// queryable through the real aggregator; (c) API latency with everything
// stored. It asserts only that everything arrived; the figures are logged
// for BENCHMARKS.md. Run with `make bench-e2e` (HOOKTAIL_BENCH_E2E=1;
// HOOKTAIL_BENCH_RECORDS sets the size, default 1,000,000).
func TestBenchEndToEnd(t *testing.T) {
	if os.Getenv("HOOKTAIL_BENCH_E2E") == "" {
		t.Skip("set HOOKTAIL_BENCH_E2E=1 (make bench-e2e)")
	}
	needBinaries(t)
	n := 1_000_000
	if v := os.Getenv("HOOKTAIL_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	logs := filepath.Join(t.TempDir(), "logs")
	manifestPath := filepath.Join(t.TempDir(), "manifest.jsonl")
	mf, err := os.Create(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	mw := bufio.NewWriterSize(mf, 1<<20)
	start := time.Now()
	// Deliveries average ~18 records; write until n records exist.
	stats, err := logwriter.Run(t.Context(), logwriter.Options{
		Dir: logs, Seed: 1, Deliveries: n/17 + 1, Concurrency: 8, FailureRate: 0.25,
		MaxBytes: 10 << 20, Backups: 100000, BatchBytes: 1 << 16, Manifest: mw,
	})
	if err != nil {
		t.Fatal(err)
	}
	mw.Flush()
	mf.Close()
	records := int(stats.Records)
	t.Logf("machine: %d CPUs, %s/%s; wrote %d records, %d MiB in %d files, in %s",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, records, stats.Bytes>>20, stats.Rotations+1, time.Since(start).Round(time.Millisecond))

	sourceCfg := fmt.Sprintf("source \"webhook-server\" {\n  paths = [%q]\n}\n", filepath.Join(logs, "webhook-server.log*"))

	// (a) The agent alone, against an ingest server that counts and acks.
	var received atomic.Int64
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(256<<20), grpc.InitialWindowSize(8<<20), grpc.InitialConnWindowSize(8<<20))
	hooktailv1.RegisterIngestServer(srv, &countingIngest{n: &received})
	go srv.Serve(lis)
	defer srv.Stop()
	dir := t.TempDir()
	agentCfg := filepath.Join(dir, "agent.hcl")
	writeFile(t, agentCfg, fmt.Sprintf("data_dir = %q\naggregator {\n  address = %q\n}\n%s", filepath.Join(dir, "agent"), lis.Addr().String(), sourceCfg))
	start = time.Now()
	args := []string{"-config", agentCfg}
	if prof := os.Getenv("HOOKTAIL_BENCH_PROFILE"); prof != "" {
		args = append(args, "-cpuprofile", prof)
	}
	agent := startProc(t, dir, "hooktail-agent", args...)
	eventually(t, 30*time.Minute, "agent shipped everything", func() error {
		if got := received.Load(); got < int64(records) {
			return fmt.Errorf("%d of %d", got, records)
		}
		return nil
	})
	elapsed := time.Since(start)
	cpu, rss := procUsage(t, agent.cmd.Process.Pid)
	agent.stop(t)
	t.Logf("agent alone (frame + parse + ship): %d records in %s = %.0f records/s; %.2f CPU-s per million records; peak RSS %d MiB",
		records, elapsed.Round(time.Millisecond), float64(records)/elapsed.Seconds(), cpu.Seconds()*1e6/float64(records), rss>>20)

	// (b) File → queryable through the real aggregator.
	c := startCluster(t, sourceCfg)
	start = time.Now()
	// Poll once a second: an exact count of a million rows is work for the
	// aggregator, and it would be measured too.
	eventuallyEvery(t, 60*time.Minute, time.Second, "everything queryable", func() error {
		got, err := c.total(t.Context())
		if err != nil {
			return err
		}
		if got != records {
			return fmt.Errorf("%d of %d", got, records)
		}
		return nil
	})
	elapsed = time.Since(start)
	aggCPU, aggRSS := procUsage(t, c.agg.cmd.Process.Pid)
	agentCPU, agentRSS := procUsage(t, c.agent.cmd.Process.Pid)
	dbSize := fileSize(filepath.Join(c.dir, "aggregator", "hooktail.db")) + fileSize(filepath.Join(c.dir, "aggregator", "hooktail.db-wal"))
	t.Logf("end to end (file → SQLite, queryable): %d records in %s = %.0f records/s; aggregator %.2f CPU-s/M, peak RSS %d MiB; agent %.2f CPU-s/M, peak RSS %d MiB; database %d MiB",
		records, elapsed.Round(time.Millisecond), float64(records)/elapsed.Seconds(),
		aggCPU.Seconds()*1e6/float64(records), aggRSS>>20, agentCPU.Seconds()*1e6/float64(records), agentRSS>>20, dbSize>>20)

	// (c) Latency of the delivery APIs with everything stored.
	hooks := failedHooks(t, manifestPath, 200)
	for _, q := range []struct {
		name string
		url  func(h [2]string) string
	}{
		{"workflow-steps", func(h [2]string) string { return "/logs/api/workflow-steps/" + url.PathEscape(h[0]) }},
		{"step-logs (failed step)", func(h [2]string) string {
			return "/logs/api/step-logs/" + url.PathEscape(h[0]) + "/" + url.PathEscape(h[1])
		}},
		{"entries?hook_id", func(h [2]string) string { return "/logs/api/entries?hook_id=" + url.QueryEscape(h[0]) }},
		{"entries (newest 100)", func([2]string) string { return "/logs/api/entries" }},
		{"entries?level=ERROR", func([2]string) string { return "/logs/api/entries?level=ERROR" }},
		{"entries?search=Traceback&limit=10", func([2]string) string { return "/logs/api/entries?search=Traceback&limit=10" }},
	} {
		var lat []time.Duration
		for i := range 200 {
			h := hooks[i%len(hooks)]
			t0 := time.Now()
			code, err := getJSON(t.Context(), c.httpBase+q.url(h), nil)
			lat = append(lat, time.Since(t0))
			if err != nil || code != 200 {
				t.Fatalf("%s: %d %v", q.name, code, err)
			}
		}
		slices.Sort(lat)
		t.Logf("latency %-34s p50 %8s  p99 %8s  (200 requests, %d entries stored)", q.name,
			lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond), records)
	}
}

type countingIngest struct {
	hooktailv1.UnimplementedIngestServer
	n *atomic.Int64
}

func (c *countingIngest) Push(_ context.Context, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	c.n.Add(int64(len(req.GetEntries())))
	return &hooktailv1.PushResponse{BatchId: req.GetBatchId(), Stored: uint32(len(req.GetEntries()))}, nil
}

// procUsage reads a process's CPU time (user+system) and peak RSS.
func procUsage(t *testing.T, pid int) (time.Duration, int64) {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Logf("cpu usage unavailable: %v", err)
		return 0, 0
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	cpu := time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
	var rss int64
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss = kb << 10
			}
		}
	}
	return cpu, rss
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// failedHooks returns up to max (hook_id, failing step) pairs of failed 4.1
// deliveries from a manifest, in random order.
func failedHooks(t *testing.T, manifestPath string, max int) [][2]string {
	t.Helper()
	f, err := os.Open(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"kind":"delivery"`) {
			continue
		}
		var d logwriter.ManifestDelivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if d.Failed && d.FailingStep != "" {
			out = append(out, [2]string{d.HookID, d.FailingStep})
		}
	}
	if len(out) == 0 {
		t.Fatal("no failed delivery in the manifest")
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if len(out) > max {
		out = out[:max]
	}
	return out
}
