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
	// Tail configures discovery and framing. Source, IsStart and Positions
	// are filled by the pipeline.
	Tail     tail.Options
	Name     string
	Parser   plugins.Parser
	Location *time.Location
}

// Options configure Run.
type Options struct {
	Sources     []Source
	Pusher      Pusher
	Checkpoints Checkpoints
	// BatchMaxEntries and BatchMaxWait bound a batch (defaults 2000, 200ms).
	BatchMaxEntries int
	BatchMaxWait    time.Duration
	// FlushInterval is how often acknowledged checkpoints are written
	// (default 1s); they are also written at shutdown.
	FlushInterval time.Duration
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
	if opts.BatchMaxWait <= 0 {
		opts.BatchMaxWait = 200 * time.Millisecond
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
	starts := make([]func([]byte) bool, len(opts.Sources))
	for i, src := range opts.Sources {
		isStart, err := StartRule(ctx, src.Parser)
		if err != nil {
			return fmt.Errorf("source %q: %w", src.Name, err)
		}
		starts[i] = isStart
	}

	batches := make(chan []agent.Entry, 2)
	var wg sync.WaitGroup
	var batchID atomic.Uint64
	for i := range opts.Sources {
		src := opts.Sources[i]
		topts := src.Tail
		topts.Source = src.Name
		topts.IsStart = starts[i]
		topts.Positions = opts.Checkpoints
		if topts.Logger == nil {
			topts.Logger = logger
		}
		records := make(chan []agent.Record, 4)
		wg.Go(func() {
			if err := tail.Run(ctx, topts, records); err != nil && ctx.Err() == nil {
				logger.Error("tailing stopped", "source", src.Name, "error", err)
			}
			close(records)
		})
		p := &parseStage{src: src, opts: &opts, logger: logger.With("source", src.Name), out: batches, ids: &batchID}
		wg.Go(func() { p.run(ctx, records) })
	}
	go func() {
		wg.Wait()
		close(batches)
	}()
	return shipLoop(ctx, &opts, logger, batches)
}

// StartRule returns the parser's record start test: its own byte scanner
// if it has one, else its start pattern.
func StartRule(ctx context.Context, p plugins.Parser) (func([]byte) bool, error) {
	if rs, ok := p.(plugins.RecordStarter); ok {
		return rs.IsRecordStart, nil
	}
	desc, err := p.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe parser: %w", err)
	}
	if desc.StartPattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(desc.StartPattern)
	if err != nil {
		return nil, fmt.Errorf("compile start pattern of parser %q: %w", desc.Name, err)
	}
	return re.Match, nil
}

// shipLoop pushes batches in order and advances checkpoints on each ack.
func shipLoop(ctx context.Context, opts *Options, logger *slog.Logger, batches <-chan []agent.Entry) error {
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

	flush := time.NewTicker(opts.FlushInterval)
	defer flush.Stop()
	dirty := false
	var id uint64
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
		case batch, ok := <-batches:
			if !ok {
				return finalFlush(opts, logger)
			}
			id++
			if _, err := opts.Pusher.Push(pushCtx, id, batch); err != nil {
				// Only a shutdown gives up a batch; its records are re-read
				// from the last checkpoint on the next start.
				logger.Warn("batch not acknowledged before shutdown", "batch_id", id, "entries", len(batch), "error", err)
				for range batches {
				}
				return finalFlush(opts, logger)
			}
			for i := range batch {
				e := &batch[i]
				opts.Checkpoints.Commit(e.File, e.Source, e.Path, e.End)
			}
			dirty = true
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
