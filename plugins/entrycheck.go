package plugins

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The range of event times an entry may carry: years 1 to 9999 UTC, what
// the aggregator can store. Zero, the unknown time, is inside it.
const (
	// MinTimestampUS is 0001-01-01T00:00:00Z in Unix microseconds.
	MinTimestampUS int64 = -62135596800000000
	// MaxTimestampUS is 9999-12-31T23:59:59.999999Z in Unix microseconds.
	MaxTimestampUS int64 = 253402300799999999
)

// RawEntry is the entry of a record no parser could handle: its data as
// the message (invalid UTF-8 replaced by U+FFFD), flagged ParseError.
func RawEntry(data []byte) Entry {
	msg := string(data)
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	return Entry{Message: msg, ParseError: true}
}

// CheckEntry reports why an entry cannot be shipped as it is: a string
// field that is not valid UTF-8, a time outside MinTimestampUS ..
// MaxTimestampUS, or an unknown Kind. A plugin's entries are checked at the
// protocol edge, and one that fails is replaced by the RawEntry of its
// record, never dropped.
func CheckEntry(e *Entry) error {
	if err := checkTime("timestamp", e.TimestampUS); err != nil {
		return err
	}
	if e.Kind != KindLog && e.Kind != KindDeliverySummary {
		return fmt.Errorf("unknown kind %d", e.Kind)
	}
	if !validUTF8(e.TimestampRaw, e.Level, e.LoggerName, e.Message, e.HookID, e.EventType,
		e.Repository, e.GithubUser, e.TaskID, e.TaskType, e.TaskStatus, e.Step, e.ExcInfo) || !utf8.Valid(e.Details) {
		return fmt.Errorf("invalid UTF-8 in a text field")
	}
	if c := e.Completion; c != nil {
		if err := checkTime("completion started_at", c.StartedAtUS); err != nil {
			return err
		}
		if err := checkTime("completion completed_at", c.CompletedAtUS); err != nil {
			return err
		}
		if !validUTF8(c.Status, c.Action, c.Sender, c.RepositoryFullName, c.PRTitle, c.APIUser) || !validError(c.Error) {
			return fmt.Errorf("invalid UTF-8 in a completion field")
		}
		for i := range c.Steps {
			s := &c.Steps[i]
			if err := checkTime("step started_at", s.StartedAtUS); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			if !validUTF8(s.Name, s.Status) || !utf8.Valid(s.Details) || !validError(s.Error) {
				return fmt.Errorf("invalid UTF-8 in a field of step %d", i)
			}
		}
	}
	return nil
}

func checkTime(what string, us int64) error {
	if us < MinTimestampUS || us > MaxTimestampUS {
		return fmt.Errorf("%s %d µs is outside years 1..9999", what, us)
	}
	return nil
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func validError(e *ErrorInfo) bool {
	return e == nil || validUTF8(e.Type, e.Message, e.Traceback)
}

// fixEntries replaces every entry of entries that CheckEntry refuses by
// the RawEntry of its record; entries[i] belongs to records[i]. It returns
// how many it replaced and the first reason.
func fixEntries(entries []Entry, records []Record) (fixed int, first error) {
	for i := range entries {
		err := CheckEntry(&entries[i])
		if err == nil {
			continue
		}
		if first == nil {
			first = fmt.Errorf("entry %d (offset %d of %s): %w", i, records[i].Offset, records[i].File, err)
		}
		fixed++
		entries[i] = RawEntry(records[i].Data)
	}
	return fixed, first
}
