package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	"sync"
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
	u := readProc(t, pid)
	return u.cpu, u.peakRSS
}

// procStats is what /proc says about a process at one moment.
type procStats struct {
	at  time.Time
	cpu time.Duration // user + system
	// rss is VmRSS, peakRSS VmHWM, in bytes.
	rss, peakRSS int64
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(t *testing.T, pid int) procStats {
	t.Helper()
	ps := procStats{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Logf("cpu usage unavailable: %v", err)
		return ps
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	ps.cpu = time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps
	}
	kib := func(v string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		return n << 10
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			ps.peakRSS = kib(v)
		}
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			ps.rss = kib(v)
		}
	}
	return ps
}

// cpuPercent is the share of one CPU the process used between a and b.
func cpuPercent(a, b procStats) float64 {
	return 100 * (b.cpu - a.cpu).Seconds() / b.at.Sub(a.at).Seconds()
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

// benchEnv returns the integer in environment variable name, or def.
func benchEnv(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// countingAgent starts an ingest server that counts and acknowledges, and an
// agent shipping the given source block to it.
func countingAgent(t *testing.T, source string) (*proc, *atomic.Int64) {
	t.Helper()
	var received atomic.Int64
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(256<<20), grpc.InitialWindowSize(8<<20), grpc.InitialConnWindowSize(8<<20))
	hooktailv1.RegisterIngestServer(srv, &countingIngest{n: &received})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.hcl")
	writeFile(t, cfg, fmt.Sprintf("data_dir = %q\naggregator {\n  address = %q\n}\n%s", filepath.Join(dir, "agent"), lis.Addr().String(), source))
	return startProc(t, dir, "hooktail-agent", "-config", cfg), &received
}

// TestBenchAgentFiles measures the agent's CPU and memory with many files:
// idle (SPEC §8: 100 files, < 1% CPU, < 30 MiB RSS), then with every file
// written at a steady rate. It ships to an ingest server that only counts,
// so that the figures are the agent's alone. HOOKTAIL_BENCH_FILES (100),
// HOOKTAIL_BENCH_WINDOW seconds (30) and HOOKTAIL_BENCH_RATE records/s
// over all files (2000) change the set-up. Run with `make bench-e2e`.
func TestBenchAgentFiles(t *testing.T) {
	if os.Getenv("HOOKTAIL_BENCH_E2E") == "" {
		t.Skip("set HOOKTAIL_BENCH_E2E=1 (make bench-e2e)")
	}
	needBinaries(t)
	files := benchEnv(t, "HOOKTAIL_BENCH_FILES", 100)
	window := time.Duration(benchEnv(t, "HOOKTAIL_BENCH_WINDOW", 30)) * time.Second
	rate := benchEnv(t, "HOOKTAIL_BENCH_RATE", 2000)
	logs := t.TempDir()
	var written atomic.Int64
	name := func(i int) string { return fmt.Sprintf("webhook-%03d.log", i) }
	for i := range files {
		st, err := logwriter.Run(t.Context(), logwriter.Options{Dir: logs, File: name(i), Seed: int64(i), Deliveries: 1})
		if err != nil {
			t.Fatal(err)
		}
		written.Add(st.Records)
	}
	agent, received := countingAgent(t, fmt.Sprintf("source \"bench\" {\n  paths = [%q]\n}\n", filepath.Join(logs, "*.log")))
	pid := agent.cmd.Process.Pid
	shipped := func(within time.Duration) {
		t.Helper()
		eventuallyEvery(t, within, 250*time.Millisecond, "agent shipped everything written", func() error {
			if got, want := received.Load(), written.Load(); got < want {
				return fmt.Errorf("%d of %d", got, want)
			}
			return nil
		})
	}
	shipped(60 * time.Second)

	// Idle: every file read to its end, nothing written. The window is the
	// measurement itself, timed, not a wait for something to happen.
	before := readProc(t, pid)
	measure := time.NewTimer(window)
	<-measure.C
	after := readProc(t, pid)
	t.Logf("agent, %d files idle for %s: %.2f%% of one CPU (%.2f CPU-s), RSS %.1f MiB (peak %.1f MiB)",
		files, window, cpuPercent(before, after), (after.cpu - before.cpu).Seconds(), mib(after.rss), mib(after.peakRSS))

	// Load: every file written at rate/files records per second, one write
	// per record, as python-simple-logger does.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	perFile := max(1, rate/files)
	for i := range files {
		wg.Go(func() {
			st, _ := logwriter.Run(ctx, logwriter.Options{Dir: logs, File: name(i), Seed: int64(files + i), Rate: perFile})
			written.Add(st.Records)
		})
	}
	// A first window's worth of records shipped, so that every file is hot.
	start := received.Load()
	eventually(t, 60*time.Second, "load under way", func() error {
		if received.Load()-start < int64(perFile*files) {
			return errors.New("not yet")
		}
		return nil
	})
	before, recvBefore := readProc(t, pid), received.Load()
	measure.Reset(window)
	<-measure.C
	after, recvAfter := readProc(t, pid), received.Load()
	cancel()
	wg.Wait()
	shipped(60 * time.Second)
	perSec := float64(recvAfter-recvBefore) / after.at.Sub(before.at).Seconds()
	t.Logf("agent, %d files written at %d records/s each (%d/s in all) for %s: %.2f%% of one CPU, %.0f records/s shipped, "+
		"%.2f CPU-s per million records, RSS %.1f MiB (peak %.1f MiB)",
		files, perFile, perFile*files, window, cpuPercent(before, after), perSec,
		(after.cpu-before.cpu).Seconds()*1e6/float64(recvAfter-recvBefore), mib(after.rss), mib(after.peakRSS))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// TestBenchRotationStorm measures file → queryable throughput through the
// real aggregator while the file rotates many times a second: the writer
// writes as fast as it can, one write per record, rotating every
// HOOKTAIL_BENCH_STORM_BYTES (32 KiB) and keeping
// HOOKTAIL_BENCH_STORM_BACKUPS (20, upstream's default) rotated files,
// until HOOKTAIL_BENCH_STORM_RECORDS (200,000) records are written; once by
// renaming, once by copytruncate. It checks that every record arrives
// exactly once (the count); the figures are logged. (With many backups the
// writer itself slows down: every rename rotation renames every backup, as
// Python does.) Run with `make bench-e2e`.
func TestBenchRotationStorm(t *testing.T) {
	if os.Getenv("HOOKTAIL_BENCH_E2E") == "" {
		t.Skip("set HOOKTAIL_BENCH_E2E=1 (make bench-e2e)")
	}
	needBinaries(t)
	records := benchEnv(t, "HOOKTAIL_BENCH_STORM_RECORDS", 200_000)
	maxBytes := benchEnv(t, "HOOKTAIL_BENCH_STORM_BYTES", 32<<10)
	backups := benchEnv(t, "HOOKTAIL_BENCH_STORM_BACKUPS", logwriter.DefaultBackups)
	for _, method := range []logwriter.RotationMethod{logwriter.RotateRename, logwriter.RotateCopyTruncate} {
		t.Run(method.String(), func(t *testing.T) {
			logs := filepath.Join(t.TempDir(), "logs")
			if err := os.MkdirAll(logs, 0o755); err != nil {
				t.Fatal(err)
			}
			c := startCluster(t, fmt.Sprintf("source \"storm\" {\n  paths = [%q]\n}\n", filepath.Join(logs, "webhook-server.log*")))
			start := time.Now()
			st, err := logwriter.Run(t.Context(), logwriter.Options{
				Dir: logs, Seed: 61, Deliveries: records/17 + 1, Concurrency: 8, MaxBytes: int64(maxBytes),
				Backups: backups, Rotation: method, Clock: func() time.Time { return start },
			})
			if err != nil {
				t.Fatal(err)
			}
			wrote := time.Since(start)
			// Poll until everything is stored, or until nothing more has
			// been stored for 30 s: then records were lost, and the figures
			// are still worth reporting.
			var (
				stored       int
				elapsed      time.Duration
				lastProgress = time.Now()
			)
			eventuallyEvery(t, 30*time.Minute, time.Second, "everything queryable, or no progress", func() error {
				got, err := c.total(t.Context())
				if err != nil {
					return err
				}
				if got > stored {
					stored, elapsed, lastProgress = got, time.Since(start), time.Now()
				}
				if got < int(st.Records) && time.Since(lastProgress) < 30*time.Second {
					return fmt.Errorf("%d of %d", got, st.Records)
				}
				return nil
			})
			switch {
			case stored < int(st.Records):
				t.Errorf("%d entries stored for %d records written: at least %d lost", stored, st.Records, int(st.Records)-stored)
			case stored > int(st.Records):
				t.Errorf("%d entries stored for %d records written: %d more than written", stored, st.Records, stored-int(st.Records))
			}
			agent, agg := readProc(t, c.agent.cmd.Process.Pid), readProc(t, c.agg.cmd.Process.Pid)
			t.Logf("%s storm: %d records, %d MiB, %d rotations (every %d KiB, %d kept) written in %s = %.0f rotations/s; "+
				"file → queryable %s = %.0f records/s; agent %.2f CPU-s per million, peak RSS %.0f MiB; aggregator %.2f CPU-s per million, peak RSS %.0f MiB",
				method, st.Records, st.Bytes>>20, st.Rotations, maxBytes>>10, backups, wrote.Round(time.Millisecond), float64(st.Rotations)/wrote.Seconds(),
				elapsed.Round(time.Millisecond), float64(stored)/elapsed.Seconds(),
				agent.cpu.Seconds()*1e6/float64(st.Records), mib(agent.peakRSS), agg.cpu.Seconds()*1e6/float64(st.Records), mib(agg.peakRSS))
		})
	}
}
