package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/plugins"
)

// These tests drive the parse stage and the ship loop directly under
// testing/synctest, so their timers run on the bubble's fake clock.

type echoParser struct{}

func (echoParser) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: "echo"}, nil
}

func (echoParser) ValidateConfig(context.Context, json.RawMessage) (plugins.Diagnostics, error) {
	return nil, nil
}

func (echoParser) Configure(context.Context, json.RawMessage) (plugins.Diagnostics, error) {
	return nil, nil
}

func (echoParser) Parse(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	for _, r := range req.Records {
		dst = append(dst, plugins.Entry{Message: string(r.Data)})
	}
	return dst, nil
}

func recs(from, n int) []agent.Record {
	out := make([]agent.Record, n)
	for i := range out {
		off := int64(from+i) * 10
		out[i] = agent.Record{Source: "s", Path: "/x.log", Offset: off, End: off + 10, Data: fmt.Appendf(nil, "r%d", from+i)}
	}
	return out
}

// sizes drains what is ready on out and returns the batch sizes.
func sizes(out <-chan batch) []int {
	var got []int
	for {
		select {
		case b := <-out:
			got = append(got, len(b.entries))
		default:
			return got
		}
	}
}

func startParseStage(t *testing.T, ctx context.Context, maxEntries int, maxWait time.Duration) (chan<- []agent.Record, <-chan batch, <-chan struct{}) {
	t.Helper()
	in := make(chan []agent.Record)
	out := make(chan batch, 100)
	opts := &Options{BatchMaxEntries: maxEntries, BatchMaxWait: maxWait}
	p := &parseStage{opts: opts, out: out, parser: &Parser{Source: "s", Parser: echoParser{}, Logger: slog.New(slog.DiscardHandler)}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx, in)
	}()
	return in, out, done
}

func TestParseStageBatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out, done := startParseStage(t, t.Context(), 5, 200*time.Millisecond)

		// A small chunk waits for BatchMaxWait, counted from its arrival.
		in <- recs(0, 3)
		time.Sleep(150 * time.Millisecond)
		in <- recs(3, 1)
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if got := sizes(out); len(got) != 0 {
			t.Fatalf("batches %v before BatchMaxWait", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if diff := cmp.Diff([]int{4}, sizes(out)); diff != "" {
			t.Fatalf("batches after BatchMaxWait mismatch (-want +got):\n%s", diff)
		}

		// Reaching BatchMaxEntries sends at once, in batches of at most 5.
		in <- recs(4, 2)
		in <- recs(6, 11)
		synctest.Wait()
		if diff := cmp.Diff([]int{5, 5, 3}, sizes(out)); diff != "" {
			t.Fatalf("batches at BatchMaxEntries mismatch (-want +got):\n%s", diff)
		}
		// Nothing pending: the timer does not fire an empty batch.
		time.Sleep(time.Second)
		synctest.Wait()
		if got := sizes(out); len(got) != 0 {
			t.Fatalf("batches %v with nothing pending", got)
		}

		// Closing the input sends what is pending without waiting.
		in <- recs(17, 2)
		close(in)
		<-done
		if diff := cmp.Diff([]int{2}, sizes(out)); diff != "" {
			t.Fatalf("batches at close mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestParseStageKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out, done := startParseStage(t, t.Context(), 4, time.Millisecond)
		for i := 0; i < 30; i += 3 {
			in <- recs(i, 3)
		}
		close(in)
		<-done
		var offs []int64
		for len(out) > 0 {
			for _, e := range (<-out).entries {
				if want := fmt.Sprintf("r%d", e.Offset/10); e.Parsed.Message != want || e.End != e.Offset+10 || e.Source != "s" || e.Path != "/x.log" {
					t.Errorf("entry %+v, want message %q and the record's identity", e, want)
				}
				offs = append(offs, e.Offset)
			}
		}
		for i, off := range offs {
			if off != int64(i)*10 {
				t.Fatalf("offsets %v, want 0, 10, … in order", offs)
			}
		}
		if len(offs) != 30 {
			t.Fatalf("%d entries, want 30", len(offs))
		}
	})
}

// TestParseStageCancel checks that a cancelled stage returns and sends
// nothing more: unsent records were never acknowledged and are read again.
func TestParseStageCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		in, out, done := startParseStage(t, ctx, 5, time.Second)
		in <- recs(0, 2)
		cancel()
		<-done
		if got := sizes(out); len(got) != 0 {
			t.Fatalf("batches %v after cancel", got)
		}
	})
}

