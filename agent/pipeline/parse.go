package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/plugins"
)

// parseStage turns one source's records into batches of entries.
type parseStage struct {
	opts   *Options
	parser *Parser
	out    chan<- batch
	// stats are the source's counters; redactor, if set, gives the
	// Redactor of the next batch (it may change with a reload).
	stats    *sourceCounters
	redactor func() Redactor

	pending []agent.Record
	// pendingBytes is the record data in pending.
	pendingBytes int
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
		if p.redactor != nil {
			p.parser.Redactor = p.redactor()
		}
		failures := p.parser.Failures
		entries, err := p.parser.Parse(ctx, p.pending[:n])
		if err != nil {
			return // shutting down: the records are read again after a restart
		}
		if d := p.parser.Failures - failures; d > 0 && p.stats != nil {
			p.stats.parseFailures.Add(int64(d))
		}
		select {
		case p.out <- batch{entries: entries, stats: p.stats}:
		case <-ctx.Done():
			return
		}
		p.pending = p.pending[n:]
	}
	p.pending = nil
	p.pendingBytes = 0
}

// Parser turns one source's records into the entries the pipeline ships:
// parsed, cut records marked, secrets masked. It keeps scratch buffers, so
// one Parser serves one goroutine.
type Parser struct {
	Source   string
	Parser   plugins.Parser
	Location *time.Location
	Redactor Redactor
	Logger   *slog.Logger
	// Failures counts the calls whose parser failed or broke its contract:
	// their records went out raw.
	Failures int

	req    plugins.ParseRequest
	parsed []plugins.Entry
}

// Parse parses records into entries, one per record, in order. A parser
// that fails or breaks its contract does not lose the records: they come
// back raw, flagged parse_error. The error is ctx's, when it is done: the
// records were not parsed and must not be shipped (a record stored raw by
// mistake would shadow its correct parse for good, by identity).
func (p *Parser) Parse(ctx context.Context, records []agent.Record) ([]agent.Entry, error) {
	p.req.Records = p.req.Records[:0]
	for i := range records {
		r := &records[i]
		p.req.Records = append(p.req.Records, plugins.Record{Data: r.Data, File: r.Path, Offset: r.Offset})
	}
	p.req.Location = p.Location
	parsed, err := p.Parser.Parse(ctx, &p.req, p.parsed[:0])
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err == nil && len(parsed) != len(records) {
		err = fmt.Errorf("parser returned %d entries for %d records", len(parsed), len(records))
	}
	if err != nil {
		p.Failures++
		if p.Logger != nil {
			p.Logger.Error("parse batch failed, shipping records raw", "records", len(records), "error", err)
		}
		parsed = parsed[:0]
		for i := range records {
			parsed = append(parsed, rawEntry(records[i].Data))
		}
	}
	p.parsed = parsed[:0]
	out := make([]agent.Entry, len(records))
	for i := range records {
		r := &records[i]
		out[i] = agent.Entry{Source: p.Source, File: r.File, Path: r.Path, Offset: r.Offset, End: r.End, Parsed: parsed[i]}
		if r.Truncated {
			markTruncated(&out[i].Parsed, len(r.Data), r.End-r.Offset)
		}
		if p.Redactor != nil {
			p.Redactor.Entry(&out[i].Parsed)
		}
	}
	return out, nil
}

// markTruncated flags a cut record and says so at the end of its message.
func markTruncated(e *plugins.Entry, kept int, size int64) {
	e.Truncated = true
	e.Message += fmt.Sprintf("\n[hooktail: record truncated, %d of %d bytes kept]", kept, size)
}

// rawEntry is a record the parser could not handle, kept as read.
func rawEntry(data []byte) plugins.Entry {
	msg := string(data)
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	return plugins.Entry{Message: msg, ParseError: true}
}
