package pipeline

import (
	"context"
	"slices"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/tail"
)

// slot is one source name's state: the configuration it should run, the
// instance tailing now, and the ones stopped but not yet drained. At most
// one instance of a name tails at a time, and a new one starts only once
// every older one is drained, so that it resumes from checkpoints that
// hold everything the older ones shipped.
type slot struct {
	name string
	// want is the instance that should run (nil: the source was removed).
	// It is current once started, unless it has ended.
	want *instance
	// current is the instance tailing now, if any.
	current *instance
	// draining are stopped instances whose batches are not all
	// acknowledged yet.
	draining []*instance
	// stats counts for the name across its instances.
	stats *sourceCounters
	// retired sums the tail counters of the instances that have ended.
	retired tail.Stats
}

// instance is one run of one source configuration.
type instance struct {
	src    Source
	tailer *tail.Tailer
	// started is set when the instance is started; cancel then stops its
	// tailer.
	started bool
	cancel  context.CancelFunc
}

// replaceLocked makes in (nil: nothing) the instance sl should run and
// stops the one running, which drains. It returns the Done of a prepared
// instance replaced before it ever ran. p.mu is held.
func (p *Pipeline) replaceLocked(sl *slot, in *instance) []func() {
	var release []func()
	if old := sl.want; old != nil && !old.started && old.src.Done != nil {
		release = append(release, old.src.Done)
	}
	sl.want = in
	cur := sl.current
	switch {
	case cur != nil && in == nil:
		p.logger.Info("source removed; draining what it read", "source", sl.name)
	case cur != nil:
		p.logger.Info("source changed; draining what it read before restarting it", "source", sl.name)
	}
	if cur != nil {
		sl.current = nil
		sl.draining = append(sl.draining, cur)
		cur.cancel()
	}
	return release
}

// reconcileLocked starts the instance sl should run once nothing older of
// the same name is running or draining. p.mu is held.
func (p *Pipeline) reconcileLocked(sl *slot) {
	if p.runCtx == nil || p.stopped {
		return
	}
	in := sl.want
	if in == nil || in.started || sl.current != nil || len(sl.draining) > 0 {
		return
	}
	in.started = true
	ctx, cancel := context.WithCancel(p.runCtx)
	in.cancel = cancel
	sl.current = in
	p.logger.Info("source started", "source", sl.name)
	runCtx := p.runCtx
	p.wg.Go(func() { p.runInstance(runCtx, ctx, sl, in) })
}

// runInstance runs one instance: its tailer until tailCtx is done, its
// parse stage until the tailer's records are all parsed and handed to the
// ship loop, then waits until the ship loop has acknowledged and committed
// them (the drain) before the instance retires. When runCtx is done
// (shutdown) it stops at once: what was not acknowledged is read again on
// the next start.
func (p *Pipeline) runInstance(runCtx, tailCtx context.Context, sl *slot, in *instance) {
	defer in.cancel()
	records := make(chan []agent.Record, 4)
	tailed := make(chan struct{})
	go func() {
		defer close(tailed)
		if err := in.tailer.Run(tailCtx, records); err != nil && tailCtx.Err() == nil {
			p.logger.Error("tailing stopped", "source", sl.name, "error", err)
		}
		close(records)
	}()
	stage := &parseStage{
		opts:     &p.opts,
		out:      p.batches,
		stats:    sl.stats,
		redactor: p.currentRedactor,
		parser: &Parser{
			Source: in.src.Name, Parser: in.src.Parser, Location: in.src.Location,
			Logger: p.logger.With("source", in.src.Name),
		},
	}
	stage.run(runCtx, records)
	<-tailed

	if runCtx.Err() == nil {
		// Everything this instance read is now queued: the marker comes
		// out of the ship loop once all of it is acknowledged.
		drained := make(chan struct{})
		select {
		case p.batches <- batch{drained: drained}:
			select {
			case <-drained:
			case <-runCtx.Done():
			}
		case <-runCtx.Done():
		}
	}
	p.retire(sl, in)
}

// retire forgets an instance that has ended, releases its parser, and then
// starts the slot's next instance if one waits.
func (p *Pipeline) retire(sl *slot, in *instance) {
	p.mu.Lock()
	if sl.current == in {
		// Not stopped by SetSources: a shutdown, or the tailer failed.
		sl.current = nil
	} else if !p.stopped {
		p.logger.Info("source drained", "source", sl.name)
	}
	sl.draining = slices.DeleteFunc(sl.draining, func(x *instance) bool { return x == in })
	sl.retired = addTail(sl.retired, in.tailer.Stats())
	p.mu.Unlock()
	if in.src.Done != nil {
		in.src.Done()
	}
	p.mu.Lock()
	p.reconcileLocked(sl)
	p.mu.Unlock()
}

// addTail adds the counters of b to a; FilesOpen, a gauge, is a's.
func addTail(a, b tail.Stats) tail.Stats {
	a.Records += b.Records
	a.Bytes += b.Bytes
	a.TruncatedRecords += b.TruncatedRecords
	a.Truncations += b.Truncations
	a.Rotations += b.Rotations
	a.FilesDrained += b.FilesDrained
	a.Errors += b.Errors
	a.Scans += b.Scans
	return a
}
