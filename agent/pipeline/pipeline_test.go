package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/agent/tail"
	"github.com/hooktail/hooktail/plugins"
)

// These tests run the pipeline on real files with real time. They never
// sleep for a fixed time: they poll for an expected state with a deadline.
// Batching and flush timers are tested under testing/synctest in
// pipeline_synctest_internal_test.go.

const deadline = 10 * time.Second

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeParser is a Parser whose records start with "R": an entry's message
// is the record's data and its level the second word. ParseFunc, when set,
// replaces Parse; DescribeFunc replaces Describe.
type fakeParser struct {
	DescribeFunc func(ctx context.Context) (plugins.Description, error)
	ParseFunc    func(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error)

	mu        sync.Mutex
	locations []*time.Location
	records   []plugins.Record
}

var _ plugins.Parser = (*fakeParser)(nil)

func (p *fakeParser) Describe(ctx context.Context) (plugins.Description, error) {
	if p.DescribeFunc != nil {
		return p.DescribeFunc(ctx)
	}
	return plugins.Description{Name: "fake", StartPattern: "^R"}, nil
}

func (p *fakeParser) ValidateConfig(context.Context, json.RawMessage) (plugins.Diagnostics, error) {
	return nil, nil
}

func (p *fakeParser) Configure(context.Context, json.RawMessage) (plugins.Diagnostics, error) {
	return nil, nil
}

func (p *fakeParser) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	p.mu.Lock()
	p.locations = append(p.locations, req.Location)
	p.records = append(p.records, req.Records...)
	p.mu.Unlock()
	if p.ParseFunc != nil {
		return p.ParseFunc(ctx, req, dst)
	}
	return parseFake(req, dst), nil
}

func parseFake(req *plugins.ParseRequest, dst []plugins.Entry) []plugins.Entry {
	for _, r := range req.Records {
		e := plugins.Entry{Message: string(r.Data)}
		if f := strings.Fields(string(r.Data)); len(f) > 1 {
			e.Level = f[1]
		}
		dst = append(dst, e)
	}
	return dst
}

// starterParser frames by its own function; its Describe fails so that
// using it would show.
type starterParser struct{ fakeParser }

func (p *starterParser) IsRecordStart(line []byte) bool { return bytes.HasPrefix(line, []byte("S")) }

// fakePusher records every batch it acknowledges. PushFunc, when set, is
// called first; a non-nil error from it is returned as is.
type fakePusher struct {
	PushFunc func(ctx context.Context, id uint64, entries []agent.Entry) error

	mu      sync.Mutex
	ids     []uint64
	batches [][]agent.Entry
	// acked holds every (file, End) acknowledged so far.
	acked map[ackKey]bool
}

type ackKey struct {
	file agent.FileID
	end  int64
}

func (p *fakePusher) Push(ctx context.Context, id uint64, entries []agent.Entry) (ship.Ack, error) {
	if p.PushFunc != nil {
		if err := p.PushFunc(ctx, id, entries); err != nil {
			return ship.Ack{}, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Pushes overlap (MaxInFlight), so they may arrive in any order: keep
	// the batches in id order, the order the pipeline sent them.
	at, _ := slices.BinarySearch(p.ids, id)
	p.ids = slices.Insert(p.ids, at, id)
	p.batches = slices.Insert(p.batches, at, slices.Clone(entries))
	if p.acked == nil {
		p.acked = make(map[ackKey]bool)
	}
	for _, e := range entries {
		p.acked[ackKey{e.File, e.End}] = true
	}
	return ship.Ack{Stored: len(entries), Attempts: 1}, nil
}

func (p *fakePusher) isAcked(id agent.FileID, end int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked[ackKey{id, end}]
}

func (p *fakePusher) entries() []agent.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []agent.Entry
	for _, b := range p.batches {
		out = append(out, b...)
	}
	return out
}

func (p *fakePusher) batchSizes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, b := range p.batches {
		out = append(out, len(b))
	}
	return out
}

type commit struct {
	File   agent.FileID
	Source string
	Path   string
	Offset int64
}

// fakeCheckpoints records commits and flushes. GetFunc answers Get (the
// last commit when nil); FlushFunc, when set, is Flush's result. OnCommit, when set,
// sees every commit as it happens.
type fakeCheckpoints struct {
	GetFunc   func(id agent.FileID) (int64, bool)
	FlushFunc func() error
	OnCommit  func(c commit)

	mu      sync.Mutex
	commits []commit
	flushes int
	// flushedCommits is len(commits) at the last Flush.
	flushedCommits int
	// extra are checkpoints held besides the commits (as loaded from disk);
	// forgotten the identities Forget dropped.
	extra     []positions.Entry
	forgotten []agent.FileID
}

var _ pipeline.Checkpoints = (*fakeCheckpoints)(nil)

