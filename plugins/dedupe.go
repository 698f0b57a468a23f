package plugins

import "bytes"

// DedupeKey is the one normalisation that identifies the text copy and the
// JSONL copy of one record (SPEC §4): a 64-bit FNV-1a hash of the timestamp
// as written, the level, and the first line of the message with ANSI escapes
// removed and trailing white space trimmed. message is the whole message as
// the logger formatted it, webhook prefix included.
func DedupeKey(timestampRaw, level string, message []byte) uint64 {
	if i := bytes.IndexByte(message, '\n'); i >= 0 {
		message = message[:i]
	}
	h := uint64(fnvOffset)
	h = fnvString(h, timestampRaw)
	h = fnvByte(h, 0)
	h = fnvString(h, level)
	h = fnvByte(h, 0)
	// Strip ANSI CSI/escape sequences on the fly and hold back trailing
	// white space until a non-space byte proves it is not trailing.
	pending := 0
	for i := 0; i < len(message); i++ {
		c := message[i]
		if c == 0x1b {
			i = skipEscape(message, i) - 1
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' {
			pending++
			continue
		}
		for ; pending > 0; pending-- {
			h = fnvByte(h, ' ')
		}
		h = fnvByte(h, c)
	}
	return h
}

// skipEscape returns the index just past the escape sequence that starts at
// b[i] (an ESC byte): CSI sequences `ESC [ params intermediates final` and
// two-byte `ESC X` sequences.
func skipEscape(b []byte, i int) int {
	i++ // ESC
	if i >= len(b) {
		return i
	}
	if b[i] != '[' {
		if b[i] >= '@' && b[i] <= '_' {
			return i + 1
		}
		return i
	}
	i++
	for i < len(b) && b[i] >= 0x30 && b[i] <= 0x3f {
		i++
	}
	for i < len(b) && b[i] >= 0x20 && b[i] <= 0x2f {
		i++
	}
	if i < len(b) && b[i] >= 0x40 && b[i] <= 0x7e {
		i++
	}
	return i
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime }

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}
