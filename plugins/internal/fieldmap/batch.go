package fieldmap

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hooktail/hooktail/plugins"
)

// Batch assembles the entries of one Parse call. Every string of every
// entry is cut from one string, every Details from one byte slice and
// every TokenSpend from one []int64, so a batch costs a handful of
// allocations whatever its size. The entries of a batch share that memory:
// an entry kept alive keeps its batch's text alive too (a batch is bounded
// by the agent's batch size).
//
// A Batch is used by one goroutine at a time; parsers pool them.
//
// Per record: Begin, then setters (String, Level, Timestamp, Int, the
// details writers) or Fail; Finish turns the records into entries.
type Batch struct {
	// Text holds the strings of the records begun so far. A parser appends
	// a value to it and then calls End with the offset the value starts at.
	Text []byte
	// details holds the Details objects.
	details []byte
	recs    []pending
	// tmp is scratch for values rewritten after they were appended.
	tmp []byte
}

// span is Text[start:end] (or details[start:end]).
type span struct{ start, end int }

// pending is one record's entry in the making.
type pending struct {
	str [NumFields]span
	// set has bit f for each field f set.
	set        uint32
	pr, tokens int64
	ts         int64
	details    span
	// detailsOpen: the Details object has a member and no closing brace yet.
	detailsOpen bool
	parseError  bool
	textStart   int
}

// maxPooled is the largest buffer a Batch keeps for its next use.
const maxPooled = 4 << 20

// Reset empties the batch for the next Parse call, dropping buffers that
// grew too large to keep.
func (b *Batch) Reset() {
	if cap(b.Text) > maxPooled {
		b.Text = nil
	}
	if cap(b.details) > maxPooled {
		b.details = nil
	}
	if cap(b.tmp) > maxPooled {
		b.tmp = nil
	}
	if cap(b.recs) > maxPooled/512 {
		b.recs = nil
	}
	b.Text, b.details, b.recs, b.tmp = b.Text[:0], b.details[:0], b.recs[:0], b.tmp[:0]
}

// Len is the number of records begun.
func (b *Batch) Len() int { return len(b.recs) }

// Begin starts the entry of the next record.
func (b *Batch) Begin() {
	if len(b.recs) > 0 {
		b.closeDetails()
	}
	b.recs = append(b.recs, pending{textStart: len(b.Text), details: span{len(b.details), len(b.details)}})
}

func (b *Batch) cur() *pending { return &b.recs[len(b.recs)-1] }

// Has reports whether f is set in the current record.
func (b *Batch) Has(f Field) bool { return b.cur().set&(1<<f) != 0 }

// End sets string field f of the current record to Text[start:].
func (b *Batch) End(f Field, start int) {
	r := b.cur()
	r.str[f] = span{start, len(b.Text)}
	r.set |= 1 << f
}

// String sets string field f of the current record to v.
func (b *Batch) String(f Field, v []byte) {
	start := len(b.Text)
	b.Text = append(b.Text, v...)
	b.End(f, start)
}

// StripEnd removes the ANSI escape sequences from Text[start:] and then
// sets f to it, as End does.
func (b *Batch) StripEnd(f Field, start int) {
	if bytes.IndexByte(b.Text[start:], 0x1b) >= 0 {
		b.tmp = append(b.tmp[:0], b.Text[start:]...)
		b.Text = plugins.AppendStripped(b.Text[:start], b.tmp)
	}
	b.End(f, start)
}

// Level sets the level of the current record to v upper-cased.
func (b *Batch) Level(v []byte) {
	start := len(b.Text)
	b.Text = AppendUpper(b.Text, v)
	b.End(Level, start)
}

// UpperEnd removes the ANSI escape sequences from Text[start:],
// upper-cases it and sets the level to it.
func (b *Batch) UpperEnd(start int) {
	v := b.Text[start:]
	if bytes.IndexByte(v, 0x1b) >= 0 {
		b.tmp = plugins.AppendStripped(b.tmp[:0], v)
	} else {
		b.tmp = append(b.tmp[:0], v...)
	}
	b.Text = AppendUpper(b.Text[:start], b.tmp)
	b.End(Level, start)
}

// Timestamp sets the timestamp of the current record: raw as written, read
// with tf in loc. It reports false, setting nothing, when tf cannot read
// raw.
func (b *Batch) Timestamp(raw []byte, tf TimeFormat, loc *time.Location) bool {
	us, ok := tf.Parse(raw, loc)
	if !ok {
		return false
	}
	b.String(Timestamp, raw)
	b.cur().ts = us
	return true
}

// Int sets numeric field f (PRNumber or TokenSpend) of the current record.
// It reports false, setting nothing, when v is out of the field's range:
// a PR number is positive, a token spend is not negative.
func (b *Batch) Int(f Field, v int64) bool {
	if !f.isNumeric() || v < 0 || v == 0 && f == PRNumber {
		return false
	}
	r := b.cur()
	if f == PRNumber {
		r.pr = v
	} else {
		r.tokens = v
	}
	r.set |= 1 << f
	return true
}