// Get answers with GetFunc when set, else with the last commit of id, as
// the positions store would.
func (c *fakeCheckpoints) Get(id agent.FileID) (int64, bool) {
	if c.GetFunc != nil {
		return c.GetFunc(id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.Contains(c.forgotten, id) {
		return 0, false
	}
	for i := len(c.commits) - 1; i >= 0; i-- {
		if c.commits[i].File == id {
			return c.commits[i].Offset, true
		}
	}
	return 0, false
}

func (c *fakeCheckpoints) Commit(id agent.FileID, source, path string, offset int64) {
	cm := commit{id, source, path, offset}
	if c.OnCommit != nil {
		c.OnCommit(cm)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits = append(c.commits, cm)
}

func (c *fakeCheckpoints) Flush() error {
	c.mu.Lock()
	c.flushes++
	c.flushedCommits = len(c.commits)
	c.mu.Unlock()
	if c.FlushFunc != nil {
		return c.FlushFunc()
	}
	return nil
}

// Entries returns the latest commit of each file not forgotten, and the
// extra ones.
func (c *fakeCheckpoints) Entries() []positions.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	latest := make(map[agent.FileID]positions.Entry)
	for _, e := range c.extra {
		latest[e.File] = e
	}
	for _, cm := range c.commits {
		latest[cm.File] = positions.Entry{File: cm.File, Offset: cm.Offset, Path: cm.Path, Source: cm.Source}
	}
	var out []positions.Entry
	for id, e := range latest {
		if !slices.Contains(c.forgotten, id) {
			out = append(out, e)
		}
	}
	return out
}

func (c *fakeCheckpoints) Forget(id agent.FileID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgotten = append(c.forgotten, id)
}

func (c *fakeCheckpoints) snapshot() (commits []commit, flushes, flushedCommits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commits), c.flushes, c.flushedCommits
}

// last returns the last committed offset per path.
func (c *fakeCheckpoints) last() map[string]int64 {
	commits, _, _ := c.snapshot()
	out := make(map[string]int64)
	for _, cm := range commits {
		out[cm.Path] = cm.Offset
	}
	return out
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func tailOptions(dir string) tail.Options {
	return tail.Options{
		Paths:          []string{filepath.Join(dir, "*.log")},
		RescanInterval: 50 * time.Millisecond,
		IdleFlush:      20 * time.Millisecond,
		DrainIdle:      200 * time.Millisecond,
		PollInterval:   5 * time.Millisecond,
		Logger:         discard(),
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// records returns n records "R<i> LEVEL line <i>", every third one with a
// continuation line, and the End offset of each.
func records(prefix string, n int) (string, []int64) {
	var b strings.Builder
	var ends []int64
	levels := []string{"INFO", "DEBUG", "ERROR"}
	for i := range n {
		fmt.Fprintf(&b, "R%d %s %s line %d\n", i, levels[i%3], prefix, i)
		if i%3 == 2 {
			fmt.Fprintf(&b, "  continuation of %s %d\n", prefix, i)
		}
		ends = append(ends, int64(b.Len()))
	}
	return b.String(), ends
}

// runner runs pipeline.Run in the background.
type runner struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, opts pipeline.Options) *runner {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- pipeline.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop cancels Run and returns its result.
func (r *runner) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(deadline):
		t.Fatal("Run did not return after its context was cancelled")
		return nil
	}
}

func TestRunRequiresPusherAndCheckpoints(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]pipeline.Options{
		"no pusher":      {Checkpoints: &fakeCheckpoints{}},
		"no checkpoints": {Pusher: &fakePusher{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := pipeline.Run(t.Context(), opts); err == nil {
				t.Error("Run() = nil, want an error")
			}
		})
	}
}

// TestRunShipsEverything ships two files and checks every record arrives
// once, parsed, with its identity, in file order per file, and that the
// final checkpoint of each file is its size.
func TestRunShipsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataA, endsA := records("a", 30)
	dataB, endsB := records("b", 17)
	pathA, pathB := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeFile(t, pathA, dataA)
	writeFile(t, pathB, dataB)
	writeFile(t, filepath.Join(dir, "ignored.txt"), "R0 INFO not matched\n")

	loc := time.FixedZone("X", 3600)
	parser := &fakeParser{}
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:         []pipeline.Source{{Name: "src", Parser: parser, Location: loc, Tail: tailOptions(dir)}},
		Pusher:          pusher,
		Checkpoints:     cps,
		BatchMaxEntries: 8,
		BatchMaxWait:    5 * time.Millisecond,
		FlushInterval:   10 * time.Millisecond,
	})
	total := len(endsA) + len(endsB)
	waitFor(t, "every record shipped", func() bool { return len(pusher.entries()) >= total })
	waitFor(t, "final checkpoints", func() bool {
		last := cps.last()
		return last[pathA] == endsA[len(endsA)-1] && last[pathB] == endsB[len(endsB)-1]
	})
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}

	got := pusher.entries()
	if len(got) != total {
		t.Fatalf("shipped %d entries, want %d", len(got), total)
	}
	byPath := map[string][]agent.Entry{}
	for _, e := range got {
		byPath[e.Path] = append(byPath[e.Path], e)
	}
	for path, ends := range map[string][]int64{pathA: endsA, pathB: endsB} {
		es := byPath[path]
		if len(es) != len(ends) {
			t.Errorf("%s: %d entries, want %d", path, len(es), len(ends))
			continue
		}
		var off int64
		for i, e := range es {
			if e.Source != "src" || e.Offset != off || e.End != ends[i] {
				t.Errorf("%s entry %d: source %q offset %d end %d, want src %d %d", path, i, e.Source, e.Offset, e.End, off, ends[i])
			}
			if !strings.HasPrefix(e.Parsed.Message, fmt.Sprintf("R%d ", i)) {
				t.Errorf("%s entry %d: message %q out of order", path, i, e.Parsed.Message)
			}
			if i%3 == 2 && !strings.Contains(e.Parsed.Message, "\n  continuation") {
				t.Errorf("%s entry %d: message %q lost its continuation line", path, i, e.Parsed.Message)
			}
			if want := []string{"INFO", "DEBUG", "ERROR"}[i%3]; e.Parsed.Level != want {
				t.Errorf("%s entry %d: level %q, want %q", path, i, e.Parsed.Level, want)
			}
			if e.Parsed.ParseError || e.Parsed.Truncated {
				t.Errorf("%s entry %d: flags parse_error=%v truncated=%v", path, i, e.Parsed.ParseError, e.Parsed.Truncated)
			}
			if e.File == (agent.FileID{}) {
				t.Errorf("%s entry %d: no file identity", path, i)
			}
			off = e.End
		}
	}
	for i, n := range pusher.batchSizes() {
		if n == 0 || n > 8 {
			t.Errorf("batch %d has %d entries, want 1..8", i, n)
		}
	}
	pusher.mu.Lock()
	ids := slices.Clone(pusher.ids)
	pusher.mu.Unlock()
	for i, id := range ids {
		if id != uint64(i+1) {
			t.Errorf("batch ids %v, want 1..%d", ids, len(ids))
			break
		}
	}
	parser.mu.Lock()
	defer parser.mu.Unlock()
	for _, l := range parser.locations {
		if l != loc {
			t.Fatalf("parser got location %v, want the source's %v", l, loc)
		}
	}
	for _, rec := range parser.records {
		if rec.File != pathA && rec.File != pathB {
			t.Errorf("parser got record of file %q", rec.File)
		}
	}
	if _, flushes, _ := cps.snapshot(); flushes == 0 {
		t.Error("checkpoints never flushed")
	}
}

