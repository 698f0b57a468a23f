package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/ship"
	"github.com/hooktail/hooktail/plugins"
)

// batch is what the parse stages hand the ship loop: the entries of one
// source, or a drain marker.
type batch struct {
	entries []agent.Entry
	// stats are the counters of the entries' source.
	stats *sourceCounters
	// left are entries left out of the batch because the aggregator
	// refused them even raw: their checkpoints still advance with it.
	left []agent.Entry
	// drained, when set, makes this a marker without entries: the ship loop
	// closes it once every batch before it is acknowledged and committed.
	drained chan struct{}
}

// shipLoop pushes batches in order and advances checkpoints on each ack.
// It returns once p.batches is closed and drained.
func (p *Pipeline) shipLoop(ctx context.Context, stop context.CancelFunc) error {
	opts, logger := &p.opts, p.logger
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
		id   uint64
		b    batch
		done chan error
	}
	n := max(opts.MaxInFlight, 1) // New sets the default
	slots := make(chan struct{}, n)
	inflight := make(chan *push, n)
	var failed atomic.Bool
	go func() {
		defer close(inflight)
		var id uint64
		for b := range p.batches {
			if failed.Load() {
				continue // drained: the records are read again on restart
			}
			if b.drained != nil {
				inflight <- &push{b: b}
				continue
			}
			slots <- struct{}{}
			id++
			ps := &push{id: id, b: b, done: make(chan error, 1)}
			p.counters.inFlight.Add(1)
			go func() { ps.done <- p.pushBatch(pushCtx, ps.id, &ps.b) }()
			inflight <- ps
		}
	}()

	flush := time.NewTicker(opts.FlushInterval)
	defer flush.Stop()
	dirty := false
	flushNow := func() {
		if err := opts.Checkpoints.Flush(); err != nil {
			logger.Error("write checkpoints", "error", err)
		} else {
			dirty = false
		}
	}
	for {
		select {
		case <-flush.C:
			if p.maybePrune() {
				dirty = true
			}
			if dirty {
				flushNow()
			}
		case ps, ok := <-inflight:
			if !ok {
				return finalFlush(p)
			}
			if ps.b.drained != nil {
				if dirty {
					flushNow()
				}
				close(ps.b.drained)
				continue
			}
			err := <-ps.done
			<-slots
			p.counters.inFlight.Add(-1)
			if err != nil {
				// The batch's records are re-read from the last checkpoint
				// on the next start. A shutdown explains the failure; any
				// other stops the agent rather than tail without shipping.
				shutdown := ctx.Err() != nil
				failed.Store(true)
				stop()
				for ps := range inflight {
					if ps.b.drained == nil {
						<-ps.done
						<-slots
						p.counters.inFlight.Add(-1)
					}
				}
				if shutdown {
					logger.Warn("batch not acknowledged before shutdown", "batch_id", ps.id, "entries", len(ps.b.entries), "error", err)
					return finalFlush(p)
				}
				return errors.Join(fmt.Errorf("push batch %d: %w", ps.id, err), finalFlush(p))
			}
			p.acknowledged(&ps.b)
			dirty = true
		}
	}
}

// acknowledged commits the checkpoints of an acknowledged batch and counts
// its entries.
func (p *Pipeline) acknowledged(b *batch) {
	var parseErrors, truncated int64
	for i := range b.left {
		e := &b.left[i]
		p.opts.Checkpoints.Commit(e.File, e.Source, e.Path, e.End)
	}
	for i := range b.entries {
		e := &b.entries[i]
		p.opts.Checkpoints.Commit(e.File, e.Source, e.Path, e.End)
		if e.Parsed.ParseError {
			parseErrors++
		}
		if e.Parsed.Truncated {
			truncated++
		}
	}
	if s := b.stats; s != nil {
		s.entries.Add(int64(len(b.entries)))
		s.parseErrors.Add(parseErrors)
		s.truncated.Add(truncated)
	}
	p.counters.batches.Add(1)
	p.counters.lastAck.Store(p.opts.Now().UnixNano())
}

// pushBatch pushes one batch. An entry the aggregator says it can never
// store is sent again raw, flagged parse_error; if even that is refused it
// is left out, logged: one poisoned record must not stall its source.
func (p *Pipeline) pushBatch(ctx context.Context, id uint64, b *batch) error {
	stats := b.stats
	if stats == nil {
		stats = new(sourceCounters)
	}
	for {
		ack, err := p.opts.Pusher.Push(ctx, id, b.entries)
		if err == nil {
			stats.duplicates.Add(int64(ack.Duplicates))
			return nil
		}
		var rej *ship.RejectedError
		if !errors.As(err, &rej) {
			return err
		}
		e := &b.entries[rej.Index]
		if e.Parsed.ParseError && e.Parsed.Completion == nil && len(e.Parsed.Details) == 0 {
			p.logger.Error("aggregator rejected an entry even raw; it is left out",
				"source", e.Source, "file", e.Path, "offset", e.Offset, "error", err)
			stats.dropped.Add(1)
			b.left = append(b.left, *e)
			b.entries = append(b.entries[:rej.Index:rej.Index], b.entries[rej.Index+1:]...)
			continue
		}
		p.logger.Warn("aggregator rejected an entry; sending it raw",
			"source", e.Source, "file", e.Path, "offset", e.Offset, "error", err)
		stats.sentRaw.Add(1)
		e.Parsed = plugins.Entry{
			TimestampRaw: e.Parsed.TimestampRaw,
			Message:      e.Parsed.Message,
			ParseError:   true,
			Truncated:    e.Parsed.Truncated,
		}
	}
}

func finalFlush(p *Pipeline) error {
	if err := p.opts.Checkpoints.Flush(); err != nil {
		p.logger.Error("write checkpoints at shutdown", "error", err)
		return fmt.Errorf("write checkpoints: %w", err)
	}
	return nil
}
