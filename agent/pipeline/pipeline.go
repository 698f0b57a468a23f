// Package pipeline runs the agent's data flow: files are tailed into
// records, records parsed into entries in batches, batches pushed to the
// aggregator, and once a batch is acknowledged the checkpoints of its files
// advance. Nothing is checkpointed before the aggregator has it.
//
// A Pipeline is built with New, given its sources with SetSources and run
// with Run. SetSources may be called again while Run runs (a configuration
// reload): sources are matched by Name, and
//
//   - a source whose Name and ConfigHash are unchanged keeps running: its
//     tailer, its open files and its place are untouched;
//   - a new source starts;
//   - a removed source is drained: its tailer stops, and what it already
//     read is parsed, pushed, acknowledged and checkpointed before its
//     parser is released (Source.Done);
//   - a changed source (same Name, other ConfigHash) is drained the same
//     way, and only then restarted with its new configuration, from the
//     checkpoints its old one left: nothing is lost and nothing read twice.
//
// Batches of every source share one ordered stream: pushes overlap (up to
// MaxInFlight) but are acknowledged, and checkpoints committed, in batch
// order.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/agent/tail"
	"github.com/hooktail/hooktail/plugins"
)

// Pusher sends one batch and returns once the aggregator acknowledged it.
type Pusher interface {
	Push(ctx context.Context, batchID uint64, entries []agent.Entry) (ship.Ack, error)
}

// Checkpoints is where acknowledged offsets go. *positions.Store is one.
type Checkpoints interface {
	Get(id agent.FileID) (int64, bool)
	Commit(id agent.FileID, source, path string, offset int64)
	Flush() error
	// Entries and Forget let the pipeline drop the checkpoints of files
	// no tailer has followed for Options.PruneAfter.
	Entries() []positions.Entry
	Forget(id agent.FileID)
}

// Source is one configured source: what to tail and how to parse it.
type Source struct {
	// Tail configures discovery and framing. Source, StartRuleFor and Positions
	// are filled by the pipeline.
	Tail     tail.Options
	Name     string
	Parser   plugins.Parser
	Location *time.Location
	// ConfigHash identifies the source's configuration: any string the
	// caller derives from it (a hash of the source block, say). SetSources
	// keeps a running source whose Name and ConfigHash are unchanged, and
	// drains and restarts one whose ConfigHash changed.
	ConfigHash string
	// Done, if set, is called once the pipeline no longer uses the source's
	// Parser: when the source has been drained after SetSources removed or
	// replaced it, when SetSources replaced it before it ever started, or
	// when Run returns. It is never called for a Source that SetSources
	// ignored (unchanged) or refused (an error).
	Done func()
}

// Redactor masks secrets in a parsed entry before it is shipped.
type Redactor interface {
	Entry(e *plugins.Entry)
}

// Limits of one batch: the aggregator refuses larger ones, and a batch it
// always refuses would stall its source forever.
const (
	MaxBatchEntries = 50000
	MaxBatchBytes   = 64 << 20
)

// DefaultPruneAfter is how long a checkpoint is kept after its file was last
// followed by a tailer.
const DefaultPruneAfter = time.Hour

