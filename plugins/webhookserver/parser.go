// Package webhookserver is the built-in parser of what
// myk-org/github-webhook-server writes: its text log files (3.x, 4.0.x and
// 4.1.x) and its webhooks_YYYY-MM-DD.json JSONL (jsonl.go). Parse reads a
// record as JSONL when its file's base name matches JSONLFiles, as text
// otherwise; one batch may hold both. The text files are written by
// python-simple-logger through colorlog:
//
//	<ts> <logger> <colour><LEVEL>\x1b[0m <prefix> <message>\x1b[0m[\n<continuation or traceback>…]
//
// A record is a header line plus the lines that follow it up to the next
// header. Parse strips ANSI escapes everywhere, takes the webhook prefix
// apart (repository, event, delivery id, API user, PR), moves the legacy
// 4.0.x task tokens and the DuplicateFilter suffix out of the message into
// fields, and reads the summary line that ends a delivery and the token
// spend. Tracebacks stay in Message; ExcInfo is left to the JSONL copy.
//
// Decisions worth knowing:
//   - colorlog's reset alone on the last line (a message that ended in '\n')
//     is dropped with the newline before it, so Message has no empty last
//     line: "a\nb\n" is stored as "a\nb".
//   - The summary line stays an ordinary entry (KindLog) and also carries a
//     Completion; its PR#n fills Entry.PRNumber when the prefix has none.
//     Its tokens go to Completion.TokenSpend only, so summing the entries'
//     TokenSpend does not count a delivery twice.
//   - 4.0.x writes no summary line: the end of its webhook_routing task
//     (task_status completed or failed) carries the Completion instead,
//     without steps (the markers are the steps).
//   - DedupeKey hashes the message as written, prefix and DuplicateFilter
//     suffix included (plugins.DedupeKey strips the escapes with the same
//     grammar as Parse). A ParseError entry has no timestamp or level and
//     gets DedupeKey 0: there is no second copy to merge it with.
//   - Bad input is never dropped: a record that does not start with a header
//     (or whose timestamp is out of range, e.g. month 13) becomes an entry
//     with ParseError set and the record as read in Message, escapes kept.
//     A valid header with a huge body is parsed normally; the size cap is
//     the agent's max_record_bytes.
//   - Every string is valid UTF-8 without NUL: each run of invalid bytes
//     becomes one U+FFFD (as strings.ToValidUTF8) and so does each NUL byte,
//     because NUL is not storable as text everywhere (PostgreSQL) and C
//     string APIs cut at it.
//
// The parser is stateless and safe for concurrent use.
package webhookserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hooktail/hooktail/plugins"
)

// Name is the parser's name in configurations and in Describe.
const Name = "github-webhook-server"

// Parser parses github-webhook-server text log and JSONL records. It is
// safe for concurrent use.
type Parser struct {
	// scratch pools the buffers of Parse calls (*scratch).
	scratch sync.Pool
}

var (
	_ plugins.Parser        = (*Parser)(nil)
	_ plugins.RecordStarter = (*Parser)(nil)
)

// New returns a Parser.
func New() *Parser { return &Parser{} }

// JSONLFiles is the base-name glob (path.Match syntax) of the JSONL files
// upstream writes next to its text logs, webhooks_YYYY-MM-DD.json: every
// line of such a file is one record, a log_entry or a webhook_summary.
const JSONLFiles = "webhooks_*.json"

// Describe names the parser, gives the RE2 pattern of a text record's first
// line (the twin of IsRecordStart) and declares the JSONL files as one
// record per line.
func (p *Parser) Describe(context.Context) (plugins.Description, error) {
	return plugins.Description{
		Name:               Name,
		StartPattern:       startPattern,
		LinePerRecordFiles: []string{JSONLFiles},
	}, nil
}

// isJSONLFile reports whether the records of file are JSONL records: its
// base name matches JSONLFiles, as the agent decides from Describe.
func isJSONLFile(file string) bool {
	ok, _ := path.Match(JSONLFiles, filepath.Base(file))
	return ok
}

// ValidateConfig accepts an empty configuration or an empty JSON object; it
// returns an error diagnostic for each key of any other object (the timezone
// of naive timestamps is the source's setting, not the parser's).
func (p *Parser) ValidateConfig(_ context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	return validateConfig(config), nil
}

