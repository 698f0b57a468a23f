package tail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/tail"
)

// The cases of file identity across rotation, replacement, truncation and
// failure (SPEC §6), on real files with fsnotify; waits poll with a
// deadline.

// memPositions is a map-backed tail.Positions whose checkpoints, like the
// positions store's, never move backwards.
type memPositions struct {
	mu sync.Mutex
	m  map[agent.FileID]int64
}

func newMemPositions() *memPositions { return &memPositions{m: make(map[agent.FileID]int64)} }

func (p *memPositions) Get(id agent.FileID) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	off, ok := p.m[id]
	return off, ok
}

// ack commits the records as the pipeline does once they are acknowledged.
func (p *memPositions) ack(rs []agent.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rs {
		p.m[r.File] = max(p.m[r.File], r.End)
	}
}

// waitFiles polls Files until cond holds.
func waitFiles(t *testing.T, h *harness, what string, cond func([]tail.FileState) bool) []tail.FileState {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		fs := h.tailer.Files()
		if cond(fs) {
			return fs
		}
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s; files %+v", what, fs)
		}
		time.Sleep(5 * time.Millisecond) // polling, not a fixed wait
	}
}

// settle waits until n files are followed and every one has been read to
// its end, then for two more complete scans, and checks that no record
// beyond the n expected arrived meanwhile.
func settle(t *testing.T, h *harness, files, records int) []agent.Record {
	t.Helper()
	waitFiles(t, h, fmt.Sprintf("%d files read to the end", files), func(fs []tail.FileState) bool {
		if len(fs) != files {
			return false
		}
		for _, f := range fs {
			if !f.Identified || f.ReadOffset != f.Size {
				return false
			}
		}
		return true
	})
	scans := h.tailer.Stats().Scans
	waitStat(t, h, "two more scans", func(s tail.Stats) bool { return s.Scans >= scans+2 })
	rs := h.records()
	if len(rs) != records {
		t.Fatalf("%d records, want %d: %s", len(rs), records, dataList(rs))
	}
	return rs
}

// byPath groups the records' data by the base name of their path.
func byPath(rs []agent.Record) map[string][]string {
	m := make(map[string][]string)
	for _, r := range rs {
		m[filepath.Base(r.Path)] = append(m[filepath.Base(r.Path)], string(r.Data))
	}
	return m
}

