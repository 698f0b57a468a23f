package tail

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hooktail/hooktail/agent"
)

// collected is what a Tailer run by runCollecting has sent.
type collected struct {
	mu   sync.Mutex
	recs []agent.Record
}

func (c *collected) snapshot() []agent.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]agent.Record(nil), c.recs...)
}

// runCollecting runs tl until the test ends, gathering what it sends.
func runCollecting(t *testing.T, tl *Tailer) *collected {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []agent.Record)
	c := &collected{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tl.Run(ctx, out)
	}()
	go func() {
		for {
			select {
			case rs := <-out:
				c.mu.Lock()
				c.recs = append(c.recs, rs...)
				c.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// pollUntil polls cond until it holds or the deadline passes.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// copyFile copies from to a new file to, as copytruncate does.
func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// TestCopyTruncateBetweenCheckAndRead: logrotate's copytruncate lands after
// step has checked the file and before it reads, while the tailer carries
// the first part of a line the writer was still writing. The new content's
// bytes are not taken for the old content's, and the carried part of the
// line is not emitted cut short: the copy (x.log.1, tailed too) holds it
// whole at the same offset under the same fingerprint, and downstream a cut
// record sent first would replace the whole one.
func TestCopyTruncateBetweenCheckAndRead(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	var old strings.Builder
	for i := range 10 {
		fmt.Fprintf(&old, "old record %d\n", i)
	}
	w, err := os.OpenFile(x, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustWrite := func(s string) {
		t.Helper()
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(old.String() + "old par")
	oldLen := int64(old.Len() + len("old par"))
	var newGen strings.Builder
	for i := range 40 { // longer than the old content: not caught by size
		fmt.Fprintf(&newGen, "new record %d\n", i)
	}

	tl, err := New(Options{
		Source: "s", Paths: []string{x + "*"},
		PollInterval: 10 * time.Millisecond, IdleFlush: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var armed atomic.Bool
	rotated := make(chan struct{})
	tl.beforeRead = func(ft *fileTailer) {
		if !armed.Load() || ft.currentPath() != x || ft.readOff != oldLen {
			return
		}
		// The tailer has checked the file, which has grown by the end of
		// the line it carries the start of, and is about to read on:
		// copytruncate, and the writer goes on.
		once.Do(func() {
			// On the tailer's goroutine: failures panic, t.Fatal may not.
			if err := copyFile(x, x+".1"); err != nil {
				panic(err)
			}
			if err := w.Truncate(0); err != nil {
				panic(err)
			}
			if _, err := w.WriteString(newGen.String()); err != nil {
				panic(err)
			}
			close(rotated)
		})
	}
	c := runCollecting(t, tl)
	pollUntil(t, "the old content read", func() bool {
		fs := tl.Files()
		return len(fs) == 1 && fs[0].ReadOffset == oldLen
	})
	armed.Store(true)
	mustWrite("tial\n")
	select {
	case <-rotated:
	case <-time.After(10 * time.Second):
		t.Fatal("the tailer never read again after the old content")
	}
	lastNew := "new record 39"
	pollUntil(t, "the new content and the copy", func() bool {
		var sawNew, sawCopy bool
		for _, r := range c.snapshot() {
			sawNew = sawNew || string(r.Data) == lastNew
			sawCopy = sawCopy || string(r.Data) == "old partial"
		}
		return sawNew && sawCopy
	})
	// Records are keyed downstream by (fingerprint, offset): each key must
	// have one content, the whole line's.
	type key struct {
		fp  uint64
		off int64
	}
	byKey := make(map[key]string)
	var oldFP uint64
	for _, r := range c.snapshot() {
		k := key{r.File.Fingerprint, r.Offset}
		if prev, ok := byKey[k]; ok && prev != string(r.Data) {
			t.Fatalf("offset %d of %x sent as %q and as %q", r.Offset, r.File.Fingerprint, prev, r.Data)
		}
		byKey[k] = string(r.Data)
		if r.Offset == 0 && string(r.Data) == "old record 0" {
			oldFP = r.File.Fingerprint
		}
		if strings.HasPrefix(string(r.Data), "old par") && string(r.Data) != "old partial" {
			t.Fatalf("the carried part of a line was sent as a record: %+v", r)
		}
	}
	for k, d := range byKey {
		if k.fp == oldFP && strings.HasPrefix(d, "new") {
			t.Fatalf("new content sent as the old content's at offset %d: %q", k.off, d)
		}
	}
	if s := tl.Stats(); s.Truncations == 0 {
		t.Fatalf("Truncations = 0, want the copytruncate counted")
	}
}

// TestGiveUpReadsToEnd: a file renamed away from the watched paths is read
// to its end, and written to again while its tailer blocks sending what it
// read for longer than DrainIdle. Time spent blocked in send is not quiet
// time, and the file is read to its end through its descriptor before it
// is closed: nothing written to it is lost.
func TestGiveUpReadsToEnd(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(dir, "x.log")
		if err := os.WriteFile(path, []byte("a\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		tl, err := New(Options{
			Source: "s", Paths: []string{filepath.Join(dir, "*.log")},
			RescanInterval: time.Second, IdleFlush: time.Second,
			DrainIdle: 5 * time.Second, PollInterval: 250 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler), noWatch: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan []agent.Record)
		done := make(chan error, 1)
		go func() { done <- tl.Run(ctx, out) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		var got []string
		take := func() {
			for _, r := range <-out {
				got = append(got, string(r.Data))
			}
		}
		take() // a, at IdleFlush
		if err := os.Rename(path, filepath.Join(dir, "x.old")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the rescan at 1s finds the file gone
		if _, err := w.WriteString("b\nb2\n"); err != nil {
			t.Fatal(err)
		}
		// The tailer reads to the end of the file and blocks sending b
		// (b2 stays open) for 8s; meanwhile the writer appends c.
		time.Sleep(3 * time.Second)
		if _, err := w.WriteString("c\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		take() // b
		var mu sync.Mutex
		go func() {
			for chunk := range out {
				mu.Lock()
				for _, r := range chunk {
					got = append(got, string(r.Data))
				}
				mu.Unlock()
			}
		}()
		defer close(out)
		time.Sleep(20 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(got, ",") != "a,b,b2,c" {
			t.Fatalf("records %q, want a, b, b2 and c", got)
		}
		if s := tl.Stats(); s.FilesDrained != 1 || s.FilesOpen != 0 {
			t.Fatalf("stats after give-up: %+v", s)
		}
	})
}

// TestBlockedSendHoldsNoReadBuffer: tailers blocked on a consumer that does
// not take their records hold no read buffer (256 KiB each): in a rotation
// storm hundreds of files wait in send at once, and memory must stay at
// one chunk per file.
func TestBlockedSendHoldsNoReadBuffer(t *testing.T) {
	dir := t.TempDir()
	const files = 20
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("f%02d.log", i))
		if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("line of file %d\n", i), 100)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := New(Options{Source: "s", Paths: []string{filepath.Join(dir, "*.log")}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []agent.Record) // never received from until the end
	done := make(chan struct{})
	go func() { _ = tl.Run(ctx, out); close(done) }()
	defer func() { cancel(); <-done }()
	pollUntil(t, "every file read and its tailer blocked in send", func() bool {
		fs := tl.Files()
		if len(fs) != files {
			return false
		}
		for _, f := range fs {
			if f.ReadOffset != f.Size || f.Size == 0 {
				return false
			}
		}
		return tl.bufsHeld.Load() == 0
	})
	// Taking the chunks lets the tailers read on: nothing was lost.
	n := 0
	for n < files*100 {
		n += len(<-out)
	}
	if n != files*100 {
		t.Fatalf("%d records, want %d", n, files*100)
	}
}

// TestInodeReusedWhileClosedTailerWaits: in a rename storm the oldest
// backup is deleted, its tailer gives up and closes it, and its inode number
// goes to a new file before the runner has removed the tailer. The scan
// that finds the new file starts it at once instead of taking it for the
// closed one (a scan later it may be rotated away and deleted unread), and
// removing the closed tailer later leaves the new one alone.
func TestInodeReusedWhileClosedTailerWaits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	if err := os.WriteFile(path, []byte("new file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	key := inodeOf(fi)
	tl, err := New(Options{
		Source: "s", Paths: []string{filepath.Join(dir, "*.log")},
		IdleFlush: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), noWatch: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan []agent.Record, 1)
	r := newRunner(tl, out)
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); r.wg.Wait() }()
	// The given-up tailer of the old file, waiting to be removed.
	old := &fileTailer{t: tl, key: key, path: path}
	old.closed.Store(true)
	r.files[key] = old
	tl.stats.filesOpen.Add(1)

	r.scan(ctx, false)
	ft := r.files[key]
	if ft == old || ft == nil {
		t.Fatal("the new file was taken for the closed tailer's file")
	}
	if r.byPath[path] != ft {
		t.Fatal("the new file's path does not route to its tailer")
	}
	select {
	case rs := <-out:
		if len(rs) != 1 || string(rs[0].Data) != "new file" {
			t.Fatalf("records %+v, want the new file's line", rs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new file was not read")
	}
	r.remove(exit{ft: old})
	if r.files[key] != ft || r.byPath[path] != ft {
		t.Fatal("removing the closed tailer dropped the new file's")
	}
	if n := tl.Stats().FilesOpen; n != 1 {
		t.Fatalf("FilesOpen = %d, want 1", n)
	}
}
