// Package fieldmap is what the generic built-in parsers (json, logfmt and
// regex) share: the `fields` mapping from a record's keys to entry fields,
// the `time_format` option and timestamp parsing, the decoding and
// diagnosis of parser_config, text sanitising, and Batch, which assembles a
// Parse call's entries with a few allocations per batch instead of several
// per record.
//
// The parser_config keys it reads:
//
//	fields = {                           # entry field = key, or a list of keys (the first present wins)
//	  timestamp = ["time", "ts"]
//	  hook_id   = "fields.hook_id"       # json: a dotted path into nested objects
//	  step      = ""                     # "" or []: never set this field
//	}
//	time_format = "rfc3339"              # auto (default), rfc3339, unix, unix_ms, unix_us, unix_ns, or a Go layout
//
// A field left out of `fields` keeps its default keys (DefaultKeys): its own
// name and a few common aliases, so that a record carrying "hook_id" or
// "msg" needs no configuration at all.
//
// What every generic parser does the same way: levels are kept as written
// but upper-cased ("warn" → "WARN"; the aggregator's aliases then match
// WARN with WARNING); a record that does not parse becomes an entry with
// ParseError set and the record as read, made valid UTF-8 without NUL, as
// its message, never an error; DedupeKey is plugins.DedupeKey(timestamp as
// written, level, message) for each parsed entry that has a timestamp, and
// zero otherwise (without a timestamp two records with the same text could
// not be told from two copies of one).
package fieldmap

import (
	"slices"
	"strconv"
	"strings"
)

// Field is an entry field a record's key can give.
type Field uint8

// The mappable entry fields, in the order the documentation lists them.
const (
	// Timestamp gives Entry.TimestampRaw (as written) and TimestampUS.
	Timestamp Field = iota
	// Level gives Entry.Level, upper-cased.
	Level
	Message
	LoggerName
	HookID
	EventType
	Repository
	// PRNumber must be a positive integer; another value stays in Details.
	PRNumber
	GithubUser
	TaskID
	TaskType
	TaskStatus
	// TokenSpend must be a non-negative integer; another value stays in
	// Details.
	TokenSpend
	Step
	ExcInfo

	// NumFields is the number of mappable fields.
	NumFields
)

var fieldNames = [NumFields]string{
	Timestamp:  "timestamp",
	Level:      "level",
	Message:    "message",
	LoggerName: "logger_name",
	HookID:     "hook_id",
	EventType:  "event_type",
	Repository: "repository",
	PRNumber:   "pr_number",
	GithubUser: "github_user",
	TaskID:     "task_id",
	TaskType:   "task_type",
	TaskStatus: "task_status",
	TokenSpend: "token_spend",
	Step:       "step",
	ExcInfo:    "exc_info",
}

// String returns the field's name in `fields`, the name of its column in
// the aggregator.
func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return "field(" + strconv.Itoa(int(f)) + ")"
}

// isNumeric reports whether f holds an integer rather than a string.
func (f Field) isNumeric() bool { return f == PRNumber || f == TokenSpend }

// FieldByName returns the field called name in `fields`.
func FieldByName(name string) (Field, bool) {
	for f, n := range fieldNames {
		if n == name {
			return Field(f), true
		}
	}
	return 0, false
}

// FieldNames lists the names of the mappable fields, sorted.
func FieldNames() []string {
	names := slices.Clone(fieldNames[:])
	slices.Sort(names)
	return names
}

// defaultKeys are the keys each field is read from when `fields` does not
// name it: its own name first, then the aliases of common loggers (zap,
// logrus, slog, zerolog, Python's logging and json loggers, Logstash,
// hclog, the webhook server's log_entry JSON).
var defaultKeys = [NumFields][]string{
	Timestamp:  {"time", "timestamp", "ts", "@timestamp", "asctime"},
	Level:      {"level", "lvl", "severity", "levelname", "@level"},
	Message:    {"msg", "message", "@message"},
	LoggerName: {"logger_name", "logger"},
	HookID:     {"hook_id"},
	EventType:  {"event_type"},
	Repository: {"repository", "repo"},
	PRNumber:   {"pr_number"},
	GithubUser: {"github_user", "api_user"},
	TaskID:     {"task_id"},
	TaskType:   {"task_type"},
	TaskStatus: {"task_status"},
	TokenSpend: {"token_spend"},
	Step:       {"step"},
	ExcInfo:    {"exc_info"},
}

// DefaultKeys returns the keys f is read from when `fields` does not name
// it, in order of preference.
func DefaultKeys(f Field) []string { return slices.Clone(defaultKeys[f]) }

// Slot is one use of a key: the field it gives and its rank among the
// field's keys, lower first.
type Slot struct {
	Field Field
	Rank  int
}

// Mapping says which keys of a record give which entry field. It is
// immutable once built and safe for concurrent use.
type Mapping struct {
	keys     [NumFields][]string
	explicit [NumFields]bool
	index    *Table[[]Slot]
}

// NewMapping returns the mapping that reads each field from keys[f], or
// from DefaultKeys(f) when keys[f] is nil. A non-nil empty list maps the
// field to nothing. A key may give several fields.
func NewMapping(keys [NumFields][]string) *Mapping {
	m := &Mapping{}
	index := make(map[string][]Slot)
	for f := range NumFields {
		ks := keys[f]
		if ks == nil {
			ks = defaultKeys[f]
		} else {
			m.explicit[f] = true
		}
		for _, k := range ks {
			if k == "" || slices.Contains(m.keys[f], k) {
				continue
			}
			index[k] = append(index[k], Slot{Field: f, Rank: len(m.keys[f])})
			m.keys[f] = append(m.keys[f], k)
		}
	}
	m.index = NewTable(index)
	return m
}

// Keys returns the keys f is read from, in order of preference.
func (m *Mapping) Keys(f Field) []string { return m.keys[f] }

// Explicit reports whether `fields` named f, rather than f keeping its
// default keys.
func (m *Mapping) Explicit(f Field) bool { return m.explicit[f] }

// Lookup returns the fields key gives. It does not allocate.
func (m *Mapping) Lookup(key []byte) []Slot {
	v, _ := m.index.Lookup(key)
	return v
}

// Describe renders the mapping of f for messages: `"a", "b"`.
func (m *Mapping) Describe(f Field) string {
	var b strings.Builder
	for i, k := range m.keys[f] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + k + `"`)
	}
	return b.String()
}

// Picker chooses, for each field, the best-ranked of a record's items
// (pairs, members, groups) that offer it. An item offered later with the
// same rank replaces an earlier one, so of duplicate keys the last wins.
type Picker struct {
	best [NumFields]pick
}

type pick struct {
	item int // -1: none
	rank int
}

// Reset forgets every pick.
func (p *Picker) Reset() {
	for i := range p.best {
		p.best[i] = pick{item: -1}
	}
}

// Offer offers item for the fields of slots.
func (p *Picker) Offer(item int, slots []Slot) {
	for _, s := range slots {
		b := &p.best[s.Field]
		if b.item < 0 || s.Rank <= b.rank {
			*b = pick{item: item, rank: s.Rank}
		}
	}
}

// Chosen returns the item picked for f.
func (p *Picker) Chosen(f Field) (int, bool) {
	it := p.best[f].item
	return it, it >= 0
}

// Drop forgets the pick of f, e.g. when its value could not be converted.
func (p *Picker) Drop(f Field) { p.best[f] = pick{item: -1} }

// MarkUsed sets used[item] for every item picked for a field.
func (p *Picker) MarkUsed(used []bool) {
	for _, b := range p.best {
		if b.item >= 0 {
			used[b.item] = true
		}
	}
}
