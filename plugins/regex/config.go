package regex

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

// config is a compiled configuration.
type config struct {
	fieldmap.Common
	re           *regexp.Regexp
	startPattern string
	// groups are the pattern's named groups, in pattern order.
	groups []group
}

// group is a named group of the pattern.
type group struct {
	name  []byte
	index int // submatch index
	slots []fieldmap.Slot
}

func compile(raw json.RawMessage) (*config, plugins.Diagnostics) {
	common, values, diags := fieldmap.Decode(Name, raw, KeyPattern, KeyStartPattern)
	c := &config{Common: common}
	if values == nil && diags.HasErrors() {
		return c, diags // not an object: nothing more to say
	}

	if v, ok := values[KeyStartPattern]; ok {
		s, d := fieldmap.String(KeyStartPattern, v)
		switch {
		case d != nil:
			diags = append(diags, *d)
		default:
			if _, err := regexp.Compile(s); err != nil {
				diags = append(diags, patternError(KeyStartPattern, s, err))
			} else {
				c.startPattern = s
			}
		}
	}

	v, ok := values[KeyPattern]
	if !ok {
		return c, append(diags, fieldmap.Error(KeyPattern, "missing pattern",
			"the regex parser needs a pattern: an RE2 regular expression whose named groups, (?P<name>…), are the fields, "+
				`e.g. pattern = "^(?P<time>\\S+) (?P<level>\\S+) (?P<msg>.*)$"`))
	}
	s, d := fieldmap.String(KeyPattern, v)
	if d != nil {
		return c, append(diags, *d)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return c, append(diags, patternError(KeyPattern, s, err))
	}
	c.re = re
	names := re.SubexpNames()
	for i, name := range names {
		if name != "" {
			c.groups = append(c.groups, group{name: []byte(name), index: i, slots: c.Mapping.Lookup([]byte(name))})
		}
	}
	if len(c.groups) == 0 {
		diags = append(diags, plugins.Diagnostic{
			Severity:  plugins.SeverityWarning,
			Summary:   "pattern has no named group",
			Detail:    "every entry's message will be its whole record, with no other field; name the groups to extract, e.g. (?P<level>[A-Z]+)",
			Attribute: KeyPattern,
		})
	}
	for f := range fieldmap.NumFields {
		if !c.Mapping.Explicit(f) {
			continue
		}
		for _, k := range c.Mapping.Keys(f) {
			if !containsName(names, k) {
				diags = append(diags, fieldmap.Error(fieldmap.KeyFields+"."+f.String(),
					fmt.Sprintf("no group %q in pattern", k),
					fmt.Sprintf("fields.%s names group %q, which pattern does not have; its named groups are: %s",
						f, k, groupList(names))))
			}
		}
	}
	return c, diags
}

func containsName(names []string, k string) bool {
	for _, n := range names {
		if n != "" && n == k {
			return true
		}
	}
	return false
}

func groupList(names []string) string {
	var b strings.Builder
	for _, n := range names {
		if n == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	if b.Len() == 0 {
		return "(none)"
	}
	return b.String()
}

// patternError is the diagnostic of a pattern that does not compile: what
// is wrong, the column (in runes, from 1) and the text there, on one line,
// as the agent prints diagnostics.
func patternError(attr, pattern string, err error) plugins.Diagnostic {
	detail := err.Error()
	var se *syntax.Error
	if errors.As(err, &se) {
		off := errorOffset(pattern, se)
		col := utf8.RuneCountInString(pattern[:off]) + 1
		at := se.Expr
		if at == "" || at == pattern {
			at = pattern[off:]
			if len(at) > 24 {
				at = strings.ToValidUTF8(at[:24], "") + "…"
			}
		}
		detail = fmt.Sprintf("%s at column %d: %q", se.Code, col, at)
	}
	return fieldmap.Error(attr, "invalid "+attr, detail)
}

// errorOffset returns the byte offset in pattern that a syntax error is
// about: where its expression starts, or for a parenthesis error the
// parenthesis left open or the one closing nothing.
func errorOffset(pattern string, se *syntax.Error) int {
	switch se.Code {
	case syntax.ErrMissingParen, syntax.ErrUnexpectedParen:
		if off, ok := parenOffset(pattern); ok {
			return off
		}
		return len(pattern)
	case syntax.ErrTrailingBackslash:
		return max(len(pattern)-1, 0)
	}
	if se.Expr != "" && se.Expr != pattern {
		if i := strings.Index(pattern, se.Expr); i >= 0 {
			return i
		}
	}
	return 0
}

// parenOffset finds the first ')' that closes nothing or else the last
// '(' left open, outside escapes and character classes.
func parenOffset(p string) (int, bool) {
	var open []int
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[':
			// Skip the class: a ']' right after '[' or '[^' is a literal,
			// and [:alpha:] names hold no ']'.
			j := i + 1
			if j < len(p) && p[j] == '^' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				switch {
				case p[j] == '\\':
					j++
				case p[j] == '[' && j+1 < len(p) && p[j+1] == ':':
					if k := strings.Index(p[j+2:], ":]"); k >= 0 {
						j += k + 3
					}
				}
				j++
			}
			i = j
		case '(':
			open = append(open, i)
		case ')':
			if len(open) == 0 {
				return i, true
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		return open[len(open)-1], true
	}
	return 0, false
}
