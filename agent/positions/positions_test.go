package positions_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/positions"
)

var ignoreUpdated = cmpopts.IgnoreFields(positions.Entry{}, "Updated")

func open(t *testing.T, path string) (*positions.Store, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s, err := positions.Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	return s, &logs
}

func TestMissingFileIsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "positions.json")
	s, _ := open(t, path)
	if got := s.Entries(); len(got) != 0 {
		t.Fatalf("Entries()=%v, want none", got)
	}
	if _, ok := s.Get(agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}); ok {
		t.Fatalf("Get on empty store: ok=true")
	}
	// Flush of an unchanged store writes nothing.
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Stat after no-op Flush: err=%v, want not exist", err)
	}
}

func TestCommitFlushReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "positions.json")
	s, _ := open(t, path)
	a := agent.FileID{Dev: 2049, Ino: 1234, Fingerprint: 0xffffffffffffffff}
	b := agent.FileID{Dev: 2049, Ino: 99, Fingerprint: 0x1}
	s.Commit(a, "webhook", "/logs/x.log", 100)
	s.Commit(b, "webhook", "/logs/y.log", 7)
	s.Commit(a, "webhook", "/logs/x.log.1", 250)
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	r, _ := open(t, path)
	want := []positions.Entry{
		{File: a, Offset: 250, Path: "/logs/x.log.1", Source: "webhook"},
		{File: b, Offset: 7, Path: "/logs/y.log", Source: "webhook"},
	}
	if diff := cmp.Diff(want, r.Entries(), ignoreUpdated); diff != "" {
		t.Fatalf("reloaded entries (-want +got):\n%s", diff)
	}
	for _, e := range r.Entries() {
		if e.Updated.IsZero() {
			t.Errorf("entry %v: Updated is zero", e.File)
		}
	}
	if got, ok := r.Get(a); !ok || got != 250 {
		t.Fatalf("Get(a)=%d,%v, want 250,true", got, ok)
	}
}

func TestCommitIsMonotonic(t *testing.T) {
	s, _ := open(t, filepath.Join(t.TempDir(), "p.json"))
	id := agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}
	f := func(offset, want int64) {
		t.Helper()
		s.Commit(id, "src", "/x", offset)
		if got, _ := s.Get(id); got != want {
			t.Fatalf("after Commit(%d): Get=%d, want %d", offset, got, want)
		}
	}
	f(10, 10)
	f(5, 10)
	f(-1, 10)
	f(10, 10)
	f(11, 11)
	f(0, 11)
}

