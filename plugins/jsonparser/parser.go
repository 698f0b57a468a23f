// Package jsonparser is the built-in parser "json": one JSON object per
// record, as written by zap, zerolog, logrus, slog.JSONHandler, bunyan,
// pino, python-json-logger, Logstash and the webhook server's log_entry
// lines:
//
//	{"time":"2026-07-31T10:15:02.101Z","level":"info","msg":"processing webhook","hook_id":"6143a030","pr_number":890}
//
// Records: a line that starts with '{' starts a record (Describe's
// StartPattern `^\{`, and IsRecordStart), and the lines after it up to the
// next such line belong to it. So JSON lines are one record each, and a
// pretty-printed object (indented members, its closing '}' alone on a
// line) is one record too. A record is the object, optionally followed by
// text from the next line on: lines that are not JSON, such as a traceback
// the program printed to the same file. That text is appended to the
// message after a newline (white space alone is ignored), so it is kept
// with its record rather than lost or split into parse errors. Lines
// before the first '{' of a file form a record of their own, which does
// not parse.
//
// Fields are mapped with parser_config `fields` (see package fieldmap for
// the defaults: time, timestamp, ts, @timestamp; level, lvl, severity …;
// msg, message …; and each entry field's own name). A key may be a dotted
// path into nested objects, "fields.hook_id"; a top-level key spelt with
// the dot is preferred when both exist. Of duplicate keys the last wins.
// A null value counts as absent, and the next key of the field's list is
// tried. Values become strings as follows: a string unescaped (a \u0000
// and a lone surrogate become U+FFFD, ANSI escapes are removed), a number,
// true or false as written, an object or array as compact JSON. The
// timestamp is TimestampRaw as written (a string's contents, a number's
// digits) and read with time_format; a JSON number suits "auto" and the
// unix formats. pr_number and token_spend take an integer or a string of
// digits; another value stays in Details. Levels are kept as written,
// upper-cased ("info" → "INFO", 30 → "30"). Without a message key the
// message is the whole record.
//
// Details is a JSON object of the members no field took, in record order,
// with their JSON types and values as written (escapes included), white
// space removed. An object some of whose members a dotted path took keeps
// its other members; if none is left, it is left out.
//
// A record is a parse error (ParseError set, Message = the record as read,
// made valid UTF-8) when it is not one JSON object (invalid JSON, an array
// or a scalar, text after the object on its closing line, nesting deeper
// than 10000), holds invalid UTF-8 or a NUL byte, or has a timestamp
// time_format cannot read or that is not a string or a number. ANSI escape
// sequences around the JSON are removed before it is scanned.
//
// The parser is safe for concurrent use once configured.
package jsonparser

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

// Name is the parser's name in configurations and in Describe.
const Name = "json"

// StartPattern is the RE2 pattern of a record's first line, the twin of
// IsRecordStart.
const StartPattern = `^\{`

// Parser parses JSON records. The zero value is not usable; call New.
type Parser struct {
	cfg     atomic.Pointer[config]
	scratch fieldmap.Pool[scratch]
}

var (
	_ plugins.Parser        = (*Parser)(nil)
	_ plugins.RecordStarter = (*Parser)(nil)
)

// config is a compiled configuration.
type config struct {
	fieldmap.Common
	// root is the mapping as a tree of key paths.
	root *node
}

// node is a key path of the mapping: the fields its value gives and the
// paths that go on into its object. A field's i-th key gives rank 2i at
// its literal top-level node and 2i+1 at the end of its dotted path, so a
// literal "a.b" key beats the path a → b.
type node struct {
	slots    []fieldmap.Slot
	children *fieldmap.Table[*node]
}

// New returns a Parser with the default configuration.
func New() *Parser {
	p := &Parser{}
	c, _ := compile(nil)
	p.cfg.Store(c)
	return p
}

// Describe names the parser and gives its record start pattern.
func (p *Parser) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{Name: Name, StartPattern: StartPattern}, nil
}

// IsRecordStart reports whether line starts a record: whether it starts
// with '{'. It matches exactly the lines StartPattern matches.
func (p *Parser) IsRecordStart(line []byte) bool { return len(line) > 0 && line[0] == '{' }

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

func compile(raw json.RawMessage) (*config, plugins.Diagnostics) {
	common, _, diags := fieldmap.Decode(Name, raw)
	c := &config{Common: common}
	c.root = buildTree(common.Mapping)
	return c, diags
}

