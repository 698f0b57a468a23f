package webhookserver

import (
	"bytes"
	"encoding/binary"
	"math"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a small JSON scanner for the JSONL records: it walks the
// members of an object and hands back each value as written, validating
// the syntax as it goes (RFC 8259, with encoding/json's nesting limit, so
// that it accepts exactly what json.Valid accepts; FuzzJSONScanner checks
// this). It allocates nothing: members are offsets into the input, and
// strings are decoded into a caller's buffer only when they are used.
// On the log_entry lines of the reference session, encoding/json into a
// typed struct took about 3x the CPU time and 15x the allocations, and 5x
// and 40x with the second decode into a map it needs to see the keys that
// Details must keep (BenchmarkDecodeLogEntry).

// jsonKind is the kind of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota + 1
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// jsonMember is one member of a JSON object, located by offsets into the
// scanned bytes: a list of members holds no pointers, so that filling a
// pooled one costs no GC write barriers and the GC need not scan it.
type jsonMember struct {
	// The member as written is b[start:end], from the key's opening quote;
	// its key is b[keyStart:keyEnd], between the quotes; its value is
	// b[valStart:end], a string with its quotes.
	start, keyStart, keyEnd, valStart, end int
	kind                                   jsonKind
	// keyEsc and esc are set when the key, or a string value, holds
	// backslash escapes.
	keyEsc, esc bool
	// id is the key's meaning in a JSONL record, set by scanRecord.
	id jsonKey
}

// jsonValue is a member with the bytes its offsets index. The zero value is
// an absent member.
type jsonValue struct {
	b []byte
	jsonMember
}

// present reports whether the member exists.
func (v *jsonValue) present() bool { return v.b != nil }

// null reports whether the member is absent or null.
func (v *jsonValue) null() bool { return v.b == nil || v.kind == jsonNull }

// keyText returns the key between its quotes, escapes still in.
func (v *jsonValue) keyText() []byte { return v.b[v.keyStart:v.keyEnd] }

// raw returns the whole member as written.
func (v *jsonValue) raw() []byte { return v.b[v.start:v.end] }

// val returns the value as written.
func (v *jsonValue) val() []byte { return v.b[v.valStart:v.end] }

// str returns a string value's content between its quotes.
func (v *jsonValue) str() []byte { return v.b[v.valStart+1 : v.end-1] }

// objectIter walks the members of the JSON object at the start of b
// (leading white space allowed). After next reports false, err tells a
// syntax error from the end of the object, and end is the index just past
// the closing brace.
type objectIter struct {
	b     []byte
	i     int
	depth int
	// started is set once a member was returned.
	started bool
	done    bool
	err     bool
	end     int
}

// newObjectIter starts walking the object at the start of b, at nesting
// depth depth (1 for a top-level object). ok is false when b does not
// start with an object.
func newObjectIter(b []byte, depth int) (it objectIter, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' || depth > maxJSONDepth {
		return objectIter{}, false
	}
	return objectIter{b: b, i: i + 1, depth: depth}, true
}

