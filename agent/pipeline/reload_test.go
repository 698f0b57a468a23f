package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// These tests change the sources of a running Pipeline (a configuration
// reload) and check that nothing is lost or shipped twice.

// logBuffer collects a logger's text output, safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// pipe is a Pipeline running in the background.
type pipe struct {
	*pipeline.Pipeline
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
}

func startPipeline(t *testing.T, opts pipeline.Options, sources ...pipeline.Source) *pipe {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	p, err := pipeline.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetSources(t.Context(), sources); err != nil {
		t.Fatalf("SetSources() = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &pipe{Pipeline: p, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *pipe) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	err := <-r.done
	r.done <- err
	if err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

func (r *pipe) source(name string) pipeline.SourceStats {
	for _, s := range r.Stats().Sources {
		if s.Name == name {
			return s
		}
	}
	return pipeline.SourceStats{}
}

// files returns the files followed by one source.
func (r *pipe) files(source string) []pipeline.FileStatus {
	var out []pipeline.FileStatus
	for _, f := range r.Files() {
		if f.Source == source {
			out = append(out, f)
		}
	}
	return out
}

// source returns a Source tailing dir/*.log, whose Done closes the
// returned channel.
func source(name, hash, dir string, parser plugins.Parser) (pipeline.Source, <-chan struct{}) {
	done := make(chan struct{})
	var once sync.Once
	return pipeline.Source{
		Name: name, ConfigHash: hash, Parser: parser, Tail: tailOptions(dir),
		Done: func() { once.Do(func() { close(done) }) },
	}, done
}

// taggingParser parses like fakeParser and sets LoggerName to its tag, so
// that the test can tell which configuration parsed an entry.
func taggingParser(tag string) *fakeParser {
	return &fakeParser{ParseFunc: func(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
		n := len(dst)
		dst = parseFake(req, dst)
		for i := n; i < len(dst); i++ {
			dst[i].LoggerName = tag
		}
		return dst, nil
	}}
}

// untouchableParser fails the test if the pipeline uses it.
func untouchableParser(t *testing.T) *fakeParser {
	return &fakeParser{
		DescribeFunc: func(context.Context) (plugins.Description, error) {
			t.Error("Describe called on the parser of an unchanged source")
			return plugins.Description{}, fmt.Errorf("unused")
		},
		ParseFunc: func(context.Context, *plugins.ParseRequest, []plugins.Entry) ([]plugins.Entry, error) {
			t.Error("Parse called on the parser of an unchanged source")
			return nil, fmt.Errorf("unused")
		},
	}
}

// checkExactlyOnce checks that the entries of path were shipped once each,
// in file order, exactly at ends.
func checkExactlyOnce(t *testing.T, shipped []agent.Entry, path string, ends []int64) {
	t.Helper()
	var got []int64
	for _, e := range shipped {
		if e.Path == path {
			got = append(got, e.End)
		}
	}
	if diff := cmp.Diff(ends, got); diff != "" {
		t.Errorf("%s: shipped record ends mismatch, want each once in order (-want +got):\n%s", filepath.Base(path), diff)
	}
}

// blockingPusher holds every push until release is closed.
func blockingPusher() (p *fakePusher, pushing <-chan struct{}, release chan struct{}) {
	started := make(chan struct{}, 1)
	release = make(chan struct{})
	p = &fakePusher{PushFunc: func(ctx context.Context, _ uint64, _ []agent.Entry) error {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	return p, started, release
}

// TestSetSourcesAdd adds a source to a running pipeline: its file is
// shipped, and the source already running is neither restarted nor
// re-read.
func TestSetSourcesAdd(t *testing.T) {
	t.Parallel()
	dirA, dirB := t.TempDir(), t.TempDir()
	dataA, endsA := records("a", 7)
	dataB, endsB := records("b", 5)
	pathA, pathB := filepath.Join(dirA, "a.log"), filepath.Join(dirB, "b.log")
	writeFile(t, pathA, dataA)
	writeFile(t, pathB, dataB)
	pusher, cps := &fakePusher{}, &fakeCheckpoints{}
	srcA, doneA := source("a", "v1", dirA, &fakeParser{})
	r := startPipeline(t, pipeline.Options{Pusher: pusher, Checkpoints: cps, BatchMaxWait: time.Millisecond}, srcA)
	waitFor(t, "a shipped", func() bool { return cps.last()[pathA] == endsA[len(endsA)-1] })

	// a is passed again with the same hash but another parser value: the
	// value is ignored.
	again := srcA
	again.Parser = untouchableParser(t)
	srcB, _ := source("b", "v1", dirB, &fakeParser{})
	if err := r.SetSources(t.Context(), []pipeline.Source{again, srcB}); err != nil {
		t.Fatalf("SetSources() = %v", err)
	}
	waitFor(t, "b shipped", func() bool { return cps.last()[pathB] == endsB[len(endsB)-1] })
	if got := r.logs.count(`msg="source started" source=a`); got != 1 {
		t.Errorf("source a started %d times, want once", got)
	}
	if fs := r.files("a"); len(fs) != 1 || fs[0].StartOffset != 0 || fs[0].Acked != endsA[len(endsA)-1] {
		t.Errorf("files of a = %+v, want a.log still open from its first read (offset 0), acknowledged to the end", fs)
	}
	select {
	case <-doneA:
		t.Error("the unchanged source was released")
	default:
	}
	r.stop(t)
	shipped := pusher.entries()
	checkExactlyOnce(t, shipped, pathA, endsA)
	checkExactlyOnce(t, shipped, pathB, endsB)
	if s := r.source("b"); s.Entries != int64(len(endsB)) || s.Tail.Records != int64(len(endsB)) {
		t.Errorf("stats of b = %+v, want %d entries shipped and records read", s, len(endsB))
	}
}

// TestSetSourcesRemoveWhileBusy removes a source while its batches wait
// for the aggregator: it drains (everything read is shipped and committed
// before its parser is released), and adding it back later resumes after
// the last record shipped: nothing lost, nothing twice.
func TestSetSourcesRemoveWhileBusy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 60)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	pusher, pushing, release := blockingPusher()
	cps := &fakeCheckpoints{}
	parser := &fakeParser{}
	src, done := source("x", "v1", dir, parser)
	r := startPipeline(t, pipeline.Options{
		Pusher: pusher, Checkpoints: cps, BatchMaxEntries: 4, MaxInFlight: 2, BatchMaxWait: time.Millisecond,
	}, src)
	<-pushing
	waitFor(t, "batches queued behind the blocked pushes", func() bool {
		parser.mu.Lock()
		defer parser.mu.Unlock()
		return len(parser.records) >= 12
	})

	if err := r.SetSources(t.Context(), nil); err != nil {
		t.Fatalf("SetSources(nil) = %v", err)
	}
	if s := r.source("x"); s.Running || s.Draining != 1 {
		t.Errorf("stats while draining = running %v, draining %d; want false, 1", s.Running, s.Draining)
	}
	select {
	case <-done:
		t.Fatal("the removed source was released before its batches were acknowledged")
	default:
	}
	if commits, _, _ := cps.snapshot(); len(commits) != 0 {
		t.Fatalf("committed %d checkpoints before any acknowledgement", len(commits))
	}
	close(release)
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatal("the removed source was never released")
	}
	// Released means drained: what was shipped is committed and flushed.
	shipped := pusher.entries()
	if len(shipped) == 0 {
		t.Fatal("nothing shipped")
	}
	if got, want := cps.last()[path], shipped[len(shipped)-1].End; got != want {
		t.Errorf("checkpoint after the drain = %d, want the last shipped End %d", got, want)
	}
	if commits, flushes, flushed := cps.snapshot(); flushes == 0 || flushed != len(commits) {
		t.Errorf("%d flushes covering %d of %d commits after the drain, want all flushed", flushes, flushed, len(commits))
	}
	if s := r.source("x"); s.Running || s.Draining != 0 || s.Tail.FilesOpen != 0 || len(r.files("x")) != 0 {
		t.Errorf("stats after the drain = %+v, want nothing running or open", s)
	}
	checkExactlyOnce(t, shipped, path, ends[:len(shipped)])

	// Added back, it resumes where the drain left off.
	src2, _ := source("x", "v1", dir, &fakeParser{})
	if err := r.SetSources(t.Context(), []pipeline.Source{src2}); err != nil {
		t.Fatalf("SetSources() = %v", err)
	}
	waitFor(t, "the rest shipped", func() bool { return cps.last()[path] == ends[len(ends)-1] })
	r.stop(t)
	checkExactlyOnce(t, pusher.entries(), path, ends)
}

// TestSetSourcesChanged changes a source's configuration while its pushes
// are held: the old configuration drains (its records parsed by the old
// parser, shipped and committed), then the new one restarts from the
// checkpoints and parses what follows.
func TestSetSourcesChanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 30)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	pusher, pushing, release := blockingPusher()
	cps := &fakeCheckpoints{}
	oldParser := taggingParser("v1")
	src, oldDone := source("x", "v1", dir, oldParser)
	r := startPipeline(t, pipeline.Options{
		Pusher: pusher, Checkpoints: cps, BatchMaxEntries: 4, MaxInFlight: 2, BatchMaxWait: time.Millisecond,
	}, src)
	<-pushing

	var parsedBeforeRelease atomic.Bool
	newParser := taggingParser("v2")
	inner := newParser.ParseFunc
	newParser.ParseFunc = func(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
		select {
		case <-oldDone:
		default:
			parsedBeforeRelease.Store(true)
		}
		return inner(ctx, req, dst)
	}
	changed, _ := source("x", "v2", dir, newParser)
	if err := r.SetSources(t.Context(), []pipeline.Source{changed}); err != nil {
		t.Fatalf("SetSources() = %v", err)
	}
	more, moreEnds := records("y", 10)
	appendFile(t, path, more)
	for i := range moreEnds {
		moreEnds[i] += int64(len(data))
	}
	ends = append(ends, moreEnds...)
	close(release)
	waitFor(t, "everything shipped", func() bool { return cps.last()[path] == ends[len(ends)-1] })
	r.stop(t)
	if parsedBeforeRelease.Load() {
		t.Error("the new configuration parsed records before the old one was drained")
	}
	shipped := pusher.entries()
	checkExactlyOnce(t, shipped, path, ends)
	// Entries are v1 up to some point, then v2.
	var tags []string
	for _, e := range shipped {
		if len(tags) == 0 || tags[len(tags)-1] != e.Parsed.LoggerName {
			tags = append(tags, e.Parsed.LoggerName)
		}
	}
	if diff := cmp.Diff([]string{"v1", "v2"}, tags); diff != "" {
		t.Errorf("parsers of the shipped entries, in order (-want +got):\n%s", diff)
	}
	if got := r.logs.count(`msg="source started" source=x`); got != 2 {
		t.Errorf("source x started %d times, want twice (the first run and the restart)", got)
	}
}

