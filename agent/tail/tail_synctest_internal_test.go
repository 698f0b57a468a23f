package tail

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/agent"
)

// timed is a record and the fake time it arrived at.
type timed struct {
	at   time.Duration
	data string
}

// TestTimers checks IdleFlush and DrainIdle on the fake clock of
// testing/synctest (fsnotify off, so discovery is by rescan and reads by
// polling): an open record is emitted exactly IdleFlush after the file went
// quiet; a partial line is held back; a file renamed away from the watched
// paths keeps being read while written to and is given up DrainIdle after
// it went quiet, its partial last line emitted then.
func TestTimers(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(dir, "x.log")
		if err := os.WriteFile(path, []byte("2026 a\n  cont\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		tl, err := New(Options{
			Source:         "s",
			Paths:          []string{filepath.Join(dir, "*.log")},
			IsStart:        func(l []byte) bool { return len(l) >= 4 && string(l[:4]) == "2026" },
			RescanInterval: 10 * time.Second,
			IdleFlush:      time.Second,
			DrainIdle:      5 * time.Second,
			PollInterval:   250 * time.Millisecond,
			Logger:         slog.New(slog.DiscardHandler),
			noWatch:        true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan []agent.Record)
		done := make(chan error, 1)
		t0 := time.Now()
		go func() { done <- tl.Run(ctx, out) }()

		var mu sync.Mutex
		var got []timed
		go func() {
			for chunk := range out {
				mu.Lock()
				for _, r := range chunk {
					got = append(got, timed{time.Since(t0), string(r.Data)})
				}
				mu.Unlock()
			}
		}()
		at := func(d time.Duration) []timed {
			t.Helper()
			time.Sleep(d - time.Since(t0))
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return append([]timed(nil), got...)
		}

		if rs := at(999 * time.Millisecond); len(rs) != 0 {
			t.Fatalf("records before IdleFlush: %v", rs)
		}
		rs := at(time.Second)
		if diff := cmp.Diff([]timed{{time.Second, "2026 a\n  cont"}}, rs, cmp.AllowUnexported(timed{})); diff != "" {
			t.Fatalf("idle flush (-want +got):\n%s", diff)
		}

		// Rotate away from the watched paths; a writer keeps appending.
		if err := os.Rename(path, filepath.Join(dir, "x.old")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteString("2026 late 1\n"); err != nil {
			t.Fatal(err)
		}
		at(12 * time.Second) // the rescan at 10s finds the file gone
		if _, err := w.WriteString("2026 late 2\n2026 tail, no newline"); err != nil {
			t.Fatal(err)
		}
		rs = at(17 * time.Second)
		if len(rs) != 3 || rs[1].data != "2026 late 1" || rs[2].data != "2026 late 2" {
			t.Fatalf("records while draining: %v", rs)
		}
		if s := tl.Stats(); s.FilesDrained != 0 || s.FilesOpen != 1 {
			t.Fatalf("given up less than DrainIdle after the last write: %+v", s)
		}
		rs = at(17500 * time.Millisecond)
		if len(rs) != 4 || rs[3].data != "2026 tail, no newline" {
			t.Fatalf("records after give-up: %v", rs)
		}
		if s := tl.Stats(); s.FilesDrained != 1 || s.FilesOpen != 0 {
			t.Fatalf("stats after give-up: %+v", s)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		close(out)
	})
}
