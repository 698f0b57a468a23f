package webhookserver

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
)

// This file reads the lines of webhooks_YYYY-MM-DD.json (reference §2.2):
//
//   - a log_entry is the JSON copy of a text log record. It becomes the
//     same entry as its text copy: same TimestampRaw, level and DedupeKey;
//     the message goes through the text parser's steps (prefix, DuplicateFilter
//     suffix, markers, summary line, token spend) and, when the record
//     carries exc_info, is followed by a newline and the traceback as in the
//     text file, so that whichever copy the aggregator stores first, the
//     stored message is the same. ExcInfo holds the traceback as well. The
//     hook keys (hook_id, event_type, repository, pr_number, api_user) win
//     over the message's prefix when set; empty or null they leave it.
//   - a webhook_summary (type "webhook_summary", or no type at all before
//     2026-03-15) becomes a KindDeliverySummary entry whose Completion
//     carries the outcome, timing, PR, error and workflow steps.
//
// Every key that no typed field takes goes to Details, as written: the
// unknown keys of a log_entry; a summary's initial_rate_limit,
// final_rate_limit and summary; a pr, timing or error object that holds a
// key besides the mapped ones (pr.author always does) is kept whole. A
// step's keys other than timestamp, status, duration_ms and error go to the
// step's Details, and so does its error object when it holds other keys.
//
// A line that is not a JSON object, has a wrong type for a known key, a
// known key twice, an unknown type, an invalid or out-of-range timestamp,
// invalid UTF-8, or lacks what its type needs (a log_entry's timestamp,
// level and message; a summary's hook_id and outcome) becomes a ParseError
// entry holding the line as read.

// jsonKey is the meaning of a JSONL key.
type jsonKey uint8

const (
	keyOther jsonKey = iota
	keyType
	keyTimestamp
	keyLevel
	keyLoggerName
	keyMessage
	keyExcInfo
	keyHookID
	keyEventType
	keyRepository
	keyPRNumber
	keyAPIUser
	keyTokenSpend
	keyStatus
	keyAction
	keySender
	keyRepositoryFullName
	keyPR
	keyTiming
	keyWorkflowSteps
	keySuccess
	keyError
	nKeys
)

// keyMask is a set of jsonKeys.
type keyMask uint32

func maskOf(keys ...jsonKey) keyMask {
	var m keyMask
	for _, k := range keys {
		m |= 1 << k
	}
	return m
}

func (m keyMask) has(k jsonKey) bool { return m&(1<<k) != 0 }

// The keys each record type maps into typed fields.
var (
	logEntryKeys = maskOf(keyType, keyTimestamp, keyLevel, keyLoggerName, keyMessage, keyExcInfo,
		keyHookID, keyEventType, keyRepository, keyPRNumber, keyAPIUser, keyTokenSpend)
	summaryKeys = maskOf(keyType, keyLevel, keyHookID, keyEventType, keyRepository, keyAPIUser,
		keyTokenSpend, keyStatus, keyAction, keySender, keyRepositoryFullName, keyPR, keyTiming,
		keyWorkflowSteps, keySuccess, keyError)
)

// lookupKey returns the meaning of a top-level key.
func lookupKey(name []byte) jsonKey {
	switch string(name) {
	case "type":
		return keyType
	case "timestamp":
		return keyTimestamp
	case "level":
		return keyLevel
	case "logger_name":
		return keyLoggerName
	case "message":
		return keyMessage
	case "exc_info":
		return keyExcInfo
	case "hook_id":
		return keyHookID
	case "event_type":
		return keyEventType
	case "repository":
		return keyRepository
	case "pr_number":
		return keyPRNumber
	case "api_user":
		return keyAPIUser
	case "token_spend":
		return keyTokenSpend
	case "status":
		return keyStatus
	case "action":
		return keyAction
	case "sender":
		return keySender
	case "repository_full_name":
		return keyRepositoryFullName
	case "pr":
		return keyPR
	case "timing":
		return keyTiming
	case "workflow_steps":
		return keyWorkflowSteps
	case "success":
		return keySuccess
	case "error":
		return keyError
	}
	return keyOther
}

// keyName returns a member's key decoded. tmp is a small buffer for keys
// with escapes.
func keyName(v *jsonValue, tmp []byte) []byte {
	if !v.keyEsc {
		return v.keyText()
	}
	return appendUnquoted(tmp[:0], v.keyText(), true)
}

// jsonRecord is a scanned JSONL line: its top-level members in order and,
// for each known key, the index+1 of its member.
type jsonRecord struct {
	data    []byte
	members []jsonMember
	slot    [nKeys]int32
}