// split returns the records of the file the first record is from, and the
// others, keeping order.
func split(rs []agent.Record, id agent.FileID) (of, others []agent.Record) {
	for _, r := range rs {
		if r.File == id {
			of = append(of, r)
		} else {
			others = append(others, r)
		}
	}
	return of, others
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func lines(prefix string, from, to int) (content string, data []string) {
	var b strings.Builder
	for i := from; i < to; i++ {
		s := fmt.Sprintf("2026 %s %d", prefix, i)
		b.WriteString(s + "\n")
		data = append(data, s)
	}
	return b.String(), data
}

// TestRotationsWhileStopped: the agent stops with x.log partly and x.log.1
// wholly acknowledged; while it is down, the writers go on and the files are
// rotated twice (x.log → .1 → .2 → .3, two new x.log). On restart each file
// resumes at its checkpoint under its new name, the new ones at 0: with what
// was acknowledged before, every record exactly once.
func TestRotationsWhileStopped(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	store := newMemPositions()
	opts := testOptions(dir, "x.log*")
	opts.Positions = store

	aContent, aData := lines("a", 0, 3)
	bContent, bData := lines("b", 0, 4)
	create(t, x+".1", aContent)
	b := create(t, x, bContent)
	h := start(t, opts)
	first := h.waitFor("the first run's records", func(rs []agent.Record) bool { return len(rs) >= 7 })
	checkCover(t, first)
	var acked []agent.Record
	for _, r := range first {
		// All of x.log.1, the first two records of x.log.
		if strings.Contains(string(r.Data), " a ") || string(r.Data) == bData[0] || string(r.Data) == bData[1] {
			acked = append(acked, r)
		}
	}
	store.ack(acked)
	h.stop()
	bCheckpoint := int64(len(bData[0]) + len(bData[1]) + 2)

	// Down: writes, rotations, more writes.
	more, bMore := lines("b", 4, 6)
	write(t, b, more)
	rename(t, x+".1", x+".2")
	rename(t, x, x+".1")
	cContent, cData := lines("c", 0, 3)
	c := create(t, x, cContent)
	more, bMore2 := lines("b", 6, 7)
	write(t, b, more) // a worker still writing into the rotated file
	rename(t, x+".2", x+".3")
	rename(t, x+".1", x+".2")
	rename(t, x, x+".1")
	dContent, dData := lines("d", 0, 2)
	create(t, x, dContent)
	more, cMore := lines("c", 3, 4)
	write(t, c, more)

	h2 := start(t, opts)
	wantB := append(append(append([]string{}, bData[2:]...), bMore...), bMore2...)
	wantC := append(cData, cMore...)
	second := h2.waitFor("the second run's records", func(rs []agent.Record) bool {
		return len(rs) >= len(wantB)+len(wantC)+len(dData)
	})
	second = settle(t, h2, 4, len(second))
	checkCover(t, second)
	want := map[string][]string{"x.log.2": wantB, "x.log.1": wantC, "x.log": dData}
	if diff := cmp.Diff(want, byPath(second)); diff != "" {
		t.Fatalf("second run's records by path (-want +got):\n%s", diff)
	}
	for _, r := range second {
		if strings.Contains(string(r.Data), " b ") && r.Offset < bCheckpoint {
			t.Fatalf("x.log re-read before its checkpoint %d: %+v", bCheckpoint, r)
		}
	}
	firstOf := make(map[string]agent.Record)
	for _, r := range second {
		if _, ok := firstOf[filepath.Base(r.Path)]; !ok {
			firstOf[filepath.Base(r.Path)] = r
		}
	}
	if got := firstOf["x.log.2"].Offset; got != bCheckpoint {
		t.Errorf("old x.log resumed at %d, want its checkpoint %d", got, bCheckpoint)
	}
	if firstOf["x.log.1"].Offset != 0 || firstOf["x.log"].Offset != 0 {
		t.Errorf("new files start at %d and %d, want 0", firstOf["x.log.1"].Offset, firstOf["x.log"].Offset)
	}

	// Acknowledged before + read after: every record exactly once.
	seen := make(map[string]int)
	for _, r := range append(acked, second...) {
		seen[string(r.Data)]++
	}
	all := append(append(append(append([]string{}, aData...), bData...), bMore...), bMore2...)
	all = append(append(all, wantC...), dData...)
	for _, w := range all {
		if seen[w] != 1 {
			t.Errorf("%q delivered %d times", w, seen[w])
		}
	}
	if len(seen) != len(all) {
		t.Errorf("%d distinct records delivered, want %d", len(seen), len(all))
	}

	// Files: the wholly acknowledged x.log.1, now x.log.3, resumed at its end.
	fs := h2.tailer.Files()
	starts := make(map[string]int64)
	for _, f := range fs {
		starts[filepath.Base(f.Path)] = f.StartOffset
		if !f.Reachable {
			t.Errorf("file %+v not reachable", f)
		}
	}
	wantStarts := map[string]int64{"x.log.3": int64(len(aContent)), "x.log.2": bCheckpoint, "x.log.1": 0, "x.log": 0}
	if diff := cmp.Diff(wantStarts, starts); diff != "" {
		t.Errorf("start offsets by path (-want +got):\n%s", diff)
	}
}

// TestFileReplaced: a file replaced by another of the same name, by rm and
// create or by renaming a new file over it, is read from 0 under its own
// identity; the replaced one is drained, its last line included, and given
// up. Neither is a rotation.
func TestFileReplaced(t *testing.T) {
	for _, how := range []string{"rm and create", "rename over"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			x := filepath.Join(dir, "x.log")
			old := create(t, x, "2026 old 1\n2026 old 2\n")
			opts := testOptions(dir, "*.log")
			opts.DrainIdle = 50 * time.Millisecond // nothing is written after the replacement
			h := start(t, opts)
			rs := h.waitData("2026 old 1", "2026 old 2")
			oldID := rs[0].File

			write(t, old, "2026 old 3, not yet read\n")
			switch how {
			case "rm and create":
				if err := os.Remove(x); err != nil {
					t.Fatal(err)
				}
				create(t, x, "2026 new 1\n")
			case "rename over":
				tmp := filepath.Join(dir, "x.tmp") // not matched
				if err := os.WriteFile(tmp, []byte("2026 new 1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				rename(t, tmp, x)
			}
			rs = h.waitFor("4 records", func(rs []agent.Record) bool { return len(rs) >= 4 })
			checkCover(t, rs)
			oldRecs, newRecs := split(rs, oldID)
			if diff := cmp.Diff([]string{"2026 old 1", "2026 old 2", "2026 old 3, not yet read"}, dataList(oldRecs)); diff != "" {
				t.Fatalf("replaced file's records (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"2026 new 1"}, dataList(newRecs)); diff != "" {
				t.Fatalf("new file's records (-want +got):\n%s", diff)
			}
			newID := newRecs[0].File
			if newRecs[0].Offset != 0 || newID.Ino == oldID.Ino || newID.Fingerprint == oldID.Fingerprint {
				t.Fatalf("new file's record %+v; replaced file %v", newRecs[0], oldID)
			}
			waitStat(t, h, "the replaced file to be given up", func(s tail.Stats) bool { return s.FilesDrained == 1 && s.FilesOpen == 1 })
			fs := h.tailer.Files()
			if len(fs) != 1 || fs[0].ID != newID || fs[0].Path != x || !fs[0].Reachable || fs[0].ReadOffset != 11 {
				t.Fatalf("Files() = %+v, want the new file alone", fs)
			}
			if s := h.tailer.Stats(); s.Rotations != 0 || s.Truncations != 0 || len(h.records()) != 4 {
				t.Fatalf("stats %+v, %d records; want no rotation, no truncation, 4 records", s, len(h.records()))
			}
		})
	}
}

// TestRewrittenInPlace: the same inode with other content (as when an inode
// is reused: a new device+inode cannot be forced, so the content under one
// inode is replaced) is caught by the fingerprint, however the new size
// compares with the read offset, and read from 0 under a new identity.
func TestRewrittenInPlace(t *testing.T) {
	const old = "2026 old 1\n2026 old 2\n2026 old 3\n" // 33 bytes
	for _, tc := range []struct {
		name    string
		rewrite func(t *testing.T, f *os.File)
		want    []string
	}{{
		// Truncated and rewritten to fewer bytes than were read.
		name: "smaller",
		rewrite: func(t *testing.T, f *os.File) {
			truncate(t, f)
			write(t, f, "2026 new 1\n")
		},
		want: []string{"2026 new 1"},
	}, {
		// Exactly as many bytes: the size alone does not tell.
		name: "same size",
		rewrite: func(t *testing.T, f *os.File) {
			if _, err := f.WriteAt([]byte("2026 NEW 1\n2026 NEW 2\n2026 NEW 3\n"), 0); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{"2026 NEW 1", "2026 NEW 2", "2026 NEW 3"},
	}, {
		// More bytes than were read.
		name: "larger",
		rewrite: func(t *testing.T, f *os.File) {
			truncate(t, f)
			write(t, f, "2026 new 1\n2026 new 2\n2026 new 3\n2026 new 4\n")
		},
		want: []string{"2026 new 1", "2026 new 2", "2026 new 3", "2026 new 4"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := filepath.Join(dir, "x.log")
			// WriteAt needs a descriptor without O_APPEND.
			f, err := os.OpenFile(x, os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString(old); err != nil {
				t.Fatal(err)
			}
			h := start(t, testOptions(dir, "*.log"))
			rs := h.waitData("2026 old 1", "2026 old 2", "2026 old 3")
			oldID := rs[0].File
			waitFiles(t, h, "the file read", func(fs []tail.FileState) bool { return len(fs) == 1 && fs[0].ReadOffset == 33 })

			tc.rewrite(t, f)
			n := 3 + len(tc.want)
			rs = h.waitFor("the new content", func(rs []agent.Record) bool { return len(rs) >= n })
			checkCover(t, rs)
			oldRecs, newRecs := split(rs, oldID)
			if len(oldRecs) != 3 {
				t.Fatalf("old content's records: %s", dataList(oldRecs))
			}
			if diff := cmp.Diff(tc.want, dataList(newRecs)); diff != "" {
				t.Fatalf("new content's records (-want +got):\n%s", diff)
			}
			if newRecs[0].Offset != 0 || newRecs[0].File.Ino != oldID.Ino || newRecs[0].File.Fingerprint == oldID.Fingerprint {
				t.Fatalf("first new record %+v; old identity %v", newRecs[0], oldID)
			}
			if s := h.tailer.Stats(); s.Truncations != 1 {
				t.Fatalf("Truncations = %d, want 1", s.Truncations)
			}

			// It goes on growing under its new identity.
			if _, err := f.Seek(0, 2); err != nil {
				t.Fatal(err)
			}
			write(t, f, "2026 appended\n")
			rs = h.waitFor("the appended record", func(rs []agent.Record) bool { return len(rs) >= n+1 })
			checkCover(t, rs)
			if last := rs[n]; string(last.Data) != "2026 appended" || last.File != newRecs[0].File {
				t.Fatalf("appended record %+v", last)
			}
			fs := h.tailer.Files()
			if len(fs) != 1 || fs[0].ID != newRecs[0].File || fs[0].StartOffset != 0 || fs[0].ReadOffset != rs[n].End || fs[0].Size != rs[n].End {
				t.Fatalf("Files() = %+v after the rewrite", fs)
			}
			if s := h.tailer.Stats(); s.Truncations != 1 {
				t.Fatalf("Truncations = %d, want 1", s.Truncations)
			}
		})
	}
}

func truncate(t *testing.T, f *os.File) {
	t.Helper()
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
}

// TestShrinkThenAppend: a file truncated to less than was read, then
// appended to beyond the first new line, is read from the start under its
// new identity and counted once in Truncations.
func TestShrinkThenAppend(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	f := create(t, x, "2026 first 1\n2026 first 2\n2026 first 3\n") // 39 bytes
	h := start(t, testOptions(dir, "*.log"))
	rs := h.waitData("2026 first 1", "2026 first 2", "2026 first 3")
	oldID := rs[0].File
	if err := f.Truncate(0); err != nil { // f appends: the next write lands at 0
		t.Fatal(err)
	}
	write(t, f, "2026 short\n")
	// Seen at 11 bytes, less than the 39 read: the size tells.
	rs = h.waitFor("the short record", func(rs []agent.Record) bool { return len(rs) >= 4 })
	if r := rs[3]; string(r.Data) != "2026 short" || r.Offset != 0 || r.End != 11 || r.File == oldID {
		t.Fatalf("record after the shrink %+v; old identity %v", r, oldID)
	}
	write(t, f, "2026 more 1\n  trace\n2026 more 2\n")
	rs = h.waitFor("the appended records", func(rs []agent.Record) bool { return len(rs) >= 6 })
	checkCover(t, rs)
	_, newRecs := split(rs, oldID)
	if diff := cmp.Diff([]string{"2026 short", "2026 more 1\n  trace", "2026 more 2"}, dataList(newRecs)); diff != "" {
		t.Fatalf("records after the shrink (-want +got):\n%s", diff)
	}
	if newRecs[0].Offset != 0 || newRecs[0].File == oldID {
		t.Fatalf("first record after the shrink %+v; old identity %v", newRecs[0], oldID)
	}
	if s := h.tailer.Stats(); s.Truncations != 1 {
		t.Fatalf("Truncations = %d, want 1", s.Truncations)
	}
}

// TestCopyTruncateWritesPastOffset: copytruncate, then the writer writes
// more than had been read, all before the tailer looks again (it is held in
// a send by a stalled consumer): the size never shows the truncation, the
// fingerprint does; the new content is read from 0, none of it is taken for
// the old content's continuation.
func TestCopyTruncateWritesPastOffset(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	f := create(t, x, "2026 a 1\n2026 a 2\n") // 18 bytes
	h := startPaused(t, testOptions(dir, "*.log"), true)
	// Read to 18, the tailer now blocks sending "2026 a 1".
	waitFiles(t, h, "the file read", func(fs []tail.FileState) bool { return len(fs) == 1 && fs[0].ReadOffset == 18 })
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	write(t, f, "2026 b 1, longer than all of the old content\n2026 b 2\n")
	close(h.paused)
	rs := h.waitFor("4 records", func(rs []agent.Record) bool { return len(rs) >= 4 })
	checkCover(t, rs)
	if diff := cmp.Diff([]string{"2026 a 1", "2026 a 2", "2026 b 1, longer than all of the old content", "2026 b 2"}, dataList(rs)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if rs[1].End != 18 || rs[2].Offset != 0 || rs[2].File == rs[0].File {
		t.Fatalf("records across the truncation: %+v then %+v", rs[1], rs[2])
	}
	if s := h.tailer.Stats(); s.Truncations != 1 {
		t.Fatalf("Truncations = %d, want 1", s.Truncations)
	}
}

// TestCopyTruncateDuringLargeRead: copytruncate while the tailer is in the
// middle of a backlog larger than one read, held in a send: what it reads
// next is checked before it is taken for the old content.
func TestCopyTruncateDuringLargeRead(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	const n = 7000 // ~300 KiB: more than one read buffer
	content, want := lines("old record padded with some bytes", 0, n)
	f := create(t, x, content)
	h := startPaused(t, testOptions(dir, "*.log"), true)
	waitFiles(t, h, "the first buffer read", func(fs []tail.FileState) bool {
		return len(fs) == 1 && fs[0].ReadOffset >= tail.ReadBufferSize
	})
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	newContent, newWant := lines("new record padded with some bytes", 0, n)
	write(t, f, newContent)
	close(h.paused)
	rs := h.waitFor("the new content", func(rs []agent.Record) bool {
		return len(rs) > 0 && rs[len(rs)-1].End == int64(len(newContent)) && string(rs[len(rs)-1].Data) == newWant[n-1]
	})
	checkCover(t, rs)
	oldRecs, newRecs := split(rs, rs[0].File)
	if got := strings.Join(dataList(newRecs), "\n"); got != strings.Join(newWant, "\n") {
		t.Fatalf("new content's records differ: %d records, want %d", len(newRecs), len(newWant))
	}
	if newRecs[0].Offset != 0 {
		t.Fatalf("new content read from %d", newRecs[0].Offset)
	}
	// The old content is emitted as far as it was read, one buffer, up to
	// its last whole line: the line the buffer cut is dropped, not emitted
	// cut short (with copytruncate the copy holds it whole, at the same
	// offset under the same fingerprint); nothing of the new content is
	// taken for it.
	wantEnd := int64(strings.LastIndexByte(content[:tail.ReadBufferSize], '\n') + 1)
	if end := oldRecs[len(oldRecs)-1].End; end != wantEnd {
		t.Fatalf("old content's records end at %d, want %d", end, wantEnd)
	}
	if last := oldRecs[len(oldRecs)-1]; string(last.Data) != want[len(oldRecs)-1] {
		t.Fatalf("old content's last record is %q, want the whole line %q", last.Data, want[len(oldRecs)-1])
	}
	if got := strings.Join(dataList(oldRecs), "\n"); !strings.HasPrefix(strings.Join(want, "\n"), got) {
		t.Fatalf("old content's records are not its beginning; they end with %q", got[len(got)-80:])
	}
	if s := h.tailer.Stats(); s.Truncations != 1 {
		t.Fatalf("Truncations = %d, want 1", s.Truncations)
	}
}

// TestDailyFileSwitch: upstream's webhooks_YYYY-MM-DD.json switch. A new
// dated file appears, the old one gets its last lines and stops growing:
// both are read completely and both stay followed, neither rotated nor
// truncated. Once the old one is deleted it is given up.
func TestDailyFileSwitch(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir, "webhooks_*.json")
	opts.IsStart = nil // JSON lines: every line is a record
	opts.DrainIdle = 50 * time.Millisecond
	day1 := create(t, filepath.Join(dir, "webhooks_2026-07-30.json"), "{\"n\":1}\n{\"n\":2}\n")
	h := start(t, opts)
	h.waitData(`{"n":1}`, `{"n":2}`)
	day2 := create(t, filepath.Join(dir, "webhooks_2026-07-31.json"), "{\"n\":3}\n")
	write(t, day1, "{\"n\":2.5}\n") // a worker still finishing the old day
	write(t, day2, "{\"n\":4}\n")
	h.waitCount(5)
	rs := settle(t, h, 2, 5)
	by := checkCover(t, rs)
	for id, frs := range by {
		if frs[0].Offset != 0 {
			t.Errorf("file %v read from %d", id, frs[0].Offset)
		}
	}
	want := map[string][]string{
		"webhooks_2026-07-30.json": {`{"n":1}`, `{"n":2}`, `{"n":2.5}`},
		"webhooks_2026-07-31.json": {`{"n":3}`, `{"n":4}`},
	}
	if diff := cmp.Diff(want, byPath(rs)); diff != "" {
		t.Fatalf("records by path (-want +got):\n%s", diff)
	}
	fs := h.tailer.Files()
	if len(fs) != 2 || fs[0].Path != day1.Name() || fs[1].Path != day2.Name() ||
		!fs[0].Reachable || !fs[1].Reachable || fs[0].Size != 26 || fs[1].Size != 16 {
		t.Fatalf("Files() = %+v", fs)
	}
	if s := h.tailer.Stats(); s.Rotations != 0 || s.Truncations != 0 || s.FilesDrained != 0 || s.FilesOpen != 2 {
		t.Fatalf("stats %+v", s)
	}
	if err := os.Remove(day1.Name()); err != nil {
		t.Fatal(err)
	}
	waitStat(t, h, "the old day to be given up", func(s tail.Stats) bool { return s.FilesDrained == 1 && s.FilesOpen == 1 })
	if s := h.tailer.Stats(); s.Rotations != 0 || len(h.records()) != 5 {
		t.Fatalf("after deletion: stats %+v, %d records", s, len(h.records()))
	}
}

// TestFilesAndRotations: Files reports a live file and a renamed-away one
// with their sizes, offsets and reachability, and Rotations counts each
// rename once, whether the new name is matched or not.
func TestFilesAndRotations(t *testing.T) {
	t.Run("renamed away", func(t *testing.T) {
		dir := t.TempDir()
		x := filepath.Join(dir, "x.log")
		opts := testOptions(dir, "*.log")
		opts.DrainIdle = time.Hour // keep the renamed file followed
		f := create(t, x, "2026 one\n2026 two\n")
		h := start(t, opts)
		rs := h.waitData("2026 one", "2026 two")
		oldID := rs[0].File
		fs := waitFiles(t, h, "the file read", func(fs []tail.FileState) bool { return len(fs) == 1 && fs[0].ReadOffset == 18 })
		if want := (tail.FileState{Path: x, ID: oldID, Identified: true, Reachable: true, Size: 18, ReadOffset: 18}); fs[0] != want {
			t.Fatalf("Files() = %+v, want %+v", fs[0], want)
		}
		if s := h.tailer.Stats(); s.Rotations != 0 {
			t.Fatalf("Rotations = %d before any rename", s.Rotations)
		}

		rename(t, x, x+".1")
		write(t, f, "2026 three\n")
		create(t, x, "2026 new\n")
		h.waitFor("4 records", func(rs []agent.Record) bool { return len(rs) >= 4 })
		fs = waitFiles(t, h, "the renamed file unreachable", func(fs []tail.FileState) bool {
			return len(fs) == 2 && fs[0].Identified && fs[1].Identified && (!fs[0].Reachable || !fs[1].Reachable) &&
				fs[0].ReadOffset == fs[0].Size && fs[1].ReadOffset == fs[1].Size
		})
		var gone, live tail.FileState
		for _, f := range fs {
			if f.ID == oldID {
				gone = f
			} else {
				live = f
			}
		}
		if want := (tail.FileState{Path: x, ID: oldID, Identified: true, Reachable: false, Size: 29, ReadOffset: 29}); gone != want {
			t.Errorf("renamed-away file %+v, want %+v", gone, want)
		}
		if live.Path != x || !live.Reachable || live.Size != 9 || live.ReadOffset != 9 || live.StartOffset != 0 || live.ID.Ino == oldID.Ino {
			t.Errorf("live file %+v", live)
		}
		if s := h.tailer.Stats(); s.Rotations != 1 {
			t.Errorf("Rotations = %d, want 1", s.Rotations)
		}
	})

	t.Run("renamed under the glob", func(t *testing.T) {
		dir := t.TempDir()
		x := filepath.Join(dir, "x.log")
		h := start(t, testOptions(dir, "x.log*"))
		create(t, x, "2026 a\n")
		h.waitCount(1)
		rotate := func(files int) {
			t.Helper()
			for i := files - 1; i >= 1; i-- {
				rename(t, fmt.Sprintf("%s.%d", x, i), fmt.Sprintf("%s.%d", x, i+1))
			}
			rename(t, x, x+".1")
			create(t, x, fmt.Sprintf("2026 file %d\n", files+1))
		}
		rotate(1)
		waitFiles(t, h, "x.log and x.log.1", func(fs []tail.FileState) bool {
			return len(fs) == 2 && fs[0].Path == x && fs[1].Path == x+".1"
		})
		waitStat(t, h, "one rotation", func(s tail.Stats) bool { return s.Rotations == 1 })
		rotate(2)
		fs := waitFiles(t, h, "x.log, x.log.1 and x.log.2 read", func(fs []tail.FileState) bool {
			if len(fs) != 3 || fs[0].Path != x || fs[1].Path != x+".1" || fs[2].Path != x+".2" {
				return false
			}
			for _, f := range fs {
				if !f.Identified || f.ReadOffset != f.Size {
					return false
				}
			}
			return true
		})
		for i, size := range []int64{12, 12, 7} {
			if f := fs[i]; !f.Reachable || f.Size != size || f.StartOffset != 0 {
				t.Errorf("file %+v, want reachable, size %d, read from 0", f, size)
			}
		}
		rs := h.waitCount(3)
		checkCover(t, rs)
		waitStat(t, h, "three rotations", func(s tail.Stats) bool { return s.Rotations >= 3 })
		if s := h.tailer.Stats(); s.Rotations != 3 || s.FilesDrained != 0 {
			t.Fatalf("stats %+v, want 3 rotations and nothing drained", s)
		}
	})

	t.Run("start at end", func(t *testing.T) {
		dir := t.TempDir()
		create(t, filepath.Join(dir, "x.log"), "2026 history\n")
		opts := testOptions(dir, "*.log")
		opts.StartAtEnd = true
		h := start(t, opts)
		fs := waitFiles(t, h, "the file identified", func(fs []tail.FileState) bool { return len(fs) == 1 && fs[0].Identified })
		if fs[0].StartOffset != 13 || fs[0].ReadOffset != 13 || fs[0].Size != 13 {
			t.Fatalf("Files() = %+v, want start, read offset and size 13", fs)
		}
	})
}

// TestFilesWhileReading calls Files continuously while files are read,
// rotated and truncated (run with -race): every snapshot is consistent, and
// a file's read offset only grows under one identity.
func TestFilesWhileReading(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.log")
	h := start(t, testOptions(dir, "x.log*"))

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var snapshots int
	wg.Go(func() {
		last := make(map[agent.FileID]tail.FileState)
		for ctx.Err() == nil {
			snapshots++
			for _, f := range h.tailer.Files() {
				if f.Identified == (f.ID == agent.FileID{}) {
					t.Errorf("identity %v, identified %v", f.ID, f.Identified)
				}
				if !(0 <= f.StartOffset && f.StartOffset <= f.ReadOffset && f.ReadOffset <= f.Size) {
					t.Errorf("inconsistent offsets %+v", f)
				}
				if !f.Identified {
					continue
				}
				if p, ok := last[f.ID]; ok && (f.ReadOffset < p.ReadOffset || f.StartOffset != p.StartOffset) {
					t.Errorf("file %v went from %+v to %+v", f.ID, p, f)
				}
				last[f.ID] = f
			}
		}
	})

	var want []string
	f := create(t, x, "")
	for round := range 4 {
		content, data := lines(fmt.Sprintf("round %d", round), 0, 500)
		write(t, f, content)
		want = append(want, data...)
		h.waitFor(fmt.Sprintf("round %d", round), func(rs []agent.Record) bool { return len(rs) >= len(want) })
		if round == 2 {
			if err := f.Truncate(0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rename(t, x, fmt.Sprintf("%s.%d", x, round+1))
		f = create(t, x, "")
	}
	content, data := lines("last", 0, 10)
	write(t, f, content)
	want = append(want, data...)
	rs := h.waitFor("every record", func(rs []agent.Record) bool { return len(rs) >= len(want) })
	cancel()
	wg.Wait()
	checkCover(t, rs)
	got := dataList(rs)
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if snapshots < 2 {
		t.Fatalf("only %d snapshots taken", snapshots)
	}
}

// countingHandler counts the warnings logged per message.
type countingHandler struct {
	mu    sync.Mutex
	warns map[string]int
}

func (c *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *countingHandler) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.warns[r.Message]++
	c.mu.Unlock()
	return nil
}
func (c *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *countingHandler) WithGroup(string) slog.Handler      { return c }

func (c *countingHandler) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for msg, k := range c.warns {
		if strings.HasPrefix(msg, prefix) {
			n += k
		}
	}
	return n
}

// TestPermissionDenied: a file that cannot be opened does not hold up the
// others; it counts once in Errors and is warned about once however many
// rescans retry it; once readable it is read from its beginning. Another
// file denied is a new problem.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: chmod does not deny root; run as another user to test")
	}
	dir := t.TempDir()
	bad := create(t, filepath.Join(dir, "bad.log"), "2026 secret 1\n2026 secret 2\n")
	if err := bad.Chmod(0); err != nil {
		t.Fatal(err)
	}
	good := create(t, filepath.Join(dir, "good.log"), "2026 fine 1\n")
	logs := &countingHandler{warns: make(map[string]int)}
	opts := testOptions(dir, "*.log")
	opts.Logger = slog.New(logs)
	h := start(t, opts)
	h.waitData("2026 fine 1")
	waitStat(t, h, "an error", func(s tail.Stats) bool { return s.Errors >= 1 })
	scans := h.tailer.Stats().Scans
	waitStat(t, h, "three more rescans", func(s tail.Stats) bool { return s.Scans >= scans+3 })
	write(t, good, "2026 fine 2\n")
	h.waitData("2026 fine 1", "2026 fine 2")
	if s := h.tailer.Stats(); s.Errors != 1 || s.FilesOpen != 1 {
		t.Fatalf("stats %+v, want 1 error and 1 file open", s)
	}
	if n := logs.count("cannot open file"); n != 1 {
		t.Fatalf("%d warnings about the unreadable file, want 1", n)
	}
	if fs := h.tailer.Files(); len(fs) != 1 || fs[0].Path != good.Name() {
		t.Fatalf("Files() = %+v, want good.log alone", fs)
	}

	if err := bad.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
	rs := h.waitFor("the file once readable", func(rs []agent.Record) bool { return len(rs) >= 4 })
	checkCover(t, rs)
	want := map[string][]string{"good.log": {"2026 fine 1", "2026 fine 2"}, "bad.log": {"2026 secret 1", "2026 secret 2"}}
	if diff := cmp.Diff(want, byPath(rs)); diff != "" {
		t.Fatalf("records by path (-want +got):\n%s", diff)
	}
	// Readable, it is no problem any more; a new file denied is a new one.
	other, err := os.OpenFile(filepath.Join(dir, "other.log"), os.O_CREATE|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	write(t, other, "2026 other\n")
	waitStat(t, h, "the second error", func(s tail.Stats) bool { return s.Errors == 2 })
	if n := logs.count("cannot open file"); n != 2 {
		t.Fatalf("%d warnings about unreadable files, want 2", n)
	}
}

// TestUnreadableDirectory: a directory whose entries cannot be listed hides
// its files from the glob; that is an error, reported once, and the files
// are found once it is readable.
func TestUnreadableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: chmod does not deny root; run as another user to test")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "logs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	create(t, filepath.Join(sub, "x.log"), "2026 hidden\n")
	if err := os.Chmod(sub, 0o311); err != nil { // no read: cannot be listed
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(sub, 0o755) })
	logs := &countingHandler{warns: make(map[string]int)}
	opts := testOptions(dir, "logs/*.log")
	opts.Logger = slog.New(logs)
	h := start(t, opts)
	waitStat(t, h, "a scan", func(s tail.Stats) bool { return s.Scans >= 1 })
	errs := h.tailer.Stats().Errors
	scans := h.tailer.Stats().Scans
	waitStat(t, h, "two more rescans", func(s tail.Stats) bool { return s.Scans >= scans+2 })
	// Listing it fails, and so may watching it: each once.
	if s := h.tailer.Stats(); errs < 1 || s.Errors != errs || len(h.records()) != 0 {
		t.Fatalf("stats %+v (%d errors after the first scan), %d records; want errors, counted once, and no records", s, errs, len(h.records()))
	}
	if n := logs.count("cannot read directory"); n != 1 {
		t.Fatalf("%d warnings about the directory, want 1", n)
	}
	if err := os.Chmod(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	h.waitData("2026 hidden")
}