// TestSetSourcesInvalid checks that a source that cannot start makes
// SetSources fail and change nothing, and that duplicate names are refused.
func TestSetSourcesInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 3)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	pusher, cps := &fakePusher{}, &fakeCheckpoints{}
	src, done := source("x", "v1", dir, &fakeParser{})
	r := startPipeline(t, pipeline.Options{Pusher: pusher, Checkpoints: cps, BatchMaxWait: time.Millisecond}, src)
	waitFor(t, "x shipped", func() bool { return cps.last()[path] == ends[len(ends)-1] })

	bad, badDone := source("bad", "v1", t.TempDir(), &fakeParser{DescribeFunc: func(context.Context) (plugins.Description, error) {
		return plugins.Description{Name: "bad", StartPattern: "("}, nil
	}})
	changed, _ := source("x", "v2", dir, &fakeParser{})
	badTail := changed
	badTail.Tail.Paths = []string{"relative/*.log"}
	for name, sources := range map[string][]pipeline.Source{
		"bad parser":    {changed, bad},
		"bad tail":      {badTail},
		"duplicate":     {src, src},
		"no name":       {{Parser: &fakeParser{}, Tail: tailOptions(dir)}},
		"removes x too": {bad},
	} {
		if err := r.SetSources(t.Context(), sources); err == nil {
			t.Errorf("%s: SetSources() = nil, want an error", name)
		}
	}
	stats := r.Stats()
	if len(stats.Sources) != 1 || !stats.Sources[0].Running || stats.Sources[0].Name != "x" {
		t.Errorf("sources after refused changes = %+v, want x alone, running", stats.Sources)
	}
	for name, ch := range map[string]<-chan struct{}{"x": done, "bad": badDone} {
		select {
		case <-ch:
			t.Errorf("source %s released by a refused SetSources", name)
		default:
		}
	}
	appendFile(t, path, "R9 INFO still running\n")
	waitFor(t, "x still shipping", func() bool { return cps.last()[path] == ends[len(ends)-1]+22 })
	r.stop(t)
	select {
	case <-done:
	default:
		t.Error("x not released when Run returned")
	}
}

