package pipeline

import (
	"time"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/positions"
)

// Checkpoints are never forgotten by the store itself, so without pruning
// the checkpoint file would grow by one entry per rotation forever. The
// pipeline forgets the checkpoint of a file no tailer has followed for
// PruneAfter, measured in this process's lifetime: a checkpoint not seen
// followed since Run started counts from Run's start (or from its last
// commit, if later), so nothing is pruned right after a restart, and not at
// all until every tailer has finished its first scan.
//
// A file counts as followed when a tailer has it open under its identity;
// one whose identity is not known yet (its first line is incomplete) keeps
// every checkpoint last committed under its path. A source waiting to
// restart after a change keeps its checkpoints too.

// pruneState is owned by the ship loop.
type pruneState struct {
	// start is when Run started; last when checkpoints were last checked.
	start, last time.Time
	// seen is when each checkpointed file was last seen followed.
	seen map[agent.FileID]time.Time
}

func (ps *pruneState) begin(now time.Time) {
	ps.start = now
	ps.seen = make(map[agent.FileID]time.Time)
}

// pruneEvery is how often the checkpoints are checked: a fraction of
// PruneAfter, at most a minute.
func (p *Pipeline) pruneEvery() time.Duration {
	return min(p.opts.PruneAfter/4, time.Minute)
}

// maybePrune checks the checkpoints if it is time to, and reports whether
// any was forgotten.
func (p *Pipeline) maybePrune() bool {
	if p.opts.PruneAfter < 0 {
		return false
	}
	now := p.opts.Now()
	if !p.prune.last.IsZero() && now.Sub(p.prune.last) < p.pruneEvery() {
		return false
	}
	p.prune.last = now
	return p.pruneCheckpoints(now) > 0
}

// followed is what the tailers follow now.
type followed struct {
	ids   map[agent.FileID]bool
	paths map[string]bool
	// sources waiting to (re)start: their checkpoints are about to be used.
	pending map[string]bool
}

func (f *followed) has(e *positions.Entry) bool {
	return f.ids[e.File] || f.paths[e.Path] || f.pending[e.Source]
}

// following returns what the tailers follow now, and false when a tailer
// has not finished its first scan yet (what it will follow is unknown).
func (p *Pipeline) following() (*followed, bool) {
	f := &followed{
		ids:     make(map[agent.FileID]bool),
		paths:   make(map[string]bool),
		pending: make(map[string]bool),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sl := range p.slots {
		if sl.want != nil && !sl.want.started {
			f.pending[sl.name] = true
		}
		for _, in := range sl.live() {
			if in.tailer.Stats().Scans == 0 {
				return nil, false
			}
			for _, fs := range in.tailer.Files() {
				if fs.Identified {
					f.ids[fs.ID] = true
					continue
				}
				f.paths[fs.Path] = true
			}
		}
	}
	return f, true
}

// pruneCheckpoints forgets the checkpoints of files not followed for
// PruneAfter and returns how many it forgot.
func (p *Pipeline) pruneCheckpoints(now time.Time) int {
	f, ok := p.following()
	if !ok {
		return 0
	}
	entries := p.opts.Checkpoints.Entries()
	live := make(map[agent.FileID]bool, len(entries))
	n := 0
	for i := range entries {
		e := &entries[i]
		live[e.File] = true
		if f.has(e) {
			p.prune.seen[e.File] = now
			continue
		}
		last, ok := p.prune.seen[e.File]
		if !ok {
			last = p.prune.start
			if e.Updated.After(last) {
				last = e.Updated
			}
			p.prune.seen[e.File] = last
		}
		if now.Sub(last) >= p.opts.PruneAfter {
			p.opts.Checkpoints.Forget(e.File)
			delete(p.prune.seen, e.File)
			n++
			p.logger.Debug("checkpoint forgotten: file not followed for a while",
				"source", e.Source, "path", e.Path, "file", e.File.String(), "offset", e.Offset, "unseen_for", now.Sub(last))
		}
	}
	for id := range p.prune.seen {
		if !live[id] {
			delete(p.prune.seen, id)
		}
	}
	if n > 0 {
		p.counters.pruned.Add(int64(n))
		p.logger.Info("forgot the checkpoints of files not followed for a while", "count", n, "after", p.opts.PruneAfter)
	}
	return n
}
