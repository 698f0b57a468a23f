package e2e_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lateRecord is one 4.1.0 record: its text line and its log_entry line.
type lateRecord struct {
	ts   time.Time
	text string // the text log's line(s), newline ended
	json string // the webhooks_*.json log_entry line, newline ended
	msg  string // the message as stored (ANSI stripped)
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// lateFill is one delivery written to a tailed 4.1.0 log folder, and the
// record whose text form has no hook id.
type lateFill struct {
	t                  *testing.T
	c                  *cluster
	hook, nonce        string
	textPath, jsonPath string
	base               time.Time
	delivery           []lateRecord // stored before the test starts
	late               lateRecord   // text first, JSON copy later
}

const lateRepo = "github-webhook-server"

// newLateFill starts a cluster tailing the text log and its JSONL
// companion as one source, writes a delivery's first records (both
// copies) and waits until they are stored.
func newLateFill(t *testing.T) *lateFill {
	t.Helper()
	logs := t.TempDir()
	c := startCluster(t, fmt.Sprintf(`
source "webhook-server" {
  paths  = ["%s/webhook-server.log*", "%s/webhooks_*.json"]
  parser = "github-webhook-server"
}
`, logs, logs))
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	g := make([]byte, 16)
	_, _ = rand.Read(g)
	h := hex.EncodeToString(g)
	f := &lateFill{
		t: t, c: c, nonce: hex.EncodeToString(nonce),
		hook:     h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:],
		textPath: filepath.Join(logs, "webhook-server.log"),
		base:     time.Now().UTC().Truncate(time.Millisecond),
	}
	f.jsonPath = filepath.Join(logs, "webhooks_"+f.base.Format("2006-01-02")+".json")
	ms := time.Millisecond
	// The request handler (no webhook context in the JSON copy), the
	// background task, then GithubWebhook; the unprefixed rate-limit
	// helper line (its text has no hook id) falls between the last two.
	f.delivery = []lateRecord{
		f.record(0, "INFO", " ["+"pull_request]["+f.hook+"]: Processing webhook", false),
		f.record(1*ms, "INFO", lateRepo+" [pull_request]["+f.hook+"]: Processing webhook", true),
		f.record(3*ms, "DEBUG", f.handler("Event type: pull_request. event ID: "+f.hook), true),
	}
	f.late = f.record(2*ms, "INFO", "API user lu"+f.nonce+" selected with highest rate limit: 4821", true)
	if err := os.WriteFile(f.textPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.jsonPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.delivery {
		f.appendText(r)
		f.appendJSON(r)
	}
	eventually(t, 30*time.Second, "the delivery's records stored once, with its hook id", func() error {
		n, err := c.total(t.Context())
		if err != nil {
			return err
		}
		got, err := f.entries("hook_id=" + url.QueryEscape(f.hook))
		if err != nil {
			return err
		}
		if n != len(f.delivery) || len(got) != len(f.delivery) {
			return fmt.Errorf("%d entries stored, %d with hook_id %s; want %d", n, len(got), f.hook, len(f.delivery))
		}
		return nil
	})
	return f
}

// handler is a GithubWebhook message with its coloured prefix.
func (f *lateFill) handler(msg string) string {
	return "\x1b[38;5;160m" + lateRepo + "\x1b[0m [pull_request][" + f.hook + "][myakove-bot]: " + msg
}

// record builds a record at base+at as upstream writes it: the text line
// with its ANSI codes, and the log_entry line, with the webhook context
// when ctx is set.
func (f *lateFill) record(at time.Duration, level, body string, ctx bool) lateRecord {
	ts := f.base.Add(at)
	colour := map[string]string{"DEBUG": "\x1b[36m", "INFO": "\x1b[32m"}[level]
	msg := ansiRE.ReplaceAllString(body, "")
	entry := map[string]any{
		"type": "log_entry", "timestamp": isoformat(ts), "level": level, "logger_name": "GithubWebhook", "message": msg,
	}
	if ctx {
		entry["hook_id"], entry["event_type"], entry["repository"], entry["pr_number"], entry["api_user"] = f.hook, "pull_request", lateRepo, nil, ""
	}
	b, err := json.Marshal(entry)
	if err != nil {
		f.t.Fatal(err)
	}
	return lateRecord{
		ts:   ts,
		text: isoformat(ts) + " GithubWebhook " + colour + level + "\x1b[0m " + body + "\x1b[0m\n",
		json: string(b) + "\n",
		msg:  strings.TrimSpace(msg),
	}
}

func (f *lateFill) appendText(r lateRecord) { appendTo(f.t, f.textPath, r.text) }
func (f *lateFill) appendJSON(r lateRecord) { appendTo(f.t, f.jsonPath, r.json) }

// appendTo appends s to path in one write, as Python's logging does.
func appendTo(t *testing.T, path, s string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(s); err != nil {
		fh.Close()
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

// fillEntry is the part of an entry (from /logs/api/entries or a stream
// event) the test checks.
type fillEntry struct {
	ID        int64   `json:"id"`
	Timestamp string  `json:"timestamp"`
	Message   string  `json:"message"`
	HookID    *string `json:"hook_id"`
}

// entries returns the entries that match query, newest first.
func (f *lateFill) entries(query string) ([]fillEntry, error) {
	var page struct {
		Entries []fillEntry `json:"entries"`
	}
	code, err := getJSON(f.t.Context(), f.c.httpBase+"/logs/api/entries?limit=1000&"+query, &page)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("entries?%s: status %d", query, code)
	}
	return page.Entries, nil
}

// writeLateText appends the late record's text copy alone and waits until
// it is stored without a hook id; it returns the stored entry.
func (f *lateFill) writeLateText() fillEntry {
	f.t.Helper()
	f.appendText(f.late)
	var got fillEntry
	eventually(f.t, 30*time.Second, "the text copy stored without a hook id", func() error {
		es, err := f.entries("search=" + url.QueryEscape("lu"+f.nonce))
		if err != nil {
			return err
		}
		if len(es) != 1 {
			return fmt.Errorf("%d entries hold lu%s", len(es), f.nonce)
		}
		got = es[0]
		return nil
	})
	if got.HookID != nil {
		f.t.Fatalf("the unprefixed text line %q was stored with hook_id %q: the test proves nothing", got.Message, *got.HookID)
	}
	if got.Message != f.late.msg || got.Timestamp != isoformat(f.late.ts) {
		f.t.Errorf("stored %q at %s, want %q at %s", got.Message, got.Timestamp, f.late.msg, isoformat(f.late.ts))
	}
	return got
}

// checkFilled waits until the late record is stored once with the hook
// id, under the id its text copy got.
func (f *lateFill) checkFilled(stored fillEntry) {
	f.t.Helper()
	eventually(f.t, 30*time.Second, "the late record among the delivery's entries", func() error {
		es, err := f.entries("hook_id=" + url.QueryEscape(f.hook))
		if err != nil {
			return err
		}
		n := 0
		for _, e := range es {
			if e.ID == stored.ID {
				n++
				if e.HookID == nil || *e.HookID != f.hook || e.Message != f.late.msg {
					return fmt.Errorf("entry %d: hook_id %s, message %q", e.ID, show(e.HookID), e.Message)
				}
			}
		}
		if n != 1 {
			return fmt.Errorf("entry %d listed %d times among the %d of hook_id %s", stored.ID, n, len(es), f.hook)
		}
		return nil
	})
	if es, err := f.entries("search=" + url.QueryEscape("lu"+f.nonce)); err != nil || len(es) != 1 || es[0].ID != stored.ID {
		f.t.Errorf("entries holding lu%s: %+v (%v), want only entry %d", f.nonce, es, err, stored.ID)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	event, data string
	id          string
	hasID       bool
}

func (e sseEvent) String() string {
	id := "no id"
	if e.hasID {
		id = "id " + e.id
	}
	return fmt.Sprintf("{%s, event %q, data %.300s}", id, e.event, e.data)
}

// sseStream reads a text/event-stream answer in the background.
type sseStream struct {
	t      *testing.T
	events chan sseEvent
	mu     sync.Mutex
	err    error
	seen   []sseEvent
}

// openStream opens GET u as an event stream, closed at the test's end.
func openStream(t *testing.T, u string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %d, content type %q", u, resp.StatusCode, ct)
	}
	s := &sseStream{t: t, events: make(chan sseEvent, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		err := readSSE(resp, s.events)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return s
}

// readSSE sends each event of resp's body to out, until the body ends.
func readSSE(resp *http.Response, out chan<- sseEvent) error {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 || ev.event != "" {
				ev.data = strings.Join(data, "\n")
				out <- ev
			}
			ev, data = sseEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the heartbeat
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		case "id":
			ev.id, ev.hasID = value, true
		}
	}
	return sc.Err()
}

// until reads events until one satisfies match, and returns it; every
// event read is kept in s.seen.
func (s *sseStream) until(within time.Duration, what string, match func(sseEvent) bool) sseEvent {
	s.t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.mu.Lock()
				err := s.err
				s.mu.Unlock()
				s.t.Fatalf("%s: the stream ended (%v) after %v", what, err, s.seen)
			}
			s.seen = append(s.seen, ev)
			if match(ev) {
				return ev
			}
		case <-deadline.C:
			s.t.Fatalf("%s: not within %s; events received: %v", what, within, s.seen)
		}
	}
}

