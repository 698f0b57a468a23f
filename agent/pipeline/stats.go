package pipeline

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/agent/tail"
)

// Stats are the pipeline's counters, cumulative since New.
type Stats struct {
	// Batches counts batches acknowledged by the aggregator.
	Batches int64
	// BatchesInFlight is the number of batches being pushed now.
	BatchesInFlight int64
	// LastAck is when a batch was last acknowledged; zero before the first.
	LastAck time.Time
	// CheckpointsPruned counts checkpoints forgotten because their file was
	// not followed for PruneAfter.
	CheckpointsPruned int64
	// Running reports whether Run runs (started and not stopped).
	Running bool
	// Sources holds every source ever given, ordered by name; a removed one
	// stays with its counters.
	Sources []SourceStats
}

// SourceStats are the counters of one source name, summed over every
// configuration it has had.
type SourceStats struct {
	Name string
	// Running reports whether the source is tailing now.
	Running bool
	// Draining is the number of stopped runs of the source (removed or
	// changed) whose records are not all acknowledged yet.
	Draining int
	// Entries counts entries acknowledged by the aggregator; Duplicates
	// those of them it already had.
	Entries, Duplicates int64
	// ParseErrors counts acknowledged entries flagged parse_error, and
	// Truncated those cut at max_record_bytes.
	ParseErrors, Truncated int64
	// ParseFailures counts batches the parser failed on as a whole (their
	// records went out raw).
	ParseFailures int64
	// SentRaw counts entries sent again raw after the aggregator rejected
	// them; Dropped those left out because it rejected them even raw.
	SentRaw, Dropped int64
	// Tail sums the tailers' counters; FilesOpen is the files followed now.
	Tail tail.Stats
}

type counters struct {
	batches, inFlight, pruned atomic.Int64
	// lastAck is a Unix time in nanoseconds; 0 before the first ack.
	lastAck atomic.Int64
}

type sourceCounters struct {
	entries, duplicates, parseErrors, truncated, parseFailures, sentRaw, dropped atomic.Int64
}

// Stats returns the pipeline's counters. It takes a lock only to list the
// sources; everything else is atomic loads.
func (p *Pipeline) Stats() Stats {
	s := Stats{
		Batches:           p.counters.batches.Load(),
		BatchesInFlight:   p.counters.inFlight.Load(),
		CheckpointsPruned: p.counters.pruned.Load(),
	}
	if ns := p.counters.lastAck.Load(); ns != 0 {
		s.LastAck = time.Unix(0, ns)
	}
	p.mu.Lock()
	s.Running = p.started && !p.stopped
	for _, sl := range p.slots {
		c := sl.stats
		ss := SourceStats{
			Name:          sl.name,
			Running:       sl.current != nil,
			Draining:      len(sl.draining),
			Entries:       c.entries.Load(),
			Duplicates:    c.duplicates.Load(),
			ParseErrors:   c.parseErrors.Load(),
			Truncated:     c.truncated.Load(),
			ParseFailures: c.parseFailures.Load(),
			SentRaw:       c.sentRaw.Load(),
			Dropped:       c.dropped.Load(),
			Tail:          sl.retired,
		}
		for _, in := range sl.live() {
			ts := in.tailer.Stats()
			ss.Tail = addTail(ss.Tail, ts)
			ss.Tail.FilesOpen += ts.FilesOpen
		}
		s.Sources = append(s.Sources, ss)
	}
	p.mu.Unlock()
	slices.SortFunc(s.Sources, func(a, b SourceStats) int { return cmp.Compare(a.Name, b.Name) })
	return s
}

// live returns the instances of sl that have a tailer that ran: the
// current one and the draining ones.
func (sl *slot) live() []*instance {
	out := make([]*instance, 0, 1+len(sl.draining))
	if sl.current != nil {
		out = append(out, sl.current)
	}
	return append(out, sl.draining...)
}

// FileStatus is one file followed by a source's tailer.
type FileStatus struct {
	Source string
	tail.FileState
	// Acked is the offset up to which the aggregator has acknowledged the
	// file: its checkpoint, or StartOffset when it has none.
	Acked int64
}

// Files returns the files followed now by every source (draining ones
// included), ordered by source then path.
func (p *Pipeline) Files() []FileStatus {
	p.mu.Lock()
	var out []FileStatus
	for _, sl := range p.slots {
		for _, in := range sl.live() {
			for _, f := range in.tailer.Files() {
				out = append(out, FileStatus{Source: sl.name, FileState: f})
			}
		}
	}
	p.mu.Unlock()
	for i := range out {
		f := &out[i]
		f.Acked = f.StartOffset
		if f.Identified {
			if off, ok := p.opts.Checkpoints.Get(f.ID); ok {
				f.Acked = off
			}
		}
	}
	slices.SortFunc(out, func(a, b FileStatus) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Path, b.Path))
	})
	return out
}