// get returns the member of a known key; the zero jsonValue if absent.
func (r *jsonRecord) get(k jsonKey) jsonValue {
	if i := r.slot[k]; i > 0 {
		return jsonValue{b: r.data, jsonMember: r.members[i-1]}
	}
	return jsonValue{}
}

// Record types.
const (
	typeLogEntry       = "log_entry"
	typeWebhookSummary = "webhook_summary"
)

// reset is colorlog's reset sequence, which ends every message of the text
// copy.
const reset = "\x1b[0m"

// parseJSONL fills e from one line of a JSONL file.
func (s *scratch) parseJSONL(e *plugins.Entry, data []byte, loc *time.Location) {
	r := jsonRecord{data: data}
	ok := s.scanRecord(&r)
	if ok {
		switch typ := r.get(keyType); {
		case !typ.present():
			ok = s.parseSummary(e, &r, loc) // written before 2026-03-15
		case typ.kind != jsonString:
			ok = false
		default:
			var tmp [16]byte
			switch string(appendUnquoted(tmp[:0], typ.str(), typ.esc)) {
			case typeLogEntry:
				ok = s.parseLogEntry(e, &r, loc)
			case typeWebhookSummary:
				ok = s.parseSummary(e, &r, loc)
			default:
				ok = false
			}
		}
	}
	if !ok {
		*e = plugins.Entry{}
		parseError(e, data)
	}
}

// scanRecord scans r.data into r: a JSON object, valid UTF-8, without a
// known key twice.
func (s *scratch) scanRecord(r *jsonRecord) bool {
	if !utf8.Valid(r.data) {
		return false
	}
	it, ok := newObjectIter(r.data, 1)
	if !ok {
		return false
	}
	ms := s.members[:0]
	var tmp [32]byte
	for {
		ms = append(ms, jsonMember{})
		m := &ms[len(ms)-1]
		if !it.next(m) {
			ms = ms[:len(ms)-1]
			break
		}
		v := jsonValue{b: r.data, jsonMember: *m}
		m.id = lookupKey(keyName(&v, tmp[:]))
		if m.id != keyOther {
			if r.slot[m.id] != 0 {
				s.members = ms
				return false
			}
			r.slot[m.id] = int32(len(ms))
		}
	}
	s.members, r.members = ms, ms
	return !it.err && skipWS(r.data, it.end) == len(r.data)
}

// optString reports whether v is absent, null or a string.
func optString(v *jsonValue) bool {
	return v.null() || v.kind == jsonString
}

// optInt reads an integer member; set is false when it is absent or null,
// ok false for any other value.
func optInt(v *jsonValue) (n int64, set, ok bool) {
	if v.null() {
		return 0, false, true
	}
	if v.kind != jsonNumber {
		return 0, false, false
	}
	n, ok = jsonInt(v.val())
	return n, ok, ok
}

// appendText appends the content of a JSON string (between its quotes)
// decoded and ANSI stripped.
func (s *scratch) appendText(dst, str []byte, esc bool) []byte {
	if !esc {
		return plugins.AppendStripped(dst, str)
	}
	s.dec = appendUnquoted(s.dec[:0], str, true)
	return plugins.AppendStripped(dst, s.dec)
}

// jsonTimestamp decodes a timestamp member into dst and converts it: the
// shape of the text header's timestamps, naive ones read in loc.
func jsonTimestamp(dst []byte, v *jsonValue, loc *time.Location) ([]byte, int64, bool) {
	start := len(dst)
	dst = appendUnquoted(dst, v.str(), v.esc)
	ts := dst[start:]
	if n, ok := scanTimestamp(ts); !ok || n != len(ts) {
		return dst, 0, false
	}
	us, ok := parseTimestamp(ts, loc)
	return dst, us, ok
}

// knownLevel returns the level names upstream writes without allocating.
func knownLevel(b []byte) string {
	switch string(b) {
	case levelDebug:
		return levelDebug
	case levelInfo:
		return levelInfo
	case levelWarning:
		return levelWarning
	case levelError:
		return levelError
	case levelCritical:
		return levelCritical
	case levelSuccess:
		return levelSuccess
	case levelStep:
		return levelStep
	case levelHash:
		return levelHash
	case levelNotset:
		return levelNotset
	}
	return ""
}

