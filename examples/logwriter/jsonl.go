package logwriter

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// JSONLMode selects the webhooks_YYYY-MM-DD.json file upstream writes next
// to the text log (reference/github-webhook-server.md §2.2).
type JSONLMode uint8

const (
	// JSONLOff writes no JSONL file (4.0.x and older, or no log-file).
	JSONLOff JSONLMode = iota
	// JSONLCurrent is 4.1.0 (main since 2026-03-15): JsonLogHandler's
	// {"type": "log_entry", …} line for every record and
	// StructuredLogWriter's webhook_summary line, with "level", "status",
	// "summary" and "type", for every finished delivery.
	JSONLCurrent
	// JSONLLegacy is main from 2026-01-05 to 2026-03-14: only the summary
	// line, as WebhookContext.to_dict() wrote it then (268a8dc5): no
	// "type", "level", "status" or "summary" key, and no log_entry lines.
	// (Servers of that period wrote naive local timestamps in the text;
	// the text stays 4.1.0's here.)
	JSONLLegacy
)

// String returns the mode's flag name: "off", "current" or "legacy".
func (m JSONLMode) String() string {
	switch m {
	case JSONLOff:
		return "off"
	case JSONLCurrent:
		return "current"
	case JSONLLegacy:
		return "legacy"
	}
	return "JSONLMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseJSONLMode is the inverse of JSONLMode.String.
func ParseJSONLMode(s string) (JSONLMode, error) {
	for m := JSONLOff; m <= JSONLLegacy; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown JSONL mode %q (want off, current or legacy)", s)
}

// JSONLName is the JSONL file upstream writes at UTC time t:
// webhooks_YYYY-MM-DD.json.
func JSONLName(t time.Time) string {
	return "webhooks_" + t.UTC().Format(time.DateOnly) + ".json"
}

// jsonlFile appends lines to the day's webhooks_YYYY-MM-DD.json, switching
// files when the UTC date of the lines changes. Like the text file, each
// line is one write call, or with batch > 0 whole lines are gathered into
// writes of up to batch bytes.
type jsonlFile struct {
	dir   string
	batch int
	// tmp draws the names of the summary writer's temporary files.
	tmp *rand.Rand

	name    string // the open file's name, "" when none is open
	f       *os.File
	pending []byte

	entries, summaries, files int64
}

func newJSONLFile(dir string, batch int, seed int64) *jsonlFile {
	return &jsonlFile{dir: dir, batch: batch, tmp: rand.New(rand.NewPCG(uint64(seed), 0x6a736f6e6c))}
}

// file makes the file of day at (µs) the open one and returns its name.
func (jf *jsonlFile) file(at int64) (string, error) {
	name := JSONLName(timeOf(at))
	if name == jf.name {
		return name, nil
	}
	if err := jf.close(); err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(jf.dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return "", fmt.Errorf("open JSONL file: %w", err)
	}
	jf.name, jf.f = name, f
	jf.files++
	return name, nil
}

// logEntry appends one log_entry line stamped at (µs).
func (jf *jsonlFile) logEntry(at int64, line []byte) (string, error) {
	name, err := jf.file(at)
	if err != nil {
		return "", err
	}
	jf.entries++
	return name, jf.append(line)
}

// summary appends one webhook_summary line stamped at (µs) the way
// StructuredLogWriter.write_log does: the line goes to a temporary
// ".webhooks_YYYY-MM-DD.json_XXXXXXXX.tmp" in the same directory first,
// is appended to the day's file, and the temporary file is removed.
// (Upstream also fsyncs both; this writer does not.)
func (jf *jsonlFile) summary(at int64, line []byte) (string, error) {
	name, err := jf.file(at)
	if err != nil {
		return "", err
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_"
	var suffix [8]byte
	for i := range suffix {
		suffix[i] = alphabet[jf.tmp.IntN(len(alphabet))]
	}
	tmp := filepath.Join(jf.dir, "."+name+"_"+string(suffix[:])+".tmp")
	if err := os.WriteFile(tmp, line, 0o600); err != nil {
		return "", fmt.Errorf("write JSONL temporary file: %w", err)
	}
	err = jf.append(line)
	if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = fmt.Errorf("remove JSONL temporary file: %w", rerr)
	}
	jf.summaries++
	return name, err
}

func (jf *jsonlFile) append(line []byte) error {
	if jf.batch <= 0 {
		return jf.writeOut(line)
	}
	if len(jf.pending)+len(line) > jf.batch {
		if err := jf.flush(); err != nil {
			return err
		}
	}
	if len(line) >= jf.batch {
		return jf.writeOut(line)
	}
	jf.pending = append(jf.pending, line...)
	return nil
}

func (jf *jsonlFile) writeOut(b []byte) error {
	if _, err := jf.f.Write(b); err != nil {
		return fmt.Errorf("write JSONL file %q: %w", jf.name, err)
	}
	return nil
}

// flush writes the pending lines, if any, in one call.
func (jf *jsonlFile) flush() error {
	if len(jf.pending) == 0 {
		return nil
	}
	err := jf.writeOut(jf.pending)
	jf.pending = jf.pending[:0]
	return err
}

// close flushes and closes the open file, if any.
func (jf *jsonlFile) close() error {
	if jf.f == nil {
		return nil
	}
	err := jf.flush()
	if cerr := jf.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close JSONL file: %w", cerr)
	}
	jf.f, jf.name = nil, ""
	return err
}

