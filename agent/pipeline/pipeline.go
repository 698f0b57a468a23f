// Package pipeline runs the agent's data flow: files are tailed into
// records, records parsed into entries in batches, batches pushed to the
// aggregator, and once a batch is acknowledged the checkpoints of its files
// advance. Nothing is checkpointed before the aggregator has it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/agent/tail"
	"github.com/hooktail/hooktail/plugins"
)

// Pusher sends one batch and returns once the aggregator acknowledged it.
type Pusher interface {
	Push(ctx context.Context, batchID uint64, entries []agent.Entry) (ship.Ack, error)
}

// Checkpoints is where acknowledged offsets go.
type Checkpoints interface {
	Get(id agent.FileID) (int64, bool)
	Commit(id agent.FileID, source, path string, offset int64)
	Flush() error
}

// Source is one configured source: what to tail and how to parse it.
type Source struct {
	// Tail configures discovery and framing. Source, StartRuleFor and Positions
	// are filled by the pipeline.
	Tail     tail.Options
	Name     string
	Parser   plugins.Parser
	Location *time.Location
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

// Options configure Run.
type Options struct {
	Sources     []Source
	Pusher      Pusher
	Checkpoints Checkpoints
	// Redactor, if set, sees every entry between parsing and shipping.
	Redactor Redactor
	// BatchMaxEntries, BatchMaxBytes (of record data) and BatchMaxWait
	// bound a batch (defaults 2000, 8 MiB, 200ms; at most MaxBatchEntries
	// and MaxBatchBytes). A record larger than BatchMaxBytes goes alone.
	BatchMaxEntries int
	BatchMaxBytes   int
	BatchMaxWait    time.Duration
	// FlushInterval is how often acknowledged checkpoints are written
	// (default 1s); they are also written at shutdown.
	FlushInterval time.Duration
	// MaxInFlight is how many batches may be pushed at once (default 3).
	MaxInFlight int
	// ShutdownTimeout bounds the final push of parsed batches after ctx is
	// done (default 10s).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Run runs the pipeline until ctx is done, then pushes what is already
// parsed (within ShutdownTimeout) and writes the checkpoints.
func Run(ctx context.Context, opts Options) error {
	if opts.Pusher == nil || opts.Checkpoints == nil {
		return errors.New("pipeline: pusher and checkpoints are required")
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
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	// Every source is checked before any starts, so that an error leaves
	// nothing running.
	tailers := make([]*tail.Tailer, len(opts.Sources))
	for i, src := range opts.Sources {
		isStart, err := StartRule(ctx, src.Parser)
		if err != nil {
			return fmt.Errorf("source %q: %w", src.Name, err)
		}
		topts := src.Tail
		topts.Source = src.Name
		topts.StartRuleFor = isStart
		topts.Positions = opts.Checkpoints
		if topts.Logger == nil {
			topts.Logger = logger
		}
		if tailers[i], err = tail.New(topts); err != nil {
			return fmt.Errorf("source %q: %w", src.Name, err)
		}
	}

	// A shipping failure stops the sources too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []agent.Entry, 2)
	var wg sync.WaitGroup
	for i := range opts.Sources {
		src, tailer := opts.Sources[i], tailers[i]
		records := make(chan []agent.Record, 4)
		wg.Go(func() {
			if err := tailer.Run(ctx, records); err != nil && ctx.Err() == nil {
				logger.Error("tailing stopped", "source", src.Name, "error", err)
			}
			close(records)
		})
		p := &parseStage{opts: &opts, out: batches, parser: &Parser{
			Source: src.Name, Parser: src.Parser, Location: src.Location,
			Redactor: opts.Redactor, Logger: logger.With("source", src.Name),
		}}
		wg.Go(func() { p.run(ctx, records) })
	}
	go func() {
		wg.Wait()
		close(batches)
	}()
	return shipLoop(ctx, cancel, &opts, logger, batches)
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
	globs := desc.LinePerRecordFiles
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

// shipLoop pushes batches in order and advances checkpoints on each ack.
func shipLoop(ctx context.Context, stop context.CancelFunc, opts *Options, logger *slog.Logger, batches <-chan []agent.Entry) error {
	// Pushes outlive ctx by ShutdownTimeout so that what is parsed gets out.
	pushCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-pushCtx.Done():
			return
		}
		t := time.NewTimer(opts.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-pushCtx.Done():
		}
	}()

	// Up to MaxInFlight pushes overlap, so that parsing, sending and the
	// aggregator's work run side by side; acknowledgements are applied in
	// batch order, so a checkpoint never passes an unacknowledged batch.
	type push struct {
		id    uint64
		batch []agent.Entry
		done  chan error
	}
	n := max(opts.MaxInFlight, 1) // Run sets the default
	slots := make(chan struct{}, n)
	inflight := make(chan *push, n)
	var failed atomic.Bool
	go func() {
		defer close(inflight)
		var id uint64
		for batch := range batches {
			if failed.Load() {
				continue // drained: the records are read again on restart
			}
			slots <- struct{}{}
			id++
			p := &push{id: id, batch: batch, done: make(chan error, 1)}
			go func() { p.done <- pushBatch(pushCtx, opts.Pusher, p.id, p.batch, logger) }()
			inflight <- p
		}
	}()

	flush := time.NewTicker(opts.FlushInterval)
	defer flush.Stop()
	dirty := false
	for {
		select {
		case <-flush.C:
			if dirty {
				if err := opts.Checkpoints.Flush(); err != nil {
					logger.Error("write checkpoints", "error", err)
				} else {
					dirty = false
				}
			}
		case p, ok := <-inflight:
			if !ok {
				return finalFlush(opts, logger)
			}
			err := <-p.done
			<-slots
			if err != nil {
				// The batch's records are re-read from the last checkpoint
				// on the next start. A shutdown explains the failure; any
				// other stops the agent rather than tail without shipping.
				shutdown := ctx.Err() != nil
				failed.Store(true)
				stop()
				for p := range inflight {
					<-p.done
					<-slots
				}
				if shutdown {
					logger.Warn("batch not acknowledged before shutdown", "batch_id", p.id, "entries", len(p.batch), "error", err)
					return finalFlush(opts, logger)
				}
				return errors.Join(fmt.Errorf("push batch %d: %w", p.id, err), finalFlush(opts, logger))
			}
			for i := range p.batch {
				e := &p.batch[i]
				opts.Checkpoints.Commit(e.File, e.Source, e.Path, e.End)
			}
			dirty = true
		}
	}
}

// pushBatch pushes one batch. An entry the aggregator says it can never
// store is sent again raw, flagged parse_error; if even that is refused it
// is left out, logged: one poisoned record must not stall its source.
func pushBatch(ctx context.Context, pusher Pusher, id uint64, batch []agent.Entry, logger *slog.Logger) error {
	for {
		_, err := pusher.Push(ctx, id, batch)
		var rej *ship.RejectedError
		if !errors.As(err, &rej) {
			return err
		}
		e := &batch[rej.Index]
		if e.Parsed.ParseError && e.Parsed.Completion == nil && len(e.Parsed.Details) == 0 {
			logger.Error("aggregator rejected an entry even raw; it is left out",
				"source", e.Source, "file", e.Path, "offset", e.Offset, "error", err)
			batch = append(batch[:rej.Index:rej.Index], batch[rej.Index+1:]...)
			continue
		}
		logger.Warn("aggregator rejected an entry; sending it raw",
			"source", e.Source, "file", e.Path, "offset", e.Offset, "error", err)
		e.Parsed = plugins.Entry{
			TimestampRaw: e.Parsed.TimestampRaw,
			Message:      e.Parsed.Message,
			ParseError:   true,
			Truncated:    e.Parsed.Truncated,
		}
	}
}

func finalFlush(opts *Options, logger *slog.Logger) error {
	if err := opts.Checkpoints.Flush(); err != nil {
		logger.Error("write checkpoints at shutdown", "error", err)
		return fmt.Errorf("write checkpoints: %w", err)
	}
	return nil
}