// TestRunCommitsOnlyAfterAck holds the first push until released: nothing
// may be committed meanwhile, and every commit afterwards is the End of an
// entry already acknowledged.
func TestRunCommitsOnlyAfterAck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 5)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)

	release := make(chan struct{})
	pushing := make(chan struct{}, 1)
	pusher := &fakePusher{}
	pusher.PushFunc = func(ctx context.Context, _ uint64, _ []agent.Entry) error {
		select {
		case pushing <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cps := &fakeCheckpoints{}
	cps.OnCommit = func(c commit) {
		if !pusher.isAcked(c.File, c.Offset) {
			t.Errorf("commit of %s at %d before it was acknowledged", c.Path, c.Offset)
		}
	}
	parser := &fakeParser{}
	r := start(t, pipeline.Options{
		Sources:       []pipeline.Source{{Name: "src", Parser: parser, Tail: tailOptions(dir)}},
		Pusher:        pusher,
		Checkpoints:   cps,
		BatchMaxWait:  time.Millisecond,
		FlushInterval: time.Millisecond,
	})
	<-pushing
	// The pipeline is now blocked in Push; let it read and parse every
	// record, then check that nothing moved.
	waitFor(t, "every record parsed", func() bool {
		parser.mu.Lock()
		defer parser.mu.Unlock()
		return len(parser.records) == len(ends)
	})
	if commits, _, _ := cps.snapshot(); len(commits) != 0 {
		t.Fatalf("committed %v while the push was not acknowledged", commits)
	}
	close(release)
	waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == ends[len(ends)-1] })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	commits, flushes, flushed := cps.snapshot()
	for _, c := range commits {
		if c.Source != "src" || c.Path != path || !slices.Contains(ends, c.Offset) {
			t.Errorf("commit %+v: want source src, path %s and an entry End in %v", c, path, ends)
		}
	}
	if flushes == 0 || flushed != len(commits) {
		t.Errorf("flushes %d covering %d of %d commits, want every commit flushed", flushes, flushed, len(commits))
	}
	if got := len(pusher.entries()); got != len(ends) {
		t.Errorf("shipped %d entries, want %d", got, len(ends))
	}
}