// Configure applies a configuration; there is nothing to apply, so it only
// validates.
func (p *Parser) Configure(_ context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	return validateConfig(config), nil
}

func validateConfig(config json.RawMessage) plugins.Diagnostics {
	config = bytes.TrimSpace(config)
	if len(config) == 0 || string(config) == "null" {
		return nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(config, &keys); err != nil {
		return plugins.Diagnostics{{
			Severity: plugins.SeverityError,
			Summary:  "invalid parser configuration",
			Detail:   fmt.Sprintf("decode %s parser configuration: %v (want a JSON object)", Name, err),
		}}
	}
	var diags plugins.Diagnostics
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		diags = append(diags, plugins.Diagnostic{
			Severity:  plugins.SeverityError,
			Summary:   fmt.Sprintf("unknown %s parser setting %q", Name, k),
			Detail:    "the " + Name + " parser takes no settings; naive timestamps are read in the source's timezone",
			Attribute: k,
		})
	}
	return diags
}

// IsRecordStart reports whether line is the first line of a record: an ISO
// timestamp, a space, a logger name, a space and a level (possibly wrapped
// in ANSI escapes) followed by a space or the end of the line. It matches
// exactly the lines Describe's StartPattern matches.
func (p *Parser) IsRecordStart(line []byte) bool {
	_, ok := scanHeader(line)
	return ok
}

// ctxCheckEvery is how many records Parse handles between checks of ctx.
const ctxCheckEvery = 256

// Parse appends one entry per record of req to dst: a record of a file
// named like JSONLFiles is one JSONL line, any other a text record. Naive
// timestamps are read in req.Location (UTC when nil). It returns an error
// only when ctx is done, and then appends nothing.
func (p *Parser) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	if req == nil {
		return dst, nil
	}
	loc := req.Location
	if loc == nil {
		loc = time.UTC
	}
	n := len(dst)
	dst = slices.Grow(dst, len(req.Records))
	s, _ := p.scratch.Get().(*scratch)
	if s == nil {
		s = new(scratch)
	}
	defer p.putScratch(s)
	// Records of one file come in runs; the file's kind is decided once per
	// run.
	file, jsonl := "", false
	for i := range req.Records {
		if i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return dst[:n], fmt.Errorf("parse batch of %d records at record %d: %w", len(req.Records), i, err)
			}
		}
		r := &req.Records[i]
		if i == 0 || r.File != file {
			file, jsonl = r.File, isJSONLFile(r.File)
		}
		dst = append(dst, plugins.Entry{})
		if jsonl {
			s.parseJSONL(&dst[len(dst)-1], r.Data, loc)
		} else {
			s.parse(&dst[len(dst)-1], r.Data, loc)
		}
	}
	return dst, nil
}

// scratch holds the buffers one Parse call reuses from record to record.
type scratch struct {
	buf []byte
	tmp []byte
	// dec holds a decoded JSON string.
	dec []byte
	// rec holds the text copy of a JSONL record, rebuilt.
	rec []byte
	// members holds the members of a JSONL record.
	members []jsonMember
}

// maxPooledScratch is the largest buffer kept for the next Parse call; the
// buffers of huge records go to the garbage collector.
const maxPooledScratch = 64 << 10

// maxPooledMembers is the largest member list kept for the next Parse call.
const maxPooledMembers = 256

func (p *Parser) putScratch(s *scratch) {
	if cap(s.buf) > maxPooledScratch {
		s.buf = nil
	}
	if cap(s.tmp) > maxPooledScratch {
		s.tmp = nil
	}
	if cap(s.dec) > maxPooledScratch {
		s.dec = nil
	}
	if cap(s.rec) > maxPooledScratch {
		s.rec = nil
	}
	if cap(s.members) > maxPooledMembers {
		s.members = nil
	}
	p.scratch.Put(s)
}

