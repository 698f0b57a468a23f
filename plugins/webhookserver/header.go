package webhookserver

import "time"

// startPattern is the RE2 twin of scanHeader: IsRecordStart(line) reports
// true exactly when startPattern matches line (FuzzParse checks this).
const startPattern = `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})? [^ ]+ ` +
	`(?:\x1b\[[0-?]*[ -/]*[@-~])*(?:DEBUG|INFO|WARNING|ERROR|CRITICAL|SUCCESS|STEP|HASH|NOTSET|Level \d+)` +
	`(?:\x1b\[[0-?]*[ -/]*[@-~])*(?: |$)`

// header locates the parts of a record's first line. All offsets index the
// line.
type header struct {
	tsEnd       int
	loggerStart int
	loggerEnd   int
	levelStart  int
	levelEnd    int
	// level is the level when it is one of the named ones; empty for
	// "Level N", which is taken from the line.
	level string
	// msgStart is the first byte of the message, after the single space
	// that follows the level and its colour codes; len(line) when none.
	msgStart int
}

// scanHeader matches line against the header grammar
//
//	<ts> SP <logger> SP <esc>* <LEVEL> <esc>* (SP <message> | end)
//
// where <ts> is YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM] and <esc> a CSI escape
// sequence. It only checks the shape; parseTimestamp checks the values.
func scanHeader(line []byte) (header, bool) {
	var h header
	i, ok := scanTimestamp(line)
	if !ok || i >= len(line) || line[i] != ' ' {
		return h, false
	}
	h.tsEnd = i
	i++
	h.loggerStart = i
	for i < len(line) && line[i] != ' ' {
		i++
	}
	if i == h.loggerStart || i >= len(line) {
		return h, false
	}
	h.loggerEnd = i
	i = skipCSIs(line, i+1)
	h.levelStart = i
	level, n := matchLevel(line[i:])
	if n == 0 {
		return h, false
	}
	h.level = level
	i += n
	h.levelEnd = i
	i = skipCSIs(line, i)
	if i < len(line) {
		if line[i] != ' ' {
			return h, false
		}
		i++
	}
	h.msgStart = i
	return h, true
}

// scanTimestamp returns the end of the ISO timestamp that starts line.
func scanTimestamp(b []byte) (int, bool) {
	// YYYY-MM-DDTHH:MM:SS
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(b) < len(layout) {
		return 0, false
	}
	for i := 0; i < len(layout); i++ {
		if layout[i] == 'd' {
			if !isDigit(b[i]) {
				return 0, false
			}
		} else if b[i] != layout[i] {
			return 0, false
		}
	}
	i := len(layout)
	if i < len(b) && b[i] == '.' {
		j := i + 1
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if j == i+1 || j-i-1 > 9 {
			return 0, false
		}
		i = j
	}
	if i < len(b) {
		switch b[i] {
		case 'Z':
			i++
		case '+', '-':
			if len(b)-i < 6 || !isDigit(b[i+1]) || !isDigit(b[i+2]) || b[i+3] != ':' ||
				!isDigit(b[i+4]) || !isDigit(b[i+5]) {
				return 0, false
			}
			i += 6
		}
	}
	return i, true
}

