package tail_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/tail"
)

// These tests run on real files with fsnotify and real time. They never
// sleep for a fixed time: they poll for an expected state with a deadline.
// The timer behaviour itself is tested under testing/synctest in
// tail_synctest_internal_test.go.

const deadline = 10 * time.Second

func isStart(line []byte) bool { return bytes.HasPrefix(line, []byte("20")) }

func testOptions(dir string, paths ...string) tail.Options {
	for i, p := range paths {
		paths[i] = filepath.Join(dir, p)
	}
	return tail.Options{
		Source:         "test",
		Paths:          paths,
		IsStart:        isStart,
		RescanInterval: 100 * time.Millisecond,
		IdleFlush:      20 * time.Millisecond,
		DrainIdle:      300 * time.Millisecond,
		PollInterval:   10 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

// harness runs a Tailer and collects what it sends.
type harness struct {
	t      *testing.T
	tailer *tail.Tailer
	out    chan []agent.Record
	cancel context.CancelFunc
	done   chan error

	mu   sync.Mutex
	recs []agent.Record
	// paused stops collection so that the tailer blocks on send.
	paused chan struct{}
}

func start(t *testing.T, opts tail.Options) *harness {
	return startPaused(t, opts, false)
}

func startPaused(t *testing.T, opts tail.Options, paused bool) *harness {
	t.Helper()
	tl, err := tail.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	h := &harness{t: t, tailer: tl, out: make(chan []agent.Record), cancel: cancel, done: make(chan error, 1)}
	if paused {
		h.paused = make(chan struct{})
	}
	go func() { h.done <- tl.Run(ctx, h.out) }()
	go func() {
		if h.paused != nil {
			<-h.paused
		}
		for chunk := range h.out {
			h.mu.Lock()
			h.recs = append(h.recs, chunk...)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.stop)
	return h
}

// stop ends Run and checks it returned nil. Idempotent.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(deadline):
		h.t.Errorf("Run did not return after cancel")
	}
	if h.paused != nil {
		select {
		case <-h.paused:
		default:
			close(h.paused)
		}
	}
}

func (h *harness) records() []agent.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]agent.Record(nil), h.recs...)
}

// waitFor polls until cond holds for the records collected so far.
func (h *harness) waitFor(what string, cond func([]agent.Record) bool) []agent.Record {
	h.t.Helper()
	end := time.Now().Add(deadline)
	for {
		rs := h.records()
		if cond(rs) {
			return rs
		}
		if time.Now().After(end) {
			h.t.Fatalf("timed out waiting for %s; have %d records: %s", what, len(rs), dataList(rs))
		}
		time.Sleep(5 * time.Millisecond) // polling, not a fixed wait
	}
}

// waitData waits for at least len(want) records; want documents what they
// are expected to be, the caller checks content where it matters.
// waitData waits for the records to be exactly want, in order.
func (h *harness) waitData(want ...string) []agent.Record {
	h.t.Helper()
	rs := h.waitCount(len(want))
	if diff := cmp.Diff(want, dataList(rs)); diff != "" {
		h.t.Fatalf("records (-want +got):\n%s", diff)
	}
	return rs
}

// waitCount waits for at least n records.
func (h *harness) waitCount(n int) []agent.Record {
	h.t.Helper()
	return h.waitFor(fmt.Sprintf("%d records", n), func(rs []agent.Record) bool {
		return len(rs) >= n
	})
}

func waitStat(t *testing.T, h *harness, what string, cond func(tail.Stats) bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond(h.tailer.Stats()) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s; stats %+v", what, h.tailer.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dataList(rs []agent.Record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, string(r.Data))
	}
	return out
}

func write(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, path, content string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	write(t, f, content)
	return f
}

// checkCover checks that the records of each file cover a contiguous byte
// range with no gap or overlap, and returns each file's records.
func checkCover(t *testing.T, rs []agent.Record) map[agent.FileID][]agent.Record {
	t.Helper()
	by := make(map[agent.FileID][]agent.Record)
	for _, r := range rs {
		prev := by[r.File]
		if len(prev) > 0 && prev[len(prev)-1].End != r.Offset {
			t.Fatalf("file %v: record at %d follows one ending at %d (%q then %q)",
				r.File, r.Offset, prev[len(prev)-1].End, prev[len(prev)-1].Data, r.Data)
		}
		by[r.File] = append(prev, r)
	}
	return by
}