// TestSetRedactor checks that a new redactor applies to the batches parsed
// after it is set.
func TestSetRedactor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, "R1 INFO my secret hunter2\n")
	pusher, cps := &fakePusher{}, &fakeCheckpoints{}
	src, _ := source("x", "v1", dir, &fakeParser{})
	r := startPipeline(t, pipeline.Options{Pusher: pusher, Checkpoints: cps, Redactor: upperRedactor{}, BatchMaxWait: time.Millisecond}, src)
	waitFor(t, "first entry", func() bool { return len(pusher.entries()) == 1 })
	r.SetRedactor(hunterRedactor{})
	appendFile(t, path, "R2 INFO my secret hunter2\n")
	waitFor(t, "second entry", func() bool { return len(pusher.entries()) == 2 })
	r.stop(t)
	var got []string
	for _, e := range pusher.entries() {
		got = append(got, e.Parsed.Message)
	}
	if diff := cmp.Diff([]string{"R1 INFO my ****** hunter2", "R2 INFO my secret *******"}, got); diff != "" {
		t.Errorf("messages mismatch (-want +got):\n%s", diff)
	}
}

type hunterRedactor struct{}

func (hunterRedactor) Entry(e *plugins.Entry) {
	e.Message = strings.ReplaceAll(e.Message, "hunter2", "*******")
}