// TestRunParserFailureShipsRaw checks that a parser that fails, or returns
// the wrong number of entries, loses nothing: the records go out raw,
// flagged parse_error.
func TestRunParserFailureShipsRaw(t *testing.T) {
	t.Parallel()
	testCases := map[string]func(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error){
		"error": func(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
			// A half-filled dst must not leak into the raw entries.
			return append(dst, plugins.Entry{Message: "half"}), errors.New("plugin crashed")
		},
		"too few entries": func(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
			return parseFake(req, dst)[:len(dst)+len(req.Records)-1], nil
		},
		"too many entries": func(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
			return append(parseFake(req, dst), plugins.Entry{Message: "extra"}), nil
		},
	}
	for name, parse := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "x.log")
			const data = "R0 INFO first\n  more\nR1 ERROR bad \xff byte\n"
			writeFile(t, path, data)
			pusher := &fakePusher{}
			cps := &fakeCheckpoints{}
			r := start(t, pipeline.Options{
				Sources:      []pipeline.Source{{Name: "src", Parser: &fakeParser{ParseFunc: parse}, Tail: tailOptions(dir)}},
				Pusher:       pusher,
				Checkpoints:  cps,
				BatchMaxWait: time.Millisecond,
			})
			waitFor(t, "both records committed", func() bool { return cps.last()[path] == int64(len(data)) })
			if err := r.stop(t); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			var got []plugins.Entry
			for _, e := range pusher.entries() {
				got = append(got, e.Parsed)
			}
			want := []plugins.Entry{
				{Message: "R0 INFO first\n  more", ParseError: true},
				{Message: "R1 ERROR bad \uFFFD byte", ParseError: true},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("shipped entries mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunTruncated checks that a record cut at MaxRecordBytes is shipped
// flagged truncated even when the parser does not say so.
func TestRunTruncated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	long := "R0 INFO " + strings.Repeat("x", 100)
	writeFile(t, path, long+"\nR1 INFO short\n")
	opts := tailOptions(dir)
	opts.MaxRecordBytes = 32
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:      []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: opts}},
		Pusher:       pusher,
		Checkpoints:  cps,
		BatchMaxWait: time.Millisecond,
	})
	size := int64(len(long) + len("\nR1 INFO short\n"))
	waitFor(t, "both records committed", func() bool { return cps.last()[path] == size })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	got := pusher.entries()
	if len(got) != 2 {
		t.Fatalf("shipped %d entries, want 2", len(got))
	}
	wantMsg := long[:32] + "\n[hooktail: record truncated, 32 of 109 bytes kept]"
	if e := got[0]; !e.Parsed.Truncated || e.Parsed.Message != wantMsg || e.End != int64(len(long)+1) {
		t.Errorf("long record: truncated=%v message %q end %d, want true, %q, %d", e.Parsed.Truncated, e.Parsed.Message, e.End, wantMsg, len(long)+1)
	}
	if e := got[1]; e.Parsed.Truncated {
		t.Errorf("short record flagged truncated")
	}
}

// TestRunResumesAtCheckpoint checks that the pipeline hands its checkpoints
// to the tailer: reading resumes at the committed offset.
func TestRunResumesAtCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 6)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{GetFunc: func(agent.FileID) (int64, bool) { return ends[2], true }}
	r := start(t, pipeline.Options{
		Sources:      []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		Pusher:       pusher,
		Checkpoints:  cps,
		BatchMaxWait: time.Millisecond,
	})
	waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == ends[5] })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	var offsets []int64
	for _, e := range pusher.entries() {
		offsets = append(offsets, e.Offset)
	}
	if diff := cmp.Diff(ends[2:5], offsets); diff != "" {
		t.Errorf("shipped offsets mismatch (-want +got):\n%s", diff)
	}
}

// TestRunBatchLimit writes many records at once: no batch may exceed
// BatchMaxEntries.
func TestRunBatchLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 203)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:         []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		Pusher:          pusher,
		Checkpoints:     cps,
		BatchMaxEntries: 10,
		BatchMaxWait:    5 * time.Millisecond,
	})
	waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == ends[len(ends)-1] })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	sizes := pusher.batchSizes()
	total := 0
	for i, n := range sizes {
		total += n
		if n == 0 || n > 10 {
			t.Errorf("batch %d has %d entries, want 1..10", i, n)
		}
	}
	if total != len(ends) {
		t.Errorf("shipped %d entries in %v, want %d", total, sizes, len(ends))
	}
	// The file is read in one chunk, so the limit did split it.
	if !slices.Contains(sizes, 10) {
		t.Errorf("batch sizes %v: the limit was never reached", sizes)
	}
}