// parse fills e from one record of a text log file.
func (s *scratch) parse(e *plugins.Entry, data []byte, loc *time.Location) {
	first := firstLine(data)
	h, ok := scanHeader(first)
	if !ok {
		parseError(e, data)
		return
	}
	us, ok := parseTimestamp(first[:h.tsEnd], loc)
	if !ok {
		parseError(e, data)
		return
	}

	var l layout
	buf := append(s.buf[:0], first[:h.tsEnd]...)
	l.ts = span{0, len(buf)}
	l.f[fLogger].start = len(buf)
	buf = plugins.AppendStripped(buf, first[h.loggerStart:h.loggerEnd])
	l.f[fLogger].end = len(buf)
	l.levelName = h.level
	l.f[fLevel] = span{len(buf), len(buf)}
	if h.level == "" {
		buf = append(buf, first[h.levelStart:h.levelEnd]...)
		l.f[fLevel].end = len(buf)
	}
	for i := fLevel + 1; i < nFields; i++ {
		l.f[i] = span{len(buf), len(buf)}
	}
	l.msg.start = len(buf)
	rawMsg := data[h.msgStart:]
	if len(first) < len(data) {
		rawMsg = trimResetLine(rawMsg)
	}
	buf = plugins.AppendStripped(buf, rawMsg)
	l.msg.end = len(buf)
	s.finish(e, &l, buf, us)
	// The key hashes the message as written, prefix and DuplicateFilter
	// suffix included; DedupeKey strips the escapes itself.
	e.DedupeKey = plugins.DedupeKey(e.TimestampRaw, e.Level, data[h.msgStart:])
}

// Fields a record lays out in scratch.buf between its timestamp and its
// message, indexes of layout.f.
const (
	fLogger = iota
	// fLevel is empty when layout.levelName is set.
	fLevel
	// fHook … fUser are the JSONL copy's keys; set, they win over the
	// webhook prefix of the message.
	fHook
	fEvent
	fRepo
	fUser
	// fExc is the JSONL copy's exc_info.
	fExc
	nFields
)

// layout locates a record's strings in scratch.buf: the timestamp as
// written, the fields, then the ANSI-stripped message, which comes last.
type layout struct {
	ts  span
	f   [nFields]span
	msg span
	// levelName is the level when it is a known name (no copy in buf).
	levelName string
	// pr and tokenSpend are the JSONL copy's keys; they win over what the
	// message says when set.
	pr         int64
	tokenSpend int64
	hasTokens  bool
}