// entryHolding returns a matcher of the entry event whose data holds s.
func entryHolding(s string) func(sseEvent) bool {
	return func(ev sseEvent) bool { return ev.event == "entry" && strings.Contains(ev.data, s) }
}

// TestLateFillStream follows one delivery over /logs/api/stream while an
// unprefixed text line (no hook id in its text) is stored, and then gets
// its hook id from its log_entry copy (SPEC §4): the stream does not send
// the line while it lacks the hook id, then sends it once as a fill event
// (no id line, so that Last-Event-ID never moves back), with the hook id
// and the id the entry was stored under.
func TestLateFillStream(t *testing.T) {
	f := newLateFill(t)
	s := openStream(t, f.c.httpBase+"/logs/api/stream?hook_id="+url.QueryEscape(f.hook))
	s.until(30*time.Second, "event: ready", func(ev sseEvent) bool { return ev.event == "ready" })
	if len(s.seen) != 1 {
		t.Errorf("events before ready without a backlog asked: %v", s.seen)
	}

	stored := f.writeLateText()
	// A barrier: a line of the delivery stored after the late one. The
	// stream sends entries in id order, so once it has sent the barrier
	// it has decided about the late line.
	barrier1 := f.record(10*time.Millisecond, "INFO", f.handler("Repository cloned to /tmp/github-webhook-lf"+f.nonce+"-a (ref: main)"), true)
	f.appendText(barrier1)
	f.appendJSON(barrier1)
	s.until(30*time.Second, "the first barrier sent", entryHolding("github-webhook-lf"+f.nonce+"-a"))
	for _, ev := range s.seen {
		if ev.event == "fill" || strings.Contains(ev.data, "lu"+f.nonce+" selected") {
			t.Errorf("sent before the JSON copy is in: %v", ev)
		}
	}

	// The JSON copy: the entry joins the delivery, and comes as a fill.
	f.appendJSON(f.late)
	fill := s.until(30*time.Second, "the late line sent as a fill", func(ev sseEvent) bool { return ev.event == "fill" })
	if fill.hasID {
		t.Errorf("the fill event has an id line %q: it would move Last-Event-ID back", fill.id)
	}
	var got fillEntry
	if err := json.Unmarshal([]byte(fill.data), &got); err != nil {
		t.Fatalf("fill data %q: %v", fill.data, err)
	}
	if got.ID != stored.ID || got.HookID == nil || *got.HookID != f.hook || got.Message != f.late.msg || got.Timestamp != isoformat(f.late.ts) {
		t.Errorf("fill: id %d, hook_id %s, message %q at %s; want id %d (as stored), hook_id %q, %q at %s",
			got.ID, show(got.HookID), got.Message, got.Timestamp, stored.ID, f.hook, f.late.msg, isoformat(f.late.ts))
	}
	f.checkFilled(stored)

	// A second barrier: nothing more about the late line before it.
	barrier2 := f.record(20*time.Millisecond, "INFO", f.handler("hook_action is: synchronize lf"+f.nonce+"-b"), true)
	f.appendText(barrier2)
	f.appendJSON(barrier2)
	s.until(30*time.Second, "the second barrier sent", entryHolding("lf"+f.nonce+"-b"))
	fills, late := 0, 0
	for _, ev := range s.seen {
		if ev.event == "fill" {
			fills++
		}
		if strings.Contains(ev.data, "lu"+f.nonce+" selected") {
			late++
		}
	}
	if fills != 1 || late != 1 {
		t.Errorf("%d fill events, %d events holding the late line, want 1 and 1: %v", fills, late, s.seen)
	}
	t.Logf("hook %s: late entry %d filled; events: %v", f.hook, stored.ID, s.seen)
}