// TestRunShutdown checks that cancelling ctx makes Run return nil, and
// that the checkpoints are flushed at the end, after the last commit.
func TestRunShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 3)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:       []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		Pusher:        pusher,
		Checkpoints:   cps,
		BatchMaxWait:  time.Millisecond,
		FlushInterval: time.Hour, // only the shutdown flush
	})
	waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == ends[2] })
	if _, flushes, _ := cps.snapshot(); flushes != 0 {
		t.Fatalf("flushed %d times before shutdown with an hour's interval", flushes)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	commits, flushes, flushed := cps.snapshot()
	if flushes != 1 || flushed != len(commits) {
		t.Errorf("flushes %d covering %d of %d commits, want one final flush of all", flushes, flushed, len(commits))
	}
}

// TestRunShutdownFlushError checks that a failed final flush is Run's error.
func TestRunShutdownFlushError(t *testing.T) {
	t.Parallel()
	cps := &fakeCheckpoints{FlushFunc: func() error { return errors.New("disk full") }}
	r := start(t, pipeline.Options{
		Sources:     []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(t.TempDir())}},
		Pusher:      &fakePusher{},
		Checkpoints: cps,
	})
	if err := r.stop(t); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Run() = %v, want the flush error", err)
	}
}

// TestRunShutdownWhilePushBlocked stops the pipeline while the aggregator
// never answers: Run gives the push ShutdownTimeout, then returns without
// committing and still flushes.
func TestRunShutdownWhilePushBlocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, _ := records("x", 3)
	writeFile(t, filepath.Join(dir, "x.log"), data)
	pushing := make(chan struct{}, 1)
	var pushErr error
	pusher := &fakePusher{PushFunc: func(ctx context.Context, _ uint64, _ []agent.Entry) error {
		select {
		case pushing <- struct{}{}:
		default:
		}
		<-ctx.Done()
		pushErr = ctx.Err()
		return ctx.Err()
	}}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:         []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		Pusher:          pusher,
		Checkpoints:     cps,
		BatchMaxWait:    time.Millisecond,
		ShutdownTimeout: 20 * time.Millisecond,
	})
	<-pushing
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if !errors.Is(pushErr, context.Canceled) {
		t.Errorf("push ended with %v, want context.Canceled", pushErr)
	}
	commits, flushes, _ := cps.snapshot()
	if len(commits) != 0 {
		t.Errorf("committed %v without an acknowledgement", commits)
	}
	if flushes != 1 {
		t.Errorf("flushed %d times, want 1", flushes)
	}
}

// TestRunShutdownFinishesPush stops the pipeline while a push is under way:
// the push keeps its context (within ShutdownTimeout), and once it is
// acknowledged its entries are committed before Run returns.
func TestRunShutdownFinishesPush(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 3)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	pushing := make(chan struct{}, 1)
	release := make(chan struct{})
	pusher := &fakePusher{PushFunc: func(ctx context.Context, _ uint64, _ []agent.Entry) error {
		select {
		case pushing <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	cps := &fakeCheckpoints{}
	parser := &fakeParser{}
	r := start(t, pipeline.Options{
		Sources:         []pipeline.Source{{Name: "src", Parser: parser, Tail: tailOptions(dir)}},
		Pusher:          pusher,
		Checkpoints:     cps,
		BatchMaxWait:    time.Millisecond,
		ShutdownTimeout: time.Hour,
	})
	<-pushing
	waitFor(t, "every record parsed", func() bool {
		parser.mu.Lock()
		defer parser.mu.Unlock()
		return len(parser.records) == len(ends)
	})
	r.cancel()
	close(release)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	// Every acknowledged entry is committed, and nothing else.
	shipped := pusher.entries()
	if len(shipped) == 0 {
		t.Fatal("the push under way at shutdown was not acknowledged")
	}
	last := shipped[len(shipped)-1].End
	if got := cps.last()[path]; got != last {
		t.Errorf("checkpoint %d, want the last acknowledged End %d", got, last)
	}
	if _, flushes, flushed := cps.snapshot(); flushes == 0 || flushed == 0 {
		t.Errorf("flushes %d covering %d commits, want a final flush", flushes, flushed)
	}
}

func TestStartRule(t *testing.T) {
	t.Parallel()
	describe := func(d plugins.Description, err error) *fakeParser {
		return &fakeParser{DescribeFunc: func(context.Context) (plugins.Description, error) { return d, err }}
	}
	testCases := map[string]struct {
		parser  plugins.Parser
		wantErr bool
		wantNil bool
		// file is the path the rule is asked for (default /logs/x.log).
		file string
		// starts and not are lines the rule must accept and reject.
		starts, not []string
	}{
		"record starter preferred": {
			parser: &starterParser{fakeParser{DescribeFunc: func(context.Context) (plugins.Description, error) {
				return plugins.Description{Name: "s", StartPattern: "^R"}, nil
			}}},
			starts: []string{"S1 x", "S"},
			not:    []string{"R1 x", " S"},
		},
		"line per record files": {
			parser: describe(plugins.Description{Name: "p", StartPattern: `^S`, LinePerRecordFiles: []string{"webhooks_*.json"}}, nil),
			file:   "/logs/webhooks_2026-07-31.json",
			// In a JSON lines file every line is a record: the rule is nil.
			wantNil: true,
		},
		"line per record files elsewhere": {
			parser: describe(plugins.Description{Name: "p", StartPattern: `^S`, LinePerRecordFiles: []string{"webhooks_*.json"}}, nil),
			file:   "/logs/webhooks_2026-07-31.json.log",
			starts: []string{"S1"},
			not:    []string{`{"type": "log_entry"}`},
		},
		"bad line per record glob": {
			parser:  describe(plugins.Description{Name: "p", LinePerRecordFiles: []string{"["}}, nil),
			wantErr: true,
		},
		"start pattern": {
			parser: describe(plugins.Description{Name: "p", StartPattern: `^\d{4}-\d{2}-\d{2} `}, nil),
			starts: []string{"2026-07-31 10:00:00 INFO x"},
			not:    []string{"  File \"x.py\"", "Traceback", "2026-07-31T"},
		},
		"empty pattern": {
			parser:  describe(plugins.Description{Name: "p"}, nil),
			wantNil: true,
		},
		"bad pattern": {
			parser:  describe(plugins.Description{Name: "p", StartPattern: `^(unclosed`}, nil),
			wantErr: true,
		},
		"describe fails": {
			parser:  describe(plugins.Description{}, errors.New("plugin gone")),
			wantErr: true,
		},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ruleFor, err := pipeline.StartRule(t.Context(), tc.parser)
			if tc.wantErr {
				if err == nil {
					t.Fatal("StartRule() = nil error, want one")
				}
				return
			}
			if err != nil {
				t.Fatalf("StartRule() = %v", err)
			}
			file := tc.file
			if file == "" {
				file = "/logs/x.log"
			}
			rule := ruleFor(file)
			if got := rule == nil; got != tc.wantNil {
				t.Fatalf("StartRule() nil = %v, want %v", got, tc.wantNil)
			}
			for _, l := range tc.starts {
				if !rule([]byte(l)) {
					t.Errorf("rule(%q) = false, want true", l)
				}
			}
			for _, l := range tc.not {
				if rule([]byte(l)) {
					t.Errorf("rule(%q) = true, want false", l)
				}
			}
		})
	}
}