type funcPusher func(ctx context.Context, id uint64, entries []agent.Entry) (ship.Ack, error)

func (f funcPusher) Push(ctx context.Context, id uint64, entries []agent.Entry) (ship.Ack, error) {
	return f(ctx, id, entries)
}

type memCheckpoints struct {
	mu       sync.Mutex
	commits  map[agent.FileID]int64
	flushes  int
	flushErr error
}

func (m *memCheckpoints) Get(agent.FileID) (int64, bool) { return 0, false }

func (m *memCheckpoints) Commit(id agent.FileID, _, _ string, offset int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.commits == nil {
		m.commits = make(map[agent.FileID]int64)
	}
	m.commits[id] = offset
}

func (m *memCheckpoints) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushes++
	return m.flushErr
}

func (m *memCheckpoints) Entries() []positions.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]positions.Entry, 0, len(m.commits))
	for id, off := range m.commits {
		out = append(out, positions.Entry{File: id, Offset: off, Source: "s", Path: "/x.log"})
	}
	return out
}

func (m *memCheckpoints) Forget(id agent.FileID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.commits, id)
}

func (m *memCheckpoints) state() (map[agent.FileID]int64, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[agent.FileID]int64, len(m.commits))
	for k, v := range m.commits {
		out[k] = v
	}
	return out, m.flushes
}

func entries(file agent.FileID, ends ...int64) []agent.Entry {
	out := make([]agent.Entry, len(ends))
	for i, end := range ends {
		out[i] = agent.Entry{Source: "s", File: file, Path: "/x.log", End: end}
	}
	return out
}

// startShipLoop runs the ship loop of a pipeline with opts (and no
// sources) and returns the pipeline, whose batches channel feeds it.
func startShipLoop(t *testing.T, ctx context.Context, opts Options) (*Pipeline, <-chan error) {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.shipLoop(ctx, func() {}) }()
	return p, done
}

func entryBatch(file agent.FileID, ends ...int64) batch {
	return batch{entries: entries(file, ends...), stats: new(sourceCounters)}
}

func TestShipLoopFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ids []uint64
		cps := &memCheckpoints{}
		p, done := startShipLoop(t, t.Context(), Options{
			Pusher: funcPusher(func(_ context.Context, id uint64, e []agent.Entry) (ship.Ack, error) {
				ids = append(ids, id)
				return ship.Ack{Stored: len(e), Duplicates: 1}, nil
			}),
			Checkpoints: cps, FlushInterval: time.Second, ShutdownTimeout: time.Second, MaxInFlight: 1,
		})
		batches := p.batches

		a, b := agent.FileID{Ino: 1}, agent.FileID{Ino: 2}
		stats := new(sourceCounters)
		batches <- batch{entries: entries(a, 10, 20), stats: stats}
		batches <- batch{entries: append(entries(b, 5), entries(a, 30)...), stats: stats}
		synctest.Wait()
		if got := p.Stats(); got.Batches != 2 || got.BatchesInFlight != 0 || got.LastAck.IsZero() {
			t.Errorf("Stats() = %+v, want 2 batches acknowledged, none in flight", got)
		}
		if got, want := [2]int64{stats.entries.Load(), stats.duplicates.Load()}, [2]int64{4, 2}; got != want {
			t.Errorf("source entries and duplicates = %v, want %v", got, want)
		}
		commits, flushes := cps.state()
		if diff := cmp.Diff(map[agent.FileID]int64{a: 30, b: 5}, commits); diff != "" {
			t.Fatalf("commits mismatch (-want +got):\n%s", diff)
		}
		if flushes != 0 {
			t.Fatalf("flushed %d times before FlushInterval", flushes)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if _, flushes := cps.state(); flushes != 1 {
			t.Fatalf("flushed %d times after one FlushInterval, want 1", flushes)
		}
		// Nothing new: the next tick does not write again.
		time.Sleep(time.Second)
		synctest.Wait()
		if _, flushes := cps.state(); flushes != 1 {
			t.Fatalf("flushed %d times with nothing new, want 1", flushes)
		}
		close(batches)
		if err := <-done; err != nil {
			t.Fatalf("shipLoop() = %v", err)
		}
		if _, flushes := cps.state(); flushes != 2 {
			t.Fatalf("flushed %d times after the end, want 2 (the final flush)", flushes)
		}
		if diff := cmp.Diff([]uint64{1, 2}, ids); diff != "" {
			t.Errorf("batch ids mismatch (-want +got):\n%s", diff)
		}
	})
}

