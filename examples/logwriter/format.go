package logwriter

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// level is a python-simple-logger level.
type level uint8

const (
	levelDebug level = iota
	levelInfo
	levelWarning
	levelError
	levelCritical
	levelSuccess // 4.0.x and older only
	levelStep    // 4.0.x and older only
)

// levelNames and levelColours are colorlog's output for simple-logger's
// log_colors map: CRITICAL is "red,bg_white", i.e. two escapes.
var (
	levelNames   = [...]string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "SUCCESS", "STEP"}
	levelColours = [...]string{"\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[31m\x1b[47m", "\x1b[1;32m", "\x1b[1;36m"}
)

func (l level) String() string { return levelNames[l] }

const ansiReset = "\x1b[0m"

// shape is which of upstream's prefix shapes a record's message carries.
type shape uint8

const (
	// shapeNone: helpers that log without a prefix (rate-limit lines).
	shapeNone shape = iota
	// shapeRequest: app.py request handler, ` [event][delivery]:` (no repo,
	// hence a leading space).
	shapeRequest
	// shapeBackground: app.py background task, `repo [event][delivery]:`.
	shapeBackground
	// shapeHandler: GithubWebhook and handlers, coloured repo plus api user
	// and `[PR n]` once known.
	shapeHandler
)

// appendISO appends Python's datetime.isoformat() of t: microseconds, the
// fraction omitted when they are zero, and `+00:00` unless naive.
func appendISO(dst []byte, t time.Time, naive bool) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	dst = appendPad(dst, year, 4)
	dst = append(dst, '-')
	dst = appendPad(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendPad(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendPad(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, sec, 2)
	if us := t.Nanosecond() / 1000; us != 0 {
		dst = append(dst, '.')
		dst = appendPad(dst, us, 6)
	}
	if !naive {
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		dst = append(dst, sign)
		dst = appendPad(dst, off/3600, 2)
		dst = append(dst, ':')
		dst = appendPad(dst, off%3600/60, 2)
	}
	return dst
}

// pyStr is Python's str(datetime) for an aware UTC datetime:
// `2026-07-31 10:58:40+00:00` or `2026-07-31 10:15:02.688197+00:00`.
func pyStr(t time.Time) string {
	b := appendISO(make([]byte, 0, 32), t.UTC(), false)
	b[10] = ' '
	return string(b)
}

func appendPad(dst []byte, v, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// sanitize is upstream's _sanitize_log_value: newlines become spaces and
// brackets are backslash-escaped.
func sanitize(s string) string {
	if !strings.ContainsAny(s, "\n\r[]") {
		return s
	}
	r := strings.NewReplacer("\n", " ", "\r", " ", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// formatDuration is upstream's app_utils.format_duration.
func formatDuration(ms int64) string {
	if ms < 1000 {
		return strconv.FormatInt(ms, 10) + "ms"
	}
	s := ms / 1000
	if s < 60 {
		if rem := ms % 1000; rem > 0 {
			return strconv.FormatInt(s, 10) + "s" + strconv.FormatInt(rem, 10) + "ms"
		}
		return strconv.FormatInt(s, 10) + "s"
	}
	m := s / 60
	if m < 60 {
		if rem := s % 60; rem > 0 {
			return strconv.FormatInt(m, 10) + "m" + strconv.FormatInt(rem, 10) + "s"
		}
		return strconv.FormatInt(m, 10) + "m"
	}
	h := m / 60
	if rem := m % 60; rem > 0 {
		return strconv.FormatInt(h, 10) + "h" + strconv.FormatInt(rem, 10) + "m"
	}
	return strconv.FormatInt(h, 10) + "h"
}

// writtenDuration is the number of milliseconds a reader recovers from
// formatDuration(ms): the value loses precision above a minute.
func writtenDuration(ms int64) int64 {
	switch {
	case ms < 60_000:
		return ms
	case ms < 3_600_000:
		return ms / 1000 * 1000
	default:
		return ms / 60_000 * 60_000
	}
}

// stripANSI removes CSI escape sequences (`ESC [ params intermediates
// final`) and two-byte `ESC X` sequences, the class upstream strips.
func stripANSI(s string) string {
	i := strings.IndexByte(s, 0x1b)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[skipEscape(s, i):]
		i = strings.IndexByte(s, 0x1b)
	}
	b.WriteString(s)
	return b.String()
}

// skipEscape returns the index just past the escape sequence at s[i].
func skipEscape(s string, i int) int {
	i++
	if i >= len(s) {
		return i
	}
	if s[i] != '[' {
		if s[i] >= '@' && s[i] <= '_' {
			return i + 1
		}
		return i
	}
	i++
	for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
		i++
	}
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// pyLen is len() of the Python str a record was formatted to, which is
// what RotatingFileHandler compares with maxBytes.
func pyLen(b []byte) int64 {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return int64(utf8.RuneCount(b))
		}
	}
	return int64(len(b))
}