// TestRunStartRuleFraming checks that the rule reaches the tailer: with a
// RecordStarter, lines it does not accept continue the record.
func TestRunStartRuleFraming(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "S0 INFO a\nR not a start\nS1 INFO b\n")
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:      []pipeline.Source{{Name: "src", Parser: &starterParser{}, Tail: tailOptions(dir)}},
		Pusher:       pusher,
		Checkpoints:  cps,
		BatchMaxWait: time.Millisecond,
	})
	waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == 34 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	var msgs []string
	for _, e := range pusher.entries() {
		msgs = append(msgs, e.Parsed.Message)
	}
	if diff := cmp.Diff([]string{"S0 INFO a\nR not a start", "S1 INFO b"}, msgs); diff != "" {
		t.Errorf("shipped messages mismatch (-want +got):\n%s", diff)
	}
}

// TestRunBadSourceStartsNothing gives Run a good source and then one whose
// start pattern does not compile: Run must fail before it starts tailing
// anything, so that nothing keeps running after it returned. Goroutines
// inherit the pprof labels of the goroutine that starts them, which finds
// every one Run leaves behind, even one not yet scheduled.
func TestRunBadSourceStartsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.log"), "R0 INFO x\n")
	bad := &fakeParser{DescribeFunc: func(context.Context) (plugins.Description, error) {
		return plugins.Description{Name: "bad", StartPattern: "("}, nil
	}}
	label := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	var err error
	pprof.Do(t.Context(), pprof.Labels("test", label), func(ctx context.Context) {
		err = pipeline.Run(ctx, pipeline.Options{
			Sources: []pipeline.Source{
				{Name: "good", Parser: &fakeParser{}, Tail: tailOptions(dir)},
				{Name: "bad", Parser: bad, Tail: tailOptions(dir)},
			},
			Pusher:      &fakePusher{},
			Checkpoints: &fakeCheckpoints{},
			Logger:      discard(),
		})
	})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("Run() = %v, want an error naming source \"bad\"", err)
	}
	if n := labelled(t, label); n != 0 {
		t.Errorf("Run returned an error and left %d goroutines running", n)
	}
}

// labelled counts the goroutines carrying the pprof label test=label.
func labelled(t *testing.T, label string) int {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	// debug=1 groups goroutines by stack: "N @ 0x…" then "# labels: {…}".
	n, count := 0, 0
	for line := range strings.Lines(buf.String()) {
		if _, err := fmt.Sscanf(line, "%d @ ", &count); err == nil {
			continue
		}
		if strings.HasPrefix(line, "# labels:") && strings.Contains(line, fmt.Sprintf("%q:%q", "test", label)) {
			n += count
		}
	}
	return n
}