// Options configure a Pipeline.
type Options struct {
	// Sources are the sources the Run function starts with. New ignores
	// them: give a Pipeline its sources with SetSources.
	Sources     []Source
	Pusher      Pusher
	Checkpoints Checkpoints
	// Redactor, if set, sees every entry between parsing and shipping;
	// SetRedactor replaces it.
	Redactor Redactor
	// BatchMaxEntries, BatchMaxBytes (of record data) and BatchMaxWait
	// bound a batch (defaults 2000, 8 MiB, 200ms; at most MaxBatchEntries
	// and MaxBatchBytes). A record larger than BatchMaxBytes goes alone.
	BatchMaxEntries int
	BatchMaxBytes   int
	BatchMaxWait    time.Duration
	// FlushInterval is how often acknowledged checkpoints are written
	// (default 1s); they are also written at shutdown and whenever a
	// removed or changed source has been drained.
	FlushInterval time.Duration
	// MaxInFlight is how many batches may be pushed at once (default 3).
	MaxInFlight int
	// ShutdownTimeout bounds the final push of parsed batches after ctx is
	// done (default 10s).
	ShutdownTimeout time.Duration
	// PruneAfter is how long the checkpoint of a file is kept once no
	// tailer follows the file any more (default DefaultPruneAfter; negative:
	// never). It is measured within this process's lifetime: nothing is
	// pruned before PruneAfter has passed since Run started, nor before
	// every tailer has finished its first scan.
	PruneAfter time.Duration
	// Now is the clock of pruning and of Stats.LastAck (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Pipeline carries the records of its sources to the aggregator. Its
// methods are safe for concurrent use.
type Pipeline struct {
	opts    Options
	logger  *slog.Logger
	batches chan batch
	// redactor holds a *redactorBox: the Redactor of the batches parsed
	// from now on.
	redactor atomic.Pointer[redactorBox]
	counters counters

	// setMu serialises SetSources.
	setMu sync.Mutex

	mu sync.Mutex
	// slots holds every source ever given, by name.
	slots map[string]*slot
	// runCtx is Run's context; nil before Run.
	runCtx context.Context
	// started is set by Run, stopped once Run's context is done: from
	// then on nothing starts.
	started, stopped bool
	// wg tracks the goroutines of running sources.
	wg sync.WaitGroup

	// prune is owned by the ship loop.
	prune pruneState
}

type redactorBox struct{ r Redactor }

// New checks opts and returns a Pipeline with no sources. It does no I/O.
func New(opts Options) (*Pipeline, error) {
	if opts.Pusher == nil || opts.Checkpoints == nil {
		return nil, errors.New("pipeline: pusher and checkpoints are required")
	}
	if opts.BatchMaxEntries <= 0 {
		opts.BatchMaxEntries = 2000
	}
	opts.BatchMaxEntries = min(opts.BatchMaxEntries, MaxBatchEntries)
	if opts.BatchMaxBytes <= 0 {
		opts.BatchMaxBytes = 8 << 20
	}
	opts.BatchMaxBytes = min(opts.BatchMaxBytes, MaxBatchBytes)
	if opts.BatchMaxWait <= 0 {
		opts.BatchMaxWait = 200 * time.Millisecond
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 3
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.PruneAfter == 0 {
		opts.PruneAfter = DefaultPruneAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	opts.Sources = nil
	p := &Pipeline{
		opts:    opts,
		logger:  logger,
		batches: make(chan batch, 2),
		slots:   make(map[string]*slot),
	}
	p.redactor.Store(&redactorBox{opts.Redactor})
	p.prune.begin(opts.Now())
	return p, nil
}

// Run is New, SetSources(opts.Sources) and Pipeline.Run: it runs the
// sources until ctx is done. A source that cannot start is an error before
// anything runs.
func Run(ctx context.Context, opts Options) error {
	p, err := New(opts)
	if err != nil {
		return err
	}
	if err := p.SetSources(ctx, opts.Sources); err != nil {
		return err
	}
	return p.Run(ctx)
}

// SetRedactor makes r the redactor of every batch parsed from now on.
func (p *Pipeline) SetRedactor(r Redactor) {
	p.redactor.Store(&redactorBox{r})
}

func (p *Pipeline) currentRedactor() Redactor { return p.redactor.Load().r }

// Run runs the sources until ctx is done, then pushes what is already
// parsed (within ShutdownTimeout) and writes the checkpoints. A push that
// fails for another reason than the shutdown stops the pipeline with that
// error. Sources set before Run start now; SetSources may change them while
// Run runs. Run may be called once.
func (p *Pipeline) Run(ctx context.Context) error {
	// A shipping failure stops the sources too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return errors.New("pipeline: Run called twice")
	}
	p.started = true
	p.runCtx = ctx
	p.prune.begin(p.opts.Now())
	for _, sl := range p.slots {
		p.reconcileLocked(sl)
	}
	p.mu.Unlock()

	shipped := make(chan error, 1)
	go func() { shipped <- p.shipLoop(ctx, cancel) }()
	<-ctx.Done()

	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
	close(p.batches)
	err := <-shipped

	// Sources prepared but never started are released too.
	var release []func()
	p.mu.Lock()
	for _, sl := range p.slots {
		if sl.want != nil && !sl.want.started && sl.want.src.Done != nil {
			release = append(release, sl.want.src.Done)
		}
		sl.want = nil
	}
	p.mu.Unlock()
	for _, done := range release {
		done()
	}
	return err
}

// SetSources makes sources the pipeline's sources, matched to the current
// ones by Name (see the package documentation): new ones start, removed
// ones are drained, changed ones are drained and then restarted, unchanged
// ones (same Name and ConfigHash) keep running and the Source passed for
// them is ignored. Every new or changed source is checked first (its parser
// described, its tail options validated): on error nothing changes, and the
// caller keeps the ownership of every Source passed. SetSources returns
// without waiting for drains; Stats tells when they are done. It may be
// called before Run, and while Run runs.
func (p *Pipeline) SetSources(ctx context.Context, sources []Source) error {
	p.setMu.Lock()
	defer p.setMu.Unlock()

	seen := make(map[string]bool, len(sources))
	for _, src := range sources {
		if src.Name == "" {
			return errors.New("pipeline: a source has no name")
		}
		if seen[src.Name] {
			return fmt.Errorf("pipeline: source %q given twice", src.Name)
		}
		seen[src.Name] = true
	}

	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return errors.New("pipeline: stopped")
	}
	var todo []Source
	for _, src := range sources {
		if sl := p.slots[src.Name]; sl == nil || sl.want == nil || sl.want.src.ConfigHash != src.ConfigHash {
			todo = append(todo, src)
		}
	}
	p.mu.Unlock()

	// Every new or changed source is checked before anything changes, so
	// that an error leaves the running sources as they are.
	prepared := make(map[string]*instance, len(todo))
	for _, src := range todo {
		in, err := p.prepare(ctx, src)
		if err != nil {
			return fmt.Errorf("source %q: %w", src.Name, err)
		}
		prepared[src.Name] = in
	}

	var release []func()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return errors.New("pipeline: stopped")
	}
	for _, src := range sources {
		in := prepared[src.Name]
		if in == nil {
			continue // unchanged
		}
		sl := p.slots[src.Name]
		if sl == nil {
			sl = &slot{name: src.Name, stats: new(sourceCounters)}
			p.slots[src.Name] = sl
		}
		release = append(release, p.replaceLocked(sl, in)...)
	}
	for name, sl := range p.slots {
		if !seen[name] && sl.want != nil {
			release = append(release, p.replaceLocked(sl, nil)...)
		}
	}
	for _, sl := range p.slots {
		p.reconcileLocked(sl)
	}
	p.mu.Unlock()
	for _, done := range release {
		done()
	}
	return nil
}

