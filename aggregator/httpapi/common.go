package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	contentTypeJSON = "application/json"
	detailInternal  = "Internal server error"
	// maxPathParamLen is upstream's max_length for path parameters.
	maxPathParamLen = 100
	// maxLimit bounds every limit parameter of the log viewer family.
	maxLimit = 10000
)

// detailBody is FastAPI's HTTPException body.
type detailBody struct {
	Detail string `json:"detail"`
}

// writeJSON writes one small value as the whole response. A write error
// means the client went away; there is nobody left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeDetail writes FastAPI's {"detail": "<message>"}.
func writeDetail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, detailBody{Detail: msg})
}

// jsonStream writes one large JSON document piece by piece: literal
// punctuation through raw, every value through its own small encoding, so
// no document-sized buffer is ever built. The first error sticks.
type jsonStream struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

func newJSONStream(w io.Writer) *jsonStream {
	s := &jsonStream{w: bufio.NewWriterSize(w, 32<<10)}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

// raw writes literal JSON text.
func (s *jsonStream) raw(text string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(text)
	}
}

// value writes v encoded as JSON.
func (s *jsonStream) value(v any) {
	if s.err != nil {
		return
	}
	s.buf.Reset()
	if err := s.enc.Encode(v); err != nil {
		s.err = fmt.Errorf("encode %T: %w", v, err)
		return
	}
	b := s.buf.Bytes()
	_, s.err = s.w.Write(b[:len(b)-1]) // drop Encode's newline
}

// field writes `"name":` followed by v, preceded by a comma unless first.
func (s *jsonStream) field(name string, v any, first bool) {
	if !first {
		s.raw(",")
	}
	s.raw(strconv.Quote(name) + ":")
	s.value(v)
}

// finish flushes the buffered tail and reports the first error.
func (s *jsonStream) finish() error {
	if s.err != nil {
		return s.err
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush response: %w", err)
	}
	return nil
}

