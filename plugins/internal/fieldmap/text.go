package fieldmap

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
)

// StripANSI returns data without its ANSI escape sequences (the grammar of
// plugins.AppendStripped), using buf for the copy when there is one to
// remove; data itself is returned when it has none.
func StripANSI(buf, data []byte) (out, newBuf []byte) {
	if bytes.IndexByte(data, 0x1b) < 0 {
		return data, buf
	}
	buf = plugins.AppendStripped(buf[:0], data)
	return buf, buf
}

// AppendUpper appends s upper-cased: ASCII letters directly, other letters
// through unicode.ToUpper. Invalid UTF-8 is copied as it is.
func AppendUpper(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, unicode.ToUpper(r))
		}
		i += size
	}
	return dst
}

// AppendJSONString appends s, valid UTF-8, as a JSON string. Only what
// JSON requires is escaped (no HTML escaping), so that the text stays
// readable and the redaction patterns that run over Details see it as
// written.
func AppendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ParseInt parses s as a decimal integer: an optional sign and at
// least one digit, nothing else.
func ParseInt(s []byte) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	if len(s) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
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
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// AppendUnescaped appends s, the contents of a quoted string in JSON's
// escape grammar (\" \\ \/ \b \f \n \r \t \uXXXX, with surrogate pairs), to
// dst unescaped. The result is valid UTF-8 without NUL when s is: a \u0000
// and a lone surrogate become U+FFFD. An escape outside the grammar is kept
// as written.
func AppendUnescaped(dst, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 || i == len(s)-1 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		n := 2
		switch c := s[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
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
			r, size := decodeU(s)
			if size == 0 {
				dst = append(dst, s[:2]...)
				break
			}
			if r == 0 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			n = size
		default:
			dst = append(dst, s[:2]...)
		}
		s = s[n:]
	}
}

// decodeU decodes the \uXXXX escape that starts s, and the low surrogate
// escape after it when it is a high surrogate. size is 0 when s does not
// start with four hex digits after \u; a lone surrogate is U+FFFD.
func decodeU(s []byte) (rune, int) {
	r, ok := hex4(s[2:])
	if !ok {
		return 0, 0
	}
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if r < 0xdc00 && len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
		if r2, ok := hex4(s[8:]); ok && 0xdc00 <= r2 && r2 <= 0xdfff {
			return utf16.DecodeRune(r, r2), 12
		}
	}
	return utf8.RuneError, 6
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
