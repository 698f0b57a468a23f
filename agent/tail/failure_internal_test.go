package tail

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/agent"
)

// warnCounter counts the warnings logged per message.
type warnCounter struct {
	mu    sync.Mutex
	warns map[string]int
}

func (c *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *warnCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.warns[r.Message]++
	c.mu.Unlock()
	return nil
}
func (c *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *warnCounter) WithGroup(string) slog.Handler      { return c }

func (c *warnCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.warns[msg]
}

// TestReadFailure: a file whose reading fails (its descriptor is closed
// under its tailer, as an I/O error would) counts once in Errors and is
// warned about once; the next rescan follows it again from where the failed
// tailer stopped, so nothing is sent twice or skipped. Failing again after
// it recovered is a new problem.
func TestReadFailure(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(dir, "x.log")
		w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		write := func(s string) {
			t.Helper()
			if _, err := w.WriteString(s); err != nil {
				t.Fatal(err)
			}
		}
		write("2026 a\n  trace a\n2026 b\n")
		logs := &warnCounter{warns: make(map[string]int)}
		tl, err := New(Options{
			Source:         "s",
			Paths:          []string{filepath.Join(dir, "*.log")},
			IsStart:        func(l []byte) bool { return strings.HasPrefix(string(l), "2026") },
			RescanInterval: time.Second,
			IdleFlush:      100 * time.Millisecond,
			PollInterval:   100 * time.Millisecond,
			Logger:         slog.New(logs),
			noWatch:        true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan []agent.Record)
		done := make(chan error, 1)
		go func() { done <- tl.Run(ctx, out) }()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			close(out)
		}
		defer stop() // also when a check fails, so that the bubble empties
		var mu sync.Mutex
		var got []agent.Record
		go func() {
			for chunk := range out {
				mu.Lock()
				got = append(got, chunk...)
				mu.Unlock()
			}
		}()
		after := func(d time.Duration) []agent.Record {
			time.Sleep(d)
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return append([]agent.Record(nil), got...)
		}
		fail := func() {
			t.Helper()
			tl.mu.Lock()
			defer tl.mu.Unlock()
			if len(tl.live) != 1 {
				t.Fatalf("%d files followed, want 1", len(tl.live))
			}
			for ft := range tl.live {
				ft.f.Close()
			}
		}

		after(500 * time.Millisecond)
		fail()
		write("2026 c\n  trace c\n")
		after(150 * time.Millisecond)
		if s := tl.Stats(); s.Errors != 1 || s.FilesOpen != 0 {
			t.Fatalf("after the failure: %+v, want 1 error and no file open", s)
		}
		rs := after(2 * time.Second) // a rescan follows the file again
		want := []string{"2026 a\n  trace a", "2026 b", "2026 c\n  trace c"}
		if diff := cmp.Diff(want, dataOf(rs)); diff != "" {
			t.Fatalf("records (-want +got):\n%s", diff)
		}
		for i := 1; i < len(rs); i++ {
			if rs[i].Offset != rs[i-1].End || rs[i].File != rs[0].File {
				t.Fatalf("record %d %+v does not follow %+v", i, rs[i], rs[i-1])
			}
		}
		if s := tl.Stats(); s.Errors != 1 || s.FilesOpen != 1 {
			t.Fatalf("after recovery: %+v, want 1 error and 1 file open", s)
		}
		if n := logs.count(msgRead); n != 1 {
			t.Fatalf("%d warnings, want 1", n)
		}
		if fs := tl.Files(); len(fs) != 1 || fs[0].StartOffset != rs[2].Offset || fs[0].ReadOffset != rs[2].End {
			t.Fatalf("Files() = %+v, want the file resumed at %d and read to %d", fs, rs[2].Offset, rs[2].End)
		}

		// Recovered, a failure again is a new problem.
		fail()
		write("2026 d\n")
		rs = after(2 * time.Second)
		if diff := cmp.Diff(append(want, "2026 d"), dataOf(rs)); diff != "" {
			t.Fatalf("records (-want +got):\n%s", diff)
		}
		if s := tl.Stats(); s.Errors != 2 || logs.count(msgRead) != 2 {
			t.Fatalf("after the second failure: %+v, %d warnings; want 2 errors and 2 warnings", s, logs.count(msgRead))
		}
		stop()
		if fs := tl.Files(); len(fs) != 0 {
			t.Fatalf("Files() after Run = %+v", fs)
		}
	})
}

func dataOf(rs []agent.Record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, string(r.Data))
	}
	return out
}
