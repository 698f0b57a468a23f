package webhookserver

import (
	"bytes"

	"github.com/hooktail/hooktail/plugins"
)

// trimResetLine drops the last line of msg, with the newline before it, when
// it holds nothing but escape sequences: colorlog writes its `\x1b[0m` reset
// after the message, so a message that ends in '\n' leaves the reset alone on
// a line of its own.
func trimResetLine(msg []byte) []byte {
	nl := bytes.LastIndexByte(msg, '\n')
	if nl < 0 || nl == len(msg)-1 {
		return msg
	}
	last := msg[nl+1:]
	for i := 0; i < len(last); i = plugins.SkipEscape(last, i) {
		if last[i] != 0x1b {
			return msg
		}
	}
	return msg[:nl]
}

// firstLine returns b up to its first newline.
func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

const (
	dfOpen     = " --- [DuplicateFilter: Last log `"
	dfRepeated = "` repeated "
	dfClose    = " times]"
)

// duplicateFilter locates the suffix python-simple-logger's DuplicateFilter
// adds to the first record after a run of repeats:
//
//	--- [DuplicateFilter: Last log `<previous message>` repeated N times]
//
// It ends the message, so it is followed by the end of msg or, when the
// record carries a traceback, by a newline. The previous message may itself
// span lines.
type duplicateFilter struct {
	start, end int // the suffix is msg[start:end]
	prevStart  int // the previous message is msg[prevStart:prevEnd]
	prevEnd    int
	repeated   int64
}

func scanDuplicateFilter(msg []byte) (duplicateFilter, bool) {
	var df duplicateFilter
	// Look for the key first: bytes.Index skips ahead on the first byte of
	// what it looks for, and dfOpen starts with a frequent space.
	const lead = " --- ["
	open := -1
	for k := 0; ; {
		i := bytes.Index(msg[k:], []byte(dfOpen[len(lead):]))
		if i < 0 {
			return df, false
		}
		if p := k + i; hasSuffix(msg[:p], lead) {
			open = p - len(lead)
			break
		}
		k += i + 1
	}
	from := open + len(dfOpen)
	found := false
	for k := from; ; {
		i := bytes.Index(msg[k:], []byte(dfRepeated))
		if i < 0 {
			break
		}
		p := k + i
		k = p + 1
		q := p + len(dfRepeated)
		n, d := leadingInt(msg[q:])
		if d == 0 || !hasPrefix(msg[q+d:], dfClose) {
			continue
		}
		end := q + d + len(dfClose)
		if end == len(msg) || (msg[end] == '\n' && !found) {
			df = duplicateFilter{start: open, end: end, prevStart: from, prevEnd: p, repeated: n}
			found = true
			if end == len(msg) {
				break
			}
		}
	}
	return df, found
}

// tokenSpend finds the API-call count upstream reports when a webhook ends,
// in any of its forms:
//
//	token *****  23 API calls   (masked, the default)
//	token ghp_abc 23 API calls  (mask-sensitive-data: false)
//	Token spend: 23 API calls
//
// It is the hand-written form of `(?:Token spend:?|token\s+\S+)\s+(\d+)\s+API calls`.
func tokenSpend(line []byte) (int64, bool) {
	const apiCalls = "API calls"
	for k := 0; ; {
		i := bytes.Index(line[k:], []byte(apiCalls))
		if i < 0 {
			return 0, false
		}
		p := k + i
		if v, ok := tokenSpendBefore(line[:p]); ok {
			return v, true
		}
		k = p + 1
	}
}

// tokenSpendBefore matches `(?:Token spend:?|token\s+\S+)\s+(\d+)\s+` at the
// end of b.
func tokenSpendBefore(b []byte) (int64, bool) {
	j := len(b)
	for j > 0 && isSpace(b[j-1]) {
		j--
	}
	if j == len(b) {
		return 0, false
	}
	d := j
	for d > 0 && isDigit(b[d-1]) {
		d--
	}
	if d == j || j-d > maxDigits {
		return 0, false
	}
	v, _ := leadingInt(b[d:j])
	w := d
	for w > 0 && isSpace(b[w-1]) {
		w--
	}
	if w == d {
		return 0, false
	}
	if hasSuffix(b[:w], "Token spend") || hasSuffix(b[:w], "Token spend:") {
		return v, true
	}
	t := w
	for t > 0 && !isSpace(b[t-1]) {
		t--
	}
	u := t
	for u > 0 && isSpace(b[u-1]) {
		u--
	}
	if t == w || u == t || !hasSuffix(b[:u], "token") {
		return 0, false
	}
	return v, true
}