// TestSourceStats checks the per-source counters on real values.
func TestSourceStats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	long := "R2 INFO " + strings.Repeat("z", 100)
	data := "R0 INFO fine\nR1 ERROR poison\n" + long + "\nR3 INFO bad parse\n"
	writeFile(t, path, data)
	pusher := &fakePusher{PushFunc: func(_ context.Context, _ uint64, entries []agent.Entry) error {
		for i, e := range entries {
			if strings.Contains(e.Parsed.Message, "poison") && !e.Parsed.ParseError {
				return &ship.RejectedError{Index: i, Err: fmt.Errorf("never storable")}
			}
		}
		return nil
	}}
	parser := &fakeParser{ParseFunc: func(_ context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
		dst = parseFake(req, dst)
		for i := len(dst) - len(req.Records); i < len(dst); i++ {
			dst[i].ParseError = strings.Contains(dst[i].Message, "bad parse")
		}
		return dst, nil
	}}
	cps := &fakeCheckpoints{}
	opts := tailOptions(dir)
	opts.MaxRecordBytes = 32
	r := startPipeline(t, pipeline.Options{Pusher: pusher, Checkpoints: cps, BatchMaxWait: time.Millisecond},
		pipeline.Source{Name: "x", Parser: parser, Tail: opts})
	waitFor(t, "everything shipped", func() bool { return cps.last()[path] == int64(len(data)) })
	r.stop(t)
	got := r.source("x")
	got.Tail = tail.Stats{Records: got.Tail.Records, Bytes: got.Tail.Bytes, TruncatedRecords: got.Tail.TruncatedRecords}
	want := pipeline.SourceStats{
		Name: "x", Entries: 4, ParseErrors: 2, Truncated: 1, SentRaw: 1,
		Tail: tail.Stats{Records: 4, Bytes: int64(len(data)), TruncatedRecords: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("source stats mismatch (-want +got):\n%s", diff)
	}
	if s := r.Stats(); s.Batches == 0 || s.BatchesInFlight != 0 || s.LastAck.IsZero() || s.Running {
		t.Errorf("Stats() = %+v, want batches acknowledged, none in flight, a last ack, not running", s)
	}
	if !slices.ContainsFunc(pusher.entries(), func(e agent.Entry) bool { return e.Parsed.Message == "R1 ERROR poison" && e.Parsed.ParseError }) {
		t.Error("the rejected entry was not sent raw")
	}
}