// buildTree turns the mapping's keys into a tree of paths.
func buildTree(m *fieldmap.Mapping) *node {
	type draft struct {
		slots    []fieldmap.Slot
		children map[string]*draft
	}
	root := &draft{}
	at := func(d *draft, k string) *draft {
		if d.children == nil {
			d.children = make(map[string]*draft)
		}
		c := d.children[k]
		if c == nil {
			c = &draft{}
			d.children[k] = c
		}
		return c
	}
	for f := range fieldmap.NumFields {
		for rank, k := range m.Keys(f) {
			d := at(root, k)
			d.slots = append(d.slots, fieldmap.Slot{Field: f, Rank: 2 * rank})
			segs := strings.Split(k, ".")
			if len(segs) < 2 || slices.Contains(segs, "") {
				continue // a plain key, or a path with an empty segment: literal only
			}
			d = root
			for _, s := range segs {
				d = at(d, s)
			}
			d.slots = append(d.slots, fieldmap.Slot{Field: f, Rank: 2*rank + 1})
		}
	}
	var freeze func(d *draft) *node
	freeze = func(d *draft) *node {
		n := &node{slots: d.slots}
		if d.children != nil {
			m := make(map[string]*node, len(d.children))
			for k, c := range d.children {
				m[k] = freeze(c)
			}
			n.children = fieldmap.NewTable(m)
		}
		return n
	}
	return freeze(root)
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
	s.scan.keys = fieldmap.Kept(s.scan.keys, fieldmap.MaxKept)
	s.scan.members = fieldmap.Kept(s.scan.members, fieldmap.MaxKept/64)
	s.scan.rec = nil
	p.scratch.Put(s)
}

// scratch holds what one Parse call reuses from record to record.
type scratch struct {
	batch fieldmap.Batch
	scan  scanner
	pick  fieldmap.Picker
	strip []byte // the record without escape sequences
	val   []byte // an unescaped value
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
	sc := &s.scan
	end, ok := sc.scanRecord(rec, c.root)
	if !ok {
		b.Fail(data)
		return
	}
	rest, ok := trailing(rec[end:])
	if !ok {
		b.Fail(data)
		return
	}

	s.resolve()
	ms := sc.members
	if i, ok := s.pick.Chosen(fieldmap.Timestamp); ok {
		m := &ms[i]
		if m.kind != '"' && !isNumber(m.kind) || !b.Timestamp(s.text(m), c.Time, loc) {
			b.Fail(data)
			return
		}
	}
	for f := fieldmap.Level; f < fieldmap.NumFields; f++ {
		i, ok := s.pick.Chosen(f)
		if !ok || f == fieldmap.Message {
			continue
		}
		m := &ms[i]
		switch f {
		case fieldmap.PRNumber, fieldmap.TokenSpend:
			if m.kind != '"' && !isNumber(m.kind) {
				s.pick.Drop(f)
				continue
			}
			if n, ok := fieldmap.ParseInt(s.text(m)); !ok || !b.Int(f, n) {
				s.pick.Drop(f)
			}
		case fieldmap.Level:
			start := len(b.Text)
			b.Text = s.appendText(b.Text, m)
			b.UpperEnd(start)
		default:
			start := len(b.Text)
			b.Text = s.appendText(b.Text, m)
			b.StripEnd(f, start)
		}
	}
	start := len(b.Text)
	if i, ok := s.pick.Chosen(fieldmap.Message); ok {
		b.Text = s.appendText(b.Text, &ms[i])
		if rest != nil {
			b.Text = append(b.Text, '\n')
			b.Text = append(b.Text, rest...)
		}
		b.StripEnd(fieldmap.Message, start)
	} else {
		b.String(fieldmap.Message, rec)
	}
	s.details()
}

// trailing checks what follows the object: nothing but white space on its
// closing line, then any text. It returns that text, nil when it is only
// white space.
func trailing(after []byte) ([]byte, bool) {
	i := 0
	for i < len(after) && (after[i] == ' ' || after[i] == '\t' || after[i] == '\r') {
		i++
	}
	if i == len(after) {
		return nil, true
	}
	if after[i] != '\n' {
		return nil, false
	}
	rest := after[i+1:]
	for _, c := range rest {
		if !isSpace(c) {
			return rest, true
		}
	}
	return nil, true
}

func isNumber(kind byte) bool { return kind == '-' || '0' <= kind && kind <= '9' }

