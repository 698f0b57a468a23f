// Package regex is the built-in parser "regex": a regular expression with
// named groups reads any line-oriented log.
//
//	parser        = "regex"
//	parser_config = {
//	  pattern       = "^(?P<time>\\S+ \\S+) (?P<level>[A-Z]+) +\\[(?P<logger>[^\\]]+)\\] (?P<msg>.*)$"
//	  start_pattern = "^\\d{4}-\\d{2}-\\d{2} "   # optional: multi-line records
//	  fields        = { hook_id = "delivery" }    # optional: group names per entry field
//	  time_format   = "2006-01-02 15:04:05,000"   # optional
//	}
//
// Settings:
//   - pattern (required): RE2 syntax (Go's regexp). Each named group,
//     (?P<name>…) or (?<name>…), is a field. It is searched for, not
//     anchored: write ^ and $ to match whole lines.
//   - start_pattern (optional): the RE2 pattern of the line that starts a
//     record; it becomes Describe's StartPattern, and the agent frames the
//     records with it: every line it does not match continues the record
//     before it (a traceback, a wrapped message). Without it, every line is
//     a record. The agent matches it against lines as written, ANSI escape
//     sequences included.
//   - fields, time_format: see package fieldmap. Groups are mapped by name:
//     a group called like an entry field or one of its default keys
//     (msg, time, ts, level, hook_id …) needs no configuration.
//
// Multi-line records: pattern is matched against the record's first line
// only, with ANSI escape sequences removed. The continuation lines are
// appended to the message, after a newline, without the blank lines that
// end the record; without a message group the message is the whole record.
// So a traceback stays with the line that logged it.
//
// Values: groups that took part in the match give their text (an empty
// match is the empty string); a group that did not take part (an
// alternative not taken, an optional group) is absent. Of groups sharing a
// name the last one that took part wins. Named groups no field took go to
// Details as a JSON object of strings, in pattern order; unnamed groups
// are ignored. Levels are kept as written, upper-cased ("warn" → "WARN").
// pr_number and token_spend must be integers; another value stays in
// Details.
//
// A record is a parse error (ParseError set, Message = the record as read,
// made valid UTF-8) when its first line does not match, when it holds
// invalid UTF-8 or a NUL byte, or when its timestamp cannot be read with
// time_format.
//
// The parser is safe for concurrent use once configured. Regular
// expressions cost about a microsecond a record; prefer the json or logfmt
// parser when the log is in one of those formats.
package regex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

// Name is the parser's name in configurations and in Describe.
const Name = "regex"

// Settings of parser_config besides fields and time_format.
const (
	KeyPattern      = "pattern"
	KeyStartPattern = "start_pattern"
)

// ErrNotConfigured is returned by Parse before a configuration with a
// pattern was applied.
var ErrNotConfigured = errors.New("regex parser has no pattern: configure parser_config.pattern")

// Parser parses records with a regular expression. The zero value is not
// usable; call New, then Configure.
type Parser struct {
	cfg     atomic.Pointer[config]
	scratch fieldmap.Pool[scratch]
}

var _ plugins.Parser = (*Parser)(nil)

// New returns a Parser without a pattern: Parse fails until Configure
// applies one.
func New() *Parser { return &Parser{} }

// Describe names the parser and gives the configured start_pattern (empty
// before Configure, or without one: every line is a record).
func (p *Parser) Describe(context.Context) (plugins.Description, error) {
	d := plugins.Description{Name: Name}
	if c := p.cfg.Load(); c != nil {
		d.StartPattern = c.startPattern
	}
	return d, nil
}

// ValidateConfig checks a configuration.
func (p *Parser) ValidateConfig(_ context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	_, diags := compile(config)
	return diags, nil
}

// Configure applies a configuration. With errors it returns them and
// keeps the previous configuration.
func (p *Parser) Configure(_ context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	c, diags := compile(config)
	if !diags.HasErrors() {
		p.cfg.Store(c)
	}
	return diags, nil
}