// TestRunBatchByteLimit checks that BatchMaxBytes splits batches by the
// size of their records, and that a record larger than the limit still goes
// (alone).
func TestRunBatchByteLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "R%02d INFO %s\n", i, strings.Repeat("x", 90)) // 100 bytes of data
	}
	fmt.Fprintf(&b, "R99 INFO %s\n", strings.Repeat("y", 1000))
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, b.String())
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:         []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		Pusher:          pusher,
		Checkpoints:     cps,
		BatchMaxBytes:   500,
		BatchMaxEntries: 1000,
		BatchMaxWait:    5 * time.Millisecond,
	})
	waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == int64(b.Len()) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	pusher.mu.Lock()
	defer pusher.mu.Unlock()
	total := 0
	for i, batch := range pusher.batches {
		size := 0
		for _, e := range batch {
			size += len(e.Parsed.Message)
		}
		total += len(batch)
		if size > 500 && len(batch) > 1 {
			t.Errorf("batch %d: %d entries of %d bytes, over the 500-byte limit", i, len(batch), size)
		}
	}
	if total != 41 {
		t.Errorf("shipped %d entries, want 41", total)
	}
}

type upperRedactor struct{}

func (upperRedactor) Entry(e *plugins.Entry) {
	e.Message = strings.ReplaceAll(e.Message, "secret", "******")
}

// TestRunRedacts checks the redactor sees every entry before it is pushed.
func TestRunRedacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "R1 INFO my secret\nR2 INFO another secret\n")
	pusher := &fakePusher{}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:      []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		Pusher:       pusher,
		Checkpoints:  cps,
		Redactor:     upperRedactor{},
		BatchMaxWait: 5 * time.Millisecond,
	})
	waitFor(t, "two entries", func() bool { return len(pusher.entries()) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	for _, e := range pusher.entries() {
		if strings.Contains(e.Parsed.Message, "secret") {
			t.Errorf("pushed %q unredacted", e.Parsed.Message)
		}
	}
}

// TestRunPushErrorStops checks that a push failing for any reason but a
// shutdown stops the whole pipeline with that error, commits nothing of the
// failed batch, and still writes the checkpoints.
func TestRunPushErrorStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.log"), "R1 INFO a\nR2 INFO b\n")
	boom := errors.New("boom")
	pusher := &fakePusher{PushFunc: func(context.Context, uint64, []agent.Entry) error { return boom }}
	cps := &fakeCheckpoints{}
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(t.Context(), pipeline.Options{
			Sources:      []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
			Pusher:       pusher,
			Checkpoints:  cps,
			BatchMaxWait: 5 * time.Millisecond,
			Logger:       discard(),
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Errorf("Run() = %v, want %v", err, boom)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not stop after a push failed")
	}
	commits, flushes, _ := cps.snapshot()
	if len(commits) != 0 || flushes != 1 {
		t.Errorf("%d commits and %d flushes, want 0 and 1", len(commits), flushes)
	}
}

// TestParserShutdown checks that records whose parse was cut short by a
// shutdown come back as an error, never as raw parse_error entries: stored
// raw, they would shadow their correct parse after the restart for good.
func TestParserShutdown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	p := &pipeline.Parser{Source: "s", Parser: &fakeParser{ParseFunc: func(ctx context.Context, _ *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
		cancel()
		return dst, ctx.Err()
	}}}
	got, err := p.Parse(ctx, []agent.Record{{Data: []byte("R1 INFO x"), End: 10}})
	if !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("Parse() = %v, %v; want nil, context.Canceled", got, err)
	}
}

// TestParserMarksTruncated checks a cut record is flagged and says so.
func TestParserMarksTruncated(t *testing.T) {
	t.Parallel()
	p := &pipeline.Parser{Source: "s", Parser: &fakeParser{}}
	got, err := p.Parse(t.Context(), []agent.Record{{Data: []byte("R1 INFO abc"), Offset: 5, End: 5 + 2000, Truncated: true}})
	if err != nil {
		t.Fatal(err)
	}
	if e := got[0].Parsed; !e.Truncated || e.Message != "R1 INFO abc\n[hooktail: record truncated, 11 of 2000 bytes kept]" {
		t.Errorf("entry = %+v", e)
	}
}

