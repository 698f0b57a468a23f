package fieldmap_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

// FuzzAppendUnescaped checks AppendUnescaped against encoding/json on the
// contents of every valid JSON string: the same text, NUL aside (U+FFFD).
func FuzzAppendUnescaped(f *testing.F) {
	for _, s := range []string{`a`, `\"\\\/\b\f\n\r\t`, `\u00e9\u263a`, `\ud83d\ude00`, `\ud800`, `\udc00\ud800x`, `\u0000`, `\ud83d\u0041`, `\ud83d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := fieldmap.AppendUnescaped([]byte("prefix"), []byte(s))
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("AppendUnescaped lost dst: %q", got)
		}
		got = got[len("prefix"):]
		var want string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil || !utf8.ValidString(s) {
			return // not a JSON string's contents: only no panic
		}
		want = strings.ReplaceAll(want, "\x00", "\uFFFD")
		if string(got) != want {
			t.Fatalf("AppendUnescaped(%q)=%q, encoding/json says %q", s, got, want)
		}
	})
}

// FuzzAppendJSONString checks that AppendJSONString writes a JSON string
// that decodes to its input, without HTML escapes.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", `a"b\c`, "\n\r\t\x00\x1f\x7f", "<&>", "é☺😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		b := fieldmap.AppendJSONString(nil, []byte(s))
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("AppendJSONString(%q)=%s decodes to %q, %v", s, b, got, err)
		}
		if strings.ContainsAny(s, "<>&") == !bytes.ContainsAny(b, "<>&") {
			t.Fatalf("AppendJSONString(%q)=%s escapes HTML", s, b)
		}
	})
}

func TestAppendUpper(t *testing.T) {
	for in, want := range map[string]string{
		"info": "INFO", "Warning": "WARNING", "ERROR": "ERROR", "30": "30", "": "", "ınfo": "INFO", "é\xff": "É\xff",
	} {
		if got := string(fieldmap.AppendUpper(nil, []byte(in))); got != want {
			t.Errorf("AppendUpper(%q)=%q, want %q", in, got, want)
		}
	}
}

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "-1", "+2", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1e3", " 1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fieldmap.ParseInt([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("ParseInt(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	})
}
