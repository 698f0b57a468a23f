package fieldmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hooktail/hooktail/plugins"
)

// Common is the part of parser_config every generic parser reads.
type Common struct {
	// Mapping is built from `fields`.
	Mapping *Mapping
	// Time is `time_format`.
	Time TimeFormat
}

// Shared keys of parser_config.
const (
	KeyFields     = "fields"
	KeyTimeFormat = "time_format"
)

// Decode reads parser_config, a JSON object (absent, empty or null: {}).
// It decodes the shared keys, fields and time_format, returns the raw
// values of the parser's own keys that are present, and diagnoses every
// other key and every bad value, each diagnostic naming its key in
// Attribute ("fields.level" for a field). parser names the parser in
// messages.
func Decode(parser string, raw json.RawMessage, own ...string) (Common, map[string]json.RawMessage, plugins.Diagnostics) {
	c := Common{Mapping: NewMapping([NumFields][]string{})}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil, nil
	}
	var obj map[string]json.RawMessage
	if raw[0] != '{' {
		return c, nil, plugins.Diagnostics{{
			Severity: plugins.SeverityError,
			Summary:  "invalid parser configuration",
			Detail:   fmt.Sprintf("the %s parser's configuration must be an object, got %s", parser, jsonType(raw)),
		}}
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return c, nil, plugins.Diagnostics{{
			Severity: plugins.SeverityError,
			Summary:  "invalid parser configuration",
			Detail:   fmt.Sprintf("decode the %s parser's configuration: %v", parser, err),
		}}
	}
	valid := append([]string{KeyFields, KeyTimeFormat}, own...)
	slices.Sort(valid)
	var diags plugins.Diagnostics
	values := make(map[string]json.RawMessage)
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		switch {
		case k == KeyFields:
			var ds plugins.Diagnostics
			c.Mapping, ds = decodeFields(v)
			diags = append(diags, ds...)
		case k == KeyTimeFormat:
			s, ok := str(v)
			if !ok {
				diags = append(diags, TypeError(k, "a string", v))
				continue
			}
			tf, err := ParseTimeFormat(s)
			if err != nil {
				diags = append(diags, Error(k, "invalid time_format", err.Error()))
				continue
			}
			c.Time = tf
		case slices.Contains(own, k):
			values[k] = v
		default:
			diags = append(diags, unknownKey(parser, k, valid))
		}
	}
	return c, values, diags
}

func unknownKey(parser, k string, valid []string) plugins.Diagnostic {
	detail := "valid settings: " + strings.Join(valid, ", ")
	if _, ok := FieldByName(k); ok || k == "time" || k == "msg" || k == "ts" {
		detail += fmt.Sprintf(`; entry fields are mapped inside fields, e.g. fields = { %s = "…" }`, k)
	}
	if k == "timezone" {
		detail += "; naive timestamps are read in the source's timezone, set next to parser_config"
	}
	return plugins.Diagnostic{
		Severity:  plugins.SeverityError,
		Summary:   fmt.Sprintf("unknown %s parser setting %q", parser, k),
		Detail:    detail,
		Attribute: k,
	}
}

// decodeFields reads `fields`: an object from field names to a key or a
// list of keys.
func decodeFields(v json.RawMessage) (*Mapping, plugins.Diagnostics) {
	var keys [NumFields][]string
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(v); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &obj) != nil {
		if string(t) == "null" {
			return NewMapping(keys), nil
		}
		return NewMapping(keys), plugins.Diagnostics{TypeError(KeyFields, "an object of entry fields, e.g. { level = \"severity\" }", v)}
	}
	var diags plugins.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		attr := KeyFields + "." + name
		f, ok := FieldByName(name)
		if !ok {
			diags = append(diags, plugins.Diagnostic{
				Severity:  plugins.SeverityError,
				Summary:   fmt.Sprintf("unknown entry field %q", name),
				Detail:    "fields maps entry fields to the record's keys; the entry fields are " + strings.Join(FieldNames(), ", "),
				Attribute: attr,
			})
			continue
		}
		ks, ok := stringList(obj[name])
		if !ok {
			diags = append(diags, TypeError(attr, "a key name or a list of key names", obj[name]))
			continue
		}
		if ks == nil {
			continue // null: the default keys
		}
		if len(ks) > 1 && slices.Contains(ks, "") {
			diags = append(diags, Error(attr, "empty key name", `a list of keys may not hold ""; use "" or [] alone to leave the field unset`))
			continue
		}
		if len(ks) == 1 && ks[0] == "" {
			ks = ks[:0]
		}
		keys[f] = ks
	}
	return NewMapping(keys), diags
}

// stringList reads a string, a list of strings or null (nil, true).
func stringList(v json.RawMessage) ([]string, bool) {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return nil, true
	}
	if s, ok := str(v); ok {
		return []string{s}, true
	}
	if len(v) == 0 || v[0] != '[' {
		return nil, false
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := str(e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// str reads a JSON string.
func str(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// String reads a string-valued setting: a diagnostic when v is not a
// string.
func String(attr string, v json.RawMessage) (string, *plugins.Diagnostic) {
	s, ok := str(v)
	if !ok {
		d := TypeError(attr, "a string", v)
		return "", &d
	}
	return s, nil
}

// Error is an error diagnostic about attr.
func Error(attr, summary, detail string) plugins.Diagnostic {
	return plugins.Diagnostic{Severity: plugins.SeverityError, Summary: summary, Detail: detail, Attribute: attr}
}

// TypeError is the diagnostic of a value of the wrong type.
func TypeError(attr, want string, got json.RawMessage) plugins.Diagnostic {
	return Error(attr, "invalid value for "+attr, fmt.Sprintf("%s must be %s, got %s", attr, want, jsonType(got)))
}

// jsonType names the type of a JSON value.
func jsonType(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a bool"
	case 'n':
		return "null"
	}
	return "a number"
}