// pyJSON appends JSON the way Python's json.dumps(v, ensure_ascii=False)
// writes it: ", " and ": " separators, non-ASCII as is, and only the
// escapes Python makes (\" \\ \n \r \t \b \f, other control characters as
// lower-case \u00xx).
type pyJSON struct {
	b []byte
	// first[i] is true while the object at depth i has no key yet.
	first []bool
}

func (j *pyJSON) open() {
	j.b = append(j.b, '{')
	j.first = append(j.first, true)
}

func (j *pyJSON) close() {
	j.b = append(j.b, '}')
	j.first = j.first[:len(j.first)-1]
}

// key starts the next member of the innermost object.
func (j *pyJSON) key(k string) {
	if top := len(j.first) - 1; j.first[top] {
		j.first[top] = false
	} else {
		j.b = append(j.b, ", "...)
	}
	j.str(k)
	j.b = append(j.b, ": "...)
}

func (j *pyJSON) str(s string) {
	const hex = "0123456789abcdef"
	j.b = append(j.b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			j.b = append(j.b, `\"`...)
		case '\\':
			j.b = append(j.b, `\\`...)
		case '\n':
			j.b = append(j.b, `\n`...)
		case '\r':
			j.b = append(j.b, `\r`...)
		case '\t':
			j.b = append(j.b, `\t`...)
		case '\b':
			j.b = append(j.b, `\b`...)
		case '\f':
			j.b = append(j.b, `\f`...)
		default:
			if c < 0x20 {
				j.b = append(j.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				j.b = append(j.b, c)
			}
		}
	}
	j.b = append(j.b, '"')
}

func (j *pyJSON) int(v int64) { j.b = strconv.AppendInt(j.b, v, 10) }
func (j *pyJSON) null()       { j.b = append(j.b, "null"...) }
func (j *pyJSON) bool(v bool) { j.b = strconv.AppendBool(j.b, v) }

// value appends a string, bool, int, int64 or nil.
func (j *pyJSON) value(v any) {
	switch v := v.(type) {
	case nil:
		j.null()
	case string:
		j.str(v)
	case bool:
		j.bool(v)
	case int:
		j.int(int64(v))
	case int64:
		j.int(v)
	default:
		panic(fmt.Sprintf("BUG: pyJSON value of type %T", v))
	}
}

// strOrNull appends s, or null when s is empty.
func (j *pyJSON) strOrNull(s string) {
	if s == "" {
		j.null()
		return
	}
	j.str(s)
}

// intOrNull appends v, or null when v is 0.
func (j *pyJSON) intOrNull(v int) {
	if v == 0 {
		j.null()
		return
	}
	j.int(int64(v))
}

// appendISOString appends t (µs) as isoformat() in UTC, in quotes.
func (j *pyJSON) iso(at int64) {
	j.b = append(j.b, '"')
	j.b = appendISO(j.b, timeOf(at), false)
	j.b = append(j.b, '"')
}