// TestRunCommitsInBatchOrder holds the first push while later ones are
// acknowledged: pushes overlap, but no checkpoint may pass the batch still
// in flight.
func TestRunCommitsInBatchOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 40)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	release := make(chan struct{})
	var later sync.WaitGroup
	later.Add(1)
	var once sync.Once
	pusher := &fakePusher{PushFunc: func(ctx context.Context, id uint64, _ []agent.Entry) error {
		if id == 1 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		} else {
			once.Do(later.Done)
		}
		return nil
	}}
	cps := &fakeCheckpoints{}
	r := start(t, pipeline.Options{
		Sources:         []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		Pusher:          pusher,
		Checkpoints:     cps,
		BatchMaxEntries: 10,
		MaxInFlight:     3,
		BatchMaxWait:    time.Millisecond,
	})
	later.Wait() // a later batch was acknowledged while batch 1 is held
	waitFor(t, "batch 2 acknowledged", func() bool { return len(pusher.entries()) >= 10 })
	if commits, _, _ := cps.snapshot(); len(commits) != 0 {
		t.Fatalf("%d commits while batch 1 is unacknowledged, want none", len(commits))
	}
	close(release)
	waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == ends[len(ends)-1] })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	commits, _, _ := cps.snapshot()
	for i := 1; i < len(commits); i++ {
		if commits[i].Offset < commits[i-1].Offset {
			t.Fatalf("checkpoint went back: %+v then %+v", commits[i-1], commits[i])
		}
	}
}

// TestRunRejectedEntry checks that an entry the aggregator can never store
// is sent raw, and left out if even that is refused, without stalling.
func TestRunRejectedEntry(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		rejectRaw bool
		want      int
	}{
		"sent raw": {rejectRaw: false, want: 3},
		"left out": {rejectRaw: true, want: 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "x.log")
			writeFile(t, path, "R1 INFO a\nR2 ERROR poison\nR3 INFO c\n")
			pusher := &fakePusher{PushFunc: func(_ context.Context, _ uint64, entries []agent.Entry) error {
				for i, e := range entries {
					if strings.Contains(e.Parsed.Message, "poison") && (!e.Parsed.ParseError || tc.rejectRaw) {
						return &ship.RejectedError{Index: i, Err: errors.New("never storable")}
					}
				}
				return nil
			}}
			cps := &fakeCheckpoints{}
			r := start(t, pipeline.Options{
				Sources:      []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: tailOptions(dir)}},
				Pusher:       pusher,
				Checkpoints:  cps,
				BatchMaxWait: time.Millisecond,
			})
			waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == 36 })
			if err := r.stop(t); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			got := pusher.entries()
			if len(got) != tc.want {
				t.Fatalf("shipped %d entries, want %d", len(got), tc.want)
			}
			if !tc.rejectRaw {
				if e := got[1].Parsed; !e.ParseError || e.Level != "" || e.Message != "R2 ERROR poison" {
					t.Errorf("rejected entry shipped as %+v, want it raw", e)
				}
			}
		})
	}
}

// TestStartAtEndOnlyOnFirstStart checks that start_at = "end" skips the
// existing content of a source's files on its first start only: once the
// source has checkpoints, a file without one (rotated in while the agent
// was down) is read from its beginning.
func TestStartAtEndOnlyOnFirstStart(t *testing.T) {
	t.Parallel()
	testCases := map[string]struct {
		// checkpoints are the checkpoints held at start.
		checkpoints []positions.Entry
		want        []string
	}{
		"first start skips existing content": {
			want: []string{"R2 INFO new"},
		},
		"another source's checkpoints do not count": {
			checkpoints: []positions.Entry{{File: agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}, Offset: 9, Source: "other"}},
			want:        []string{"R2 INFO new"},
		},
		"a source with checkpoints reads new files whole": {
			checkpoints: []positions.Entry{{File: agent.FileID{Dev: 1, Ino: 2, Fingerprint: 3}, Offset: 9, Source: "src"}},
			want:        []string{"R0 INFO old", "R1 INFO old", "R2 INFO new"},
		},
	}
	for name, tc := range testCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "x.log")
			writeFile(t, path, "R0 INFO old\nR1 INFO old\n")
			pusher := &fakePusher{}
			cps := &fakeCheckpoints{extra: tc.checkpoints}
			topts := tailOptions(dir)
			topts.StartAtEnd = true
			p, err := pipeline.New(pipeline.Options{
				Pusher:       pusher,
				Checkpoints:  cps,
				BatchMaxWait: time.Millisecond,
				Logger:       discard(),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			if err := p.SetSources(ctx, []pipeline.Source{{Name: "src", Parser: &fakeParser{}, Tail: topts}}); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				<-done
			})
			// Once the file is identified its start point is fixed; only
			// then is the append new content.
			waitFor(t, "file followed", func() bool {
				fs := p.Files()
				return len(fs) == 1 && fs[0].Identified
			})
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString("R2 INFO new\n"); err != nil {
				t.Fatal(err)
			}
			f.Close()
			waitFor(t, "final checkpoint", func() bool { return cps.last()[path] == 36 })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run() = %v", err)
			}
			done <- nil // for the cleanup
			var msgs []string
			for _, e := range pusher.entries() {
				msgs = append(msgs, e.Parsed.Message)
			}
			if diff := cmp.Diff(tc.want, msgs); diff != "" {
				t.Errorf("shipped messages (-want +got):\n%s", diff)
			}
		})
	}
}