// Parse appends one entry per record of req to dst. It returns an error
// when ctx is done or when no pattern is configured, and then appends
// nothing.
func (p *Parser) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	if req == nil || len(req.Records) == 0 {
		return dst, nil
	}
	c := p.cfg.Load()
	if c == nil {
		return dst, ErrNotConfigured
	}
	s := p.scratch.Get()
	defer p.putScratch(s)
	return s.batch.Parse(ctx, req, dst, func(data []byte, loc *time.Location) { s.parse(c, data, loc) })
}

// putScratch returns s to the pool without the buffers that grew too
// large to keep (fieldmap.MaxKept).
func (p *Parser) putScratch(s *scratch) {
	s.batch.Reset()
	s.strip = fieldmap.Kept(s.strip, fieldmap.MaxKept)
	if s.in = fieldmap.Kept(s.in, fieldmap.MaxKept/64); s.in == nil {
		s.used, s.dup = nil, nil // sized with in
	}
	p.scratch.Put(s)
}

// scratch holds what one Parse call reuses from record to record.
type scratch struct {
	batch fieldmap.Batch
	pick  fieldmap.Picker
	strip []byte // the record without escape sequences
	// in lists the named groups that took part, as indexes of
	// config.groups; used and dup are per entry of in.
	in   []int
	used []bool
	dup  []bool
}

func (s *scratch) parse(c *config, data []byte, loc *time.Location) {
	b := &s.batch
	b.Begin()
	if !plugins.IsClean(data) {
		b.Fail(data)
		return
	}
	var rec []byte
	rec, s.strip = fieldmap.StripANSI(s.strip, data)
	first, rest := rec, []byte(nil)
	if i := bytes.IndexByte(rec, '\n'); i >= 0 {
		first, rest = rec[:i], bytes.TrimRight(rec[i+1:], " \t\r\n")
		if len(rest) == 0 {
			rest = nil
		}
	}
	m := c.re.FindSubmatchIndex(first)
	if m == nil {
		b.Fail(data)
		return
	}
	s.in = s.in[:0]
	s.pick.Reset()
	for gi := range c.groups {
		g := &c.groups[gi]
		if m[2*g.index] >= 0 {
			s.pick.Offer(len(s.in), g.slots)
			s.in = append(s.in, gi)
		}
	}
	value := func(k int) []byte {
		g := &c.groups[s.in[k]]
		return first[m[2*g.index]:m[2*g.index+1]]
	}
	if k, ok := s.pick.Chosen(fieldmap.Timestamp); ok {
		if !b.Timestamp(value(k), c.Time, loc) {
			b.Fail(data)
			return
		}
	}
	for f := fieldmap.Level; f < fieldmap.NumFields; f++ {
		k, ok := s.pick.Chosen(f)
		if !ok || f == fieldmap.Message {
			continue
		}
		switch f {
		case fieldmap.Level:
			b.Level(value(k))
		case fieldmap.PRNumber, fieldmap.TokenSpend:
			if n, ok := fieldmap.ParseInt(value(k)); !ok || !b.Int(f, n) {
				s.pick.Drop(f)
			}
		default:
			b.String(f, value(k))
		}
	}
	if k, ok := s.pick.Chosen(fieldmap.Message); ok {
		start := len(b.Text)
		b.Text = append(b.Text, value(k)...)
		if rest != nil {
			b.Text = append(b.Text, '\n')
			b.Text = append(b.Text, rest...)
		}
		b.End(fieldmap.Message, start)
	} else {
		b.String(fieldmap.Message, rec)
	}

	n := len(s.in)
	s.used = slices.Grow(s.used[:0], n)[:n]
	clear(s.used)
	s.pick.MarkUsed(s.used)
	s.dup = slices.Grow(s.dup[:0], n)[:n]
	fieldmap.MarkSuperseded(n, func(k int) []byte { return c.groups[s.in[k]].name }, s.dup)
	for k := range n {
		if s.used[k] || s.dup[k] {
			continue
		}
		b.DetailKey(c.groups[s.in[k]].name)
		b.DetailString(value(k))
	}
}
