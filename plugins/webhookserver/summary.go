package webhookserver

import (
	"bytes"
	"math"

	"github.com/hooktail/hooktail/plugins"
)

// scanSummary parses the line upstream's log_webhook_summary writes when a
// webhook ends (after the prefix):
//
//	[SUCCESS|FAILED] Webhook completed[ PR#n] [<dur>[, tokens:N]] steps=[<step>, …]
//
// with <step> = name:status(<dur>|incomplete) or name:status. It is the
// hand-written form of the regex of the reference's §1.8.
func scanSummary(line []byte) (*plugins.Completion, bool) {
	const (
		success = "[SUCCESS] Webhook completed"
		failed  = "[FAILED] Webhook completed"
	)
	var status string
	var i int
	switch {
	case hasPrefix(line, success):
		status, i = "success", len(success)
	case hasPrefix(line, failed):
		status, i = "failed", len(failed)
	default:
		return nil, false
	}
	var pr int64
	if hasPrefix(line[i:], " PR#") {
		i += len(" PR#")
		v, n := leadingInt(line[i:])
		if n == 0 {
			return nil, false
		}
		pr = v
		i += n
	}
	if !hasPrefix(line[i:], " [") {
		return nil, false
	}
	i += len(" [")
	d := i
	for i < len(line) && (isDigit(line[i]) || line[i] == 'h' || line[i] == 'm' || line[i] == 's') {
		i++
	}
	if i == d {
		return nil, false
	}
	dur := line[d:i]
	tokens, hasTokens := int64(0), false
	if hasPrefix(line[i:], ", tokens:") {
		i += len(", tokens:")
		v, n := leadingInt(line[i:])
		if n == 0 {
			return nil, false
		}
		tokens, hasTokens = v, true
		i += n
	}
	if !hasPrefix(line[i:], "] steps=[") || line[len(line)-1] != ']' {
		return nil, false
	}
	i += len("] steps=[")
	if i > len(line)-1 {
		return nil, false
	}

	// One allocation holds the completion and the values it points to.
	blk := &struct {
		c                plugins.Completion
		duration, tokens int64
	}{c: plugins.Completion{Status: status, PRNumber: pr}, tokens: tokens}
	if ms, ok := parseDuration(dur); ok {
		blk.duration = ms
		blk.c.DurationMS = &blk.duration
	}
	if hasTokens {
		blk.c.TokenSpend = &blk.tokens
	}
	blk.c.Steps = parseSteps(line[i : len(line)-1])
	return &blk.c, true
}

// parseSteps parses the ", "-separated step list of a summary line. Items
// that do not read name:status[(…)] are skipped. The names share one string
// and the durations one array.
func parseSteps(list []byte) []plugins.Step {
	if len(list) == 0 {
		return nil
	}
	sep := []byte(", ")
	n := bytes.Count(list, sep) + 1
	steps := make([]plugins.Step, 0, n)
	durations := make([]int64, n)
	names := string(list)
	for off := 0; off < len(list); {
		end := len(list)
		if k := bytes.Index(list[off:], sep); k >= 0 {
			end = off + k
		}
		if name, status, ms, ok := parseStep(list[off:end]); ok {
			s := plugins.Step{Name: names[off : off+name], Status: status}
			if ms >= 0 {
				durations[len(steps)] = ms
				s.DurationMS = &durations[len(steps)]
			}
			steps = append(steps, s)
		}
		off = end + len(sep)
	}
	return steps
}

// parseStep parses `([A-Za-z0-9_]+):([a-z]+)(?:\(([^)]*)\))?` and returns
// the name's length, the status and the duration in ms, or -1 for
// "(incomplete)", no parentheses and anything that is not a duration.
func parseStep(item []byte) (name int, status string, ms int64, ok bool) {
	i := 0
	for i < len(item) && isStepNameByte(item[i]) {
		i++
	}
	if i == 0 || i >= len(item) || item[i] != ':' {
		return 0, "", 0, false
	}
	name = i
	i++
	st := i
	for i < len(item) && item[i] >= 'a' && item[i] <= 'z' {
		i++
	}
	if i == st {
		return 0, "", 0, false
	}
	status = stepStatus(item[st:i])
	ms = -1
	if i < len(item) {
		rest := item[i:]
		if rest[0] != '(' || rest[len(rest)-1] != ')' || bytes.IndexByte(rest[1:len(rest)-1], ')') >= 0 {
			return 0, "", 0, false
		}
		if v, ok := parseDuration(rest[1 : len(rest)-1]); ok {
			ms = v
		}
	}
	return name, status, ms, true
}

// stepStatus returns the known step statuses without allocating.
func stepStatus(b []byte) string {
	for _, s := range [...]string{"started", "processing", "completed", "failed", "skipped"} {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

func isStepNameByte(c byte) bool {
	return isDigit(c) || c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// parseDuration reads upstream's format_duration output: components
// <n>h, <n>m, <n>s and <n>ms, each at most once and largest first
// ("500ms", "7s712ms", "3m12s", "1h5m", "2s"), and returns milliseconds.
func parseDuration(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var total int64
	last := int64(math.MaxInt64) // the previous component's unit, in ms
	for i := 0; i < len(b); {
		v, n := leadingInt(b[i:])
		if n == 0 {
			return 0, false
		}
		i += n
		var unit int64
		switch {
		case hasPrefix(b[i:], "ms"):
			unit, i = 1, i+2
		case hasPrefix(b[i:], "h"):
			unit, i = 3_600_000, i+1
		case hasPrefix(b[i:], "m"):
			unit, i = 60_000, i+1
		case hasPrefix(b[i:], "s"):
			unit, i = 1_000, i+1
		default:
			return 0, false
		}
		if unit >= last || v > (math.MaxInt64-total)/unit {
			return 0, false
		}
		last = unit
		total += v * unit
	}
	return total, true
}
