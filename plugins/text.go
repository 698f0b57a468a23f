package plugins

import (
	"bytes"
	"unicode/utf8"
)

// IsClean reports whether b is valid UTF-8 without NUL bytes: text every
// store can hold.
func IsClean(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

// AppendClean appends src to dst as valid UTF-8 text: like
// strings.ToValidUTF8(s, "\uFFFD") each run of invalid bytes becomes one
// U+FFFD, and then every NUL byte becomes U+FFFD as well. It is how a
// record that does not parse is kept "as read".
func AppendClean(dst, src []byte) []byte {
	invalid := false
	for len(src) > 0 {
		c := src[0]
		if c != 0 && c < utf8.RuneSelf {
			dst = append(dst, c)
			src = src[1:]
			invalid = false
			continue
		}
		r, size := utf8.DecodeRune(src)
		switch {
		case r == utf8.RuneError && size == 1:
			if !invalid {
				dst = append(dst, "\uFFFD"...)
			}
			invalid = true
		case r == 0:
			dst = append(dst, "\uFFFD"...)
			invalid = false
		default:
			dst = append(dst, src[:size]...)
			invalid = false
		}
		src = src[size:]
	}
	return dst
}
