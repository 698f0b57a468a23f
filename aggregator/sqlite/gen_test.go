package sqlite_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
	"github.com/hooktail/hooktail/plugins"
)

// gen writes realistic github-webhook-server entries: each delivery is a
// request-handler prologue, a background run with PR-prefixed lines, a few
// helper lines without hook_id, optionally errors with a traceback, and the
// text summary line; every fourth delivery also has a JSONL webhook_summary.
type gen struct {
	source string
	text   fileCursor
	json   fileCursor
	t      time.Time
	n      int
	salt   uint16 // keeps the hook_ids of two generators apart
}

type fileCursor struct {
	path   string
	fp     uint64
	offset int64
}

func newGen(source string, start time.Time) *gen {
	return &gen{
		source: source,
		text:   fileCursor{path: "/data/logs/webhook-server.log", fp: 0xfeed0001},
		json:   fileCursor{path: "/data/logs/webhooks_2026-07-31.json", fp: 0xfeed0002},
		t:      start,
		salt:   uint16(crc32.ChecksumIEEE([]byte(source))),
	}
}

var repos = []string{"github-webhook-server", "openshift-python-wrapper", "pytest-jira", "docsig", "ocp-utilities"}

var events = []string{"pull_request", "check_run", "issue_comment", "pull_request_review", "push"}

var levels = []string{"DEBUG", "DEBUG", "DEBUG", "INFO", "INFO", "WARNING"}

func (g *gen) entry(c *fileCursor, level, hookID, msg string) aggregator.Entry {
	g.t = g.t.Add(37 * time.Millisecond)
	e := aggregator.Entry{
		Source: g.source, Fingerprint: c.fp, Offset: c.offset, File: c.path, AgentID: "agent-1",
		Timestamp: g.t, TimestampRaw: g.t.Format("2006-01-02T15:04:05.000000-07:00"),
		Level: level, LoggerName: "GithubWebhook", Message: msg, HookID: hookID,
	}
	e.DedupeKey = plugins.DedupeKey(e.TimestampRaw, level, []byte(msg))
	c.offset += int64(len(msg)) + 90
	return e
}

// genVersion changes whenever the generator writes other data: it keys
// the cached benchmark databases.
const genVersion = 1

// hookID is the hook_id of the generator's n-th delivery (1-based).
func (g *gen) hookID(n int) string {
	return fmt.Sprintf("%08x-%04x-11f0-95bd-%012x", n, g.salt, n*7919)
}

// delivery appends one delivery's entries (about 40) to dst.
func (g *gen) delivery(dst []aggregator.Entry, failed bool) []aggregator.Entry {
	g.n++
	hookID := g.hookID(g.n)
	repo, event := repos[g.n%len(repos)], events[g.n%len(events)]
	pr := int64(100 + g.n%900)
	req := func(msg string) {
		e := g.entry(&g.text, "INFO", hookID, msg)
		e.EventType = event
		dst = append(dst, e)
	}
	work := func(level, msg string) {
		e := g.entry(&g.text, level, hookID, msg)
		e.EventType, e.Repository, e.GithubUser, e.PRNumber = event, repo, "myakove-bot", pr
		dst = append(dst, e)
	}
	req("Processing webhook")
	req("Signature verification successful")
	req("Webhook validation passed, queuing for background processing")
	bg := g.entry(&g.text, "INFO", hookID, "Processing webhook")
	bg.EventType, bg.Repository = event, repo
	dst = append(dst, bg)
	dst = append(dst, g.entry(&g.text, "DEBUG", "", "Checking 2 API(s) for highest rate limit"))
	dst = append(dst, g.entry(&g.text, "INFO", "", "API user myakove-bot selected with highest rate limit: 4821"))
	for i := range 32 {
		work(levels[(g.n+i)%len(levels)], fmt.Sprintf(
			"Running 'git -C /tmp/github-webhook-%s-k2j9x1ab fetch origin +refs/pull/%d/head:refs/remotes/origin/pr/%d' command (step %d of the run)",
			repo, pr, pr, i))
	}
	status := "success"
	if failed {
		status = "failed"
		work("ERROR", fmt.Sprintf("Failed to fetch PR %d ref: fatal: couldn't find remote ref refs/pull/%d/head", pr, pr))
		work("ERROR", "Unexpected error in background webhook processing\nTraceback (most recent call last):\n"+
			"  File \"/home/podman/github-webhook-server/webhook_server/app.py\", line 485, in process_with_error_handling\n"+
			"    await _api.process()\n"+
			fmt.Sprintf("RuntimeError: Failed to fetch PR %d ref", pr))
	}
	dur := int64(1900)
	steps := []aggregator.Step{
		{Name: "webhook_routing", Status: "completed", DurationMS: &dur},
		{Name: "repo_clone", Status: "completed", DurationMS: &dur},
	}
	sum := g.entry(&g.text, "INFO", hookID, fmt.Sprintf("[%s] Webhook completed PR#%d [1s900ms, tokens:23] steps=[webhook_routing:completed(1s900ms), repo_clone:completed(1s900ms)]", map[bool]string{false: "SUCCESS", true: "FAILED"}[failed], pr))
	sum.EventType, sum.Repository = event, repo
	tokens := int64(23)
	sum.Completion = &aggregator.Completion{Status: status, DurationMS: &dur, PRNumber: pr, TokenSpend: &tokens, Steps: steps}
	dst = append(dst, sum)
	if g.n%4 == 0 {
		js := g.entry(&g.json, "COMPLETED", hookID, "")
		js.Summary, js.EventType, js.Repository, js.PRNumber = true, event, repo, pr
		jsStatus := status
		if !failed {
			jsStatus = "partial"
		}
		js.Completion = &aggregator.Completion{Status: jsStatus, DurationMS: &dur, PRNumber: pr,
			Action: "synchronize", Sender: "myakove", RepositoryFullName: "myk-org/" + repo,
			APIUser: "myakove-bot", StartedAt: bg.Timestamp, CompletedAt: sum.Timestamp,
			Steps: []aggregator.Step{{Name: "webhook_routing", Status: "completed", StartedAt: bg.Timestamp,
				DurationMS: &dur, Details: []byte(`{"event_type":"` + event + `"}`)}}}
		dst = append(dst, js)
	}
	return dst
}

// entries returns about n entries of whole deliveries; every tenth fails.
func (g *gen) entries(n int) []aggregator.Entry {
	out := make([]aggregator.Entry, 0, n+64)
	for len(out) < n {
		out = g.delivery(out, g.n%10 == 9)
	}
	return out
}

func openStore(tb testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "hooktail.db")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%q): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func ingest(tb testing.TB, s *sqlite.Store, entries []aggregator.Entry) aggregator.IngestResult {
	tb.Helper()
	res, err := s.Ingest(context.Background(), &aggregator.Batch{AgentID: "agent-1", Entries: entries})
	if err != nil {
		tb.Fatalf("Ingest: %v", err)
	}
	return res
}