// next scans the next member into m (offsets into it.b) and reports
// whether there was one.
func (it *objectIter) next(m *jsonMember) bool {
	if it.done {
		return false
	}
	b := it.b
	i := skipWS(b, it.i)
	if i < len(b) && b[i] == '}' {
		it.done, it.end = true, i+1
		return false
	}
	if it.started {
		if i >= len(b) || b[i] != ',' {
			return it.fail()
		}
		i = skipWS(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return it.fail()
	}
	start := i
	kend, kesc, ok := scanString(b, i)
	if !ok {
		return it.fail()
	}
	i = skipWS(b, kend)
	if i >= len(b) || b[i] != ':' {
		return it.fail()
	}
	i = skipWS(b, i+1)
	vend, kind, esc, ok := scanValue(b, i, it.depth)
	if !ok {
		return it.fail()
	}
	it.i, it.started = vend, true
	*m = jsonMember{
		start: start, keyStart: start + 1, keyEnd: kend - 1, valStart: i, end: vend,
		kind: kind, keyEsc: kesc, esc: esc,
	}
	return true
}

func (it *objectIter) fail() bool {
	it.done, it.err = true, true
	return false
}

// complete walks the remaining members and reports whether the object is
// well-formed and followed by nothing but white space.
func (it *objectIter) complete() bool {
	var m jsonMember
	for it.next(&m) {
	}
	return !it.err && skipWS(it.b, it.end) == len(it.b)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanValue scans the value that starts at b[i], inside depth containers.
func scanValue(b []byte, i, depth int) (end int, kind jsonKind, esc, ok bool) {
	if i >= len(b) {
		return 0, 0, false, false
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, ok = scanString(b, i)
		return end, jsonString, esc, ok
	case c == '{':
		end, ok = scanObject(b, i, depth+1)
		return end, jsonObject, false, ok
	case c == '[':
		end, ok = scanArray(b, i, depth+1)
		return end, jsonArray, false, ok
	case c == 't':
		return scanLiteral(b, i, "true", jsonBool)
	case c == 'f':
		return scanLiteral(b, i, "false", jsonBool)
	case c == 'n':
		return scanLiteral(b, i, "null", jsonNull)
	case c == '-' || isDigit(c):
		end, ok = scanNumber(b, i)
		return end, jsonNumber, false, ok
	}
	return 0, 0, false, false
}

func scanLiteral(b []byte, i int, lit string, kind jsonKind) (int, jsonKind, bool, bool) {
	if !hasPrefix(b[i:], lit) {
		return 0, 0, false, false
	}
	return i + len(lit), kind, false, true
}

// scanString scans the string whose opening quote is b[i]. Bytes of 0x80
// and above are not checked here: the caller validates UTF-8 once for the
// whole line.
func scanString(b []byte, i int) (end int, esc, ok bool) {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return 0, false, false
		}
		run := b[i : i+q]
		k := bytes.IndexByte(run, '\\')
		if k < 0 {
			if hasControl(run) {
				return 0, false, false
			}
			return i + q + 1, esc, true
		}
		if hasControl(run[:k]) {
			return 0, false, false
		}
		esc = true
		i += k
		if i+1 >= len(b) {
			return 0, false, false
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
				return 0, false, false
			}
			i += 6
		default:
			return 0, false, false
		}
	}
}

// hasControl reports whether b holds a byte below 0x20, which a JSON string
// may not hold as is. It tests eight bytes at a time: a byte of x below n
// (here 0x20) leaves the high bit set in (x - n·0x01…) &^ x & 0x80….
func hasControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if (x-0x20*ones)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

// scanObject scans the object whose opening brace is b[i].
func scanObject(b []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return 0, false
	}
	it := objectIter{b: b, i: i + 1, depth: depth}
	var m jsonMember
	for it.next(&m) {
	}
	return it.end, !it.err
}

// scanArray scans the array whose opening bracket is b[i].
func scanArray(b []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return 0, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		end, _, _, ok := scanValue(b, i, depth)
		if !ok {
			return 0, false
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ']':
			return i + 1, true
		case ',':
			i = skipWS(b, i+1)
		default:
			return 0, false
		}
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// appendUnquoted appends the decoded content of a scanned JSON string (s is
// what lies between the quotes). As encoding/json does, an unpaired
// surrogate escape becomes U+FFFD.
func appendUnquoted(dst, s []byte, esc bool) []byte {
	if !esc {
		return append(dst, s...)
	}
	for len(s) > 0 {
		j := bytes.IndexByte(s, '\\')
		if j < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:j]...)
		s = s[j:]
		c := s[1]
		s = s[2:]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s)
			s = s[4:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2 = hex4(s[2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					r = dec
					s = s[6:]
				} else {
					r = unicode.ReplacementChar
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
	}
	return dst
}

// jsonInt reads a number that is an integer in int64 range.
func jsonInt(v []byte) (int64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false // a fraction or an exponent
		}
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}