// TestRunPrunesCheckpoints checks that the running pipeline forgets, on its
// own, the checkpoint of a file no tailer followed for PruneAfter of its
// clock, keeps the one of the file it follows, and writes the result.
func TestRunPrunesCheckpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, ends := records("x", 3)
	path := filepath.Join(dir, "x.log")
	writeFile(t, path, data)
	gone := agent.FileID{Dev: 9, Ino: 9, Fingerprint: 9}
	cps := &fakeCheckpoints{extra: []positions.Entry{{File: gone, Offset: 10, Path: "/elsewhere/old.log", Source: "x"}}}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	src, _ := source("x", "v1", dir, &fakeParser{})
	r := startPipeline(t, pipeline.Options{
		Pusher: &fakePusher{}, Checkpoints: cps, BatchMaxWait: time.Millisecond, FlushInterval: time.Millisecond,
		Now: func() time.Time { return time.Unix(0, clock.Load()) },
	}, src)
	waitFor(t, "x shipped", func() bool { return cps.last()[path] == ends[len(ends)-1] })
	clock.Add(int64(2 * time.Hour))
	waitFor(t, "the unfollowed checkpoint forgotten", func() bool { return r.Stats().CheckpointsPruned == 1 })
	waitFor(t, "the checkpoints written after the pruning", func() bool {
		cps.mu.Lock()
		defer cps.mu.Unlock()
		return cps.flushes > 0 && len(cps.forgotten) == 1
	})
	r.stop(t)
	cps.mu.Lock()
	defer cps.mu.Unlock()
	if diff := cmp.Diff([]agent.FileID{gone}, cps.forgotten); diff != "" {
		t.Errorf("forgotten checkpoints mismatch (-want +got):\n%s", diff)
	}
}

// TestSourceStatsParseFailures checks that a parser failing as a whole is
// counted once per batch, its records as parse errors.
func TestSourceStatsParseFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	const data = "R0 INFO a\nR1 INFO b\n"
	writeFile(t, path, data)
	cps := &fakeCheckpoints{}
	parser := &fakeParser{ParseFunc: func(context.Context, *plugins.ParseRequest, []plugins.Entry) ([]plugins.Entry, error) {
		return nil, fmt.Errorf("plugin crashed")
	}}
	r := startPipeline(t, pipeline.Options{Pusher: &fakePusher{}, Checkpoints: cps, BatchMaxWait: time.Millisecond},
		pipeline.Source{Name: "x", Parser: parser, Tail: tailOptions(dir)})
	waitFor(t, "everything shipped", func() bool { return cps.last()[path] == int64(len(data)) })
	r.stop(t)
	s := r.source("x")
	parser.mu.Lock()
	calls := len(parser.locations)
	parser.mu.Unlock()
	if s.ParseFailures != int64(calls) || calls == 0 || s.ParseErrors != 2 || s.Entries != 2 {
		t.Errorf("stats = %+v after %d failed parser calls, want one failure each and 2 parse errors", s, calls)
	}
}