// parseLogEntry fills e from a log_entry record. It reports false, leaving
// e untouched, when the record is malformed.
func (s *scratch) parseLogEntry(e *plugins.Entry, r *jsonRecord, loc *time.Location) bool {
	ts, level, msg := r.get(keyTimestamp), r.get(keyLevel), r.get(keyMessage)
	if ts.kind != jsonString || level.kind != jsonString || msg.kind != jsonString {
		return false // absent members have no kind
	}
	var strs [nFields]jsonValue
	for _, f := range [...]struct {
		field int
		key   jsonKey
	}{{fLogger, keyLoggerName}, {fHook, keyHookID}, {fEvent, keyEventType}, {fRepo, keyRepository}, {fUser, keyAPIUser}, {fExc, keyExcInfo}} {
		v := r.get(f.key)
		if !optString(&v) {
			return false
		}
		if !v.null() {
			strs[f.field] = v
		}
	}
	strs[fLevel] = level
	prv, tokv := r.get(keyPRNumber), r.get(keyTokenSpend)
	pr, _, ok := optInt(&prv)
	if !ok {
		return false
	}
	tokens, hasTokens, ok := optInt(&tokv)
	if !ok {
		return false
	}

	l := layout{pr: pr, tokenSpend: tokens, hasTokens: hasTokens}
	buf, us, ok := jsonTimestamp(s.buf[:0], &ts, loc)
	if !ok {
		s.buf = buf
		return false
	}
	l.ts = span{0, len(buf)}
	for i := range l.f {
		l.f[i].start = len(buf)
		if v := &strs[i]; v.present() {
			buf = s.appendText(buf, v.str(), v.esc)
		}
		l.f[i].end = len(buf)
	}
	if name := knownLevel(buf[l.f[fLevel].start:l.f[fLevel].end]); name != "" {
		l.levelName = name
		l.f[fLevel].end = l.f[fLevel].start
	}
	// exc_info is the traceback as printed; the text file has it without
	// its final newline (logging.Formatter.formatException), and only when
	// that leaves something.
	if exc := &l.f[fExc]; exc.end > exc.start && buf[exc.end-1] == '\n' {
		exc.end--
	}

	// The message as written, for the dedupe key; decoded last, so that
	// s.dec keeps it.
	raw := msg.str()
	if msg.esc {
		s.dec = appendUnquoted(s.dec[:0], raw, true)
		raw = s.dec
	}
	l.msg.start = len(buf)
	if exc := &strs[fExc]; exc.present() || bytes.IndexByte(raw, '\n') >= 0 {
		// Rebuild the text copy of the record, as colorlog and
		// logging.Formatter.format write it, and read it as the text parser
		// does: <message>\x1b[0m[\n<traceback>].
		rec := append(s.rec[:0], raw...)
		rec = append(rec, reset...)
		if exc.present() {
			n := len(rec)
			rec = appendUnquoted(append(rec, '\n'), exc.str(), exc.esc)
			if rec[len(rec)-1] == '\n' {
				rec = rec[:len(rec)-1]
			}
			if len(rec) == n+1 {
				rec = rec[:n]
			}
		}
		s.rec = rec
		buf = plugins.AppendStripped(buf, trimResetLine(rec))
	} else {
		buf = plugins.AppendStripped(buf, raw)
	}
	l.msg.end = len(buf)

	s.finish(e, &l, buf, us)
	e.DedupeKey = plugins.DedupeKey(e.TimestampRaw, e.Level, raw)
	e.Details = detailsOf(e.Details, r, logEntryKeys, 0)
	return true
}

// dfKey is the Details key of a DuplicateFilter suffix; dfKeyAlt replaces
// it when the record has a key of that name already.
const (
	dfKey    = "duplicate_filter"
	dfKeyAlt = "hooktail_duplicate_filter"
)

// detailsOf renders the Details of a JSONL record: its members that mapped
// does not cover or partial names (kept as written, in order), and the
// DuplicateFilter object of df ({"duplicate_filter":{…}}) if any.
func detailsOf(df json.RawMessage, r *jsonRecord, mapped, partial keyMask) json.RawMessage {
	extra := func(m *jsonMember) bool { return !mapped.has(m.id) || partial.has(m.id) }
	size, clash := 2, false
	var tmp [32]byte
	for i := range r.members {
		if m := &r.members[i]; extra(m) {
			size += m.end - m.start + 1
			v := jsonValue{b: r.data, jsonMember: *m}
			if df != nil && string(keyName(&v, tmp[:])) == dfKey {
				clash = true
			}
		}
	}
	if size == 2 {
		return df
	}
	b := make([]byte, 0, size+len(df)+len(dfKeyAlt))
	b = append(b, '{')
	for i := range r.members {
		if m := &r.members[i]; extra(m) {
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = append(b, r.data[m.start:m.end]...)
		}
	}
	if df != nil {
		const head = `{"` + dfKey + `":`
		name := dfKey
		if clash {
			name = dfKeyAlt
		}
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		b = append(b, df[len(head):len(df)-1]...)
	}
	return append(b, '}')
}