func TestForget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	s, _ := open(t, path)
	id := agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}
	s.Commit(id, "src", "/x", 10)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Forget(id)
	if _, ok := s.Get(id); ok {
		t.Fatal("Get after Forget: ok=true")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	r, _ := open(t, path)
	if got := r.Entries(); len(got) != 0 {
		t.Fatalf("reloaded after Forget: %v, want none", got)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestFlushIsAtomic checks the write goes through a rename (a new inode, so
// a reader never sees a half-written file) and leaves no temp files.
func TestFlushIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.json")
	s, _ := open(t, path)
	id := agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}
	s.Commit(id, "src", "/x", 1)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	before := inode(t, path)
	s.Commit(id, "src", "/x", 2)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if after := inode(t, path); after == before {
		t.Fatalf("inode unchanged (%d): file was rewritten in place", after)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0].Name() != "p.json" {
		t.Fatalf("directory holds %v, want only p.json", names)
	}
	// A Flush with nothing new does not rewrite.
	mid := inode(t, path)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := inode(t, path); got != mid {
		t.Fatalf("no-op Flush rewrote the file")
	}
}

func TestFlushErrorKeepsDirty(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.json")
	s, _ := open(t, path)
	s.Commit(agent.FileID{Ino: 1}, "src", "/x", 1)
	// Make the rename fail: the target is a non-empty directory.
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("Flush onto a directory: err=nil")
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	r, _ := open(t, path)
	if got := len(r.Entries()); got != 1 {
		t.Fatalf("entries after retried Flush: %d, want 1", got)
	}
	s.Forget(agent.FileID{Ino: 1})
	s.Forget(agent.FileID{Ino: 1}) // not there any more: not counted
	if diff := cmp.Diff(positions.Stats{Entries: 0, Writes: 1, WriteErrors: 1, Forgotten: 1}, s.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestCorruptFileIsMovedAside(t *testing.T) {
	f := func(name, content string) {
		t.Helper()
		dir := t.TempDir()
		path := filepath.Join(dir, "p.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s, logs := open(t, path)
		if got := s.Entries(); len(got) != 0 {
			t.Fatalf("%s: Entries()=%v, want none", name, got)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "corrupted") {
			t.Fatalf("%s: log %q lacks a corruption warning", name, logs.String())
		}
		aside, _ := filepath.Glob(path + ".corrupt-*")
		if len(aside) != 1 {
			t.Fatalf("%s: moved-aside files %v, want one", name, aside)
		}
		if got, _ := os.ReadFile(aside[0]); string(got) != content {
			t.Fatalf("%s: moved-aside content %q, want %q", name, got, content)
		}
		// The store is usable and writes a fresh file.
		s.Commit(agent.FileID{Ino: 1}, "src", "/x", 5)
		if err := s.Flush(); err != nil {
			t.Fatalf("%s: Flush: %v", name, err)
		}
	}
	f("garbage", "not json at all")
	f("empty", "")
	f("truncated", `{"version":1,"files":[{"dev":1,`)
	f("wrong version", `{"version":99,"files":[]}`)
	f("bad fingerprint", `{"version":1,"files":[{"dev":1,"ino":2,"fingerprint":"xyz","offset":1}]}`)
	f("negative offset", `{"version":1,"files":[{"dev":1,"ino":2,"fingerprint":"0000000000000001","offset":-5}]}`)
	f("trailing data", `{"version":1,"files":[]} {}`)
	f("unknown field", `{"version":1,"files":[],"extra":true}`)
}

func TestDuplicateEntriesKeepFurthest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	doc := `{"version":1,"files":[
	 {"dev":1,"ino":2,"fingerprint":"0000000000000003","offset":50,"path":"/a","source":"s"},
	 {"dev":1,"ino":2,"fingerprint":"0000000000000003","offset":70,"path":"/b","source":"s"},
	 {"dev":1,"ino":2,"fingerprint":"0000000000000003","offset":60,"path":"/c","source":"s"}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := open(t, path)
	if got, _ := s.Get(agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}); got != 70 {
		t.Fatalf("Get=%d, want 70", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	s, _ := open(t, path)
	const workers, ids, rounds = 8, 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				id := agent.FileID{Dev: 1, Ino: uint64(r % ids), Fingerprint: 7}
				s.Commit(id, "src", fmt.Sprintf("/f%d", r%ids), int64(r*workers+w))
				s.Get(id)
				if r%50 == 0 {
					if err := s.Flush(); err != nil {
						t.Errorf("Flush: %v", err)
					}
					_ = s.Entries()
				}
			}
		})
	}
	wg.Wait()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	r, _ := open(t, path)
	for i := range ids {
		id := agent.FileID{Dev: 1, Ino: uint64(i), Fingerprint: 7}
		// The largest offset committed for this id: the last round with
		// r%ids == i, from the last worker.
		last := (rounds-1)/ids*ids + i
		if last >= rounds {
			last -= ids
		}
		want := int64(last*workers + workers - 1)
		if got, _ := r.Get(id); got != want {
			t.Errorf("Get(%v)=%d, want %d", id, got, want)
		}
	}
}

// FuzzOpen feeds arbitrary bytes as a checkpoint file: Open never fails or
// panics on content, and whatever it loads survives a Flush round trip.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"version":1,"files":[{"dev":1,"ino":2,"fingerprint":"00000000000000ff","offset":3,"path":"/x","source":"s","updated":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"files":[]}`))
	f.Add([]byte(`{`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "p.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := positions.Open(path, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		before := s.Entries()
		s.Commit(agent.FileID{Ino: 1<<63 + 1, Fingerprint: 1<<64 - 1}, "fuzz", "/fuzz", 1)
		if err := s.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		r, err := positions.Open(path, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if got, want := len(r.Entries()), len(s.Entries()); got != want {
			t.Fatalf("reloaded %d entries, want %d (loaded before: %d)", got, want, len(before))
		}
		if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) > 0 && len(before) > 0 {
			t.Fatalf("entries loaded from a file that was moved aside")
		}
	})
}