// finish fills e from a record laid out in buf (s.buf grown): it makes every
// string valid UTF-8, takes the webhook prefix, the DuplicateFilter suffix,
// the legacy task markers, the summary line and the token spend out of the
// message, and cuts all strings from one string. us is the timestamp.
func (s *scratch) finish(e *plugins.Entry, l *layout, buf []byte, us int64) {
	if !plugins.IsClean(buf[l.f[0].start:]) {
		s.tmp = append(s.tmp[:0], buf...)
		old, oldMsg := l.f, l.msg
		buf = buf[:l.f[0].start]
		for i := range l.f {
			l.f[i].start = len(buf)
			buf = plugins.AppendClean(buf, s.tmp[old[i].start:old[i].end])
			l.f[i].end = len(buf)
		}
		l.msg.start = len(buf)
		buf = plugins.AppendClean(buf, s.tmp[oldMsg.start:oldMsg.end])
		l.msg.end = len(buf)
	}
	msg := l.msg

	// Fields are offsets into buf.
	var pf prefix
	body := msg.start
	if p, ok := scanPrefix(firstLine(buf[msg.start:msg.end])); ok {
		pf = p
		shift(&pf.repo, msg.start)
		shift(&pf.event, msg.start)
		shift(&pf.hook, msg.start)
		shift(&pf.user, msg.start)
		body += pf.body
	}
	// The JSONL copy's keys win over the prefix.
	for _, o := range [...]struct {
		dst *field
		src span
	}{{&pf.hook, l.f[fHook]}, {&pf.event, l.f[fEvent]}, {&pf.repo, l.f[fRepo]}, {&pf.user, l.f[fUser]}} {
		if o.src.end > o.src.start {
			*o.dst = field{start: o.src.start, end: o.src.end}
		}
	}
	if l.pr != 0 {
		pf.pr = l.pr
	}

	if df, ok := scanDuplicateFilter(buf[body:msg.end]); ok {
		e.Details = duplicateFilterDetails(buf[body+df.prevStart:body+df.prevEnd], df.repeated)
		n := copy(buf[body+df.start:], buf[body+df.end:msg.end])
		msg.end = body + df.start + n
		buf = buf[:msg.end]
	}

	line := firstLine(buf[body:msg.end])
	mk, n := scanMarkers(line)
	shift(&mk.id, body)
	shift(&mk.typ, body)
	shift(&mk.status, body)
	body += n
	line = line[n:]
	if c, ok := scanSummary(line); ok {
		e.Completion = c
		// The summary comes from app.py, whose prefix has no [PR n].
		if pf.pr == 0 {
			pf.pr = c.PRNumber
		}
	} else if n, ok := tokenSpend(line); ok && !l.hasTokens {
		v := n // declared here, so that only a found spend is heap-allocated
		e.TokenSpend = &v
	}
	if l.hasTokens {
		v := l.tokenSpend
		e.TokenSpend = &v
	}

	// Unescaped values go after the message.
	for _, f := range [...]*field{&pf.event, &pf.hook, &pf.user, &mk.id, &mk.typ, &mk.status} {
		if f.escaped {
			start := len(buf)
			buf = appendUnescaped(buf, buf[f.start:f.end])
			*f = field{start: start, end: len(buf)}
		}
	}

	str := string(buf)
	s.buf = buf
	e.TimestampUS = us
	e.TimestampRaw = str[l.ts.start:l.ts.end]
	e.LoggerName = str[l.f[fLogger].start:l.f[fLogger].end]
	e.Level = l.levelName
	if e.Level == "" {
		e.Level = str[l.f[fLevel].start:l.f[fLevel].end]
	}
	e.ExcInfo = str[l.f[fExc].start:l.f[fExc].end]
	e.Message = str[body:msg.end]
	e.Repository = str[pf.repo.start:pf.repo.end]
	e.EventType = str[pf.event.start:pf.event.end]
	e.HookID = str[pf.hook.start:pf.hook.end]
	e.GithubUser = str[pf.user.start:pf.user.end]
	e.PRNumber = pf.pr
	e.TaskID = str[mk.id.start:mk.id.end]
	e.TaskType = str[mk.typ.start:mk.typ.end]
	e.TaskStatus = str[mk.status.start:mk.status.end]
	e.Step = e.TaskType
	if e.Step == "" {
		e.Step = e.TaskID
	}
	if e.Completion == nil {
		e.Completion = legacyCompletion(e)
	}
}

// legacyCompletion reads the end of a delivery from 4.0.x markers: that
// version writes no summary line, and its webhook_routing task, which spans
// the whole processing, ends exactly when the delivery does.
func legacyCompletion(e *plugins.Entry) *plugins.Completion {
	if e.TaskType != "webhook_routing" {
		return nil
	}
	var status string
	switch e.TaskStatus {
	case "completed":
		status = "success"
	case "failed":
		status = "failed"
	default:
		return nil
	}
	c := &plugins.Completion{Status: status, PRNumber: e.PRNumber}
	if e.TokenSpend != nil {
		v := *e.TokenSpend
		c.TokenSpend = &v
	}
	return c
}

// span is buf[start:end].
type span struct{ start, end int }

// shift moves a field found in a sub-slice to buf offsets.
func shift(f *field, by int) {
	if f.set() {
		f.start += by
		f.end += by
	}
}

// parseError fills e for a record that is not a header-led record: the
// record as read, made valid UTF-8.
func parseError(e *plugins.Entry, data []byte) {
	e.ParseError = true
	if plugins.IsClean(data) {
		e.Message = string(data)
		return
	}
	e.Message = string(plugins.AppendClean(make([]byte, 0, len(data)+16), data))
}

// duplicateFilterDetails renders the Details of a DuplicateFilter suffix:
// {"duplicate_filter":{"previous_message":"…","repeated":N}}. prev is valid
// UTF-8 already.
func duplicateFilterDetails(prev []byte, repeated int64) json.RawMessage {
	const (
		head = `{"duplicate_filter":{"previous_message":`
		mid  = `,"repeated":`
		tail = `}}`
	)
	b := make([]byte, 0, len(head)+len(prev)+len(mid)+len(tail)+24)
	b = append(b, head...)
	b = appendJSONString(b, prev)
	b = append(b, mid...)
	b = strconv.AppendInt(b, repeated, 10)
	return append(b, tail...)
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
