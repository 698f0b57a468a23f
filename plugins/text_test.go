package plugins_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
)

// FuzzAppendClean checks AppendClean against strings.ToValidUTF8 and NUL
// replacement, and IsClean against its definition.
func FuzzAppendClean(f *testing.F) {
	for _, s := range []string{"", "a\x00b", "\xff\xfe", "é\xc3", "\xed\xa0\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "\uFFFD")
		if got := plugins.AppendClean(nil, b); string(got) != want {
			t.Fatalf("AppendClean(%q)=%q, want %q", b, got, want)
		}
		if got, want := plugins.IsClean(b), utf8.Valid(b) && bytes.IndexByte(b, 0) < 0; got != want {
			t.Fatalf("IsClean(%q)=%v, want %v", b, got, want)
		}
	})
}