// DetailKey starts a member of the current record's Details object: key,
// valid UTF-8 and unquoted, which the caller follows with exactly one JSON
// value through DetailString or DetailRaw.
func (b *Batch) DetailKey(key []byte) {
	b.detailSep()
	b.details = AppendJSONString(b.details, key)
	b.details = append(b.details, ':')
}

// DetailRawKey is DetailKey for a key that is a JSON string's contents
// already (escapes as written in a JSON document).
func (b *Batch) DetailRawKey(key []byte) {
	b.detailSep()
	b.details = append(b.details, '"')
	b.details = append(b.details, key...)
	b.details = append(b.details, '"', ':')
}

func (b *Batch) detailSep() {
	r := b.cur()
	if r.detailsOpen {
		b.details = append(b.details, ',')
	} else {
		b.details = append(b.details, '{')
		r.detailsOpen = true
	}
}

// DetailString writes v, valid UTF-8, as a JSON string value.
func (b *Batch) DetailString(v []byte) { b.details = AppendJSONString(b.details, v) }

// DetailRaw writes v, a valid JSON value, as it is.
func (b *Batch) DetailRaw(v []byte) { b.details = append(b.details, v...) }

// Details returns the details buffer, for a writer that appends a JSON
// value to it directly; SetDetails stores the result.
func (b *Batch) Details() []byte { return b.details }

// SetDetails stores the details buffer after a direct append.
func (b *Batch) SetDetails(d []byte) { b.details = d }

// Fail turns the current record into a parse error: every field set so
// far is forgotten, ParseError is set and the message is the record as
// read, made valid UTF-8 without NUL (escape sequences are kept).
func (b *Batch) Fail(record []byte) {
	r := b.cur()
	b.Text = b.Text[:r.textStart]
	b.details = b.details[:r.details.start]
	*r = pending{textStart: r.textStart, details: r.details, parseError: true}
	b.Text = plugins.AppendClean(b.Text, record)
	b.End(Message, r.textStart)
}

// closeDetails ends the current record's Details object.
func (b *Batch) closeDetails() {
	r := b.cur()
	if r.detailsOpen {
		b.details = append(b.details, '}')
		r.detailsOpen = false
	}
	r.details.end = len(b.details)
}

// Finish appends the entries of the records begun since Reset to dst and
// returns the extended slice. DedupeKey is set for each parsed entry that
// has a timestamp (a record without one has nothing that tells two copies
// of it from two records with the same text).
func (b *Batch) Finish(dst []plugins.Entry) []plugins.Entry {
	if len(b.recs) == 0 {
		return dst
	}
	b.closeDetails()
	text := string(b.Text)
	var details []byte
	if len(b.details) > 0 {
		details = bytes.Clone(b.details)
	}
	var ints []int64
	for i := range b.recs {
		if b.recs[i].set&(1<<TokenSpend) != 0 {
			if ints == nil {
				ints = make([]int64, 0, len(b.recs)-i)
			}
			ints = append(ints, b.recs[i].tokens)
		}
	}
	for i := range b.recs {
		r := &b.recs[i]
		s := func(f Field) string { return text[r.str[f].start:r.str[f].end] }
		e := plugins.Entry{
			TimestampUS:  r.ts,
			TimestampRaw: s(Timestamp),
			Level:        s(Level),
			LoggerName:   s(LoggerName),
			Message:      s(Message),
			HookID:       s(HookID),
			EventType:    s(EventType),
			Repository:   s(Repository),
			PRNumber:     r.pr,
			GithubUser:   s(GithubUser),
			TaskID:       s(TaskID),
			TaskType:     s(TaskType),
			TaskStatus:   s(TaskStatus),
			Step:         s(Step),
			ExcInfo:      s(ExcInfo),
			ParseError:   r.parseError,
		}
		if r.set&(1<<TokenSpend) != 0 {
			e.TokenSpend = &ints[0]
			ints = ints[1:]
		}
		if d := r.details; d.end > d.start {
			e.Details = details[d.start:d.end:d.end]
		}
		if !r.parseError && e.TimestampRaw != "" {
			m := r.str[Message]
			e.DedupeKey = plugins.DedupeKey(e.TimestampRaw, e.Level, b.Text[m.start:m.end])
		}
		dst = append(dst, e)
	}
	return dst
}

// CtxCheckEvery is how many records Parse handles between checks of ctx.
const CtxCheckEvery = 256

// Parse is the batch loop of the generic parsers: b is reset, parse is
// called on each record of req in order (it adds exactly one pending entry
// to b), ctx is checked every CtxCheckEvery records, and b's entries are
// appended to dst. It returns an error only when ctx is done, and then
// appends nothing.
func (b *Batch) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry, parse func(data []byte, loc *time.Location)) ([]plugins.Entry, error) {
	b.Reset()
	for i := range req.Records {
		if i%CtxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return dst, fmt.Errorf("parse batch of %d records at record %d: %w", len(req.Records), i, err)
			}
		}
		parse(req.Records[i].Data, req.Location)
	}
	dst = slices.Grow(dst, len(req.Records))
	return b.Finish(dst), nil
}