// Bounds of a usable time: years 1 to 9999 in UTC. A timestamp that an
// offset or zone moves outside them (0000-01-01T00:00+01:00) cannot be
// stored or formatted downstream, so it is a parse error like month 13.
var (
	minMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// parseTimestamp converts a timestamp accepted by scanTimestamp into Unix
// microseconds, UTC. A timestamp without an offset is read in loc. It fails
// on out-of-range fields (month 13, February 30, hour 24 …) and on times
// outside years 1 to 9999 UTC.
func parseTimestamp(ts []byte, loc *time.Location) (int64, bool) {
	us, ok := parseTimestampFields(ts, loc)
	if !ok || us < minMicros || us > maxMicros {
		return 0, false
	}
	return us, true
}

func parseTimestampFields(ts []byte, loc *time.Location) (int64, bool) {
	year := int64(num(ts[0:4]))
	month := num(ts[5:7])
	day := num(ts[8:10])
	hour := num(ts[11:13])
	minute := num(ts[14:16])
	sec := num(ts[17:19])
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	var micros int64
	if i < len(ts) && ts[i] == '.' {
		i++
		digits := 0
		for i < len(ts) && isDigit(ts[i]) {
			if digits < 6 {
				micros = micros*10 + int64(ts[i]-'0')
			}
			digits++
			i++
		}
		for ; digits < 6; digits++ {
			micros *= 10
		}
	}
	var offset int64
	switch {
	case i == len(ts):
		if loc != time.UTC {
			t := time.Date(int(year), time.Month(month), day, hour, minute, sec, int(micros)*1000, loc)
			return t.UnixMicro(), true
		}
	case ts[i] == 'Z':
	default:
		oh, om := num(ts[i+1:i+3]), num(ts[i+4:i+6])
		if oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if ts[i] == '-' {
			offset = -offset
		}
	}
	secs := daysFromCivil(year, int64(month), int64(day))*86400 +
		int64(hour*3600+minute*60+sec) - offset
	return secs*1_000_000 + micros, true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm); year is 0…9999 here.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(month int, year int64) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Level names as upstream writes them.
const (
	levelDebug    = "DEBUG"
	levelInfo     = "INFO"
	levelWarning  = "WARNING"
	levelError    = "ERROR"
	levelCritical = "CRITICAL"
	levelSuccess  = "SUCCESS"
	levelStep     = "STEP"
	levelHash     = "HASH"
	levelNotset   = "NOTSET"
	levelN        = "Level "
)

// matchLevel returns the level that starts b and its length, or n == 0. For
// Python's "Level N" (an unnamed level) it returns "" and the length.
func matchLevel(b []byte) (level string, n int) {
	if len(b) == 0 {
		return "", 0
	}
	var want string
	switch b[0] {
	case 'D':
		want = levelDebug
	case 'I':
		want = levelInfo
	case 'W':
		want = levelWarning
	case 'E':
		want = levelError
	case 'C':
		want = levelCritical
	case 'S':
		want = levelSuccess
		if len(b) > 1 && b[1] == 'T' {
			want = levelStep
		}
	case 'H':
		want = levelHash
	case 'N':
		want = levelNotset
	case 'L':
		if !hasPrefix(b, levelN) {
			return "", 0
		}
		j := len(levelN)
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if j == len(levelN) {
			return "", 0
		}
		return "", j
	default:
		return "", 0
	}
	if !hasPrefix(b, want) {
		return "", 0
	}
	return want, len(want)
}

// skipCSIs skips the complete CSI escape sequences (ESC [ params
// intermediates final) that start at b[i].
func skipCSIs(b []byte, i int) int {
	for i+1 < len(b) && b[i] == 0x1b && b[i+1] == '[' {
		j := i + 2
		for j < len(b) && b[j] >= 0x30 && b[j] <= 0x3f {
			j++
		}
		for j < len(b) && b[j] >= 0x20 && b[j] <= 0x2f {
			j++
		}
		if j >= len(b) || b[j] < 0x40 || b[j] > 0x7e {
			return i
		}
		i = j + 1
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isSpace is RE2's \s.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// num parses a short run of ASCII digits already checked by the caller.
func num(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// maxDigits bounds the digit runs read into an int64.
const maxDigits = 18

// leadingInt reads the run of ASCII digits that starts b. It returns the
// value and the run's length; n == 0 when b does not start with a digit or
// the run is longer than maxDigits.
func leadingInt(b []byte) (v int64, n int) {
	for n < len(b) && isDigit(b[n]) {
		if n == maxDigits {
			return 0, 0
		}
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

func hasSuffix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[len(b)-len(s):]) == s
}