// TestLateFillLivePage is TestLateFillStream through the page: the live
// view of the delivery shows the late line once its JSON copy is in,
// exactly once, among the delivery's lines by its time.
func TestLateFillLivePage(t *testing.T) {
	f := newLateFill(t)
	b := newBrowser(t, 3*time.Minute)
	b.navigate(f.c.httpBase + "/logs#/live?hook_id=" + url.QueryEscape(f.hook))
	lateMark := "lu" + f.nonce + " selected"
	b.live(30*time.Second, "the live view with the delivery's lines", "live", "", func(st liveState) error {
		if at := markerLines(st, "Processing webhook", "Event type: pull_request"); len(at["Processing webhook"]) != 2 || len(at["Event type: pull_request"]) != 1 {
			return fmt.Errorf("%d lines: %+v", len(st.Lines), st.Lines)
		}
		return nil
	})

	stored := f.writeLateText()
	barrier := f.record(10*time.Millisecond, "INFO", f.handler("Repository cloned to /tmp/github-webhook-lf"+f.nonce+"-a (ref: main)"), true)
	f.appendText(barrier)
	f.appendJSON(barrier)
	b.live(30*time.Second, "the barrier shown, not the late line", "live", "", func(st liveState) error {
		at := markerLines(st, "github-webhook-lf"+f.nonce+"-a", lateMark)
		if len(at[lateMark]) > 0 {
			t.Errorf("the late line shows before its JSON copy is in: %+v", st.Lines)
			return nil
		}
		if len(at["github-webhook-lf"+f.nonce+"-a"]) != 1 {
			return fmt.Errorf("barrier on %d lines: %+v", len(at["github-webhook-lf"+f.nonce+"-a"]), st.Lines)
		}
		return nil
	})

	f.appendJSON(f.late)
	st := b.live(30*time.Second, "the late line shown", "live", "", func(st liveState) error {
		if n := len(markerLines(st, lateMark)[lateMark]); n == 0 {
			return fmt.Errorf("not shown: %+v", st.Lines)
		}
		return nil
	})
	// By time: both "Processing webhook" lines, the late line, the
	// handler's line, the barrier (oldest first or newest first).
	if err := showOnce(st, []string{lateMark, "Event type: pull_request", "github-webhook-lf" + f.nonce + "-a"}, nil); err != nil {
		t.Errorf("%v: %+v", err, st.Lines)
	}
	at := markerLines(st, "Processing webhook", lateMark, "Event type: pull_request")
	asc := at[lateMark][0] < at["Event type: pull_request"][0]
	for _, i := range at["Processing webhook"] {
		if (i < at[lateMark][0]) != asc {
			t.Errorf("a Processing webhook line (%d) is not on the older side of the late line (%d): %+v", i, at[lateMark][0], st.Lines)
		}
	}
	if l := st.Lines[at[lateMark][0]]; l.ID != fmt.Sprint(stored.ID) {
		t.Errorf("the late line has data-id %q, want the stored entry's %d", l.ID, stored.ID)
	}
	if len(st.Lines) != 5 {
		t.Errorf("%d lines, want the delivery's 5: %+v", len(st.Lines), st.Lines)
	}
	f.checkFilled(stored)
}