// validationError is one item of FastAPI's 422 {"detail": [...]} list.
type validationError struct {
	Type  string         `json:"type"`
	Loc   []string       `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// writeValidation writes FastAPI's 422 answer.
func writeValidation(w http.ResponseWriter, errs []validationError) {
	writeJSON(w, http.StatusUnprocessableEntity, struct {
		Detail []validationError `json:"detail"`
	}{errs})
}

// checkPathParam validates a path parameter's length (1..100 characters,
// counted as Python does: code points) and appends FastAPI's error.
func checkPathParam(errs []validationError, name, value string) []validationError {
	n := utf8.RuneCountInString(value)
	switch {
	case n > maxPathParamLen:
		errs = append(errs, validationError{
			Type:  "string_too_long",
			Loc:   []string{"path", name},
			Msg:   fmt.Sprintf("String should have at most %d characters", maxPathParamLen),
			Input: value,
			Ctx:   map[string]any{"max_length": maxPathParamLen},
		})
	case n < 1:
		errs = append(errs, validationError{
			Type:  "string_too_short",
			Loc:   []string{"path", name},
			Msg:   "String should have at least 1 character",
			Input: value,
			Ctx:   map[string]any{"min_length": 1},
		})
	}
	return errs
}

// queryParams reads query parameters the way FastAPI does (the last of
// repeated values wins) and collects validation errors.
type queryParams struct {
	values url.Values
	errs   []validationError
}

func newQueryParams(r *http.Request) *queryParams {
	// ParseQuery keeps every well-formed pair; malformed ones are dropped,
	// as Starlette drops them.
	v, _ := url.ParseQuery(r.URL.RawQuery)
	return &queryParams{values: v}
}

// lookup returns the last value of name and whether it was given.
func (q *queryParams) lookup(name string) (string, bool) {
	vs := q.values[name]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// str returns a string filter; absent and empty both mean "no filter".
func (q *queryParams) str(name string) string {
	v, _ := q.lookup(name)
	return v
}

// intRule bounds an integer parameter (FastAPI's ge/le).
type intRule struct {
	def            int64
	min, max       int64
	hasMin, hasMax bool
}

// toInt converts a parameter to int, clamping on 32-bit platforms.
func toInt(v int64) int {
	return int(max(min(v, math.MaxInt), math.MinInt))
}

// offsetRule is the rule of every offset parameter: >= 0, default 0.
func offsetRule() intRule { return intRule{hasMin: true} }

// intParam is the outcome of reading an integer parameter.
type intParam struct {
	value int64
	set   bool
	// huge is true when the value is beyond int64 but within the rule's
	// bounds (Python ints are unbounded): nothing can match it.
	huge bool
}

// integer reads an integer parameter, appending FastAPI's 422 errors.
func (q *queryParams) integer(name string, rule intRule) intParam {
	raw, ok := q.lookup(name)
	if !ok {
		return intParam{value: rule.def}
	}
	loc := []string{"query", name}
	v, overflow, ok := parsePyInt(raw)
	if !ok {
		q.errs = append(q.errs, validationError{
			Type:  "int_parsing",
			Loc:   loc,
			Msg:   "Input should be a valid integer, unable to parse string as an integer",
			Input: raw,
		})
		return intParam{value: rule.def}
	}
	below := overflow < 0 || (overflow == 0 && v < rule.min)
	above := overflow > 0 || (overflow == 0 && v > rule.max)
	switch {
	case rule.hasMin && below:
		q.errs = append(q.errs, validationError{
			Type:  "greater_than_equal",
			Loc:   loc,
			Msg:   fmt.Sprintf("Input should be greater than or equal to %d", rule.min),
			Input: raw,
			Ctx:   map[string]any{"ge": rule.min},
		})
		return intParam{value: rule.def}
	case rule.hasMax && above:
		q.errs = append(q.errs, validationError{
			Type:  "less_than_equal",
			Loc:   loc,
			Msg:   fmt.Sprintf("Input should be less than or equal to %d", rule.max),
			Input: raw,
			Ctx:   map[string]any{"le": rule.max},
		})
		return intParam{value: rule.def}
	}
	return intParam{value: v, set: true, huge: overflow != 0}
}

// parsePyInt parses s as pydantic's lax mode parses a string into an int:
// surrounding whitespace is ignored, a sign is allowed and a fraction of
// zeros ("10.0") is accepted. overflow is +1 or -1 when the value is a
// valid integer beyond int64 (v is then clamped).
func parsePyInt(s string) (v int64, overflow int, ok bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		if strings.Trim(s[i+1:], "0") != "" {
			return 0, 0, false
		}
		s = s[:i]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return v, 0, true
	}
	if errors.Is(err, strconv.ErrRange) {
		if strings.HasPrefix(s, "-") {
			return math.MinInt64, -1, true
		}
		return math.MaxInt64, 1, true
	}
	return 0, 0, false
}

// invalidTimeDetail is upstream's 400 message for an unparseable time.
func invalidTimeDetail(name, value string) string {
	return fmt.Sprintf("Invalid %s format: %s. Expected ISO 8601 format (e.g. 2026-07-31T10:15:02Z)", name, value)
}

// parseISOTime parses what Python's datetime.fromisoformat accepts (after
// upstream's Z→+00:00), in UTC: a date, optionally followed by 'T' or ' '
// and HH[:MM[:SS[.fff…]]], optionally followed by Z or ±HH[:MM[:SS]] or
// ±HHMM. A value without an offset is UTC. A '+' decoded from a URL as a
// space before the offset is accepted too. Fractions beyond microseconds
// are truncated.
func parseISOTime(s string) (time.Time, bool) {
	p := isoParser{s: s}
	year, ok1 := p.digits(4)
	ok2 := p.lit('-')
	month, ok3 := p.digits(2)
	ok4 := p.lit('-')
	day, ok5 := p.digits(2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || year < 1 {
		return time.Time{}, false
	}
	var hour, minute, sec, micro int
	loc := time.UTC
	if !p.done() {
		if c := p.s[p.i]; c != 'T' && c != 't' && c != ' ' {
			return time.Time{}, false
		}
		p.i++
		var ok bool
		if hour, minute, sec, micro, ok = p.clock(); !ok {
			return time.Time{}, false
		}
		if !p.done() {
			if loc, ok = p.zone(); !ok || !p.done() {
				return time.Time{}, false
			}
		}
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, micro*1000, loc)
	if t.Day() != day { // Feb 30 and friends
		return time.Time{}, false
	}
	return t.UTC(), true
}

// isoParser is a cursor over an ISO 8601 string.
type isoParser struct {
	s string
	i int
}

func (p *isoParser) done() bool { return p.i >= len(p.s) }

func (p *isoParser) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads exactly n ASCII digits.
func (p *isoParser) digits(n int) (int, bool) {
	if p.i+n > len(p.s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v, true
}

// clock reads HH[:MM[:SS[.fff…]]].
func (p *isoParser) clock() (hour, minute, sec, micro int, ok bool) {
	if hour, ok = p.digits(2); !ok {
		return
	}
	if !p.lit(':') {
		return hour, 0, 0, 0, true
	}
	if minute, ok = p.digits(2); !ok {
		return
	}
	if !p.lit(':') {
		return hour, minute, 0, 0, true
	}
	if sec, ok = p.digits(2); !ok {
		return
	}
	if p.lit('.') || p.lit(',') {
		n := 0
		for !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			if n < 6 {
				micro = micro*10 + int(p.s[p.i]-'0')
			}
			n++
			p.i++
		}
		if n == 0 {
			return 0, 0, 0, 0, false
		}
		for ; n < 6; n++ {
			micro *= 10
		}
	}
	return hour, minute, sec, micro, true
}

// zone reads Z or ±HH[:MM[:SS[.ffffff]]] or ±HHMM (a space stands for a
// '+' that URL decoding turned into one).
func (p *isoParser) zone() (*time.Location, bool) {
	c := p.s[p.i]
	p.i++
	sign := 1
	switch c {
	case 'Z', 'z':
		return time.UTC, true
	case '+', ' ':
	case '-':
		sign = -1
	default:
		return nil, false
	}
	hh, ok := p.digits(2)
	if !ok {
		return nil, false
	}
	mm, ss := 0, 0
	if p.lit(':') {
		if mm, ok = p.digits(2); !ok {
			return nil, false
		}
		if p.lit(':') {
			if ss, ok = p.digits(2); !ok {
				return nil, false
			}
			if p.lit('.') {
				// Sub-second offsets exist in Python; ignore the fraction.
				n := 0
				for !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
					p.i++
					n++
				}
				if n == 0 {
					return nil, false
				}
			}
		}
	} else if !p.done() {
		if mm, ok = p.digits(2); !ok {
			return nil, false
		}
	}
	if hh > 23 || mm > 59 || ss > 59 {
		return nil, false
	}
	return time.FixedZone("", sign*(hh*3600+mm*60+ss)), true
}

// isoformat formats t as Python's datetime.isoformat() does for an aware
// UTC datetime: microseconds, omitted when zero, and +00:00.
func isoformat(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}

// isoOrNil is isoformat for a possibly unknown (zero) time.
func isoOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := isoformat(t)
	return &s
}

// strOrNil maps the empty string (unknown) to null.
func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// countEstimate is upstream's string form of a log count: "1.2M", "34.5K",
// "123", "0".
func countEstimate(n int64) string {
	switch {
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1_000_000, 'f', 1, 64) + "M"
	case n >= 1_000:
		return strconv.FormatFloat(float64(n)/1_000, 'f', 1, 64) + "K"
	default:
		return strconv.FormatInt(n, 10)
	}
}
