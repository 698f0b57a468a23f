// Package logfmt is the built-in parser "logfmt": one record per line of
// key=value pairs, as written by go-kit/log, logrus's text formatter,
// slog.TextHandler, Heroku and many others:
//
//	ts=2026-07-31T10:15:02.101Z level=info msg="processing webhook" hook_id=6143a030 pr_number=890 dry_run
//
// Grammar (hand-scanned, no regular expressions):
//   - pairs are separated by white space (any byte up to ' ');
//   - a key is a run of bytes other than white space, '=' and '"';
//   - key=value: the value runs to the next white space ('=' and '"' are
//     allowed inside it, as in url=http://x/?a=b);
//   - key="quoted value": JSON's escapes (\" \\ \n \t \uXXXX …) are
//     decoded, any other escape is kept as written; white space or the end
//     of the line must follow the closing quote;
//   - key= is the empty string; a bare key (no '=') is a flag, true in
//     Details.
//
// Duplicate keys: the last one wins, in the mapping and in Details, as
// when the pairs are read into a map.
//
// A record is a parse error (ParseError set, Message = the record as read,
// made valid UTF-8) when it has an unterminated quote, a '"' in a key, a
// '=' with no key, text glued to a closing quote, no key=value pair at all
// (a line of plain text or a blank line), invalid UTF-8 or a NUL byte, or
// a timestamp that time_format cannot read.
//
// ANSI escape sequences are removed before the line is scanned. Keys the
// mapping (parser_config `fields`, see package fieldmap) does not consume
// go to Details as a JSON object of strings (flags: true). Without a
// message key the message is the whole line. Levels are kept as written,
// upper-cased ("info" → "INFO"). A number field (pr_number, token_spend)
// whose value is not a valid number stays in Details.
//
// Every line is a record (Describe's StartPattern is empty): logfmt
// escapes newlines inside values, and a line that is not logfmt, such as a
// stack trace, is kept as its own parse-error entry.
//
// The parser is safe for concurrent use once configured.
package logfmt

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

// Name is the parser's name in configurations and in Describe.
const Name = "logfmt"

// Parser parses logfmt lines. The zero value is not usable; call New.
type Parser struct {
	cfg     atomic.Pointer[fieldmap.Common]
	scratch fieldmap.Pool[scratch]
}

var _ plugins.Parser = (*Parser)(nil)

// New returns a Parser with the default configuration.
func New() *Parser {
	p := &Parser{}
	c, _ := compile(nil)
	p.cfg.Store(c)
	return p
}

// Describe names the parser; every line is a record.
func (p *Parser) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: Name}, nil
}

// ValidateConfig checks a configuration: the keys fields and time_format.
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

func compile(config json.RawMessage) (*fieldmap.Common, plugins.Diagnostics) {
	c, _, diags := fieldmap.Decode(Name, config)
	return &c, diags
}

// Parse appends one entry per record of req to dst. It returns an error
// only when ctx is done, and then appends nothing.
func (p *Parser) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	if req == nil || len(req.Records) == 0 {
		return dst, nil
	}
	c := p.cfg.Load()
	s := p.scratch.Get()
	defer p.putScratch(s)
	return s.batch.Parse(ctx, req, dst, func(data []byte, loc *time.Location) { s.parse(c, data, loc) })
}

// putScratch returns s to the pool without the buffers that grew too
// large to keep (fieldmap.MaxKept).
func (p *Parser) putScratch(s *scratch) {
	s.batch.Reset()
	s.strip = fieldmap.Kept(s.strip, fieldmap.MaxKept)
	s.val = fieldmap.Kept(s.val, fieldmap.MaxKept)
	s.valS = fieldmap.Kept(s.valS, fieldmap.MaxKept)
	if s.pairs = fieldmap.Kept(s.pairs, fieldmap.MaxKept/64); s.pairs == nil {
		s.used, s.dup = nil, nil // sized with pairs
	}
	p.scratch.Put(s)
}

// scratch holds what one Parse call reuses from record to record.
type scratch struct {
	batch fieldmap.Batch
	pairs []pair
	used  []bool // pairs a field took
	dup   []bool // pairs a later one with the same key replaces
	pick  fieldmap.Picker
	strip []byte // the line without escape sequences
	val   []byte // an unescaped value
	valS  []byte // an unescaped value without escape sequences
}

func (s *scratch) parse(c *fieldmap.Common, data []byte, loc *time.Location) {
	b := &s.batch
	b.Begin()
	if !plugins.IsClean(data) {
		b.Fail(data)
		return
	}
	var line []byte
	line, s.strip = fieldmap.StripANSI(s.strip, data)
	pairs, ok := scan(line, s.pairs[:0])
	s.pairs = pairs
	if !ok {
		b.Fail(data)
		return
	}

	s.pick.Reset()
	for i := range pairs {
		if pairs[i].kind != bare {
			s.pick.Offer(i, c.Mapping.Lookup(pairs[i].key(line)))
		}
	}
	if i, ok := s.pick.Chosen(fieldmap.Timestamp); ok {
		if !b.Timestamp(s.value(line, &pairs[i]), c.Time, loc) {
			b.Fail(data)
			return
		}
	}
	for f := fieldmap.Level; f < fieldmap.NumFields; f++ {
		i, ok := s.pick.Chosen(f)
		if !ok {
			continue
		}
		v := s.value(line, &pairs[i])
		switch f {
		case fieldmap.Level:
			b.Level(v)
		case fieldmap.PRNumber, fieldmap.TokenSpend:
			if n, ok := fieldmap.ParseInt(v); !ok || !b.Int(f, n) {
				s.pick.Drop(f)
			}
		default:
			b.String(f, v)
		}
	}
	if !b.Has(fieldmap.Message) {
		b.String(fieldmap.Message, line)
	}

	s.used = slices.Grow(s.used[:0], len(pairs))[:len(pairs)]
	clear(s.used)
	s.pick.MarkUsed(s.used)
	s.dup = slices.Grow(s.dup[:0], len(pairs))[:len(pairs)]
	fieldmap.MarkSuperseded(len(pairs), func(i int) []byte { return pairs[i].key(line) }, s.dup)
	for i := range pairs {
		if s.used[i] || s.dup[i] {
			continue
		}
		pr := &pairs[i]
		b.DetailKey(pr.key(line))
		if pr.kind == bare {
			b.DetailRaw([]byte("true"))
		} else {
			b.DetailString(s.value(line, pr))
		}
	}
}

// value returns the value of pr, unescaped; it is valid until the next
// call.
func (s *scratch) value(line []byte, pr *pair) []byte {
	v := line[pr.valStart:pr.valEnd]
	if pr.kind != quotedEscaped {
		return v
	}
	s.val = fieldmap.AppendUnescaped(s.val[:0], v)
	if slices.Contains(s.val, 0x1b) {
		// \u001b escapes: strip what they spell as well.
		var out []byte
		out, s.valS = fieldmap.StripANSI(s.valS, s.val)
		return out
	}
	return s.val
}