func TestAppendAndMultiLine(t *testing.T) {
	dir := t.TempDir()
	f := create(t, filepath.Join(dir, "x.log"), "2026 a\n  trace 1\n2026 b\n")
	h := start(t, testOptions(dir, "*.log"))
	h.waitData("2026 a\n  trace 1", "2026 b")
	write(t, f, "  trace b\n2026 c\n")
	// A partial line is held back until it is complete.
	write(t, f, "2026 d partial")
	h.waitCount(4)
	write(t, f, " done\n")
	rs := h.waitFor("5 records", func(rs []agent.Record) bool { return len(rs) >= 5 })
	got := dataList(rs)
	// "2026 b" was flushed when idle before its trace line arrived; the
	// late trace line forms a record of its own, nothing is lost.
	want := []string{"2026 a\n  trace 1", "2026 b", "  trace b", "2026 c", "2026 d partial done"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	checkCover(t, rs)
	if rs[0].Offset != 0 || rs[4].End != 61 || rs[0].Source != "test" || rs[0].Path != f.Name() {
		t.Fatalf("first/last record = %+v / %+v", rs[0], rs[4])
	}
}

func TestResumeFromCheckpointExactly(t *testing.T) {
	dir := t.TempDir()
	store, err := positions.Open(filepath.Join(dir, "state", "positions.json"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for i := range 10 {
		fmt.Fprintf(&all, "2026 rec %d\n  detail %d\n", i, i)
	}
	f := create(t, filepath.Join(logDir, "x.log"), all.String())
	opts := testOptions(logDir, "*.log")
	opts.Positions = store

	h := start(t, opts)
	first := h.waitFor("10 records", func(rs []agent.Record) bool { return len(rs) == 10 })
	// Acknowledge the first 6 records only, as the pipeline would.
	for _, r := range first[:6] {
		store.Commit(r.File, r.Source, r.Path, r.End)
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	h.stop()

	for i := 10; i < 13; i++ {
		write(t, f, fmt.Sprintf("2026 rec %d\n  detail %d\n", i, i))
	}
	store2, err := positions.Open(filepath.Join(dir, "state", "positions.json"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	opts.Positions = store2
	h2 := start(t, opts)
	second := h2.waitFor("7 records", func(rs []agent.Record) bool { return len(rs) >= 7 })
	if second[0].Offset != first[5].End {
		t.Fatalf("resumed at %d, want the checkpoint %d", second[0].Offset, first[5].End)
	}
	got := dataList(append(first[:6:6], second...))
	var want []string
	for i := range 13 {
		want = append(want, fmt.Sprintf("2026 rec %d\n  detail %d", i, i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("acknowledged + resumed records (-want +got):\n%s", diff)
	}
}

// TestRenameRotation rotates x.log to x.log.1 while a second writer keeps
// appending to the renamed file for a while, as upstream's worker processes
// do: the old file is drained to the end, the new one read from 0, nothing
// twice, and the old one is given up only after it has been quiet.
func TestRenameRotation(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	w1 := create(t, x, "2026 old 1\n2026 old 2\n")
	w2, err := os.OpenFile(x, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	h := start(t, testOptions(dir, "*.log"))
	h.waitCount(2)

	if err := os.Rename(x, x+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, w1, "2026 old 3 after rename\n")
	nw := create(t, x, "2026 new 1\n")
	write(t, w2, "2026 old 4 from the second worker\n")
	write(t, nw, "2026 new 2\n")
	write(t, w2, "2026 old 5\n  with a trace\n")
	rs := h.waitFor("all records", func(rs []agent.Record) bool { return len(rs) >= 7 })

	by := checkCover(t, rs)
	if len(by) != 2 {
		t.Fatalf("records from %d files, want 2: %s", len(by), dataList(rs))
	}
	var oldData, newData []string
	for _, r := range rs {
		if strings.Contains(string(r.Data), "old") {
			oldData = append(oldData, string(r.Data))
		} else {
			newData = append(newData, string(r.Data))
		}
	}
	wantOld := []string{"2026 old 1", "2026 old 2", "2026 old 3 after rename", "2026 old 4 from the second worker", "2026 old 5\n  with a trace"}
	if diff := cmp.Diff(wantOld, oldData); diff != "" {
		t.Fatalf("old file records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2026 new 1", "2026 new 2"}, newData); diff != "" {
		t.Fatalf("new file records (-want +got):\n%s", diff)
	}
	waitStat(t, h, "the rotated file to be given up", func(s tail.Stats) bool { return s.FilesDrained == 1 && s.FilesOpen == 1 })
	if got := len(h.records()); got != 7 {
		t.Fatalf("%d records after drain, want 7", got)
	}
}

// TestManyRotations rotates a chain x.log → .1 → .2 → … several times in
// quick succession, each new file receiving writes right away, and checks
// every record arrives exactly once.
func TestManyRotations(t *testing.T) {
	for _, glob := range []string{"*.log", "*.log*"} {
		t.Run(glob, func(t *testing.T) {
			dir := t.TempDir()
			x := filepath.Join(dir, "x.log")
			h := start(t, testOptions(dir, glob))
			seq := 0
			var want []string
			rec := func(f *os.File) {
				s := fmt.Sprintf("2026 seq %d", seq)
				seq++
				want = append(want, s)
				write(t, f, s+"\n")
			}
			cur := create(t, x, "")
			for round := range 5 {
				for range 20 {
					rec(cur)
				}
				if glob == "*.log" {
					// With only the live name matched, a file must be
					// discovered before it is rotated away; a real
					// rotation takes 10 MiB of writes.
					n := len(want)
					h.waitFor("round "+fmt.Sprint(round), func(rs []agent.Record) bool { return len(rs) >= n-19 })
				}
				for i := 5; i >= 1; i-- { // never overwrite an unread file
					from := fmt.Sprintf("%s.%d", x, i)
					if _, err := os.Stat(from); err == nil {
						if err := os.Rename(from, fmt.Sprintf("%s.%d", x, i+1)); err != nil {
							t.Fatal(err)
						}
					}
				}
				if err := os.Rename(x, x+".1"); err != nil {
					t.Fatal(err)
				}
				old := cur
				cur = create(t, x, "")
				rec(old) // a worker still writing to the rotated file
				rec(cur)
			}
			rs := h.waitFor("every record", func(rs []agent.Record) bool { return len(rs) >= len(want) })
			checkCover(t, rs)
			got := dataList(rs)
			seen := make(map[string]int)
			for _, g := range got {
				seen[g]++
			}
			for _, w := range want {
				if seen[w] != 1 {
					t.Errorf("%q received %d times", w, seen[w])
				}
			}
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d", len(got), len(want))
			}
		})
	}
}

// TestGlobMatchesRotatedNames: with *.log* the rotated file is found again
// under its new name; it keeps its tailer, is not re-read, and records read
// after the rename carry the new path.
func TestGlobMatchesRotatedNames(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	w := create(t, x, "2026 a\n2026 b\n")
	opts := testOptions(dir, "x.log*")
	opts.Exclude = []string{filepath.Join(dir, "*.gz")}
	h := start(t, opts)
	h.waitCount(2)
	create(t, filepath.Join(dir, "x.log.3.gz"), "2026 excluded\n")
	if err := os.Rename(x, x+".1"); err != nil {
		t.Fatal(err)
	}
	nw := create(t, x, "2026 new\n")
	// Wait until a scan has seen the rename (a scan completed after the one
	// that found the new file), then write to the old file.
	waitStat(t, h, "two files", func(s tail.Stats) bool { return s.FilesOpen == 2 })
	scans := h.tailer.Stats().Scans
	waitStat(t, h, "one more scan", func(s tail.Stats) bool { return s.Scans > scans })
	h.waitFor("new file record", func(rs []agent.Record) bool { return len(rs) >= 3 })
	write(t, nw, "2026 new 2\n")
	write(t, w, "2026 c\n")
	rs := h.waitFor("the old file's record", func(rs []agent.Record) bool { return len(rs) >= 5 })
	for _, r := range rs {
		if string(r.Data) == "2026 c" && r.Path != x+".1" {
			t.Fatalf("record read after the rename has path %q, want %q", r.Path, x+".1")
		}
	}
	rs = h.records()
	by := checkCover(t, rs)
	for id, frs := range by {
		if frs[0].Offset != 0 {
			t.Errorf("file %v starts at %d", id, frs[0].Offset)
		}
	}
	for _, r := range rs {
		if strings.Contains(string(r.Data), "excluded") {
			t.Fatalf("excluded file was read: %+v", r)
		}
	}
	if s := h.tailer.Stats(); s.FilesOpen != 2 || s.FilesDrained != 0 {
		t.Fatalf("stats %+v, want 2 open files and none drained", s)
	}
}

func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	f := create(t, x, "2026 before 1\n2026 before 2\n")
	h := start(t, testOptions(dir, "*.log"))
	rs := h.waitCount(2)
	oldID := rs[0].File
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	write(t, f, "2026 after 1\n2026 after 2\n2026 after 3\n")
	rs = h.waitFor("the new content", func(rs []agent.Record) bool { return len(rs) >= 5 })
	after := rs[2:]
	if diff := cmp.Diff([]string{"2026 after 1", "2026 after 2", "2026 after 3"}, dataList(after)); diff != "" {
		t.Fatalf("records after truncation (-want +got):\n%s", diff)
	}
	if after[0].Offset != 0 || after[0].File == oldID || after[0].File.Ino != oldID.Ino {
		t.Fatalf("first record after truncation %+v; old id %v", after[0], oldID)
	}
	checkCover(t, rs)
	if s := h.tailer.Stats(); s.Truncations != 1 {
		t.Fatalf("Truncations=%d, want 1", s.Truncations)
	}
}

// TestDeleteBeforeDrained deletes a file while most of it is unread (the
// consumer is stalled): the open descriptor still yields every record.
func TestDeleteBeforeDrained(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	var b strings.Builder
	const n = 20000 // ~500 KiB: more than one read buffer
	for i := range n {
		fmt.Fprintf(&b, "2026 record %06d %s\n", i, strings.Repeat("z", 8))
	}
	f := create(t, x, b.String())
	h := startPaused(t, testOptions(dir, "*.log"), true)
	waitStat(t, h, "the file to be opened", func(s tail.Stats) bool { return s.Bytes > 0 })
	if err := os.Remove(x); err != nil {
		t.Fatal(err)
	}
	write(t, f, "2026 written after unlink, no newline")
	close(h.paused)
	rs := h.waitFor("every record", func(rs []agent.Record) bool { return len(rs) >= n+1 })
	checkCover(t, rs)
	if rs[0].Offset != 0 || rs[n].End != int64(b.Len()+37) || string(rs[n].Data) != "2026 written after unlink, no newline" {
		t.Fatalf("last record %+v", rs[n])
	}
	waitStat(t, h, "the deleted file to be given up", func(s tail.Stats) bool { return s.FilesDrained == 1 && s.FilesOpen == 0 })
}

func TestDirectoryCreatedAfterStart(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "later", "logs")
	h := start(t, testOptions(dir, "later/logs/*.log"))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	f := create(t, filepath.Join(sub, "x.log"), "2026 one\n")
	h.waitCount(1)
	write(t, f, "2026 two\n")
	rs := h.waitFor("2 records", func(rs []agent.Record) bool { return len(rs) >= 2 })
	if diff := cmp.Diff([]string{"2026 one", "2026 two"}, dataList(rs)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
}

func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	old := create(t, filepath.Join(dir, "old.log"), "2026 history 1\n2026 history 2\n")
	opts := testOptions(dir, "*.log")
	opts.StartAtEnd = true
	h := start(t, opts)
	waitStat(t, h, "the file to be opened", func(s tail.Stats) bool { return s.FilesOpen == 1 })
	write(t, old, "2026 live 1\n")
	h.waitCount(1)
	// A file that appears after startup is read from its beginning.
	create(t, filepath.Join(dir, "new.log"), "2026 new 1\n")
	rs := h.waitFor("2 records", func(rs []agent.Record) bool { return len(rs) >= 2 })
	if diff := cmp.Diff([]string{"2026 live 1", "2026 new 1"}, dataList(rs)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if rs[0].Offset != 30 || rs[1].Offset != 0 {
		t.Fatalf("offsets %d, %d; want 30, 0", rs[0].Offset, rs[1].Offset)
	}
}

// TestUnreadableFileDoesNotStopOthers: a file that cannot be opened is
// skipped (and retried), the others are tailed.
func TestUnreadableFileDoesNotStopOthers(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read a mode 000 file")
	}
	dir := t.TempDir()
	bad := create(t, filepath.Join(dir, "bad.log"), "2026 secret\n")
	if err := bad.Chmod(0); err != nil {
		t.Fatal(err)
	}
	create(t, filepath.Join(dir, "good.log"), "2026 fine\n")
	h := start(t, testOptions(dir, "*.log"))
	rs := h.waitCount(1)
	if string(rs[0].Data) != "2026 fine" {
		t.Fatalf("records %s", dataList(rs))
	}
	waitStat(t, h, "an error to be counted", func(s tail.Stats) bool { return s.Errors > 0 })
	if err := bad.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the file once readable", func(rs []agent.Record) bool { return len(rs) >= 2 })
}

func TestNewValidates(t *testing.T) {
	f := func(name string, opts tail.Options) {
		t.Helper()
		if _, err := tail.New(opts); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	f("no paths", tail.Options{})
	f("relative", tail.Options{Paths: []string{"logs/*.log"}})
	f("bad glob", tail.Options{Paths: []string{"/logs/[.log"}})
	f("bad exclude", tail.Options{Paths: []string{"/logs/*.log"}, Exclude: []string{"/x/["}})
	f("negative max", tail.Options{Paths: []string{"/logs/*.log"}, MaxRecordBytes: -1})
}

// BenchmarkTail tails an 8 MiB file of ~160-byte lines (a tenth followed by
// a traceback) from start to the last record through Run: discovery,
// reads, framing, channel sends.
func BenchmarkTail(b *testing.B) {
	dir := b.TempDir()
	var buf bytes.Buffer
	for i := 0; buf.Len() < 8<<20; i++ {
		fmt.Fprintf(&buf, "2026-07-31T10:15:%02d.%06d+00:00 GithubWebhook \x1b[32mINFO\x1b[0m github-webhook-server [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: step %d done\x1b[0m\n", i%60, i%1000000, i)
		if i%10 == 0 {
			buf.WriteString("Traceback (most recent call last):\n  File \"/app/webhook_server/app.py\", line 485, in process\nRuntimeError: boom\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "x.log"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	size := int64(buf.Len())
	opts := testOptions(dir, "*.log")
	opts.IdleFlush = time.Millisecond // the last record waits for it
	b.SetBytes(size)
	b.ReportAllocs()
	var records int
	begin := time.Now()
	for b.Loop() {
		ctx, cancel := context.WithCancel(b.Context())
		out := make(chan []agent.Record, 4)
		done := make(chan error, 1)
		go func() { done <- tail.Run(ctx, opts, out) }()
		for chunk := range out {
			records += len(chunk)
			if chunk[len(chunk)-1].End == size {
				break
			}
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(records)/time.Since(begin).Seconds(), "records/s")
}

// TestStartRuleFor frames each file with the rule its path gets: a JSON
// line inside a text log's record continues it, while in a JSON lines file
// every line is a record of its own.
func TestStartRuleFor(t *testing.T) {
	dir := t.TempDir()
	create(t, filepath.Join(dir, "x.log"), "2026 a\n{\"in\": \"traceback\"}\n2026 b\n")
	create(t, filepath.Join(dir, "w.json"), "{\"n\": 1}\n  {\"n\": 2}\n")
	opts := testOptions(dir, "*")
	text := opts.IsStart
	opts.StartRuleFor = func(path string) func([]byte) bool {
		if filepath.Ext(path) == ".json" {
			return nil
		}
		return text
	}
	h := start(t, opts)
	rs := h.waitCount(4)
	got := map[string][]string{}
	for _, r := range rs {
		got[filepath.Base(r.Path)] = append(got[filepath.Base(r.Path)], string(r.Data))
	}
	want := map[string][]string{
		"x.log":  {"2026 a\n{\"in\": \"traceback\"}", "2026 b"},
		"w.json": {`{"n": 1}`, `  {"n": 2}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("records by file (-want +got):\n%s", diff)
	}
}
