package pipeline

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/agent/tail"
)

// These tests call pruneCheckpoints with the times of an injected clock:
// the pipeline's own flush ticker is an hour, so the ship loop never
// prunes by itself meanwhile.

func ackAll() Pusher {
	return funcPusher(func(_ context.Context, _ uint64, e []agent.Entry) (ship.Ack, error) {
		return ship.Ack{Stored: len(e)}, nil
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func ids(store *positions.Store) []agent.FileID {
	var out []agent.FileID
	for _, e := range store.Entries() {
		out = append(out, e.File)
	}
	return out
}

func TestPruneCheckpoints(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	store, err := positions.Open(filepath.Join(t.TempDir(), "checkpoints.json"), logger)
	if err != nil {
		t.Fatal(err)
	}
	// A file rotated away long ago, and the old content of a path that now
	// holds a file whose first line is not complete yet.
	gone := agent.FileID{Dev: 1, Ino: 1, Fingerprint: 1}
	store.Commit(gone, "src", "/elsewhere/x.log.3", 10)
	partialOld := agent.FileID{Dev: 1, Ino: 2, Fingerprint: 2}
	partial := filepath.Join(dir, "partial.log")
	store.Commit(partialOld, "src", partial, 5)
	path := filepath.Join(dir, "x.log")
	const data = "line one\nline two\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(partial, []byte("no newline yet"), 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	p, err := New(Options{
		Pusher: ackAll(), Checkpoints: store, Logger: logger,
		FlushInterval: time.Hour, BatchMaxWait: time.Millisecond,
		PruneAfter: time.Hour, Now: func() time.Time { return start },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetSources(t.Context(), []Source{{Name: "src", Parser: echoParser{}, Tail: tail.Options{
		Paths: []string{filepath.Join(dir, "*.log")}, RescanInterval: 20 * time.Millisecond,
		IdleFlush: time.Millisecond, DrainIdle: 20 * time.Millisecond, PollInterval: 5 * time.Millisecond, Logger: logger,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	var x agent.FileID
	waitUntil(t, "x.log acknowledged", func() bool {
		for _, f := range p.Files() {
			if f.Path == path && f.Identified && f.Acked == int64(len(data)) {
				x = f.ID
				return true
			}
		}
		return false
	})

	check := func(after time.Duration, want ...agent.FileID) {
		t.Helper()
		p.pruneCheckpoints(start.Add(after))
		got := ids(store)
		slices.SortFunc(got, compareIDs)
		slices.SortFunc(want, compareIDs)
		if !slices.Equal(got, want) {
			t.Fatalf("checkpoints %v after start: %v, want %v", after, got, want)
		}
	}
	// Never seen followed, but not an hour has passed since the start.
	check(59*time.Minute, gone, partialOld, x)
	// An hour: the file gone for good is forgotten; the path of a followed
	// file not yet identified keeps its checkpoint, and x.log is followed.
	check(61*time.Minute, partialOld, x)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "x.log drained and closed", func() bool {
		return !slices.ContainsFunc(p.Files(), func(f FileStatus) bool { return f.Path == path })
	})
	// x.log was last seen followed at 61m.
	check(62*time.Minute, partialOld, x)
	check(120*time.Minute, partialOld, x)
	check(122*time.Minute, partialOld)
	if got := p.Stats().CheckpointsPruned; got != 2 {
		t.Errorf("CheckpointsPruned = %d, want 2", got)
	}
	if got := store.Stats().Forgotten; got != 2 {
		t.Errorf("store forgot %d, want 2", got)
	}
}

func compareIDs(a, b agent.FileID) int { return int(a.Ino) - int(b.Ino) }

// TestPruneWaits checks that nothing is pruned while a tailer has not
// finished its first scan, and that the checkpoints of a source waiting to
// restart are kept.
func TestPruneWaits(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	store, err := positions.Open(filepath.Join(t.TempDir(), "checkpoints.json"), logger)
	if err != nil {
		t.Fatal(err)
	}
	a := agent.FileID{Ino: 1, Fingerprint: 1}
	b := agent.FileID{Ino: 2, Fingerprint: 2}
	store.Commit(a, "a", "/logs/a.log", 10)
	store.Commit(b, "b", "/logs/b.log", 10)
	start := time.Now()
	p, err := New(Options{Pusher: ackAll(), Checkpoints: store, Logger: logger, Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	p.prune.begin(start)
	never, err := tail.New(tail.Options{Paths: []string{"/logs/*.log"}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	// Source a runs a tailer that has not scanned yet.
	p.slots["a"] = &slot{name: "a", current: &instance{tailer: never, started: true}, stats: new(sourceCounters)}
	if n := p.pruneCheckpoints(start.Add(48 * time.Hour)); n != 0 || len(ids(store)) != 2 {
		t.Fatalf("pruned %d before a tailer's first scan, want 0", n)
	}
	// Source b waits to restart (its old run draining); a is gone.
	delete(p.slots, "a")
	p.slots["b"] = &slot{name: "b", want: &instance{tailer: never}, stats: new(sourceCounters)}
	if n := p.pruneCheckpoints(start.Add(48 * time.Hour)); n != 1 || !slices.Equal(ids(store), []agent.FileID{b}) {
		t.Fatalf("pruned %d, left %v; want a's checkpoint forgotten and b's kept", n, ids(store))
	}
}

// TestPruneDisabled checks that a negative PruneAfter never prunes.
func TestPruneDisabled(t *testing.T) {
	store, err := positions.Open(filepath.Join(t.TempDir(), "checkpoints.json"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	store.Commit(agent.FileID{Ino: 1}, "a", "/logs/a.log", 10)
	now := time.Now()
	p, err := New(Options{Pusher: ackAll(), Checkpoints: store, PruneAfter: -1, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(1000 * time.Hour)
	if p.maybePrune() || len(ids(store)) != 1 {
		t.Fatal("pruned with PruneAfter < 0")
	}
}
