package fieldmap

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// TimeFormat is how a record's timestamp is read: the time_format option.
// The zero value is "auto". It is a value type, safe for concurrent use.
//
//   - "auto" (the default) tries, in order: ISO 8601 / RFC 3339
//     (YYYY-MM-DD, 'T' or a space, hh:mm:ss, an optional fraction after '.'
//     or ',', an optional Z, ±hh:mm, ±hhmm or ±hh); a Unix epoch number
//     whose unit is told by its size (below 1e11 seconds, below 1e14
//     milliseconds, below 1e17 microseconds, else nanoseconds); then Go's
//     log layout 2006/01/02 15:04:05, the Common Log Format
//     02/Jan/2006:15:04:05 -0700, RFC 1123 with a numeric zone and ANSI C
//     asctime.
//   - "rfc3339": strictly RFC 3339: 'T', an optional '.' fraction, and a Z
//     or ±hh:mm offset.
//   - "unix", "unix_ms", "unix_us", "unix_ns": an epoch number in that unit,
//     written as a JSON number or a string, with an optional fraction.
//   - anything else is a Go reference layout, e.g. "2006-01-02 15:04:05,000"
//     or "Jan _2 2006 15:04:05 MST"; it must name at least a year.
//
// Timestamps without an offset are read in the source's timezone
// (ParseRequest.Location). Years outside 1…9999 are rejected.
type TimeFormat struct {
	kind   timeKind
	layout string
}

type timeKind uint8

const (
	timeAuto timeKind = iota
	timeRFC3339
	timeUnix
	timeUnixMS
	timeUnixUS
	timeUnixNS
	timeLayout
)

// TimeFormatNames are the named time formats.
var TimeFormatNames = []string{"auto", "rfc3339", "unix", "unix_ms", "unix_us", "unix_ns"}

var namedKinds = map[string]timeKind{
	"auto": timeAuto, "rfc3339": timeRFC3339,
	"unix": timeUnix, "unix_ms": timeUnixMS, "unix_us": timeUnixUS, "unix_ns": timeUnixNS,
}

// layoutCheckTime is formatted with a layout and parsed back to check it.
var layoutCheckTime = time.Date(2026, time.July, 31, 10, 15, 2, 123456789, time.UTC)

// ParseTimeFormat reads a time_format value: a name (any case) or a Go
// layout that names at least a year.
func ParseTimeFormat(s string) (TimeFormat, error) {
	if k, ok := namedKinds[strings.ToLower(s)]; ok {
		return TimeFormat{kind: k}, nil
	}
	formatted := layoutCheckTime.Format(s)
	if formatted == s {
		return TimeFormat{}, fmt.Errorf("%q is neither a named format (%s) nor a Go layout: it has no layout element such as 2006, 01, Jan, 02, 15, 04 or 05",
			s, strings.Join(TimeFormatNames, ", "))
	}
	t, err := time.Parse(s, formatted)
	if err != nil {
		return TimeFormat{}, fmt.Errorf("layout %q cannot read back the time it writes (%q): %w; the named formats are %s",
			s, formatted, err, strings.Join(TimeFormatNames, ", "))
	}
	if t.Year() != layoutCheckTime.Year() {
		return TimeFormat{}, fmt.Errorf("layout %q has no year (2006): its timestamps would fall in year %d; the named formats are %s",
			s, t.Year(), strings.Join(TimeFormatNames, ", "))
	}
	return TimeFormat{kind: timeLayout, layout: s}, nil
}

// String returns the format as time_format writes it.
func (tf TimeFormat) String() string {
	if tf.kind == timeLayout {
		return tf.layout
	}
	for name, k := range namedKinds {
		if k == tf.kind {
			return name
		}
	}
	return "auto"
}

// Bounds of the timestamps accepted: years 1 through 9999.
var (
	minUS = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxUS = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC).UnixMicro()
)

// autoLayouts are the Go layouts "auto" tries after ISO 8601 and epochs.
var autoLayouts = []string{
	"2006/01/02 15:04:05",        // Go's log package; a fraction may follow the seconds
	"02/Jan/2006:15:04:05 -0700", // Common Log Format (nginx, Apache)
	time.RFC1123Z,
	time.ANSIC,
}

// Parse reads the timestamp v in Unix microseconds. Spaces around v are
// ignored. Naive timestamps are read in loc (UTC when nil).
func (tf TimeFormat) Parse(v []byte, loc *time.Location) (int64, bool) {
	v = bytes.TrimSpace(v)
	if loc == nil {
		loc = time.UTC
	}
	var us int64
	var ok bool
	switch tf.kind {
	case timeAuto:
		if us, ok = parseISO(v, loc, false); ok {
			break
		}
		if us, ok = parseEpoch(v, timeAuto); ok {
			break
		}
		if len(v) < 10 || len(v) > 64 {
			return 0, false
		}
		s := string(v)
		for _, layout := range autoLayouts {
			if us, ok = parseLayout(layout, s, loc); ok {
				break
			}
		}
	case timeRFC3339:
		us, ok = parseISO(v, loc, true)
	case timeUnix, timeUnixMS, timeUnixUS, timeUnixNS:
		us, ok = parseEpoch(v, tf.kind)
	case timeLayout:
		us, ok = parseLayout(tf.layout, string(v), loc)
	}
	if !ok || us < minUS || us > maxUS {
		return 0, false
	}
	return us, true
}

