package tail

import (
	"bytes"

	"github.com/hooktail/hooktail/agent"
)

// framer splits one file's byte stream into records. It is fed the file's
// bytes in order, in pieces of any size, and keeps the state of the record
// still open between pieces. It is not safe for concurrent use; each file
// tailer owns one.
//
// Rules:
//   - lines end at '\n'; every other byte, '\r' included, is kept as written;
//   - a line for which isStart is true closes the open record and opens a
//     new one; any other line joins the open record, or opens one when none
//     is open (lines before the first start line, or after an idle flush,
//     form records of their own so nothing is dropped);
//   - a record is the contiguous byte range [Offset, End) of the file; its
//     Data is that range without the final '\n', cut at max bytes (backing
//     off to a UTF-8 rune boundary, at most 3 bytes) with Truncated set;
//     bytes past the cut are skipped but End still covers them;
//   - Data never aliases the caller's buffer: the records closed by one feed
//     call share one allocation, a record spanning calls owns its own.
type framer struct {
	isStart func(line []byte) bool
	max     int
	// tmpl carries Source, File and Path into every record.
	tmpl agent.Record

	// off is the file offset of the next byte to be consumed.
	off int64

	// open is true while a record is being collected; it started at recOff
	// and ends at off.
	open   bool
	recOff int64
	// pend holds the open record's first max+1 bytes once the record has
	// outlived the feed call that opened it.
	pend []byte
	// midLine is true when the last consumed byte is not '\n': a partial
	// line was forced in and its remainder continues it.
	midLine bool

	// spans is scratch for the records closed within one feed call whose
	// bytes still live in the caller's buffer.
	spans []span
}

// span locates one record's Data in the buffer given to feed.
type span struct {
	rec   int // index in dst
	start int // in p
	n     int // bytes of Data
}

func newFramer(isStart func([]byte) bool, maxBytes int) *framer {
	return &framer{isStart: isStart, max: maxBytes}
}

// reset drops all state and positions the framer at off, which must be the
// first byte of a line.
func (f *framer) reset(off int64) {
	f.off = off
	f.open = false
	f.recOff = 0
	f.pend = nil
	f.midLine = false
}

// flushable reports whether an open record can be emitted by flush without
// forcing: it is made of complete lines only.
func (f *framer) flushable() bool { return f.open && !f.midLine }

// feed consumes the complete lines at the start of p, which begins at file
// offset f.off, appends the records they close to dst, and returns dst and
// the number of bytes consumed. The unconsumed rest of p is a partial last
// line that the caller presents again, extended, in the next call. With
// force, the partial line is consumed too: it continues the open record, and
// the bytes that follow it up to the next '\n' belong to the same line.
func (f *framer) feed(p []byte, force bool, dst []agent.Record) ([]agent.Record, int) {
	f.spans = f.spans[:0]
	// startInP is where the open record starts in p, or -1 when it started
	// in an earlier call and its bytes so far are in pend.
	startInP := -1
	i := 0
	for i < len(p) {
		j := bytes.IndexByte(p[i:], '\n')
		end := i + j + 1
		if j < 0 {
			if !force {
				break
			}
			end = len(p)
		}
		if !f.midLine {
			line := p[i:end]
			if j >= 0 {
				line = line[:j]
			}
			if !f.open || f.isStart == nil || f.isStart(line) {
				if f.open {
					dst = f.emit(dst, p, startInP, i)
				}
				f.open = true
				f.recOff = f.off
				startInP = i
			}
		}
		f.midLine = j < 0
		f.off += int64(end - i)
		i = end
	}
	if f.open {
		// Keep the open record's bytes, up to max+1, beyond this call.
		from := startInP
		if from < 0 {
			from = 0
		}
		f.pend = appendCapped(f.pend, p[from:i], f.max+1)
	}
	if len(f.spans) > 0 {
		total := 0
		for _, s := range f.spans {
			total += s.n
		}
		buf := make([]byte, total)
		at := 0
		for _, s := range f.spans {
			copy(buf[at:], p[s.start:s.start+s.n])
			dst[s.rec].Data = buf[at : at+s.n : at+s.n]
			at += s.n
		}
	}
	return dst, i
}

// flush emits the open record. Unless final, a record whose last line is
// incomplete stays open. The caller force-feeds a pending partial line before
// a final flush.
func (f *framer) flush(dst []agent.Record, final bool) []agent.Record {
	if !f.open || (f.midLine && !final) {
		return dst
	}
	return f.emit(dst, nil, -1, 0)
}

// emit closes the open record, which ends at f.off (= p[end] when the record
// started in p at startInP), and appends it to dst.
func (f *framer) emit(dst []agent.Record, p []byte, startInP, end int) []agent.Record {
	raw := f.off - f.recOff
	content := raw
	if !f.midLine && raw > 0 {
		content-- // the final '\n'
	}
	rec := f.tmpl
	rec.Offset = f.recOff
	rec.End = f.off
	rec.Truncated = content > int64(f.max)
	if startInP >= 0 {
		n := cutLen(p[startInP:end], content, f.max)
		f.spans = append(f.spans, span{rec: len(dst), start: startInP, n: n})
	} else {
		f.pend = appendCapped(f.pend, p[:end], f.max+1)
		n := cutLen(f.pend, content, f.max)
		rec.Data = f.pend[:n:n]
	}
	f.pend = nil
	f.open = false
	return append(dst, rec)
}

// cutLen returns how many leading bytes of b make a record's Data, given
// that the record holds content bytes (b holds at least min(content, max+1)
// of them): all of them, or max backed off to a rune boundary when longer.
func cutLen(b []byte, content int64, maxBytes int) int {
	if content <= int64(maxBytes) {
		return int(content)
	}
	n := maxBytes
	for n > 0 && maxBytes-n < 3 && b[n]&0xC0 == 0x80 {
		n--
	}
	return n
}

// appendCapped appends src to dst without letting dst grow past limit bytes.
func appendCapped(dst, src []byte, limit int) []byte {
	if room := limit - len(dst); room < len(src) {
		if room <= 0 {
			return dst
		}
		src = src[:room]
	}
	if dst == nil && len(src) > 0 {
		dst = make([]byte, 0, max(len(src), 512))
	}
	return append(dst, src...)
}