// TestShipLoopFlushRetry checks that a failed periodic flush is retried at
// the next tick.
func TestShipLoopFlushRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cps := &memCheckpoints{flushErr: errors.New("disk full")}
		p, done := startShipLoop(t, t.Context(), Options{
			Pusher:      funcPusher(func(context.Context, uint64, []agent.Entry) (ship.Ack, error) { return ship.Ack{}, nil }),
			Checkpoints: cps, FlushInterval: time.Second, ShutdownTimeout: time.Second,
		})
		batches := p.batches
		batches <- entryBatch(agent.FileID{Ino: 1}, 10)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, flushes := cps.state(); flushes != 2 {
			t.Fatalf("flushed %d times in two failing ticks, want 2", flushes)
		}
		cps.mu.Lock()
		cps.flushErr = nil
		cps.mu.Unlock()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, flushes := cps.state(); flushes != 3 {
			t.Fatalf("flushed %d times, want 3 (retried once, then clean)", flushes)
		}
		close(batches)
		if err := <-done; err != nil {
			t.Fatalf("shipLoop() = %v", err)
		}
	})
}

// TestShipLoopShutdownTimeout checks that a push outlives ctx by exactly
// ShutdownTimeout, and that the loop then gives up the batch uncommitted.
func TestShipLoopShutdownTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var pushEnded time.Time
		cps := &memCheckpoints{}
		p, done := startShipLoop(t, ctx, Options{
			Pusher: funcPusher(func(ctx context.Context, _ uint64, _ []agent.Entry) (ship.Ack, error) {
				<-ctx.Done()
				pushEnded = time.Now()
				return ship.Ack{}, ctx.Err()
			}),
			Checkpoints: cps, FlushInterval: time.Hour, ShutdownTimeout: 10 * time.Second, MaxInFlight: 1,
		})
		batches := p.batches
		batches <- entryBatch(agent.FileID{Ino: 1}, 10)
		synctest.Wait()
		if got := p.Stats().BatchesInFlight; got != 1 {
			t.Errorf("BatchesInFlight = %d, want 1", got)
		}
		cancelled := time.Now()
		cancel()
		// A batch queued behind the blocked one is drained, not pushed.
		batches <- entryBatch(agent.FileID{Ino: 1}, 20)
		close(batches)
		if err := <-done; err != nil {
			t.Fatalf("shipLoop() = %v", err)
		}
		if got, want := pushEnded.Sub(cancelled), 10*time.Second; got != want {
			t.Errorf("push ended %v after cancel, want %v", got, want)
		}
		commits, flushes := cps.state()
		if len(commits) != 0 || flushes != 1 {
			t.Errorf("commits %v, flushes %d; want none and one final flush", commits, flushes)
		}
	})
}