func parseLayout(layout, s string, loc *time.Location) (int64, bool) {
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return 0, false
	}
	return t.UnixMicro(), true
}

// parseISO reads YYYY-MM-DD[Tt ]hh:mm:ss[.,fraction][Zz|±hh[:mm]|±hhmm].
// strict is RFC 3339: no space separator, '.' fractions only, and an
// offset, Z or ±hh:mm, is required.
func parseISO(s []byte, loc *time.Location, strict bool) (int64, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	switch s[10] {
	case 'T', 't':
	case ' ':
		if strict {
			return 0, false
		}
	default:
		return 0, false
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	nsec := 0
	if i < len(s) && (s[i] == '.' || s[i] == ',' && !strict) {
		i++
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			if i-start < 9 {
				nsec = nsec*10 + int(s[i]-'0')
			}
			i++
		}
		if i == start {
			return 0, false
		}
		for n := i - start; n < 9; n++ {
			nsec *= 10
		}
	}
	if i == len(s) {
		if strict {
			return 0, false
		}
		return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc).UnixMicro(), true
	}
	offset := 0
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		rest := s[i+1:]
		var oh, om int
		var ok bool
		switch {
		case len(rest) == 5 && rest[2] == ':':
			oh, ok = num(rest[0:2])
			if ok {
				om, ok = num(rest[3:5])
			}
		case len(rest) == 4 && !strict:
			oh, ok = num(rest[0:2])
			if ok {
				om, ok = num(rest[2:4])
			}
		case len(rest) == 2 && !strict:
			oh, ok = num(rest)
		}
		if !ok || oh > 23 || om > 59 {
			return 0, false
		}
		offset = sign * (oh*3600 + om*60)
		i = len(s)
	default:
		return 0, false
	}
	if i != len(s) {
		return 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.UnixMicro() - int64(offset)*1e6, true
}

// num reads a run of decimal digits.
func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
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

// parseEpoch reads a Unix epoch number, -?digits[.digits][e±digits], in
// the unit of kind; timeAuto tells the unit by the size of the integer
// part.
func parseEpoch(s []byte, kind timeKind) (int64, bool) {
	neg := false
	b := s
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	i := 0
	var whole uint64
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		if i == 19 {
			return 0, false
		}
		whole = whole*10 + uint64(b[i]-'0')
		i++
	}
	if i == 0 {
		return 0, false
	}
	var frac []byte
	if i < len(b) && b[i] == '.' {
		start := i + 1
		i = start
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false
		}
		frac = b[start:i]
	}
	if i < len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return 0, false
		}
		return parseEpochFloat(s, kind)
	}
	if whole > math.MaxInt64 {
		return 0, false
	}
	if kind == timeAuto {
		kind = epochUnit(float64(whole))
	}
	// sec and nsec carry the sign; time.Unix normalises them, flooring.
	var sec, nsec int64
	w := int64(whole)
	switch kind {
	case timeUnix:
		sec, nsec = w, fracNanos(frac, 9)
	case timeUnixMS:
		sec, nsec = w/1e3, w%1e3*1e6+fracNanos(frac, 6)
	case timeUnixUS:
		sec, nsec = w/1e6, w%1e6*1e3+fracNanos(frac, 3)
	default:
		sec, nsec = w/1e9, w%1e9
	}
	// Out of the accepted years anyway; time.Unix would overflow.
	if sec > 1<<40 {
		return 0, false
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec).UnixMicro(), true
}

// fracNanos reads the first digits digits of frac, padded with zeros.
func fracNanos(frac []byte, digits int) int64 {
	var n int64
	for i := range digits {
		n *= 10
		if i < len(frac) {
			n += int64(frac[i] - '0')
		}
	}
	return n
}

func epochUnit(abs float64) timeKind {
	switch {
	case abs < 1e11:
		return timeUnix
	case abs < 1e14:
		return timeUnixMS
	case abs < 1e17:
		return timeUnixUS
	}
	return timeUnixNS
}

// parseEpochFloat reads an epoch written with an exponent.
func parseEpochFloat(s []byte, kind timeKind) (int64, bool) {
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	if kind == timeAuto {
		kind = epochUnit(math.Abs(f))
	}
	switch kind {
	case timeUnix:
		f *= 1e6
	case timeUnixMS:
		f *= 1e3
	case timeUnixNS:
		f /= 1e3
	}
	f = math.Floor(f)
	if f < float64(minUS) || f > float64(maxUS) {
		return 0, false
	}
	return int64(f), true
}