// prepare checks src and builds its instance, without starting it.
func (p *Pipeline) prepare(ctx context.Context, src Source) (*instance, error) {
	isStart, err := StartRule(ctx, src.Parser)
	if err != nil {
		return nil, err
	}
	topts := src.Tail
	topts.Source = src.Name
	topts.StartRuleFor = isStart
	topts.Positions = p.opts.Checkpoints
	if topts.Logger == nil {
		topts.Logger = p.logger
	}
	if topts.StartAtEnd && hasCheckpoints(p.opts.Checkpoints, src.Name) {
		// start_at = "end" is for a source's very first start. Once it has
		// checkpoints, a file without one is new (rotated in while the
		// agent was down, say): starting it at its end would skip records.
		topts.StartAtEnd = false
		p.logger.Info("source has checkpoints: files without one are read from the beginning",
			"source", src.Name)
	}
	tailer, err := tail.New(topts)
	if err != nil {
		return nil, err
	}
	return &instance{src: src, tailer: tailer}, nil
}

// hasCheckpoints reports whether cps holds a checkpoint of source.
func hasCheckpoints(cps Checkpoints, source string) bool {
	for _, e := range cps.Entries() {
		if e.Source == source {
			return true
		}
	}
	return false
}

// StartRule returns the parser's record start test for a file, chosen by
// the file's path when it is opened: every line starts a record in a file
// whose base name matches the parser's LinePerRecordFiles; elsewhere the
// parser's own byte scanner decides if it has one, else its start pattern.
// A nil test means every line starts a record.
func StartRule(ctx context.Context, p plugins.Parser) (func(path string) func([]byte) bool, error) {
	desc, err := p.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe parser: %w", err)
	}
	for _, glob := range desc.LinePerRecordFiles {
		if _, err := path.Match(glob, ""); err != nil {
			return nil, fmt.Errorf("parser %q: line-per-record file glob %q: %w", desc.Name, glob, err)
		}
	}
	var text func([]byte) bool
	if rs, ok := p.(plugins.RecordStarter); ok {
		text = rs.IsRecordStart
	} else if desc.StartPattern != "" {
		re, err := regexp.Compile(desc.StartPattern)
		if err != nil {
			return nil, fmt.Errorf("compile start pattern of parser %q: %w", desc.Name, err)
		}
		text = re.Match
	}
	globs := slices.Clone(desc.LinePerRecordFiles)
	return func(file string) func([]byte) bool {
		base := filepath.Base(file)
		for _, glob := range globs {
			if ok, _ := path.Match(glob, base); ok {
				return nil
			}
		}
		return text
	}, nil
}
