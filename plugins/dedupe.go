package plugins

import (
	"bytes"

	"github.com/cespare/xxhash/v2"
)

// DedupeKey is the one normalisation that identifies the text copy and the
// JSONL copy of one record (SPEC §4): a 64-bit xxHash of the timestamp as
// written, the level, and the first line of the message with ANSI escapes
// removed and trailing white space trimmed. message is the whole message as
// the logger formatted it, webhook prefix included.
//
// It runs once per record on the agent's hot path, so it copies the line's
// escape-free runs into a stack buffer and hashes that in one call.
func DedupeKey(timestampRaw, level string, message []byte) uint64 {
	if i := bytes.IndexByte(message, '\n'); i >= 0 {
		message = message[:i]
	}
	var stack [512]byte
	buf := append(stack[:0], timestampRaw...)
	buf = append(buf, 0)
	buf = append(buf, level...)
	buf = append(buf, 0)
	buf = AppendStripped(buf, message)
	// Trailing white space is not part of the key.
	end := len(buf)
	for end > 0 && (buf[end-1] == ' ' || buf[end-1] == '\t' || buf[end-1] == '\r') {
		end--
	}
	return xxhash.Sum64(buf[:end])
}

// AppendStripped appends src to dst without its ANSI escape sequences. It
// is the grammar DedupeKey uses: a parser that strips messages with it
// stores what the key hashes.
func AppendStripped(dst, src []byte) []byte {
	for {
		i := bytes.IndexByte(src, 0x1b)
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i]...)
		src = src[SkipEscape(src, i):]
	}
}

// SkipEscape returns the index just past the escape sequence that starts at
// b[i] (an ESC byte): CSI sequences `ESC [ params intermediates final` and
// two-byte `ESC X` sequences.
func SkipEscape(b []byte, i int) int {
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
