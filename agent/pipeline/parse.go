package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/plugins"
)

// parseStage turns one source's records into batches of entries.
type parseStage struct {
	src    Source
	opts   *Options
	logger *slog.Logger
	out    chan<- []agent.Entry
	ids    *atomic.Uint64

	pending []agent.Record
	// pendingBytes is the record data in pending.
	pendingBytes int
	req          plugins.ParseRequest
	parsed       []plugins.Entry
}

func (p *parseStage) run(ctx context.Context, in <-chan []agent.Record) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// Unsent records were never acknowledged: the next start reads
			// them again from the checkpoint.
			return
		case chunk, ok := <-in:
			if !ok {
				p.flush(ctx)
				return
			}
			if len(p.pending) == 0 {
				timer.Reset(p.opts.BatchMaxWait)
			}
			p.pending = append(p.pending, chunk...)
			for i := range chunk {
				p.pendingBytes += len(chunk[i].Data)
			}
			if len(p.pending) >= p.opts.BatchMaxEntries || p.tooBig(p.pendingBytes) {
				timer.Stop()
				p.flush(ctx)
			}
		case <-timer.C:
			p.flush(ctx)
		}
	}
}

// tooBig reports whether size bytes of records exceed a batch (Run sets
// BatchMaxBytes; zero means no byte limit).
func (p *parseStage) tooBig(size int) bool {
	return p.opts.BatchMaxBytes > 0 && size > p.opts.BatchMaxBytes
}

// flush parses the pending records in batches of at most BatchMaxEntries
// and BatchMaxBytes (a larger record goes alone)
// and hands them to the shipper.
func (p *parseStage) flush(ctx context.Context) {
	for len(p.pending) > 0 {
		n, size := 0, 0
		for n < len(p.pending) && n < p.opts.BatchMaxEntries {
			size += len(p.pending[n].Data)
			if n > 0 && p.tooBig(size) {
				break
			}
			n++
		}
		batch := p.parse(ctx, p.pending[:n])
		select {
		case p.out <- batch:
		case <-ctx.Done():
			return
		}
		p.pending = p.pending[n:]
	}
	p.pending = nil
	p.pendingBytes = 0
}

// parse parses records into entries. A parser that fails or breaks its
// contract does not lose the records: they are shipped raw, flagged.
func (p *parseStage) parse(ctx context.Context, records []agent.Record) []agent.Entry {
	p.req.Records = p.req.Records[:0]
	for i := range records {
		r := &records[i]
		p.req.Records = append(p.req.Records, plugins.Record{Data: r.Data, File: r.Path, Offset: r.Offset})
	}
	p.req.Location = p.src.Location
	parsed, err := p.src.Parser.Parse(ctx, &p.req, p.parsed[:0])
	if err == nil && len(parsed) != len(records) {
		err = fmt.Errorf("parser returned %d entries for %d records", len(parsed), len(records))
	}
	if err != nil {
		p.logger.Error("parse batch failed, shipping records raw", "records", len(records), "error", err)
		parsed = parsed[:0]
		for i := range records {
			parsed = append(parsed, rawEntry(records[i].Data))
		}
	}
	p.parsed = parsed[:0]
	out := make([]agent.Entry, len(records))
	for i := range records {
		r := &records[i]
		out[i] = agent.Entry{Source: p.src.Name, File: r.File, Path: r.Path, Offset: r.Offset, End: r.End, Parsed: parsed[i]}
		if r.Truncated {
			out[i].Parsed.Truncated = true
		}
		if p.opts.Redactor != nil {
			p.opts.Redactor.Entry(&out[i].Parsed)
		}
	}
	return out
}

// rawEntry is a record the parser could not handle, kept as read.
func rawEntry(data []byte) plugins.Entry {
	msg := string(data)
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	return plugins.Entry{Message: msg, ParseError: true}
}