// resolve picks the member of each field, after marking the members that
// a later duplicate supersedes.
func (s *scratch) resolve() {
	sc := &s.scan
	ms := sc.members
	s.pick.Reset()
	s.markSuperseded(0)
	for i := range ms {
		m := &ms[i]
		if m.superseded || m.node == nil || m.kind == 'n' || m.parent >= 0 && ms[m.parent].superseded {
			// A member of a superseded object is superseded too; parents
			// come before their members, so the mark spreads down.
			m.superseded = m.superseded || m.parent >= 0 && ms[m.parent].superseded
			continue
		}
		s.pick.Offer(i, m.node.slots)
	}
}

// markSuperseded marks the duplicate keys among the members of each
// recorded object, starting with the object whose first member is
// ms[first].
func (s *scratch) markSuperseded(first int) {
	sc := &s.scan
	ms := sc.members
	if len(ms) == 0 {
		return
	}
	var idx [64]int
	siblings := idx[:0]
	for i := first; i >= 0; i = ms[i].next {
		siblings = append(siblings, i)
	}
	var flags [64]bool
	var dup []bool
	if len(siblings) > len(flags) {
		dup = make([]bool, len(siblings))
	} else {
		dup = flags[:len(siblings)]
	}
	fieldmap.MarkSuperseded(len(siblings), func(k int) []byte { return sc.key(&ms[siblings[k]]) }, dup)
	for k, i := range siblings {
		ms[i].superseded = dup[k]
		if ms[i].descended && ms[i].firstChild >= 0 {
			s.markSuperseded(ms[i].firstChild)
		}
	}
}

// text returns m's value as text: a string unescaped, anything else as
// written. It is valid until the next call.
func (s *scratch) text(m *member) []byte {
	v := s.scan.rec[m.valStart:m.valEnd]
	if m.kind != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if !hasBackslash(v) {
		return v
	}
	s.val = fieldmap.AppendUnescaped(s.val[:0], v)
	return s.val
}

// appendText appends m's value as an entry field's text: a string
// unescaped, an object or array compacted, anything else as written.
func (s *scratch) appendText(dst []byte, m *member) []byte {
	v := s.scan.rec[m.valStart:m.valEnd]
	switch m.kind {
	case '"':
		return fieldmap.AppendUnescaped(dst, v[1:len(v)-1])
	case '{', '[':
		return appendCompact(dst, v)
	}
	return append(dst, v...)
}

func hasBackslash(b []byte) bool { return bytes.IndexByte(b, '\\') >= 0 }

// details writes the members no field took to the entry's Details.
func (s *scratch) details() {
	ms := s.scan.members
	for i := range ms {
		ms[i].used, ms[i].usedBelow, ms[i].keptChild = false, false, false
	}
	for f := range fieldmap.NumFields {
		if i, ok := s.pick.Chosen(f); ok {
			ms[i].used = true
		}
	}
	// Members come after their parents: walk backwards to carry the marks up.
	for i := len(ms) - 1; i >= 0; i-- {
		m := &ms[i]
		if m.parent < 0 {
			continue
		}
		p := &ms[m.parent]
		if m.used || m.usedBelow {
			p.usedBelow = true
		}
		if s.kept(m) {
			p.keptChild = true
		}
	}
	if len(ms) > 0 {
		s.writeMembers(0, true)
	}
}

// kept reports whether m goes to Details, whole or pruned.
func (s *scratch) kept(m *member) bool {
	return !m.superseded && !m.used && (!m.usedBelow || m.keptChild)
}

// writeMembers writes the kept members of the object whose first member
// is ms[first]: into the Details object itself at the top level, else as
// a pruned JSON object.
func (s *scratch) writeMembers(first int, top bool) {
	b := &s.batch
	ms := s.scan.members
	rec := s.scan.rec
	d := b.Details()
	if !top {
		d = append(d, '{')
	}
	comma := false
	for i := first; i >= 0; i = ms[i].next {
		m := &ms[i]
		if !s.kept(m) {
			continue
		}
		if top {
			b.SetDetails(d)
			b.DetailRawKey(rec[m.keyStart:m.keyEnd])
			d = b.Details()
		} else {
			if comma {
				d = append(d, ',')
			}
			comma = true
			d = append(d, '"')
			d = append(d, rec[m.keyStart:m.keyEnd]...)
			d = append(d, '"', ':')
		}
		if m.usedBelow {
			b.SetDetails(d)
			s.writeMembers(m.firstChild, false)
			d = b.Details()
		} else {
			d = appendCompact(d, rec[m.valStart:m.valEnd])
		}
	}
	if !top {
		d = append(d, '}')
	}
	b.SetDetails(d)
}
